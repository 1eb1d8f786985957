//! `cargo xtask bench` end to end, small: the real servers and the real bench binary
//! (already built into the test's target directory; a test cannot run `cargo build`
//! while cargo holds the build lock), a few clients and delays of 200 ms at most.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod common;

use common::{bin_dir, xtask_command};

/// A fresh output directory under cargo's temporary directory for tests.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// `cargo xtask bench ARGS` on the binaries in `bin_dir` (no build), writing to `out`.
fn xtask_bench_command(bin_dir: &Path, out: &Path, args: &[&str]) -> Command {
    xtask_command("bench", bin_dir, out, args)
}

/// Runs [`xtask_bench_command`] to the end.
fn xtask_bench(bin_dir: &Path, out: &Path, args: &[&str]) -> Output {
    xtask_bench_command(bin_dir, out, args)
        .output()
        .expect("xtask runs")
}

/// Asserts that a sweep ran to its end: exit status 0, or 1 with the count of points off
/// their model and how busy the machine was (a loaded machine makes points late, and the
/// sweep says so rather than exit 0).
fn assert_finished(run: &Output) {
    let stderr = String::from_utf8_lossy(&run.stderr);
    match run.status.code() {
        Some(0) => assert!(!stderr.contains("off their model"), "{stderr}"),
        Some(1) => assert!(
            stderr.contains("points off their model; CPU pressure"),
            "{stderr}"
        ),
        _ => panic!("{}: {stderr}", run.status),
    }
}

/// Every architecture xtask knows, in its order, read from the usage error that an
/// unknown `--servers` name gets (exit status 2, nothing run, nothing written).
fn known_servers() -> Vec<String> {
    let out = out_dir("unknown-server");
    let output = xtask_bench(Path::new("/nonexistent"), &out, &["--servers", "nginx"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!out.exists(), "a usage error writes nothing");
    let list = stderr
        .split_once("name some of ")
        .and_then(|(_, rest)| rest.split_once(", or all"))
        .unwrap_or_else(|| panic!("the usage error lists the servers: {stderr}"))
        .0;
    list.split(", ").map(str::to_owned).collect()
}

/// The servers whose crate is in the workspace, in the documented order: what `--servers
/// all` runs (an architecture may be known before its crate is written).
fn existing_servers() -> Vec<String> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    known_servers()
        .into_iter()
        .filter(|s| crates.join(format!("server-{s}/Cargo.toml")).is_file())
        .collect()
}

