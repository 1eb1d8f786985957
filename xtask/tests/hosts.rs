//! Three hosts on one machine: the server in one network namespace, two load generators
//! in two others, each joined to the server's by its own veth pair (a virtual cable),
//! with addresses of this test's own. Both generators start at one `--start-at` second
//! and write interval logs; `cargo xtask merge` must count every answer of both and give
//! a median between theirs.
//!
//! Needs root (to make namespaces) and iproute2's `ip`, which `.ci/run` installs; run by
//! another user it says so and checks nothing, as the tests that become another user do.
//! A missing `ip` fails the test. A [`Hosts`] guard deletes the namespaces (and so the
//! veth pairs) and [`Generators`] kills the generators, even when an assertion fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use bench::LoadReport;
use testkit::{ServerProcess, workspace_binary};

/// iproute2's `ip`, or a failed test saying how to install it.
fn ip() -> PathBuf {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("iproute2's ip is missing: install iproute2 (apt-get install iproute2)")
}

/// Whether this test runs as root.
fn is_root() -> bool {
    // /proc/self belongs to the effective user.
    fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Runs `ip args…`, failing the test with its message when it fails.
fn run_ip(ip: &Path, args: &[&str]) {
    let out = Command::new(ip).args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The test's network namespaces, deleted when dropped (which deletes their veths too).
struct Hosts {
    ip: PathBuf,
    /// The server's namespace, then one per generator.
    names: Vec<String>,
}

impl Hosts {
    /// A server namespace and `generators` generator namespaces, generator `k` joined
    /// to the server by a veth pair on 10.221.(k+1).0/24: the server is .1, it is .2.
    /// Names carry this process's ID so that two test runs never share one.
    fn new(generators: usize) -> Hosts {
        let ip = ip();
        let pid = std::process::id();
        let mut hosts = Hosts {
            ip: ip.clone(),
            names: vec![format!("ts{pid}srv")],
        };
        run_ip(&ip, &["netns", "add", &hosts.names[0]]);
        run_ip(&ip, &["-n", &hosts.names[0], "link", "set", "lo", "up"]);
        for k in 1..=generators {
            let name = format!("ts{pid}gen{k}");
            run_ip(&ip, &["netns", "add", &name]);
            hosts.names.push(name.clone());
            run_ip(&ip, &["-n", &name, "link", "set", "lo", "up"]);
            // Interface names have at most 15 bytes.
            let (server_end, generator_end) = (format!("v{pid}s{k}"), format!("v{pid}g{k}"));
            let server = &hosts.names[0];
            run_ip(
                &ip,
                &[
                    "link",
                    "add",
                    &server_end,
                    "netns",
                    server,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &generator_end,
                    "netns",
                    &name,
                ],
            );
            let (server_addr, generator_addr) =
                (format!("10.221.{k}.1/24"), format!("10.221.{k}.2/24"));
            run_ip(
                &ip,
                &[
                    "-n",
                    server,
                    "addr",
                    "add",
                    &server_addr,
                    "dev",
                    &server_end,
                ],
            );
            run_ip(&ip, &["-n", server, "link", "set", &server_end, "up"]);
            run_ip(
                &ip,
                &[
                    "-n",
                    &name,
                    "addr",
                    "add",
                    &generator_addr,
                    "dev",
                    &generator_end,
                ],
            );
            run_ip(&ip, &["-n", &name, "link", "set", &generator_end, "up"]);
        }
        hosts
    }

    /// `program args…` as a command run inside namespace `name`.
    fn command(&self, name: &str, program: &Path) -> Command {
        let mut command = Command::new(&self.ip);
        command.args(["netns", "exec", name]).arg(program);
        command
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new(&self.ip).args(["netns", "del", name]).status();
        }
    }
}

/// Generator processes, killed when dropped if still running.
struct Generators(Vec<Child>);

impl Generators {
    /// Every generator's output, once each has exited.
    fn wait(mut self) -> Vec<Output> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|child| child.wait_with_output().expect("a generator is waited for"))
            .collect()
    }
}

