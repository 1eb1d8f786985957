//! `cargo xtask bench`: the tutorial's Problem 2 experiment, end to end, for every
//! architecture. Checks the machine's limits, builds the release binaries once, runs
//! the [`sweep`](crate::sweep), and writes `results.csv`, `results.json`,
//! `plot.svg`, `plot-overhead.svg`, `plot-detail.svg` and `REPORT.md` after every point
//! — so a failure or Ctrl-C leaves every point done on disk, and `--resume DIR` runs only
//! the points missing there — then prints a table per server and how many points are off
//! their model, with how busy the machine was during them.
//!
//! Exit status: 0 every point on its model; 1 some point off its model, or the sweep
//! failed; 2 a usage error (nothing run); 130 interrupted (Ctrl-C or SIGTERM).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow};

use crate::architecture::Architecture;
use crate::flags::{BenchArgs, parse_clients};
use crate::model::Params;
use crate::progress::Progress;
use crate::results::{Metadata, Results, Row, by_server, off_model_summary};
use crate::sweep::{self, Binaries, Measured, Plan, Point, Stop, Sweep};
use crate::util::Exit;
use crate::{cgroup, limits, report, util};

/// The model's parameters for `plan`.
fn params(plan: &Plan) -> Params {
    Params {
        delay_s: plan.delay.as_secs_f64(),
        work_s: plan.work.as_secs_f64(),
        workers: plan.workers,
        cores: cores(),
    }
}

/// The servers' CPU clock in the metadata: a cgroup v2 of each server's own.
const CGROUP_CLOCK: &str = "cgroup v2 cpu.stat usage_usec (1 µs), every process of the server";

/// The fallback where no cgroup v2 can be made.
const PROC_CLOCK: &str = "/proc/PID/stat (10 ms ticks; no cgroup: no writable cgroup v2 hierarchy)";