/// An unknown name in `--servers` is a usage error, exit status 2, that names every
/// server, the tutorial's three first; a known one given twice is one too.
#[test]
fn unknown_server_is_a_usage_error_listing_the_servers() {
    let known = known_servers();
    assert!(known.starts_with(&["sequential".into(), "forking".into(), "threaded".into()]));
    for name in ["prefork", "pool", "evented", "async"] {
        assert!(known.iter().any(|k| k == name), "{name} in {known:?}");
    }
    let out = out_dir("twice");
    let output = xtask_bench(Path::new("/nonexistent"), &out, &["--servers", "pool,pool"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("'pool' is named twice"));
}

/// results.csv as one map from column to value per row.
fn csv_rows(out: &Path) -> Vec<std::collections::HashMap<String, String>> {
    common::csv_rows(&out.join("results.csv"))
}

/// A number from a CSV row.
fn num(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = {:?} is not a number", row[column]))
}

/// What the model says of `server` at `clients` with a 200 ms delay and 2 workers:
/// sequential N rounds, prefork and pool ⌈N / 2⌉, the others one.
fn model_200ms(server: &str, clients: u64) -> f64 {
    let rounds = match server {
        "sequential" => clients,
        "prefork" | "pool" => clients.div_ceil(2),
        _ => 1,
    };
    rounds as f64 * 0.2
}

/// Whether a total is on the model within half a delay, which tells the three models
/// apart. A total below the model fails at once: no server can beat it.
fn on_model_200ms(server: &str, clients: u64, total: f64) -> bool {
    let model = model_200ms(server, clients);
    assert!(
        total >= model - 0.001,
        "{server} {clients}: total {total} is faster than its model {model}"
    );
    total < model + 0.1
}

/// The whole sweep over every server that exists at 1 and 3 clients, 2 workers: every
/// file is written, the CSV has the required columns and one row per (server, clients), and
/// every point is on its architecture's model — sequential N × delay, prefork and pool
/// ⌈N / 2⌉ × delay (3 clients take two rounds), the others one delay — no faster, and
/// within half a delay. A loaded machine can only slow a point down, so a point over the
/// model is run again, up to twice, on a fresh server that serves the points before it
/// first (as the sweep did), with no failed client; a server whose architecture breaks
/// its model, or that degrades after earlier points, is over it every time. Every point has the server's CPU time and a PSS reading.
#[test]
fn small_sweep_writes_results_that_follow_the_model() {
    let out = out_dir("sweep");
    let run = xtask_bench(
        &bin_dir(),
        &out,
        &["--clients", "1,3", "--delay", "200ms", "--workers", "2"],
    );
    assert_finished(&run);
    for file in [
        "results.csv",
        "results.json",
        "plot.svg",
        "plot-overhead.svg",
        "plot-detail.svg",
        "REPORT.md",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let header = fs::read_to_string(out.join("results.csv")).unwrap();
    let spec =
        "server,clients,delay_s,total_s,mean_s,p50_s,p90_s,p99_s,max_s,connect_p99_s,errors,";
    assert!(header.starts_with(spec), "{header}");
    let mut points = Vec::new();
    for row in csv_rows(&out) {
        let server = row["server"].clone();
        let clients = num(&row, "clients") as u64;
        assert_eq!(row["errors"], "0", "{row:?}");
        let model = model_200ms(&server, clients);
        assert!(
            (num(&row, "model_s") - model).abs() < 1e-9,
            "{server} {clients}: {row:?}"
        );
        let mut totals = vec![num(&row, "total_s")];
        while !on_model_200ms(&server, clients, totals[totals.len() - 1]) {
            assert!(
                totals.len() < 3,
                "{server} {clients}: totals {totals:?} are off the model {model}"
            );
            // The re-run replays the server's history up to this point on a fresh server
            // (the sweep serves 1 then 3 clients from one process), so a server that
            // degrades after serving earlier points is over its model again.
            let again = out_dir("sweep-again");
            let history = [1, 3]
                .iter()
                .filter(|&&k| k <= clients)
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let run = xtask_bench(
                &bin_dir(),
                &again,
                &[
                    "--servers",
                    &server,
                    "--clients",
                    &history,
                    "--delay",
                    "200ms",
                    "--workers",
                    "2",
                ],
            );
            assert_finished(&run);
            // The re-run must be as clean as the first: only its total may differ, so a
            // retry cannot hide failed clients.
            let rerun = csv_rows(&again);
            for earlier in &rerun {
                assert_eq!(earlier["server"], server, "{earlier:?}");
                assert_eq!(earlier["errors"], "0", "{earlier:?}");
            }
            let rerun = rerun
                .iter()
                .find(|r| r["clients"] == clients.to_string())
                .unwrap_or_else(|| panic!("{server} {clients}: no re-run row in {rerun:?}"));
            assert!((num(rerun, "model_s") - model).abs() < 1e-9, "{rerun:?}");
            totals.push(num(rerun, "total_s"));
            fs::remove_dir_all(&again).unwrap();
        }
        let workers = row["workers"].as_str();
        match server.as_str() {
            // The tutorial's three have no workers; every later design does.
            "sequential" | "forking" | "threaded" => assert_eq!(workers, "", "{server}"),
            _ => assert_eq!(workers, "2", "{server}"),
        }
        assert!(num(&row, "server_cpu_s") >= 0.0, "{row:?}");
        assert!(num(&row, "peak_pss_mib") > 0.0, "{row:?}");
        assert!(num(&row, "load_avg") >= 0.0, "{row:?}");
        if Path::new("/proc/pressure/cpu").exists() {
            let pressure = num(&row, "cpu_pressure_pct");
            assert!((0.0..=100.0).contains(&pressure), "{row:?}");
        }
        points.push((server, clients));
    }
    let expected: Vec<(String, u64)> = existing_servers()
        .iter()
        .flat_map(|s| [1, 3].map(|n| (s.to_string(), n)))
        .collect();
    assert_eq!(points, expected);
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(json["metadata"]["delay_s"], 0.2);
    assert_eq!(json["metadata"]["workers"], 2);
    assert!(json["metadata"]["git_revision"].is_string());
    assert!(json["runs"][0]["server_cpu_s"].is_number());
    // Root with cgroup v2 (here and on CI) reads every server's CPU to the microsecond,
    // so every point, prefork's too, shows the CPU its requests took; elsewhere the run
    // says it fell back to /proc's ticks, and why.
    let clock = json["metadata"]["server_cpu_clock"]
        .as_str()
        .unwrap_or_default();
    if clock.starts_with("cgroup v2") {
        for row in csv_rows(&out) {
            assert!(num(&row, "server_cpu_s") > 0.0, "{row:?}");
        }
    } else {
        assert!(
            clock.starts_with("/proc/PID/stat (10 ms ticks; no cgroup: "),
            "{clock}"
        );
    }
    let report = fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("| Clients | Execution Time (s) |"));
    assert!(report.contains("## Server CPU time per request (µs)"));

    // `cargo xtask report` writes the same report and plots again from results.json.
    for file in [
        "REPORT.md",
        "plot.svg",
        "plot-overhead.svg",
        "plot-detail.svg",
    ] {
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
    for file in ["plot.svg", "plot-overhead.svg", "plot-detail.svg"] {
        assert!(out.join(file).is_file(), "{file} not rewritten");
    }
    fs::remove_dir_all(&out).unwrap();
}

/// `--work 50ms` reaches every server, and the server's CPU time over a point of 4
/// clients grows by about N × work: at least half of 4 × 50 ms (the kernel counts in
/// 10 ms ticks; the work itself is measured on the serving thread's CPU clock, so a busy
/// machine makes it slower, never cheaper). The report gives the CPU bound N × work / cores.
#[test]
fn work_makes_every_server_compute() {
    let out = out_dir("work");
    let run = xtask_bench(
        &bin_dir(),
        &out,
        &["--clients", "4", "--delay", "10ms", "--work", "50ms"],
    );
    assert_finished(&run);
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), existing_servers().len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    for row in rows {
        let cpu = num(&row, "server_cpu_s");
        assert!(cpu >= 0.5 * 4.0 * 0.05, "{}: {cpu} s of CPU", row["server"]);
        assert!(num(&row, "cpu_us_per_request") >= 25_000.0, "{row:?}");
        assert_eq!(num(&row, "work_s"), 0.05);
        assert!((num(&row, "cpu_bound_s") - 4.0 * 0.05 / cores).abs() < 1e-9);
        assert!(num(&row, "above_cpu_bound_s") > 0.0);
    }
    let report = fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("distance from the CPU bound"), "{report}");
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

/// The first child of `parent` whose command name starts with `name`, from the children
/// lists of its threads.
fn child_named(parent: u32, name: &str) -> Option<u32> {
    let tasks = fs::read_dir(format!("/proc/{parent}/task")).ok()?;
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .find(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with(name))
        })
}

