//! `cargo xtask bench`: the tutorial's Problem 2 experiment, end to end, for the seven
//! architectures. Checks the machine's limits, builds the release binaries once, then for
//! each server: start it on a free loopback port with `--delay` (and `--work`,
//! `--workers`), run the `bench` binary with `--json` at each client count (and repeat)
//! while sampling the server from `/proc` and reading its CPU time before and after, stop
//! it with SIGTERM and check it exited 0. Writes `results.csv`, `results.json`,
//! `plot.svg`, `plot-overhead.svg`, `plot-detail.svg` and `REPORT.md`, also when the
//! sweep stops early on a failure.

use std::fs;
use std::io::{IsTerminal, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use bench::BurstReport;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use server_core::process::ServerProcess;

use crate::procfs::{self, Peaks, Sampler};
use crate::report::Params;
use crate::results::{Metadata, Results, Row, Run};
use crate::util;
use crate::{limits, plot, report, results};

/// How long a server may take to exit after SIGTERM: in-flight requests finish first.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra time bench allows beyond the model before it calls an answer late.
const BENCH_TIMEOUT_SLACK: Duration = Duration::from_secs(60);

/// A server architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Server {
    /// One client at a time.
    Sequential,
    /// A process per client.
    Forking,
    /// A thread per client.
    Threaded,
    /// Pre-forked worker processes, each serving one client at a time.
    Prefork,
    /// A fixed pool of worker threads fed by the accepting thread.
    Pool,
    /// Event loops (mio), one per core by default.
    Evented,
    /// A tokio runtime, a task per client.
    Async,
}

impl Server {
    /// The architecture's name: `sequential`, `forking`, `threaded`, `prefork`, `pool`,
    /// `evented` or `async`.
    pub fn name(self) -> &'static str {
        match self {
            Server::Sequential => "sequential",
            Server::Forking => "forking",
            Server::Threaded => "threaded",
            Server::Prefork => "prefork",
            Server::Pool => "pool",
            Server::Evented => "evented",
            Server::Async => "async",
        }
    }

    /// The binary's name, `server-<name>`.
    pub fn binary(self) -> String {
        format!("server-{}", self.name())
    }

    /// Whether the server takes `--workers N`.
    pub fn takes_workers(self) -> bool {
        matches!(
            self,
            Server::Prefork | Server::Pool | Server::Evented | Server::Async
        )
    }

    /// Whether the tree at `root` has the server's crate, `crates/server-<name>`.
    fn in_tree(self, root: &Path) -> bool {
        root.join("crates")
            .join(self.binary())
            .join("Cargo.toml")
            .is_file()
    }
}

/// The `--servers` choice: `all`, or the servers named, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// Every architecture whose crate is in the workspace.
    All,
    /// These, each of which must exist.
    List(Vec<Server>),
}

impl FromStr for ServerChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<ServerChoice, String> {
        if text.trim() == "all" {
            return Ok(ServerChoice::All);
        }
        let names = || {
            Server::value_variants()
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut list = Vec::new();
        for name in text.split(',').map(str::trim) {
            let server = Server::from_str(name, false).map_err(|_| {
                format!("'{name}' is not a server: name some of {}, or all", names())
            })?;
            if list.contains(&server) {
                return Err(format!("'{name}' is named twice"));
            }
            list.push(server);
        }
        Ok(ServerChoice::List(list))
    }
}

impl ServerChoice {
    /// The servers to run and those left out of `all` because their crate is not in the
    /// workspace. A server named explicitly must have its crate, or (with `--no-build`)
    /// a binary in `bin_dir`.
    ///
    /// # Errors
    ///
    /// When a server named explicitly exists neither as a crate nor as a binary, or when
    /// `all` finds none.
    pub fn resolve(
        &self,
        bin_dir: &Path,
        no_build: bool,
    ) -> anyhow::Result<(Vec<Server>, Vec<Server>)> {
        self.resolve_in(&util::project_root(), bin_dir, no_build)
    }

