//! Fuzzing the evaluator with proptest (cargo-fuzz needs a nightly compiler, which CI
//! does not have). `no_panic.rs` already throws character soups at it; this file adds
//! soups of whole tokens mixed with junk a hostile client would send (names, quotes,
//! control characters, line separators, huge and deeply nested pieces), and structurally
//! random expressions over ints, big ints and floats.
//!
//! Every answer must be something a server can send as one line: `OK` with a number as
//! Python prints it, or an error message that is short, non-empty and holds no control
//! character or line separator. Structurally valid expressions also give the same answer
//! wrapped in parentheses and spaces.
//!
//! Every answer is also checked through `execute_into`, the servers' path, which must
//! append exactly what `execute` returns; reverse and swap case get the same check on
//! any text, against a character-by-character reference.
//!
//! 3,000 cases per property by default, a few seconds in a debug build; set
//! `PROPTEST_CASES` for a longer run, e.g. `PROPTEST_CASES=200000 cargo test -p engine
//! --test fuzz --release`.

use engine::{MAX_EXPR_BYTES, Op, execute, execute_into};
use proptest::prelude::*;

/// Cases per property: `PROPTEST_CASES` when set, 3,000 otherwise.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3_000);
    ProptestConfig {
        cases,
        // A failure prints its minimal case; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Whether `c` could end or disguise a line of the wire protocol or of a log.
fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `execute_into` appends exactly what `execute` returns to whatever `out` already
/// holds, and leaves it untouched on an error (with the same error).
fn check_into(op: Op, input: &str) -> Result<(), TestCaseError> {
    const BEFORE: &[u8] = b"OK earlier answer\n";
    let mut out = BEFORE.to_vec();
    let appended = execute_into(op, input, &mut out);
    match execute(op, input) {
        Ok(answer) => {
            prop_assert!(appended.is_ok(), "{:?} {:?}: {:?}", op, input, appended);
            prop_assert_eq!(&out[..BEFORE.len()], BEFORE);
            prop_assert_eq!(
                &out[BEFORE.len()..],
                answer.as_bytes(),
                "{:?} {:?}",
                op,
                input
            );
        }
        Err(e) => {
            prop_assert_eq!(appended, Err(e), "{:?} {:?}", op, input);
            prop_assert_eq!(out, BEFORE);
        }
    }
    Ok(())
}

/// Checks what evaluating `input` gives, and returns it.
fn check(input: &str) -> Result<Result<String, String>, TestCaseError> {
    check_into(Op::Evaluate, input)?;
    let answer = execute(Op::Evaluate, input).map_err(|e| e.to_string());
    match &answer {
        Ok(number) => {
            let digits = number.strip_prefix('-').unwrap_or(number);
            let is_number = digits == "inf"
                || digits == "nan"
                || (!digits.is_empty()
                    && digits.starts_with(|c: char| c.is_ascii_digit())
                    && digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-')));
            prop_assert!(is_number, "{:?} -> OK {:?}", input, number);
        }
        Err(message) => {
            prop_assert!(!message.is_empty(), "{:?} -> empty error", input);
            prop_assert!(message.len() <= 200, "{:?} -> {:?}", input, message);
            prop_assert!(
                !message.contains(breaks_a_line),
                "{:?} -> a message that breaks the line: {:?}",
                input,
                message
            );
        }
    }
    Ok(answer)
}

/// Whole tokens of the grammar and of what lies outside it.
fn token() -> impl Strategy<Value = String> {
    let fixed: Vec<&str> = vec![
        "+",
        "-",
        "*",
        "/",
        "//",
        "%",
        "**",
        "^",
        "(",
        ")",
        " ",
        "\t",
        "0",
        "1",
        "2",
        "10",
        "0.5",
        ".5",
        "5.",
        "1e3",
        "2.5E-3",
        "1_000",
        "1e308",
        "1e-320",
        "9**9**9",
        "2**-1",
        "x",
        "__import__",
        "os",
        "'",
        "\"",
        ".",
        ",",
        "[",
        "]",
        "{",
        "}",
        ":",
        ";",
        "=",
        "<",
        ">",
        "!",
        "~",
        "&",
        "|",
        "@",
        "#",
        "\\",
        "$",
        "`",
        "lambda",
        "if",
        "not",
        "j",
        "0x1f",
        "0b1",
        "1j",
        "\r",
        "\n",
        "\0",
        "\x1b",
        "\u{85}",
        "\u{2028}",
        "\u{202e}",
        "é",
        "١",
        "½",
        "𝟙",
        "\u{feff}",
        "∞",
        "NaN",
        "inf",
    ];
    prop_oneof![
        8 => prop::sample::select(fixed).prop_map(str::to_owned),
        2 => "[0-9]{1,40}",
        1 => "[0-9]{1,5}\\.[0-9]{0,5}([eE][+-]?[0-9]{1,4})?",
        1 => any::<char>().prop_map(String::from),
        1 => (1usize..200).prop_map(|n| "(".repeat(n)),
        1 => (1usize..200).prop_map(|n| "-".repeat(n)),
    ]
}

/// A structurally valid expression: numbers, unary signs, binary operators, parentheses.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0u64..1000).prop_map(|n| n.to_string()),
        "[1-9][0-9]{10,60}",
        (0.0f64..1e6).prop_map(|f| format!("{f:?}")),
        prop::sample::select(vec!["0.0", "1e308", "1e-320", "1e300", ".5", "5.", "1_000"])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "//", "%", "**", "^"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (prop::sample::select(vec!["-", "+", "- -"]), inner.clone())
                .prop_map(|(sign, e)| format!("{sign}{e}")),
            inner.prop_map(|e| format!("({e})")),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    /// Token soup with junk: never a panic, always one line (checked in `check`).
    #[test]
    fn token_soup_gives_one_line(tokens in prop::collection::vec(token(), 0..60)) {
        let _answer = check(&tokens.concat())?;
    }

    /// Structurally random expressions: never a panic, always one line, and the same
    /// answer inside parentheses and spaces.
    #[test]
    fn random_expressions_are_stable(expr in expression()) {
        let answer = check(&expr)?;
        let wrapped = format!(" ( {expr} ) ");
        if wrapped.len() <= MAX_EXPR_BYTES {
            prop_assert_eq!(check(&wrapped)?, answer, "{}", expr);
        }
    }

    /// Random expressions with junk spliced in at a random place: never a panic, always
    /// one line, and never `OK` when what was spliced in is outside the grammar.
    #[test]
    fn spliced_junk_is_refused(
        expr in expression(),
        at in any::<prop::sample::Index>(),
        junk in prop::sample::select(vec![
            "x", "'a'", "__import__('os')", ".real", "[0]", "<", ";", "\0", "\u{2028}", "\x1b",
        ]),
    ) {
        let cut = (0..=expr.len()).filter(|&i| expr.is_char_boundary(i)).collect::<Vec<_>>();
        let at = cut[at.index(cut.len())];
        let input = format!("{}{junk}{}", &expr[..at], &expr[at..]);
        prop_assert!(check(&input)?.is_err(), "{:?} was accepted", input);
    }

    /// Reverse and swap case, on any text and on mostly-ASCII text (their fast path):
    /// `execute_into` appends what `execute` returns, and that is the answer of a plain
    /// character-by-character reference (for swap case, on text without a capital sigma,
    /// the one character whose mapping depends on its neighbours).
    #[test]
    fn reverse_and_case_into_match(
        input in prop_oneof![any::<String>(), "[ -~]{0,80}", "[a-zA-Z0-9ß日Σ ]{0,40}"],
    ) {
        check_into(Op::Reverse, &input)?;
        check_into(Op::ChangeCase, &input)?;
        let reversed: String = input.chars().rev().collect();
        prop_assert_eq!(execute(Op::Reverse, &input), Ok(reversed));
        if !input.contains('Σ') {
            let swapped: String = input
                .chars()
                .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
                    if c.is_uppercase() {
                        Box::new(c.to_lowercase())
                    } else if c.is_lowercase() {
                        Box::new(c.to_uppercase())
                    } else {
                        Box::new(std::iter::once(c))
                    }
                })
                .collect();
            prop_assert_eq!(execute(Op::ChangeCase, &input), Ok(swapped));
        }
    }
}

/// Python ends an expression at a line break outside parentheses, and refuses a vertical
/// tab, so `1\n+2`, `1\r+2` and `1\x0b+2` are syntax errors there, while `(1\n+2)`,
/// `1\x0c+2`, a leading blank line and a trailing line break are fine. Found by
/// `spliced_junk_is_refused`.
#[test]
fn line_breaks_outside_parentheses_are_errors_as_in_python() {
    for input in ["1\n+2", "1\r+2", "1\x0b+2", "1 +\n 2"] {
        assert!(
            execute(Op::Evaluate, input).is_err(),
            "{input:?} -> {:?}",
            execute(Op::Evaluate, input)
        );
    }
    for input in [
        "(1\n+2)",
        "(1\r+2)",
        "1\x0c+2",
        "\n1+2",
        "1+2\r\n",
        "1+2\n\n \n",
    ] {
        assert_eq!(execute(Op::Evaluate, input), Ok("3".into()), "{input:?}");
    }
}
