//! `cargo xtask stevens` end to end, small: every design whose server is built, on the
//! binaries already in the test's target directory (a test cannot run `cargo build` while
//! cargo holds the build lock), 60 connections each.

mod common;

use std::fs;
use std::path::Path;

use common::{bin_dir, csv_rows, xtask_command};

/// A small run writes its four files: a CSV row per design with every connection
/// answered and the CPU read, the workers' spread for the designs that count it (two
/// workers, neither serving more than all 60), and STEVENS.md with the table, the book's
/// conclusions and the paragraph on Linux today.
#[test]
fn a_small_run_writes_its_files() {
    let out =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stevens-{}", std::process::id()));
    let _ = fs::remove_dir_all(&out);
    let args = [
        "--connections",
        "60",
        "--clients",
        "3",
        "--bytes",
        "100",
        "--workers",
        "2",
    ];
    let run = xtask_command("stevens", &bin_dir(), &out, &args)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let rows = csv_rows(&out.join("stevens.csv"));
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
        "evented",
        "evented-reuseport",
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
        if ["prefork-", "pool-", "evented"]
            .iter()
            .any(|kind| design.starts_with(kind))
        {
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