    /// [`ServerChoice::resolve`] for the tree at `root`.
    fn resolve_in(
        &self,
        root: &Path,
        bin_dir: &Path,
        no_build: bool,
    ) -> anyhow::Result<(Vec<Server>, Vec<Server>)> {
        let (exists, skipped): (Vec<Server>, Vec<Server>) = Server::value_variants()
            .iter()
            .partition(|s| s.in_tree(root));
        let present = || {
            exists
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            ServerChoice::All => {
                if exists.is_empty() {
                    bail!("--servers all: no crates/server-* is in this workspace");
                }
                Ok((exists, skipped))
            }
            ServerChoice::List(list) => {
                for server in list {
                    let prebuilt = no_build && bin_dir.join(server.binary()).is_file();
                    if !exists.contains(server) && !prebuilt {
                        bail!(
                            "--servers: {name} does not exist yet: there is no crates/{binary} \
                             in this workspace (and no {binary} binary to run with --no-build); \
                             the servers that exist are {}",
                            present(),
                            name = server.name(),
                            binary = server.binary()
                        );
                    }
                }
                Ok((list.clone(), Vec::new()))
            }
        }
    }
}

/// `cargo xtask bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Client counts: a range `10..=100` (or exclusive `10..100`) stepped by --step, a
    /// list `10,50,100`, or one number.
    #[arg(long, default_value = "10..=100")]
    pub clients: String,
    /// Step of a --clients range.
    #[arg(long, default_value_t = 10)]
    pub step: u64,
    /// The servers' delay per request (`3s`, `250ms`).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub delay: Duration,
    /// CPU time each request computes after its delay, passed to every server as
    /// `--work D` (measured on the serving thread's CPU clock); `0s` computes nothing.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub work: Duration,
    /// Workers of prefork and pool (their default: 16) and loops or runtime threads of
    /// evented and async (their default: one per core), passed to those four as
    /// `--workers N`; the model of prefork and pool uses it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub workers: Option<u64>,
    /// Servers to run, in order: a list of sequential, forking, threaded, prefork, pool,
    /// evented, async; or `all`, the seven in that order (those whose crate is not in the
    /// workspace yet are left out, and the report says so).
    #[arg(long, default_value = "all")]
    pub servers: ServerChoice,
    /// Runs per point; the row reports the run with the median total.
    #[arg(long, default_value_t = 1)]
    pub repeat: u64,
    /// Output directory (default: `target/bench/<UTC timestamp>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Listen backlog the servers are started with.
    #[arg(long, default_value_t = 4096)]
    pub backlog: u64,
    /// Directory holding the server and bench binaries [default: target/release].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Do not build: use the binaries already in --bin-dir.
    #[arg(long)]
    pub no_build: bool,
}

/// A duration flag (`3s`, `250ms`), at most a day: a sweep is made of many points, each
/// a few delays long, and bench's timeout is derived from them.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration > Duration::from_secs(24 * 3600) {
        return Err("too long for a benchmark point: at most 24h".into());
    }
    Ok(duration)
}

/// Expands a `--clients` spec with `step` into the client counts, in order.
///
/// # Errors
///
/// A message for a spec that is empty, not numbers, zero, backwards, or a range with
/// step 0.
pub fn parse_clients(spec: &str, step: u64) -> Result<Vec<u64>, String> {
    let number = |s: &str| -> Result<u64, String> {
        match s.trim().parse::<u64>() {
            Ok(0) => Err("client counts must be at least 1".into()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!(
                "'{}' is not a client count: expected e.g. 10..=100, 10..100, 10,50,100 or 10",
                s.trim()
            )),
        }
    };
    let spec = spec.trim();
    if let Some((start, end)) = spec.split_once("..") {
        let (end, inclusive) = match end.strip_prefix('=') {
            Some(end) => (end, true),
            None => (end, false),
        };
        let (start, end) = (number(start)?, number(end)?);
        if step == 0 {
            return Err("--step must be at least 1".into());
        }
        let last = if inclusive { end } else { end - 1 };
        if start > last {
            return Err(format!("the range {spec} holds no client count"));
        }
        let counts: Vec<u64> = (start..=last)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .collect();
        return Ok(counts);
    }
    spec.split(',').map(number).collect()
}

