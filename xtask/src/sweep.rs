//! The sweep itself: start a server on a free loopback port with `--delay` (and `--work`,
//! `--workers`), run the `bench` binary with `--json` at a client count (and repeat)
//! while sampling the server from `/proc`, reading its CPU time and the machine's load
//! before and after, then stop it with SIGTERM and check that it exited 0. Each point
//! becomes a [`Row`], handed over as soon as it is measured.
//!
//! The schedule ([`run`]): a sequential server at 100 clients and a 3 s delay takes
//! 300 s, and almost all of it is waiting. Points whose server only waits
//! ([`only_waits`]) run beside the others, each on a server of its own, so the whole
//! tutorial sweep takes about as long as its longest point; the points whose overhead is
//! the figure (forking, threaded, evented, async) still run one at a time. `--serial`
//! runs every point one at a time. The first failure, Ctrl-C or SIGTERM stops every
//! point; the points running then are abandoned, their servers stopped.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bench::BurstReport;
use testkit::ServerProcess;

use crate::architecture::Architecture;
use crate::cgroup::Cgroup;
use crate::model::{Model, Params};
use crate::procfs::{self, Busy, Peaks, Sampler};
use crate::progress::Progress;
use crate::results::{Row, Run};
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
        let find = |name: &str| util::built_binary(dir, name);
        Ok(Binaries {
            bench: find("bench")?,
            servers: servers
                .iter()
                .map(|&s| Ok((s, find(&s.binary())?)))
                .collect::<anyhow::Result<_>>()?,
        })
    }

    /// The binary of `server`.
    fn server(&self, server: Architecture) -> anyhow::Result<&Path> {
        self.servers
            .iter()
            .find(|(s, _)| *s == server)
            .map(|(_, path)| path.as_path())
            .ok_or_else(|| anyhow!("no binary was looked for for {server}"))
    }
}

/// The settings every point of a sweep shares: from the command line, or from the
/// `results.json` of the run that `--resume` continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The servers' delay per request.
    pub delay: Duration,
    /// CPU each request computes after its delay.
    pub work: Duration,
    /// `--workers`, when given.
    pub workers: Option<u64>,
    /// The listen backlog the servers are started with.
    pub backlog: u64,
    /// Runs per point.
    pub repeat: u64,
}

/// One point of the sweep: a server at one client count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// The architecture.
    pub server: Architecture,
    /// Clients released together.
    pub clients: u64,
}

/// A point measured: its row and every bench run of it.
pub struct Measured {
    /// The point's row.
    pub row: Row,
    /// One per repeat.
    pub runs: Vec<Run>,
}

/// Whether a point's server only waits: its clients are answered in rounds of one delay
/// and it computes nothing (sequential's, prefork's and pool's without `--work`). Its
/// total is whole delays, which another point's load does not lengthen by more than
/// scheduling noise, and it costs the machine a wake-up per round, so it can run beside
/// the points whose overhead is the figure (forking, threaded, evented, async).
pub fn only_waits(server: Architecture, params: &Params) -> bool {
    params.work_s == 0.0 && matches!(server.model(), Model::OneAtATime | Model::Workers)
}

/// How long after starting the points that run beside the others the first of those
/// waits: long enough for their bursts of connects (microseconds per client) to be over.
const SETTLE: Duration = Duration::from_millis(500);

/// What the schedule of `todo` is expected to take: the points one after another with
/// `serial`, else the longest of the points that only wait and the others one after
/// another.
pub fn schedule_s(todo: &[Point], params: &Params, serial: bool) -> f64 {
    let expected = |p: &Point| expected_s(p.server, p.clients, params);
    if serial {
        return todo.iter().map(expected).sum();
    }
    let (beside, lane): (Vec<&Point>, Vec<&Point>) =
        todo.iter().partition(|p| only_waits(p.server, params));
    let longest_beside = beside.iter().map(|p| expected(p)).fold(0.0, f64::max);
    let lane: f64 = lane.iter().map(|p| expected(p)).sum();
    if beside.is_empty() {
        lane
    } else {
        longest_beside.max(lane + SETTLE.as_secs_f64())
    }
}

/// Why a sweep stops early: Ctrl-C (SIGINT) or SIGTERM, or a point that failed while
/// others ran beside it. Every bench and server checks it ten times a second.
pub struct Stop {
    signalled: Arc<AtomicBool>,
    failed: AtomicBool,
}