/// `cargo xtask bench` running in the background, its stderr read line by line as it
/// comes, so that a test can act at a given point of the sweep.
struct WatchedSweep {
    xtask: Child,
    received: mpsc::Receiver<String>,
    /// The stderr lines read so far.
    seen: Vec<String>,
}

impl WatchedSweep {
    fn start(out: &Path, args: &[&str]) -> Self {
        let mut xtask = xtask_bench_command(&bin_dir(), out, args)
            .stderr(Stdio::piped())
            .spawn()
            .expect("xtask runs");
        let stderr = xtask.stderr.take().expect("stderr is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            xtask,
            received,
            seen: Vec::new(),
        }
    }

    /// Reads stderr up to a line starting with `prefix`; kills xtask and fails, naming
    /// `what`, when none comes within 60 s.
    fn wait_for_line(&mut self, prefix: &str, what: &str) {
        loop {
            let Ok(line) = self.received.recv_timeout(Duration::from_secs(60)) else {
                let _ = self.xtask.kill();
                panic!("no {what} in 60 s: {:#?}", self.seen)
            };
            let done = line.starts_with(prefix);
            self.seen.push(line);
            if done {
                return;
            }
        }
    }

    /// Reads the rest of stderr and waits for xtask: its status and its whole stderr.
    fn finish(mut self) -> (ExitStatus, String) {
        while let Ok(line) = self.received.recv_timeout(Duration::from_secs(60)) {
            self.seen.push(line);
        }
        let status = self.xtask.wait().expect("xtask is waited for");
        (status, self.seen.join("\n"))
    }
}

/// A server killed mid-sweep (after its 1-client point, during its 40-client point) stops
/// the sweep with a message naming it, and every point gathered before is on disk: in
/// results.csv, results.json (marked incomplete, with the reason) and REPORT.md.
#[test]
fn server_dying_mid_sweep_keeps_the_points_gathered() {
    let out = out_dir("dying");
    // One server for both points, as --serial runs them.
    let args = [
        "--servers",
        "sequential",
        "--clients",
        "1,40",
        "--delay",
        "100ms",
        "--serial",
    ];
    let mut sweep = WatchedSweep::start(&out, &args);
    // The 1-client point is done: kill the server while the 40-client point (4 s) runs.
    sweep.wait_for_line("sequential 1 clients (1/1): total", "1-client point");
    let server = child_named(sweep.xtask.id(), "server-sequenti").expect("the server runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (status, stderr) = sweep.finish();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("server-sequential exited (signal: 9") && stderr.contains("40-client"),
        "{stderr}"
    );
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["server"].as_str(), rows[0]["clients"].as_str()),
        ("sequential", "1")
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["rows"].as_array().map(Vec::len), Some(1));
    assert!(
        json["stopped_because"]
            .as_str()
            .is_some_and(|r| r.contains("exited")),
        "{json}"
    );
    let report = fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("**Incomplete"), "{report}");
    let total = num(&rows[0], "total_s");
    assert!(report.contains(&format!("| 1 | {total:.6} |")), "{report}");
    for plot in ["plot.svg", "plot-overhead.svg", "plot-detail.svg"] {
        assert!(out.join(plot).is_file(), "{plot}");
    }
    fs::remove_dir_all(&out).unwrap();
}