/// Progress: a bar with ETA on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    /// Expected seconds of the points already done.
    done_s: f64,
}

impl Progress {
    /// A progress report for `total_s` seconds of expected work.
    fn new(total_s: f64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new((total_s * 1000.0) as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40.cyan/blue}] {percent:>3}% ETA {eta_precise} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress { bar, done_s: 0.0 }
    }

    /// Prints a line above the bar, or on stderr.
    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Shows that the current point, expected to take `expected_s`, has run `elapsed_s`.
    fn during(&self, expected_s: f64, elapsed_s: f64, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_owned());
            bar.set_position(((self.done_s + elapsed_s.min(expected_s)) * 1000.0) as u64);
        }
    }

    /// Marks a point of `expected_s` done.
    fn point_done(&mut self, expected_s: f64) {
        self.done_s += expected_s;
        if let Some(bar) = &self.bar {
            bar.set_position((self.done_s * 1000.0) as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The model's parameters for this sweep.
fn params(args: &BenchArgs) -> Params {
    Params {
        delay_s: args.delay.as_secs_f64(),
        work_s: args.work.as_secs_f64(),
        workers: args.workers,
        cores: cores(),
    }
}

/// CPUs available to the sweep.
fn cores() -> u64 {
    thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// What a point is expected to take: the model plus a little for start and stop.
fn expected_s(server: Server, clients: u64, params: &Params) -> f64 {
    report::model_s(server.name(), clients, params) + 0.2
}

/// Runs `cargo xtask bench`.
///
/// # Errors
///
/// When the arguments are wrong, a server named does not exist, the machine's limits are
/// too low, the build fails, or the sweep stops on a failed server start, a crashed
/// server, a bench that could not run, or a server that did not stop cleanly; the results
/// gathered so far are written first.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let clients = parse_clients(&args.clients, args.step).map_err(|e| anyhow!("--clients: {e}"))?;
    if args.repeat == 0 {
        bail!("--repeat must be at least 1");
    }
    let started = SystemTime::now();
    let bin_dir = args
        .bin_dir
        .clone()
        .unwrap_or_else(|| util::target_dir().join("release"));
    let (servers, skipped) = args.servers.resolve(&bin_dir, args.no_build)?;
    for server in &skipped {
        eprintln!(
            "note: {} is left out of --servers all: crates/{} is not in this workspace yet",
            server.name(),
            server.binary()
        );
    }
    let largest = clients.iter().copied().max().unwrap_or(1);
    let points = clients.len() as u64 * args.repeat;
    let machine = limits::Machine::read();
    for warning in limits::check(&machine, largest, points, &servers, args.backlog)? {
        eprintln!("warning: {warning}");
    }
    if !args.no_build {
        let mut build = util::cargo();
        build.args(["build", "--release"]);
        for server in &servers {
            build.args(["-p", &server.binary()]);
        }
        build.args(["-p", "bench"]);
        util::run(build)?;
    }
    let binaries = Binaries::find(&bin_dir, &servers)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| util::target_dir().join("bench").join(util::stamp(started)));
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let params = params(args);
    let mut results = Results {
        metadata: metadata(args, &machine, &servers, &skipped, &clients, started),
        complete: false,
        stopped_because: None,
        rows: Vec::new(),
        runs: Vec::new(),
    };
    let total_s: f64 = servers
        .iter()
        .flat_map(|&s| clients.iter().map(move |&n| (s, n)))
        .map(|(s, n)| expected_s(s, n, &params))
        .sum::<f64>()
        * args.repeat as f64;
    eprintln!(
        "sweep: {} × clients {:?} × {} repeat(s), delay {}, work {}; about {:.0} s; results in {}",
        servers
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(","),
        clients,
        args.repeat,
        humantime::format_duration(args.delay),
        humantime::format_duration(args.work),
        total_s,
        out.display()
    );
    let mut progress = Progress::new(total_s);
    let outcome = sweep(
        args,
        &params,
        &clients,
        &binaries,
        &mut results,
        &mut progress,
    );
    progress.finish();
    if let Err(e) = &outcome {
        results.stopped_because = Some(format!("{e:#}"));
    } else {
        results.complete = true;
    }
    write_outputs(&out, &results)?;
    eprintln!("wrote {}", out.display());
    eprint!("{}", summary_table(&results.rows));
    outcome
}

/// Paths of the binaries a sweep runs.
struct Binaries {
    bench: PathBuf,
    servers: Vec<(Server, PathBuf)>,
}

impl Binaries {
    /// Finds every binary in `dir`, or says which one is missing and how to build it.
    fn find(dir: &Path, servers: &[Server]) -> anyhow::Result<Binaries> {
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
fn server_args(server: Server, args: &BenchArgs) -> Vec<String> {
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
fn sweep(
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
                    server: server.name().into(),
                    repeat,
                    report: report.clone(),
                    server_cpu_s: cpu_s,
                });
                runs.push((report, cpu_s));
                progress.point_done(expected);
            }
            if let Some(row) = Row::from_reports(server.name(), params, &runs, peaks) {
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

/// Runs the bench binary for one point and reads its JSON report. Exit status 1 (some
/// clients failed) still gives a report; the failures are in it. Status 2 means bench
/// measured nothing (a usage error or a limit).
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
    .args(["--timeout", &format!("{}s", timeout.as_secs()), "--json"])
    .stdin(Stdio::null())
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

/// Where and how the sweep runs; the port range and somaxconn are those `machine` was
/// checked with.
fn metadata(
    args: &BenchArgs,
    machine: &limits::Machine,
    servers: &[Server],
    skipped: &[Server],
    clients: &[u64],
    started: SystemTime,
) -> Metadata {
    let read = |path: &str| fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let mut git = Command::new("git");
    git.args(["rev-parse", "HEAD"]);
    let mut status = Command::new("git");
    status.args(["status", "--porcelain", "--untracked-files=no"]);
    let dirty = util::output_of(status).is_some_and(|s| !s.is_empty());
    let revision = util::output_of(git).unwrap_or_else(|| "unknown".into());
    Metadata {
        date: util::rfc3339(started),
        git_revision: if dirty {
            format!("{revision}-dirty")
        } else {
            revision
        },
        kernel: format!(
            "{} {}",
            read("/proc/sys/kernel/ostype").unwrap_or_else(|| "unknown".into()),
            read("/proc/sys/kernel/osrelease").unwrap_or_default()
        ),
        cores: cores(),
        rlimit_nofile: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap_or((0, 0)),
        somaxconn: machine.somaxconn,
        backlog: args.backlog,
        ip_local_port_range: machine.ports,
        delay_s: args.delay.as_secs_f64(),
        work_s: args.work.as_secs_f64(),
        workers: args.workers,
        skipped: skipped.iter().map(|s| s.name().to_owned()).collect(),
        clients: clients.to_vec(),
        servers: servers.iter().map(|s| s.name().to_owned()).collect(),
        repeat: args.repeat,
        command: std::iter::once("cargo xtask".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Re-renders `REPORT.md`, `results.csv` and the plots of a finished run from its
/// `results.json`: after xtask's rendering changed, or after editing the JSON by hand.
///
/// # Errors
///
/// When `results.json` cannot be read or parsed, or a file cannot be written.
pub fn rerender(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("results.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let results: Results =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    write_outputs(dir, &results)?;
    eprintln!(
        "rewrote REPORT.md, results.csv and the three plots in {}",
        dir.display()
    );
    Ok(())
}

/// Writes every output file.
fn write_outputs(out: &Path, results: &Results) -> anyhow::Result<()> {
    results::write_csv(&out.join("results.csv"), &results.rows)?;
    results::write_json(&out.join("results.json"), results)?;
    fs::write(out.join("REPORT.md"), report::render(results))
        .with_context(|| format!("writing {}", out.join("REPORT.md").display()))?;
    plot::execution_time(
        &out.join("plot.svg"),
        &results.rows,
        results.metadata.delay_s,
    )?;
    plot::overhead(&out.join("plot-overhead.svg"), &results.rows)?;
    plot::detail(&out.join("plot-detail.svg"), &results.rows)?;
    Ok(())
}

/// The tutorial-style `Clients  Execution Time (s)` table per server, for the terminal.
fn summary_table(rows: &[Row]) -> String {
    let mut out = String::new();
    for (server, rows) in report::by_server(rows) {
        out += &format!("\n{server}\nClients\tExecution Time (s)\tp99 (s)\terrors\n");
        for row in rows {
            out += &format!(
                "{}\t{:.6}\t{:.6}\t{}{}\n",
                row.clients,
                row.total_s,
                row.p99_s,
                row.errors,
                if row.on_model { "" } else { "\toff model" }
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inclusive and exclusive ranges step; lists and single numbers are taken as given.
    #[test]
    fn client_specs() {
        assert_eq!(
            parse_clients("10..=100", 10).unwrap(),
            vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        );
        assert_eq!(parse_clients("10..100", 10).unwrap().last(), Some(&90));
        assert_eq!(parse_clients("2..=4", 2).unwrap(), vec![2, 4]);
        assert_eq!(parse_clients("1..=10", 4).unwrap(), vec![1, 5, 9]);
        assert_eq!(parse_clients("10,50,100", 10).unwrap(), vec![10, 50, 100]);
        assert_eq!(parse_clients(" 10 ", 10).unwrap(), vec![10]);
    }

    /// Bad specs are refused with a message saying what is expected.
    #[test]
    fn bad_client_specs() {
        assert!(parse_clients("", 10).unwrap_err().contains("expected e.g."));
        assert!(parse_clients("ten", 10).unwrap_err().contains("'ten'"));
        assert!(parse_clients("0", 10).unwrap_err().contains("at least 1"));
        assert!(parse_clients("10..=100", 0).unwrap_err().contains("--step"));
        assert!(
            parse_clients("50..=10", 10)
                .unwrap_err()
                .contains("no client count")
        );
        assert!(parse_clients("10..10", 1).is_err());
        assert!(parse_clients("10,,20", 10).is_err());
    }

    /// A `cargo xtask bench` command line.
    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    /// The defaults reproduce the tutorial (10..=100 by 10, 3 s) over all seven servers, with
    /// no work and the servers' own worker counts.
    #[test]
    fn defaults_are_the_tutorials() {
        let args = parse(&[]).unwrap();
        assert_eq!(parse_clients(&args.clients, args.step).unwrap().len(), 10);
        assert_eq!(args.delay, Duration::from_secs(3));
        assert_eq!(args.servers, ServerChoice::All);
        assert_eq!(args.work, Duration::ZERO);
        assert_eq!(args.workers, None);
        let args = parse(&["--servers", "forking,threaded", "--delay", "250ms"]).unwrap();
        assert_eq!(
            args.servers,
            ServerChoice::List(vec![Server::Forking, Server::Threaded])
        );
        assert_eq!(args.delay, Duration::from_millis(250));
        let args = parse(&[
            "--servers",
            "async, pool",
            "--work",
            "20ms",
            "--workers",
            "4",
        ])
        .unwrap();
        assert_eq!(
            args.servers,
            ServerChoice::List(vec![Server::Async, Server::Pool])
        );
        assert_eq!(args.work, Duration::from_millis(20));
        assert_eq!(args.workers, Some(4));
    }

    /// Unknown, repeated or missing server names, zero workers and absurd durations are
    /// refused with a message that says what is expected.
    #[test]
    fn bad_arguments() {
        let err = parse(&["--servers", "threaded,nginx"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'nginx' is not a server"), "{err}");
        assert!(err.contains("evented, async, or all"), "{err}");
        let err = parse(&["--servers", "pool,pool"]).unwrap_err().to_string();
        assert!(err.contains("named twice"), "{err}");
        assert!(parse(&["--servers", ""]).is_err());
        assert!(parse(&["--workers", "0"]).is_err());
        let err = parse(&["--delay", "580000000000y"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 24h"), "{err}");
        assert!(parse(&["--work", "soon"]).is_err());
    }

    /// Every server gets the delay; `--work` and `--workers` only when asked for, and
    /// `--workers` only to the four servers that have workers.
    #[test]
    fn server_command_lines() {
        let args = parse(&["--delay", "100ms"]).unwrap();
        let line = server_args(Server::Threaded, &args).join(" ");
        assert_eq!(line, "--port 0 --quiet --delay 100ms --backlog 4096");
        let args = parse(&["--delay", "1s", "--work", "20ms", "--workers", "2"]).unwrap();
        for server in Server::value_variants() {
            let line = server_args(*server, &args).join(" ");
            assert!(line.contains("--work 20ms"), "{line}");
            assert_eq!(
                line.contains("--workers 2"),
                server.takes_workers(),
                "{server:?}: {line}"
            );
        }
    }

    /// `all` runs the servers whose crate exists, in the documented order, and names the rest;
    /// a server named explicitly that does not exist is a clear error.
    #[test]
    fn server_resolution() {
        let nowhere = Path::new("/nonexistent");
        let (run, skipped) = ServerChoice::All.resolve(nowhere, false).unwrap();
        assert!(run.starts_with(&[Server::Sequential, Server::Forking, Server::Threaded]));
        assert_eq!(run.len() + skipped.len(), 7);
        assert!(run.iter().all(|s| s.in_tree(&util::project_root())));
        assert!(skipped.iter().all(|s| !s.in_tree(&util::project_root())));

        // A tree where only threaded and pool exist yet.
        let tree = std::env::temp_dir().join(format!("xtask-tree-{}", std::process::id()));
        for name in ["server-threaded", "server-pool"] {
            fs::create_dir_all(tree.join("crates").join(name)).unwrap();
            fs::write(tree.join("crates").join(name).join("Cargo.toml"), "").unwrap();
        }
        let (run, skipped) = ServerChoice::All.resolve_in(&tree, nowhere, false).unwrap();
        assert_eq!(run, vec![Server::Threaded, Server::Pool]);
        assert_eq!(skipped.len(), 5);
        let err = ServerChoice::List(vec![Server::Threaded, Server::Evented])
            .resolve_in(&tree, nowhere, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("evented does not exist yet"), "{err}");
        assert!(err.contains("no crates/server-evented"), "{err}");
        assert!(
            err.contains("the servers that exist are threaded,pool"),
            "{err}"
        );
        // With --no-build, a binary in --bin-dir is enough.
        let bins = tree.join("bin");
        fs::create_dir_all(&bins).unwrap();
        fs::write(bins.join("server-evented"), "").unwrap();
        assert!(
            ServerChoice::List(vec![Server::Evented])
                .resolve_in(&tree, &bins, true)
                .is_ok()
        );
        let empty = tree.join("empty");
        fs::create_dir_all(&empty).unwrap();
        assert!(
            ServerChoice::All
                .resolve_in(&empty, nowhere, false)
                .is_err()
        );
        fs::remove_dir_all(&tree).unwrap();
        let (run, skipped) = ServerChoice::List(vec![Server::Threaded])
            .resolve(nowhere, false)
            .unwrap();
        assert_eq!((run, skipped), (vec![Server::Threaded], vec![]));
    }
}