/// CPUs available to the sweep.
fn cores() -> u64 {
    thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

/// The client counts `--quick` runs, with a 1 s delay: sequential's longest point is
/// 50 s, so the sweep takes about a minute.
const QUICK_CLIENTS: &str = "10..=50";

/// What to run: the settings, servers and client counts, where the files go, and the
/// results already there (empty unless `--resume`).
struct Setup {
    plan: Plan,
    servers: Vec<Architecture>,
    clients: Vec<u64>,
    out: PathBuf,
    results: Option<Results>,
}

/// The setup of a new run, from the command line.
fn new_run(args: &BenchArgs, started: SystemTime) -> anyhow::Result<(Setup, Vec<Architecture>)> {
    let (spec, step, delay) = if args.quick {
        (QUICK_CLIENTS, 10, Duration::from_secs(1))
    } else {
        (args.clients.as_str(), args.step, args.delay)
    };
    let clients = parse_clients(spec, step).map_err(|e| Exit::Usage(format!("--clients: {e}")))?;
    let (servers, skipped) = args.servers.resolve(&bin_dir(args), args.no_build)?;
    for server in &skipped {
        eprintln!(
            "note: {} is left out of --servers all: crates/{} is not in this workspace yet",
            server.name(),
            server.binary()
        );
    }
    let setup = Setup {
        plan: Plan {
            delay,
            work: args.work,
            workers: args.workers,
            backlog: args.backlog,
            repeat: args.repeat,
        },
        servers,
        clients,
        out: args
            .out
            .clone()
            .unwrap_or_else(|| util::target_dir().join("bench").join(util::stamp(started))),
        results: None,
    };
    Ok((setup, skipped))
}

/// The setup of `--resume DIR`: the settings, servers and client counts of the run in
/// DIR, and its results.
fn resumed_run(dir: &Path) -> anyhow::Result<Setup> {
    let path = dir.join("results.json");
    let text = fs::read_to_string(&path).map_err(|e| {
        Exit::Usage(format!(
            "--resume {}: cannot read {}: {e} (is it the folder of a cargo xtask bench run?)",
            dir.display(),
            path.display()
        ))
    })?;
    let results: Results = serde_json::from_str(&text)
        .with_context(|| format!("--resume: parsing {}", path.display()))?;
    let m = &results.metadata;
    Ok(Setup {
        plan: Plan {
            delay: Duration::from_secs_f64(m.delay_s),
            work: Duration::from_secs_f64(m.work_s),
            workers: m.workers,
            backlog: m.backlog,
            repeat: m.repeat,
        },
        servers: m.servers.clone(),
        clients: m.clients.clone(),
        out: dir.to_path_buf(),
        results: Some(results),
    })
}

/// `--bin-dir`, or `target/release`.
fn bin_dir(args: &BenchArgs) -> PathBuf {
    args.bin_dir
        .clone()
        .unwrap_or_else(|| util::target_dir().join("release"))
}

/// The points of `servers` × `clients` that `done` does not hold yet, in order.
fn points_left(servers: &[Architecture], clients: &[u64], done: &[Row]) -> Vec<Point> {
    servers
        .iter()
        .flat_map(|&server| {
            clients
                .iter()
                .map(move |&clients| Point { server, clients })
        })
        .filter(|p| {
            !done
                .iter()
                .any(|r| r.server == p.server && r.clients == p.clients)
        })
        .collect()
}

/// Whether the points beside the lane fit the ephemeral ports: each of their clients
/// holds a port for the whole point, and the lane's largest point needs its own.
fn ports_allow_beside(todo: &[Point], params: &Params, machine: &limits::Machine) -> bool {
    let beside: u64 = todo
        .iter()
        .filter(|p| sweep::only_waits(p.server, params))
        .map(|p| p.clients)
        .sum();
    let largest = todo.iter().map(|p| p.clients).max().unwrap_or(0);
    machine
        .ports
        .is_none_or(|(low, high)| beside + largest <= u64::from(high - low) + 1)
}

/// Rows and runs in the sweep's order (servers as listed, client counts rising),
/// whatever order the points finished in.
fn sort(results: &mut Results) {
    let servers = results.metadata.servers.clone();
    let rank = |server: Architecture| servers.iter().position(|&s| s == server);
    results.rows.sort_by_key(|r| (rank(r.server), r.clients));
    results
        .runs
        .sort_by_key(|r| (rank(r.server), r.report.clients, r.repeat));
}

/// Runs `cargo xtask bench`.
///
/// # Errors
///
/// [`Exit::Usage`] when the arguments are wrong; an error when a server named does not
/// exist, the machine's limits are too low, the build fails, or the sweep stops on a
/// failed server start, a crashed server, a bench that could not run, or a server that
/// did not stop cleanly; [`Exit::Interrupted`] after Ctrl-C; [`Exit::OffModel`] when
/// points are off their model. The results gathered are written in every case but the
/// first three.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    // First, so that a Ctrl-C during the build already leaves a clean exit.
    let stop = Stop::on_signals();
    let started = SystemTime::now();
    let (setup, skipped) = match &args.resume {
        Some(dir) => (resumed_run(dir)?, Vec::new()),
        None => new_run(args, started)?,
    };
    let Setup {
        plan,
        servers,
        clients,
        out,
        results,
    } = setup;
    let params = params(&plan);
    let done = results.as_ref().map_or(&[][..], |r| &r.rows[..]);
    let todo = points_left(&servers, &clients, done);
    let largest = todo.iter().map(|p| p.clients).max().unwrap_or(1);
    let machine = limits::Machine::read();
    let points = clients.len() as u64 * plan.repeat;
    for warning in limits::check(&machine, largest, points, &servers, plan.backlog)? {
        eprintln!("warning: {warning}");
    }
    let serial = args.serial || !ports_allow_beside(&todo, &params, &machine);
    if serial && !args.serial {
        eprintln!(
            "note: one point at a time: the points that only wait, run beside the others, \
             would need more local ports than net.ipv4.ip_local_port_range holds"
        );
    }
    let bin_dir = bin_dir(args);
    if !args.no_build && !todo.is_empty() {
        let mut build = util::cargo();
        build.args(["build", "--release"]);
        for server in &servers {
            build.args(["-p", &server.binary()]);
        }
        build.args(["-p", "bench"]);
        util::run(build)?;
    }
    let binaries = Binaries::find(&bin_dir, &servers)?;
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let cgroups = cgroup::root();
    let clock = if cgroups.is_some() {
        CGROUP_CLOCK
    } else {
        eprintln!("note: server CPU from /proc, in 10 ms ticks: no writable cgroup v2");
        PROC_CLOCK
    };
    let mut results = results.unwrap_or_else(|| Results {
        metadata: metadata(&plan, &machine, &servers, &skipped, &clients, started),
        complete: false,
        stopped_because: None,
        rows: Vec::new(),
        runs: Vec::new(),
    });
    if args.resume.is_some() {
        results.metadata.resumed.push(util::rfc3339(started));
        results.stopped_because = None;
    }
    results.complete = false;
    results.metadata.server_cpu_clock = clock.to_owned();
    report::write_all(&out, &results)?;
    let total_s = sweep::schedule_s(&todo, &params, serial);
    eprintln!(
        "sweep: {} × clients {:?} × {} repeat(s), delay {}, work {}; {} point(s) to run{}; \
         about {:.0} s; results in {}",
        Architecture::names(&servers, ","),
        clients,
        plan.repeat,
        humantime::format_duration(plan.delay),
        humantime::format_duration(plan.work),
        todo.len(),
        if serial {
            ", one at a time"
        } else {
            ", those that only wait beside the others"
        },
        total_s,
        out.display()
    );
    let progress = Progress::new(total_s);
    let results = Mutex::new(results);
    let record = |measured: Measured| -> anyhow::Result<()> {
        let mut results = results
            .lock()
            .map_err(|_| anyhow!("a point panicked while recording"))?;
        results.rows.push(measured.row);
        results.runs.extend(measured.runs);
        sort(&mut results);
        report::write_all(&out, &results)
    };
    let sweep = Sweep {
        plan: &plan,
        params: &params,
        binaries: &binaries,
        progress: &progress,
        stop: &stop,
        cgroups: cgroups.as_deref(),
        record: &record,
    };
    let outcome = sweep::run(&sweep, &todo, serial);
    progress.finish();
    let mut results = results
        .into_inner()
        .map_err(|_| anyhow!("a point panicked while recording"))?;
    let left = points_left(&servers, &clients, &results.rows).len();
    let interrupted = outcome.is_err() && stop.signalled();
    match &outcome {
        Ok(()) => results.complete = true,
        Err(_) if interrupted => {
            results.stopped_because = Some(format!(
                "interrupted (Ctrl-C or SIGTERM) with {left} point(s) left; \
                 `cargo xtask bench --resume {}` runs them",
                out.display()
            ));
        }
        Err(e) => results.stopped_because = Some(format!("{e:#}")),
    }
    report::write_all(&out, &results)?;
    eprint!("{}", summary_table(&results.rows));
    eprintln!("wrote {}", out.display());
    if interrupted {
        return Err(Exit::Interrupted(format!(
            "interrupted: the servers are stopped; {} point(s) done are in {out}, {left} left; \
             `cargo xtask bench --resume {out}` runs only those",
            results.rows.len(),
            out = out.display()
        ))
        .into());
    }
    outcome?;
    match off_model_summary(&results.rows) {
        Some(summary) => Err(Exit::OffModel(summary).into()),
        None => Ok(()),
    }
}