impl Drop for Generators {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Two generators in their own namespaces, started by one `--start-at`, at 300
/// requests/s each for 2 s (the second with a larger payload, so that their medians
/// differ); the merge of their logs counts every answer of both and has a median between
/// theirs, and each log starts at the agreed second.
#[test]
fn two_generators_on_two_hosts_merge_into_one_log() {
    if !is_root() {
        eprintln!(
            "two_generators_on_two_hosts_merge_into_one_log: needs root to make network \
             namespaces; skipped"
        );
        return;
    }
    let server_binary = workspace_binary("server-evented").expect("server-evented is built");
    let bench_binary = workspace_binary("bench").expect("bench is built");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hosts-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("the test folder is made");

    let hosts = Hosts::new(2);
    let ip = hosts.ip.clone();
    let server = ServerProcess::start(
        &ip,
        [
            "netns".as_ref(),
            "exec".as_ref(),
            hosts.names[0].as_ref(),
            server_binary.as_os_str(),
            "--host".as_ref(),
            "0.0.0.0".as_ref(),
            "--port".as_ref(),
            "0".as_ref(),
            "--quiet".as_ref(),
        ],
    )
    .expect("the server starts in its namespace");
    let port = server.addr().port().to_string();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start_at = now + 2;
    let payloads = ["BenchmarkTestString123".to_owned(), "x".repeat(30_000)];
    let logs: Vec<PathBuf> = (1..=2).map(|k| dir.join(format!("gen{k}.hlog"))).collect();
    let generators = Generators(
        (1..=2)
            .map(|k| {
                hosts
                    .command(&hosts.names[k], &bench_binary)
                    .args(["--addr", &format!("10.221.{k}.1:{port}")])
                    .args(["--rate", "300", "--clients", "3", "--duration", "2s"])
                    .args(["--payload", &payloads[k - 1], "--timeout", "20s", "--json"])
                    .args(["--start-at", &start_at.to_string()])
                    .arg("--hdr-log")
                    .arg(&logs[k - 1])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("a generator starts in its namespace")
            })
            .collect(),
    );
    let reports: Vec<LoadReport> = generators
        .wait()
        .iter()
        .map(|out| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "a generator failed: {stderr}");
            serde_json::from_slice(&out.stdout).expect("bench prints a JSON load report")
        })
        .collect();
    for report in &reports {
        assert_eq!(report.errors.total(), 0, "{report:?}");
        assert!(report.latency.count > 0, "{report:?}");
    }

    let out = dir.join("merged");
    let merge = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("merge")
        .args(&logs)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("xtask runs");
    assert!(
        merge.status.success(),
        "{}",
        String::from_utf8_lossy(&merge.stderr)
    );
    let merged: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("merged.json")).expect("merged.json"))
            .expect("merged.json is JSON");

    let counts: Vec<u64> = reports.iter().map(|r| r.latency.count).collect();
    assert_eq!(
        merged["latency"]["count"],
        counts[0] + counts[1],
        "{merged}"
    );
    let p50 = merged["latency"]["p50_s"].as_f64().expect("a merged p50");
    let (low, high) = (
        reports[0].latency.p50_s.min(reports[1].latency.p50_s),
        reports[0].latency.p50_s.max(reports[1].latency.p50_s),
    );
    // HdrHistogram keeps 3 significant digits: allow that much either side.
    assert!(
        low * 0.999 <= p50 && p50 <= high * 1.001,
        "merged p50 {p50} s outside the generators' {low}..{high} s"
    );
    for log in merged["logs"]
        .as_array()
        .expect("merged.json lists the logs")
    {
        let started = log["start_unix_s"].as_f64().expect("a log's start");
        assert!(
            (start_at as f64..start_at as f64 + 1.0).contains(&started),
            "a log starts at {started}, not in the --start-at second {start_at}: {merged}"
        );
    }
    drop(server);
    drop(hosts);
    let _ = fs::remove_dir_all(&dir);
}
