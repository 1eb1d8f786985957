//! `cargo xtask curve` end to end, small: the real evented server (and redis-server when
//! it is on PATH) and the real bench binary, already built into the test's target
//! directory, at two low rates for a fraction of a second each.

use std::fs;
use std::path::Path;
use std::process::Command;

mod common;

use common::{bin_dir, xtask_command};

/// Whether redis-server can be run here.
fn redis_on_path() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A small curve writes its four files: a CSV row per point with the columns,
/// the plot, the JSON and CURVE.md's table; redis-server is a reference line when it is
/// installed, and said to be skipped when it is not.
#[test]
fn a_small_curve_writes_its_files() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("curve-{}", std::process::id()));
    let _ = fs::remove_dir_all(&out);
    let args = [
        "--servers",
        "evented,redis",
        "--rates",
        "200,400",
        "--clients",
        "2",
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
    ];
    let run = xtask_command("curve", &bin_dir(), &out, &args)
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");

    let mut csv = csv::Reader::from_path(out.join("curve.csv")).expect("curve.csv opens");
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    for column in [
        "server",
        "mode",
        "offered_per_s",
        "achieved_per_s",
        "p50_s",
        "p90_s",
        "p99_s",
        "p999_s",
        "max_s",
        "lag_p99_s",
        "errors",
    ] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
    }
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    let rows_of = |server: &str| rows.iter().filter(|r| &r[0] == server).count();
    // Two rates, or one when the first was already past the knee.
    assert!((1..=2).contains(&rows_of("evented")), "{rows:?}");
    for row in &rows {
        assert_eq!(&row[1], "persistent");
        let offered: f64 = row[2].parse().unwrap();
        assert!(offered == 200.0 || offered == 400.0, "{row:?}");
        let p50: f64 = row[4].parse().unwrap();
        let p99: f64 = row[6].parse().unwrap();
        assert!(p50 > 0.0 && p50 <= p99, "{row:?}");
    }
    let md = fs::read_to_string(out.join("CURVE.md")).unwrap();
    assert!(md.contains("| evented |"), "{md}");
    if redis_on_path() {
        assert!((1..=2).contains(&rows_of("redis")), "{rows:?}");
        assert!(md.contains("| redis |"), "{md}");
    } else {
        assert_eq!(rows_of("redis"), 0);
        assert!(
            md.contains("redis: skipped, redis-server is not on PATH"),
            "{md}"
        );
        assert!(stderr.contains("redis: skipped"), "{stderr}");
    }
    let svg = fs::read_to_string(out.join("plot-latency.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("evented"));
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("curve.json")).unwrap()).unwrap();
    assert_eq!(json["points"].as_array().map(Vec::len), Some(rows.len()));
    assert_eq!(json["complete"], true);
    fs::remove_dir_all(&out).unwrap();
}
