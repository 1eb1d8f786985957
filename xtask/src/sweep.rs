//! The sweep itself: for each server, start it on a free loopback port with `--delay`
//! (and `--work`, `--workers`), run the `bench` binary with `--json` at each client count
//! (and repeat) while sampling the server from `/proc` and reading its CPU time before and
//! after, then stop it with SIGTERM and check that it exited 0. Each point becomes a
//! [`Row`]; the first failure stops the sweep with what went wrong.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bench::BurstReport;
use testkit::ServerProcess;

use crate::architecture::Architecture;
use crate::flags::BenchArgs;
use crate::model::Params;
use crate::procfs::{self, Peaks, Sampler};
use crate::progress::Progress;
use crate::results::{Results, Row, Run};
use crate::util;

/// How long a server may take to exit after SIGTERM: in-flight requests finish first.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra time bench allows beyond the model before it calls an answer late.
const BENCH_TIMEOUT_SLACK: Duration = Duration::from_secs(60);

/// What a point is expected to take: the model plus a little for start and stop.
pub fn expected_s(server: Architecture, clients: u64, params: &Params) -> f64 {
    server.model().time_s(clients, params) + 0.2
}

/// Paths of the binaries a sweep runs.
pub struct Binaries {
    bench: PathBuf,
    servers: Vec<(Architecture, PathBuf)>,
}

