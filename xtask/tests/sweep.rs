//! `cargo xtask bench` end to end, small: the real servers and the real bench binary
//! (already built into the test's target directory; a test cannot run `cargo build`
//! while cargo holds the build lock), a few clients and a 100 ms delay.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use server_core::process::workspace_binary;

/// The directory holding this profile's binaries (server-* and bench).
fn bin_dir() -> PathBuf {
    let server = workspace_binary("server-threaded").expect("server-threaded is built");
    server
        .parent()
        .expect("a binary has a directory")
        .to_path_buf()
}

/// A fresh output directory under cargo's temporary directory for tests.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn xtask_bench(bin_dir: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("bench")
        .args(args)
        .arg("--no-build")
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out)
        .output()
        .expect("xtask runs")
}

/// The whole sweep over the three servers at 2 and 4 clients: every file is written, the
/// CSV has the SPEC's columns and one row per (server, clients), and the model holds:
/// sequential takes at least N × delay, forking and threaded well under it.
#[test]
fn small_sweep_writes_results_that_follow_the_model() {
    let out = out_dir("sweep");
    let run = xtask_bench(
        &bin_dir(),
        &out,
        &["--clients", "2..=4", "--step", "2", "--delay", "100ms"],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in [
        "results.csv",
        "results.json",
        "plot.svg",
        "plot-detail.svg",
        "REPORT.md",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let mut csv = csv::Reader::from_path(out.join("results.csv")).unwrap();
    let header: Vec<String> = csv.headers().unwrap().iter().map(str::to_owned).collect();
    let spec = "server,clients,delay_s,total_s,mean_s,p50_s,p90_s,p99_s,max_s,connect_p99_s,errors";
    assert_eq!(header[..11].join(","), spec);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut points = Vec::new();
    for record in csv.records() {
        let record = record.unwrap();
        let server = record[col("server")].to_owned();
        let clients: u64 = record[col("clients")].parse().unwrap();
        let total: f64 = record[col("total_s")].parse().unwrap();
        assert_eq!(&record[col("errors")], "0");
        let n_delays = clients as f64 * 0.1;
        if server == "sequential" {
            assert!(
                total >= n_delays,
                "sequential {clients}: {total} < {n_delays}"
            );
        } else {
            assert!(
                total >= 0.1,
                "{server} {clients}: {total} is faster than one delay"
            );
            assert!(
                total < n_delays,
                "{server} {clients}: {total} >= {n_delays}"
            );
        }
        points.push((server, clients));
    }
    let expected: Vec<(String, u64)> = ["sequential", "forking", "threaded"]
        .iter()
        .flat_map(|s| [2, 4].map(|n| (s.to_string(), n)))
        .collect();
    assert_eq!(points, expected);
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["metadata"]["delay_s"], 0.1);
    assert!(json["metadata"]["git_revision"].is_string());
    let report = fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("| Clients | Execution Time (s) |"));

    // `cargo xtask report` writes the same report and plots again from results.json.
    for file in ["REPORT.md", "plot.svg", "plot-detail.svg"] {
        fs::remove_file(out.join(file)).unwrap();
    }
    let rerun = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("report")
        .arg(&out)
        .output()
        .expect("xtask runs");
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(fs::read_to_string(out.join("REPORT.md")).unwrap(), report);
    assert!(out.join("plot.svg").is_file() && out.join("plot-detail.svg").is_file());
    fs::remove_dir_all(&out).unwrap();
}

/// A server that cannot start stops the sweep with a clear message, and the files are
/// still written, saying the sweep is incomplete.
#[test]
fn failed_server_start_still_writes_results() {
    let fake = out_dir("fake-bin");
    fs::create_dir_all(&fake).unwrap();
    let server = fake.join("server-threaded");
    fs::write(
        &server,
        "#!/bin/sh\necho 'cannot bind: address in use' >&2\nexit 3\n",
    )
    .unwrap();
    let mut perms = fs::metadata(&server).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    fs::set_permissions(&server, perms).unwrap();
    std::os::unix::fs::symlink(bin_dir().join("bench"), fake.join("bench")).unwrap();
    let out = out_dir("failed-sweep");
    let run = xtask_bench(&fake, &out, &["--clients", "2", "--servers", "threaded"]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("starting server-threaded"), "{stderr}");
    assert!(stderr.contains("cannot bind"), "{stderr}");
    let report = fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("Incomplete"), "{report}");
    assert!(
        fs::read_to_string(out.join("results.csv"))
            .unwrap()
            .starts_with("server,clients,")
    );
    fs::remove_dir_all(&out).unwrap();
    fs::remove_dir_all(&fake).unwrap();
}