/// Where and how the sweep runs; the port range and somaxconn are those `machine` was
/// checked with.
fn metadata(
    plan: &Plan,
    machine: &limits::Machine,
    servers: &[Architecture],
    skipped: &[Architecture],
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
        backlog: plan.backlog,
        ip_local_port_range: machine.ports,
        delay_s: plan.delay.as_secs_f64(),
        work_s: plan.work.as_secs_f64(),
        workers: plan.workers,
        skipped: skipped.to_vec(),
        clients: clients.to_vec(),
        servers: servers.to_vec(),
        repeat: plan.repeat,
        resumed: Vec::new(),
        server_cpu_clock: String::new(),
        command: std::iter::once("cargo xtask".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// With repeats, the totals' mean ± σ and range, hyperfine's way, and a warning when a
/// repeat is an outlier.
fn spread(row: &Row) -> String {
    if row.repeats < 2 {
        return String::new();
    }
    let mut text = format!(
        "\tmean {:.6} s ± {:.6} s (min … max: {:.6} … {:.6} s, {} runs)",
        row.total_mean_s, row.total_sd_s, row.total_min_s, row.total_max_s, row.repeats
    );
    if row.outliers > 0 {
        text += &format!(
            "\twarning: {} outlier run(s), likely another program competing for the CPU",
            row.outliers
        );
    }
    text
}

/// The tutorial-style `Clients  Execution Time (s)` table per server, for the terminal.
fn summary_table(rows: &[Row]) -> String {
    let mut out = String::new();
    for (server, rows) in by_server(rows) {
        out += &format!("\n{server}\nClients\tExecution Time (s)\tp99 (s)\terrors\n");
        for row in rows {
            out += &format!(
                "{}\t{:.6}\t{:.6}\t{}{}{}\n",
                row.clients,
                row.total_s,
                row.p99_s,
                row.errors,
                if row.on_model { "" } else { "\toff model" },
                spread(row)
            );
        }
    }
    out
}
