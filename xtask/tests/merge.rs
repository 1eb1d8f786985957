//! `cargo xtask merge` on logs written by bench's own writer: a merge's three files, and
//! bad input — a missing file, a file that is not an interval log, logs that share no
//! time — refused with the file (and line) named and exit status 2, never a panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use bench::hdr_log::{self, Interval};
use hdrhistogram::Histogram;

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("merge-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("the test folder is made");
    dir
}

/// Writes a log of `seconds` one-second intervals from `start_unix_s`, each holding
/// `values`.
fn log(path: &Path, start_unix_s: u64, seconds: u64, values: &[u64]) {
    let mut histogram = Histogram::<u64>::new(3).expect("3 digits is valid");
    for &v in values {
        histogram.record(v).expect("the value fits");
    }
    let intervals: Vec<Interval> = (0..seconds)
        .map(|s| Interval {
            start: Duration::from_secs(s),
            length: Duration::from_secs(1),
            histogram: histogram.clone(),
        })
        .collect();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(start_unix_s);
    let mut out = Vec::new();
    hdr_log::write_all(&mut out, "test values", start, &intervals).expect("the log encodes");
    fs::write(path, out).expect("the log is written");
}

fn merge(logs: &[&Path], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("merge")
        .args(logs)
        .arg("--out")
        .arg(out)
        .output()
        .expect("xtask runs")
}

/// Asserts a usage-style refusal: exit 2, a one-line `error: merge:` message holding
/// every piece of `expected`, and no panic.
fn assert_refused(out: &Output, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: merge: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for piece in expected {
        assert!(stderr.contains(piece), "{piece:?} in {stderr}");
    }
}

/// Two overlapping logs give merged.hlog (read back: the sum), merged.json with the
/// issue's fields, and the per-second table.
#[test]
fn two_logs_merge_into_three_files() {
    let dir = folder("ok");
    let (a, b) = (dir.join("a.hlog"), dir.join("b.hlog"));
    log(&a, 1_700_000_000, 3, &[1_000_000, 2_000_000]);
    log(&b, 1_700_000_001, 3, &[3_000_000]);
    let out = dir.join("out");
    let run = merge(&[&a, &b], &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let merged = hdr_log::read(&fs::read(out.join("merged.hlog")).unwrap()).unwrap();
    let counts: Vec<u64> = merged.iter().map(|i| i.histogram.len()).collect();
    assert_eq!(counts, [2, 3, 3, 1]);
    assert_eq!(merged[0].start, Duration::from_secs(1_700_000_000));

    let json: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("merged.json")).unwrap()).unwrap();
    let latency = &json["latency"];
    assert_eq!(latency["count"], 9);
    for field in ["p50_s", "p90_s", "p99_s", "p999_s", "max_s"] {
        assert!(latency[field].is_f64(), "{field} in {json}");
    }
    assert!(
        (latency["max_s"].as_f64().unwrap() - 0.003).abs() < 1e-5,
        "{json}"
    );
    let rate = json["rate"]["achieved_per_s"].as_f64().unwrap();
    assert!((rate - 9.0 / 4.0).abs() < 1e-9, "{json}");
    assert_eq!(json["intervals"].as_array().unwrap().len(), 4);
    assert_eq!(json["intervals"][1]["logs"], 2);

    let table = fs::read_to_string(out.join("merged.txt")).unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), table);
    assert!(table.lines().next().unwrap().contains("second"), "{table}");
    assert!(
        table.contains("9 values from 2 logs over 4.000 s: 2.2 per second"),
        "{table}"
    );
}

/// A file that does not exist is named.
#[test]
fn a_missing_file_is_named() {
    let dir = folder("missing");
    let a = dir.join("a.hlog");
    log(&a, 1_700_000_000, 2, &[5]);
    let absent = dir.join("absent.hlog");
    let run = merge(&[&a, &absent], &dir.join("out"));
    assert_refused(&run, &[&absent.display().to_string(), "No such file"]);
}

/// A file that is not an interval log is named with its line; so is an empty one.
#[test]
fn a_file_that_is_not_a_log_is_named_with_its_line() {
    let dir = folder("notlog");
    let a = dir.join("a.hlog");
    log(&a, 1_700_000_000, 2, &[5]);
    let csv = dir.join("results.csv");
    fs::write(&csv, "#[a comment]\nserver,p50\nevented,0.001\n").unwrap();
    let run = merge(&[&a, &csv], &dir.join("out"));
    assert_refused(
        &run,
        &[&format!(
            "{}: line 2: not a line of an HdrHistogram",
            csv.display()
        )],
    );
    let empty = dir.join("empty.hlog");
    fs::write(&empty, "").unwrap();
    let run = merge(&[&empty], &dir.join("out"));
    assert_refused(
        &run,
        &[&format!("{}: line 1: no interval", empty.display())],
    );
}

/// Two logs of different runs (no second in common) are refused, both named.
#[test]
fn logs_that_share_no_time_are_refused() {
    let dir = folder("apart");
    let (a, b) = (dir.join("monday.hlog"), dir.join("tuesday.hlog"));
    log(&a, 1_700_000_000, 2, &[5]);
    log(&b, 1_700_086_400, 2, &[5]);
    let run = merge(&[&a, &b], &dir.join("out"));
    assert_refused(
        &run,
        &["monday.hlog", "tuesday.hlog", "share no time", "--start-at"],
    );
    assert!(!dir.join("out").exists());
}