impl Stop {
    /// A stop that SIGINT and SIGTERM trigger. Their default action would kill xtask
    /// before it writes the points done; the servers and benches, in the terminal's
    /// process group, get a Ctrl-C too and are stopped and reaped here either way.
    pub fn on_signals() -> Stop {
        let signalled = Arc::new(AtomicBool::new(false));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&signalled)) {
                eprintln!("warning: Ctrl-C will not keep the points done: {e}");
            }
        }
        Stop {
            signalled,
            failed: AtomicBool::new(false),
        }
    }

    /// Whether a signal asked the sweep to stop.
    pub fn signalled(&self) -> bool {
        self.signalled.load(Ordering::Relaxed)
    }

    /// Whether the sweep is stopping, for a signal or a failure.
    fn now(&self) -> bool {
        self.signalled() || self.failed.load(Ordering::Relaxed)
    }
}

/// A point abandoned because the sweep is stopping: not a failure of its own.
#[derive(Debug)]
struct Abandoned;

impl std::fmt::Display for Abandoned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("abandoned: the sweep is stopping")
    }
}

impl std::error::Error for Abandoned {}

/// Everything the points of one sweep share.
pub struct Sweep<'a> {
    /// The settings of every point.
    pub plan: &'a Plan,
    /// The model's parameters.
    pub params: &'a Params,
    /// The binaries.
    pub binaries: &'a Binaries,
    /// The bar.
    pub progress: &'a Progress,
    /// Ctrl-C, or a failure elsewhere.
    pub stop: &'a Stop,
    /// Where each server gets a cgroup of its own for its CPU time; `None`: `/proc`.
    pub cgroups: Option<&'a Path>,
    /// Called with each point as soon as it is measured (the files are written there).
    pub record: &'a (dyn Fn(Measured) -> anyhow::Result<()> + Sync),
}

/// The command line a server is started with.
fn server_args(server: Architecture, plan: &Plan) -> Vec<String> {
    let mut line = vec![
        "--port".to_owned(),
        "0".into(),
        "--quiet".into(),
        "--delay".into(),
        humantime::format_duration(plan.delay).to_string(),
        "--backlog".into(),
        plan.backlog.to_string(),
    ];
    // Only when asked for, so that a sweep without work runs on servers of any age.
    if !plan.work.is_zero() {
        line.extend([
            "--work".into(),
            humantime::format_duration(plan.work).to_string(),
        ]);
    }
    if let Some(workers) = plan.workers
        && server.takes_workers()
    {
        line.extend(["--workers".into(), workers.to_string()]);
    }
    line
}