/// Every usage error exits 2, says what is wrong, and runs and writes nothing: bad client
/// counts, zero repeats, unknown servers, absurd delays, and `--resume` with settings of
/// its own.
#[test]
fn usage_errors_exit_2() {
    let cases: [(&[&str], &str); 7] = [
        (&["--clients", "0"], "at least 1"),
        (&["--clients", "10..5"], "holds no client count"),
        (&["--repeat", "0"], "--repeat"),
        (&["--servers", "foo"], "'foo' is not a server"),
        (&["--delay", "25h"], "at most 24h"),
        (&["--quick", "--delay", "2s"], "cannot be used with"),
        (&["--clients", "ten"], "'ten' is not a client count"),
    ];
    for (args, says) in cases {
        let out = out_dir("usage");
        let run = xtask_bench(Path::new("/nonexistent"), &out, args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?} wrote {}", out.display());
    }
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--resume", "/nonexistent", "--delay", "1s"])
        .output()
        .expect("xtask runs");
    assert_eq!(run.status.code(), Some(2));
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--no-build", "--resume", "/nonexistent"])
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read /nonexistent/results.json"),
        "{stderr}"
    );
}

/// The server processes among the children of `parent` (any thread of it).
fn servers_of(parent: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{parent}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("server-"))
        })
        .collect()
}

/// Ctrl-C mid-sweep: SIGINT while sequential's 30-client point (3 s, beside the others)
/// runs stops every server, writes the points done (results.csv, results.json marked
/// incomplete, REPORT.md saying it was interrupted), says how to resume, and exits 130.
/// `--resume DIR` then runs only the points missing, keeps the ones done as they were,
/// and completes the run.
#[test]
fn ctrl_c_keeps_the_points_done_and_resume_completes_them() {
    use std::time::Instant;

    let out = out_dir("interrupted");
    let args = [
        "--servers",
        "sequential,threaded",
        "--clients",
        "1,2,30",
        "--delay",
        "100ms",
    ];
    let mut sweep = WatchedSweep::start(&out, &args);
    sweep.wait_for_line("threaded 1 clients (1/1): total", "threaded point");
    let servers = servers_of(sweep.xtask.id());
    assert!(!servers.is_empty(), "{:#?}", sweep.seen);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sweep.xtask.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let (status, stderr) = sweep.finish();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: the servers are stopped"),
        "{stderr}"
    );
    assert!(stderr.contains("--resume"), "{stderr}");
    // Every server is gone (xtask reaped them before it exited).
    let deadline = Instant::now() + Duration::from_secs(10);
    for pid in servers {
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "server {pid} outlived xtask");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let before = csv_rows(&out);
    assert!(
        (1..6).contains(&before.len()),
        "{} points done: {before:?}",
        before.len()
    );
    assert!(
        !before
            .iter()
            .any(|r| r["server"] == "sequential" && r["clients"] == "30"),
        "sequential's 30 × 100 ms cannot be done: {before:?}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["rows"].as_array().map(Vec::len), Some(before.len()));
    let report = fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(
        report.contains("interrupted (Ctrl-C or SIGTERM)"),
        "{report}"
    );

    let resumed = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench", "--no-build", "--bin-dir"])
        .arg(bin_dir())
        .arg("--resume")
        .arg(&out)
        .output()
        .expect("xtask runs");
    assert_finished(&resumed);
    let resumed_stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(
        resumed_stderr.contains(&format!("{} point(s) to run", 6 - before.len())),
        "{resumed_stderr}"
    );
    let after = csv_rows(&out);
    let points: Vec<(String, String)> = after
        .iter()
        .map(|r| (r["server"].clone(), r["clients"].clone()))
        .collect();
    let expected: Vec<(String, String)> = ["sequential", "threaded"]
        .iter()
        .flat_map(|s| ["1", "2", "30"].map(|n| (s.to_string(), n.to_string())))
        .collect();
    assert_eq!(points, expected);
    for row in &before {
        let kept = after
            .iter()
            .find(|r| r["server"] == row["server"] && r["clients"] == row["clients"])
            .unwrap();
        assert_eq!(
            kept["total_s"], row["total_s"],
            "a point done was run again"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["complete"], true);
    assert_eq!(
        json["metadata"]["resumed"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(json["metadata"]["delay_s"], 0.1);
    assert!(
        !fs::read_to_string(out.join("REPORT.md"))
            .unwrap()
            .contains("Incomplete")
    );
    fs::remove_dir_all(&out).unwrap();
}
