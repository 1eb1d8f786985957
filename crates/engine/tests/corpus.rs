//! Every line of the corpus `tests/data/eval.tsv` (`expr<TAB>expected`, the answers Python 3
//! gives) passes.

use std::path::Path;

/// Checks one corpus line; `Some(reason)` when it fails.
fn check(expr: &str, expected: &str) -> Option<String> {
    let got = engine::evaluate(expr);
    let ok = if let Some(repr) = expected.strip_prefix("OK ") {
        got.as_deref() == Ok(repr)
    } else if let Some(exact) = expected.strip_prefix("BIG ") {
        // Exact or an error: never a rounded or wrapped number.
        got.as_deref().is_err() || got.as_deref() == Ok(exact)
    } else if expected == "ERR" {
        got.is_err()
    } else {
        return Some(format!("unknown expectation {expected:?}"));
    };
    (!ok).then(|| format!("got {got:?}"))
}

/// The corpus exists, is not empty, and every line gives Python's answer.
#[test]
fn every_corpus_line_passes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", path.display()));
    let mut failures = Vec::new();
    let mut lines = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        lines += 1;
        let Some((expr, expected)) = line.split_once('\t') else {
            failures.push(format!("line {}: no tab: {line:?}", n + 1));
            continue;
        };
        if let Some(reason) = check(expr, expected) {
            failures.push(format!(
                "line {}: {expr:?} expected {expected:?}, {reason}",
                n + 1
            ));
        }
    }
    assert!(lines > 0, "the corpus {} is empty", path.display());
    assert!(
        failures.is_empty(),
        "{} of {lines} corpus lines fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
