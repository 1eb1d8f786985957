//! `cargo xtask stevens` end to end, small: every design whose server is built, on the
//! binaries already in the test's target directory (a test cannot run `cargo build` while
//! cargo holds the build lock), 60 connections each.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::workspace_binary;

/// The directory holding this profile's binaries (server-* and bench).
fn bin_dir() -> PathBuf {
    let server = workspace_binary("server-prefork").expect("server-prefork is built");
    server
        .parent()
        .expect("a binary has a directory")
        .to_path_buf()
}

/// stevens.csv, one map from column to value per design.
fn csv_rows(out: &Path) -> Vec<HashMap<String, String>> {
    let mut csv = csv::Reader::from_path(out.join("stevens.csv")).expect("stevens.csv opens");
    let header: Vec<String> = csv
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    csv.records()
        .map(|record| {
            let record = record.expect("a CSV record");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A small run writes its three files: a CSV row per design with every connection
/// answered and the CPU read, the workers' spread for the designs that count it (two
/// workers, neither serving more than all 60), and STEVENS.md with the table, the book's
/// conclusions and the paragraph on Linux today.
#[test]
fn a_small_run_writes_its_files() {
    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stevens-{}", std::process::id()));
    let _ = fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "stevens",
            "--connections",
            "60",
            "--clients",
            "3",
            "--bytes",
            "100",
        ])
        .args(["--workers", "2", "--no-build", "--bin-dir"])
        .arg(bin_dir())
        .arg("--out")
        .arg(&out)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let rows = csv_rows(&out);
    let designs: Vec<&str> = rows.iter().map(|r| r["design"].as_str()).collect();
    for design in [
        "sequential",
        "forking",
        "prefork-shared",
        "prefork-flock",
        "prefork-mutex",
        "prefork-pass",
        "prefork-reuseport",
        "threaded",
        "pool-each",
        "pool-main",
    ] {
        assert!(
            designs.contains(&design),
            "{design} missing: {designs:?}\n{stderr}"
        );
    }
    assert_eq!(designs[0], "sequential");
    for row in &rows {
        let design = &row["design"];
        assert_eq!(row["connections"], "60", "{design}");
        assert_eq!(row["errors"], "0", "{design}");
        let cpu: f64 = row["server_cpu_us_per_conn"].parse().expect("a number");
        assert!(cpu > 0.0, "{design}: {cpu}");
        let rate: f64 = row["conn_per_s"].parse().expect("a number");
        assert!(rate > 0.0, "{design}");
        assert!(!row["process_control_us"].is_empty(), "{design}");
        if design.starts_with("prefork-") || design.starts_with("pool-") {
            assert_eq!(row["workers"], "2", "{design}");
            let min: u64 = row["served_min"].parse().expect("a count");
            let max: u64 = row["served_max"].parse().expect("a count");
            assert!(
                min <= max && (30..=60).contains(&max),
                "{design}: {min}..{max}"
            );
        }
    }
    let rounds = fs::read_to_string(out.join("stevens-rounds.csv")).expect("stevens-rounds.csv");
    assert!(rounds.starts_with("round,design,"), "{rounds}");
    assert_eq!(
        rounds.lines().count(),
        rows.len() + 1,
        "one round: {rounds}"
    );
    let md = fs::read_to_string(out.join("STEVENS.md")).expect("STEVENS.md");
    assert!(md.contains("| design | UNP Figure 30.1 row |"), "{md}");
    assert!(md.contains("| prefork-pass | 5: prefork, parent passes descriptor to child |"));
    assert!(md.contains("## Beside the book's conclusions"));
    assert!(md.contains("## Linux today"));
    let svg = fs::read_to_string(out.join("plot-stevens.svg")).expect("plot-stevens.svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("prefork-shared"),
        "{svg:.200}"
    );
    let _ = fs::remove_dir_all(&out);
}