impl Binaries {
    /// Finds every binary in `dir`, or says which one is missing and how to build it.
    pub fn find(dir: &Path, servers: &[Architecture]) -> anyhow::Result<Binaries> {
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(anyhow!(
                    "{} not found; build it with `cargo build --release -p {name}` or drop --no-build",
                    path.display()
                ))
            }
        };
        Ok(Binaries {
            bench: find("bench")?,
            servers: servers
                .iter()
                .map(|&s| Ok((s, find(&s.binary())?)))
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// The command line a server is started with.
fn server_args(server: Architecture, args: &BenchArgs) -> Vec<String> {
    let mut line = vec![
        "--port".to_owned(),
        "0".into(),
        "--quiet".into(),
        "--delay".into(),
        humantime::format_duration(args.delay).to_string(),
        "--backlog".into(),
        args.backlog.to_string(),
    ];
    // Only when asked for, so that a sweep without work runs on servers of any age.
    if !args.work.is_zero() {
        line.extend([
            "--work".into(),
            humantime::format_duration(args.work).to_string(),
        ]);
    }
    if let Some(workers) = args.workers
        && server.takes_workers()
    {
        line.extend(["--workers".into(), workers.to_string()]);
    }
    line
}

/// Every server, every client count, every repeat; stops at the first failure.
pub fn run(
    args: &BenchArgs,
    params: &Params,
    clients: &[u64],
    binaries: &Binaries,
    results: &mut Results,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    for (server, binary) in &binaries.servers {
        let server_args = server_args(*server, args);
        progress.println(&format!("$ {} {}", binary.display(), server_args.join(" ")));
        let mut process = ServerProcess::start(binary, &server_args)
            .with_context(|| format!("starting {}", server.binary()))?;
        for &n in clients {
            let mut runs = Vec::new();
            let mut peaks = Peaks::default();
            let expected = expected_s(*server, n, params);
            for repeat in 1..=args.repeat {
                let label = format!("{} {n} clients ({repeat}/{})", server.name(), args.repeat);
                let cpu_before = procfs::cpu_s(process.pid());
                let sampler = Sampler::start(process.pid());
                let report = run_bench(
                    &binaries.bench,
                    process.addr(),
                    n,
                    Duration::from_secs_f64(expected) + BENCH_TIMEOUT_SLACK,
                    |elapsed| progress.during(expected, elapsed, &label),
                    progress,
                );
                peaks = peaks.max(sampler.stop());
                let cpu_after = procfs::cpu_s(process.pid());
                if let Some(status) = process.try_wait()? {
                    bail!(
                        "{} exited ({status}) during the {n}-client run; its last output:\n{}",
                        server.binary(),
                        tail(&process.output())
                    );
                }
                let report = report
                    .with_context(|| format!("bench against {} at {n} clients", server.binary()))?;
                let cpu_s = cpu_before
                    .zip(cpu_after)
                    .map(|(before, after)| after - before);
                progress.println(&format!(
                    "{label}: total {:.6} s, p99 {:.6} s, server CPU {}, errors {}",
                    report.total_s,
                    report.latency.p99_s,
                    cpu_s.map_or("unread".into(), |c| format!("{c:.3} s")),
                    report.errors
                ));
                results.runs.push(Run {
                    server: *server,
                    repeat,
                    report: report.clone(),
                    server_cpu_s: cpu_s,
                });
                runs.push((report, cpu_s));
                progress.point_done(expected);
            }
            if let Some(row) = Row::from_reports(*server, params, &runs, peaks) {
                results.rows.push(row);
            }
        }
        let status = process
            .stop(STOP_TIMEOUT)
            .with_context(|| format!("stopping {}", server.binary()))?;
        if !status.success() {
            bail!(
                "{} did not exit cleanly after SIGTERM: {status}",
                server.binary()
            );
        }
    }
    Ok(())
}

/// The last lines a server printed, for an error message.
fn tail(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}

/// Runs the bench binary's burst for one point and reads its JSON report ([`run_json`]).
fn run_bench(
    bench: &Path,
    addr: SocketAddr,
    clients: u64,
    timeout: Duration,
    tick: impl Fn(f64),
    progress: &Progress,
) -> anyhow::Result<BurstReport> {
    let mut cmd = Command::new(bench);
    cmd.args([
        "--addr",
        &addr.to_string(),
        "--clients",
        &clients.to_string(),
    ])
    .args(["--timeout", &format!("{}s", timeout.as_secs()), "--json"]);
    run_json(cmd, tick, progress)
}

/// Runs a bench command line that ends in `--json`, calling `tick` with the seconds
/// elapsed while it runs, and reads its report (a burst's or a timed run's). Exit status
/// 1 (some clients failed) still gives a report; the failures are in it. Status 2 means
/// bench measured nothing (a usage error, a limit, or no client connected): an error,
/// with what bench said.
pub fn run_json<T: serde::de::DeserializeOwned>(
    mut cmd: Command,
    tick: impl Fn(f64),
    progress: &Progress,
) -> anyhow::Result<T> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = util::display(&cmd);
    progress.println(&format!("$ {line}"));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not run `{line}`"))?;
    // The report is a few KiB, well under a pipe's capacity, so bench never blocks on
    // writing it while this loop waits.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let readers = (
        thread::spawn(move || read_all(stdout.as_mut())),
        thread::spawn(move || read_all(stderr.as_mut())),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        tick(start.elapsed().as_secs_f64());
        thread::sleep(Duration::from_millis(100));
    };
    let stdout = readers.0.join().unwrap_or_default();
    let stderr = readers.1.join().unwrap_or_default();
    match status.code() {
        Some(0 | 1) => serde_json::from_str(&stdout)
            .with_context(|| format!("`{line}` printed no JSON report: {stdout}{stderr}")),
        _ => bail!("`{line}` failed ({status}): {}", stderr.trim()),
    }
}

fn read_all(stream: Option<&mut impl Read>) -> String {
    let mut text = String::new();
    if let Some(stream) = stream {
        let _ = stream.read_to_string(&mut text);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `cargo xtask bench` command line.
    fn parse(args: &[&str]) -> BenchArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
            .map(|c| c.bench)
            .unwrap()
    }

    /// Every server gets the delay; `--work` and `--workers` only when asked for, and
    /// `--workers` only to the four servers that have workers.
    #[test]
    fn server_command_lines() {
        let args = parse(&["--delay", "100ms"]);
        let line = server_args(Architecture::Threaded, &args).join(" ");
        assert_eq!(line, "--port 0 --quiet --delay 100ms --backlog 4096");
        let args = parse(&["--delay", "1s", "--work", "20ms", "--workers", "2"]);
        for server in Architecture::ALL {
            let line = server_args(*server, &args).join(" ");
            assert!(line.contains("--work 20ms"), "{line}");
            assert_eq!(
                line.contains("--workers 2"),
                server.takes_workers(),
                "{server:?}: {line}"
            );
        }
    }
}