/// Runs the points of `todo`. With `serial`, one at a time in order, one server per
/// architecture for all its points (the tutorial's schedule). Otherwise the points that
/// [`only_waits`] start first, each on a server and port of its own, longest first, and
/// run while the others run one at a time as with `serial`. Each point is handed to
/// `sweep.record` when done. The first failure stops every point; so do Ctrl-C and
/// SIGTERM, after which the points running are abandoned and their servers stopped.
///
/// # Errors
///
/// The first failure: a server that would not start, crashed or did not stop cleanly, a
/// bench that could not run, or a result that could not be written; or [`Abandoned`]
/// when a signal stopped the sweep (see [`Stop::signalled`]).
pub fn run(sweep: &Sweep, todo: &[Point], serial: bool) -> anyhow::Result<()> {
    let (mut beside, lane): (Vec<Point>, Vec<Point>) = if serial {
        (Vec::new(), todo.to_vec())
    } else {
        todo.iter()
            .partition(|p| only_waits(p.server, sweep.params))
    };
    beside.sort_by(|a, b| {
        let expected = |p: &Point| expected_s(p.server, p.clients, sweep.params);
        expected(b).total_cmp(&expected(a))
    });
    let failed = |outcome: anyhow::Result<()>| {
        if outcome.is_err() {
            sweep.stop.failed.store(true, Ordering::Relaxed);
        }
        outcome
    };
    let outcomes: Vec<anyhow::Result<()>> = thread::scope(|scope| {
        let (started, launched) = mpsc::channel();
        let beside: Vec<_> = beside
            .iter()
            .map(|&point| {
                let started = started.clone();
                scope.spawn(move || failed(serve(sweep, point.server, &[point.clients], &started)))
            })
            .collect();
        drop(started);
        // Once every point beside has its bench running (or has failed), let their
        // bursts of connects pass before the first point whose overhead is the figure.
        // Each says so at least once; one that fails before it drops its sender.
        if !beside.is_empty() {
            let _ = (0..beside.len()).try_for_each(|_| launched.recv());
            thread::sleep(SETTLE);
        }
        let mut outcomes = vec![failed(run_lane(sweep, &lane))];
        for handle in beside {
            outcomes.push(
                handle
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("a point's thread panicked"))),
            );
        }
        outcomes
    });
    let mut abandoned = None;
    for outcome in outcomes {
        match outcome {
            Err(e) if e.is::<Abandoned>() => abandoned = Some(e),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
    abandoned.map_or(Ok(()), Err)
}

/// The points of `lane` one after another, one server per run of points of the same
/// architecture.
fn run_lane(sweep: &Sweep, lane: &[Point]) -> anyhow::Result<()> {
    let (unused, _) = mpsc::channel();
    for group in lane.chunk_by(|a, b| a.server == b.server) {
        let clients: Vec<u64> = group.iter().map(|p| p.clients).collect();
        serve(sweep, group[0].server, &clients, &unused)?;
    }
    Ok(())
}

/// Starts one `server`, measures it at each of `clients` in order (every repeat), and
/// stops it; says on `started` when the first bench runs.
fn serve(
    sweep: &Sweep,
    server: Architecture,
    clients: &[u64],
    started: &mpsc::Sender<()>,
) -> anyhow::Result<()> {
    let (plan, progress) = (sweep.plan, sweep.progress);
    if sweep.stop.now() {
        return Err(Abandoned.into());
    }
    let binary = sweep.binaries.server(server)?;
    let server_args = server_args(server, plan);
    progress.println(&format!("$ {} {}", binary.display(), server_args.join(" ")));
    let cgroup = match sweep.cgroups {
        Some(root) => Some(Cgroup::create(
            root,
            &format!("bench-{}", next_name(server)),
        )?),
        None => None,
    };
    let process = match &cgroup {
        Some(cgroup) => ServerProcess::start(
            Path::new("/bin/sh"),
            cgroup.shell_args(binary, &server_args),
        ),
        None => ServerProcess::start(binary, &server_args),
    };
    let mut process = match process {
        Ok(process) => process,
        Err(e) => {
            let _ = started.send(());
            if let Some(cgroup) = cgroup {
                cgroup.remove();
            }
            return Err(e).with_context(|| format!("starting {}", server.binary()));
        }
    };
    let clock = match cgroup {
        Some(cgroup) => CpuClock::Group(cgroup),
        None => CpuClock::Proc(process.pid()),
    };
    let measured = clients
        .iter()
        .try_for_each(|&n| measure(sweep, server, &mut process, &clock, n, started));
    if let Err(e) = measured {
        // Stopped by the drop: SIGKILL, since the point is lost either way.
        drop(process);
        clock.remove();
        return Err(e);
    }
    let status = process.stop(STOP_TIMEOUT);
    clock.remove();
    let status = status.with_context(|| format!("stopping {}", server.binary()))?;
    if !status.success() && !sweep.stop.signalled() {
        bail!(
            "{} did not exit cleanly after SIGTERM: {status}",
            server.binary()
        );
    }
    Ok(())
}

/// How a server's CPU time is read: from a cgroup of its own, or from `/proc`.
enum CpuClock {
    /// Every process of the server, to the microsecond.
    Group(Cgroup),
    /// The server, its live children and those it reaped, in 10 ms ticks.
    Proc(u32),
}

impl CpuClock {
    /// CPU seconds so far, or `None` when unreadable.
    fn read_s(&self) -> Option<f64> {
        match self {
            CpuClock::Group(group) => group.usage_us().ok().map(|us| us / 1e6),
            CpuClock::Proc(pid) => procfs::cpu_s(*pid),
        }
    }

    /// Removes the cgroup, once the server has exited.
    fn remove(self) {
        if let CpuClock::Group(group) = self {
            group.remove();
        }
    }
}

/// `server` and a number no other server of this run has: a name for its cgroup.
fn next_name(server: Architecture) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{server}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One point, every repeat, on the running `process`, handed to `sweep.record`.
fn measure(
    sweep: &Sweep,
    server: Architecture,
    process: &mut ServerProcess,
    clock: &CpuClock,
    n: u64,
    started: &mpsc::Sender<()>,
) -> anyhow::Result<()> {
    let (plan, params, progress) = (sweep.plan, sweep.params, sweep.progress);
    let mut runs = Vec::new();
    let mut peaks = Peaks::default();
    let mut busy = Busy::read();
    let expected = expected_s(server, n, params);
    for repeat in 1..=plan.repeat {
        let label = format!("{} {n} clients ({repeat}/{})", server.name(), plan.repeat);
        let cpu_before = clock.read_s();
        let sampler = Sampler::start(process.pid());
        let report = run_bench(
            &sweep.binaries.bench,
            process.addr(),
            n,
            Duration::from_secs_f64(expected) + BENCH_TIMEOUT_SLACK,
            &Watch {
                tick: &|_| progress.tick(&label),
                started,
                stop: Some(sweep.stop),
            },
            progress,
        );
        peaks = peaks.max(sampler.stop());
        let cpu_after = clock.read_s();
        if sweep.stop.now() {
            return Err(Abandoned.into());
        }
        if let Some(status) = process.try_wait()? {
            bail!(
                "{} exited ({status}) during the {n}-client run; its last output:\n{}",
                server.binary(),
                tail(&process.output())
            );
        }
        let report =
            report.with_context(|| format!("bench against {} at {n} clients", server.binary()))?;
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
        runs.push((report, cpu_s));
    }
    busy = busy.max(Busy::read());
    let Some(row) = Row::from_reports(server, params, &runs, peaks, busy) else {
        return Ok(());
    };
    let runs = runs
        .into_iter()
        .zip(1..)
        .map(|((report, server_cpu_s), repeat)| Run {
            server,
            repeat,
            report,
            server_cpu_s,
        })
        .collect();
    (sweep.record)(Measured { row, runs })
}

/// The last lines a server printed, for an error message.
fn tail(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}

/// What watches a bench run: `tick` with the seconds elapsed, ten times a second;
/// `started` once it runs; and `stop`, which kills it.
struct Watch<'a> {
    tick: &'a dyn Fn(f64),
    started: &'a mpsc::Sender<()>,
    stop: Option<&'a Stop>,
}

