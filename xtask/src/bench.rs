//! `cargo xtask bench`: the tutorial's Problem 2 experiment, end to end, for every
//! architecture. Checks the machine's limits, builds the release binaries once, runs
//! the [`sweep`](crate::sweep), and writes `results.csv`, `results.json`,
//! `plot.svg`, `plot-overhead.svg`, `plot-detail.svg` and `REPORT.md` — also when the
//! sweep stops early on a failure — then prints a table per server.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::SystemTime;

use anyhow::{Context, anyhow, bail};

use crate::architecture::Architecture;
use crate::flags::{BenchArgs, parse_clients};
use crate::model::Params;
use crate::progress::Progress;
use crate::results::{Metadata, Results, Row, by_server};
use crate::sweep::{self, Binaries, expected_s};
use crate::{limits, report, util};

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
        Architecture::names(&servers, ","),
        clients,
        args.repeat,
        humantime::format_duration(args.delay),
        humantime::format_duration(args.work),
        total_s,
        out.display()
    );
    let mut progress = Progress::new(total_s);
    let outcome = sweep::run(
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
    report::write_all(&out, &results)?;
    eprintln!("wrote {}", out.display());
    eprint!("{}", summary_table(&results.rows));
    outcome
}

/// Where and how the sweep runs; the port range and somaxconn are those `machine` was
/// checked with.
fn metadata(
    args: &BenchArgs,
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
        backlog: args.backlog,
        ip_local_port_range: machine.ports,
        delay_s: args.delay.as_secs_f64(),
        work_s: args.work.as_secs_f64(),
        workers: args.workers,
        skipped: skipped.to_vec(),
        clients: clients.to_vec(),
        servers: servers.to_vec(),
        repeat: args.repeat,
        command: std::iter::once("cargo xtask".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The tutorial-style `Clients  Execution Time (s)` table per server, for the terminal.
fn summary_table(rows: &[Row]) -> String {
    let mut out = String::new();
    for (server, rows) in by_server(rows) {
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