/// Runs the bench binary's burst for one point and reads its JSON report.
fn run_bench(
    bench: &Path,
    addr: SocketAddr,
    clients: u64,
    timeout: Duration,
    watch: &Watch,
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
    run_watched(cmd, watch, progress)
}

/// Runs a bench command line that ends in `--json`, calling `tick` with the seconds
/// elapsed while it runs, and reads its report (a burst's or a timed run's). Exit status
/// 1 (some clients failed) still gives a report; the failures are in it. Status 2 means
/// bench measured nothing (a usage error, a limit, or no client connected): an error,
/// with what bench said.
pub fn run_json<T: serde::de::DeserializeOwned>(
    cmd: Command,
    tick: impl Fn(f64),
    progress: &Progress,
) -> anyhow::Result<T> {
    let (started, _) = mpsc::channel();
    let watch = Watch {
        tick: &tick,
        started: &started,
        stop: None,
    };
    run_watched(cmd, &watch, progress)
}

/// [`run_json`], watched: killed (and [`Abandoned`]) when the sweep stops.
fn run_watched<T: serde::de::DeserializeOwned>(
    mut cmd: Command,
    watch: &Watch,
    progress: &Progress,
) -> anyhow::Result<T> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let line = util::display(&cmd);
    progress.println(&format!("$ {line}"));
    let child = cmd.spawn();
    let _ = watch.started.send(());
    let mut child = child.map_err(|e| anyhow!("could not run `{line}`: {e}"))?;
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
        if watch.stop.is_some_and(Stop::now) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Abandoned.into());
        }
        (watch.tick)(start.elapsed().as_secs_f64());
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

    use crate::model::tests::params;

    /// A plan with `delay` and `work`, milliseconds, and `workers`.
    fn plan(delay: u64, work: u64, workers: Option<u64>) -> Plan {
        Plan {
            delay: Duration::from_millis(delay),
            work: Duration::from_millis(work),
            workers,
            backlog: 4096,
            repeat: 1,
        }
    }

    /// Every server gets the delay; `--work` and `--workers` only when asked for, and
    /// `--workers` only to the four servers that have workers.
    #[test]
    fn server_command_lines() {
        let line = server_args(Architecture::Threaded, &plan(100, 0, None)).join(" ");
        assert_eq!(line, "--port 0 --quiet --delay 100ms --backlog 4096");
        let plan = plan(1000, 20, Some(2));
        for server in Architecture::ALL {
            let line = server_args(*server, &plan).join(" ");
            assert!(line.contains("--work 20ms"), "{line}");
            assert_eq!(
                line.contains("--workers 2"),
                server.takes_workers(),
                "{server:?}: {line}"
            );
        }
    }

    /// Without work, sequential, prefork and pool only wait and run beside the others;
    /// the tutorial's sweep then takes its longest point, sequential's 300 s, where one
    /// point at a time takes over half an hour. With work, every point runs in the lane.
    #[test]
    fn the_schedule() {
        let idle = params(0.0, None);
        let waiting: Vec<Architecture> = Architecture::ALL
            .iter()
            .copied()
            .filter(|&s| only_waits(s, &idle))
            .collect();
        assert_eq!(
            waiting,
            [
                Architecture::Sequential,
                Architecture::Prefork,
                Architecture::Pool
            ]
        );
        assert!(!only_waits(Architecture::Sequential, &params(0.02, None)));
        let todo: Vec<Point> = Architecture::ALL
            .iter()
            .flat_map(|&server| {
                (1..=10).map(move |k| Point {
                    server,
                    clients: 10 * k,
                })
            })
            .collect();
        let beside = schedule_s(&todo, &idle, false);
        assert!((300.0..=360.0).contains(&beside), "{beside} s");
        assert!(schedule_s(&todo, &idle, true) > 30.0 * 60.0);
    }
}
