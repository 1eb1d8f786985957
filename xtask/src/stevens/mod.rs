//! `cargo xtask stevens`: the experiment of Stevens' UNIX Network Programming vol. 1,
//! chapter 30 (Figure 30.1), re-run against every design this project has.
//!
//! A few client loops (`--clients`, 5 as in the book) connect one after the other until
//! `--connections` connections (5,000) have been made in all; each asks for an answer of
//! `--bytes` bytes (a `3|` request of that size, 4,000 as the book's clients asked) and
//! closes. Each design gets a fresh server. What is measured is the server's CPU time per
//! connection — all its processes and threads, the reaped children of a forking server
//! included — read from a cgroup v2 of its own (`cpu.stat`'s `usage_usec`) when one can
//! be made (as root), else from `/proc` (the server's user and system time, its reaped
//! children's and its live children's). Less the iterative (sequential) server's CPU per
//! connection, that is the book's "process control" time: what the design itself costs.
//! Each design with workers logs, as they stop, how many clients each served: the spread
//! (the book's Figure 30.13) comes from the server, not from a guess.
//!
//! The load generator is `bench --connect-per-request --total-connections`; the times
//! (connections per second) are bench's. Writes `stevens.csv` (a design's median round by
//! CPU per connection), `stevens-rounds.csv` (every round), `STEVENS.md` and
//! `plot-stevens.svg`.
//!
//! # Layout
//!
//! - this file: the designs, the run, and one design's measurement.
//! - `report`: `stevens.csv` and `STEVENS.md`, with UNP's conclusions beside the numbers.
//! - `plot`: `plot-stevens.svg`.

mod plot;
mod report;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use bench::LoadReport;
use nix::sys::signal::Signal;
use testkit::ServerProcess;

use crate::cgroup::{self, Cgroup};
use crate::flags::StevensArgs;
use crate::progress::Progress;
use crate::{procfs, util};

/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// bench's cap on a design's run: far beyond what 5,000 connections take.
const RUN_CAP: &str = "10m";

/// What a design's workers are, for the `workers` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// No fixed workers: one process or thread per client, or one loop (sequential).
    None,
    /// `--workers` processes, threads or event loops, each logging `served N clients`.
    Counted,
    /// `--workers` runtime threads that share the tasks (async): no count of their own.
    Uncounted,
}

/// One of the designs the experiment runs: a server binary with the flags that make it
/// that design.
#[derive(Debug, Clone, Copy)]
pub struct Design {
    /// The row's name, e.g. `prefork-flock`.
    pub name: &'static str,
    /// The server binary.
    pub binary: &'static str,
    /// The flags beyond `--port 0 --quiet` (and `--workers`).
    pub args: &'static [&'static str],
    /// Whether it takes `--workers`, and counts what each served.
    pub workers: Workers,
    /// The row of UNP's Figure 30.1 it corresponds to, or what it is if the book has none.
    pub unp: &'static str,
}

/// Every design, in the book's order; the first is the iterative baseline. A design whose
/// binary is not built, or does not take its flags yet, is left out (and said so).
pub const DESIGNS: &[Design] = &[
    Design {
        name: "sequential",
        binary: "server-sequential",
        args: &[],
        workers: Workers::None,
        unp: "0: iterative server (the baseline)",
    },
    Design {
        name: "forking",
        binary: "server-forking",
        args: &[],
        workers: Workers::None,
        unp: "1: concurrent server, one fork per client",
    },
    Design {
        name: "prefork-shared",
        binary: "server-prefork",
        args: &["--accept", "shared"],
        workers: Workers::Counted,
        unp: "2: prefork, each child calls accept",
    },
    Design {
        name: "prefork-flock",
        binary: "server-prefork",
        args: &["--accept", "flock"],
        workers: Workers::Counted,
        unp: "3: prefork, file locking around accept",
    },
    Design {
        name: "prefork-mutex",
        binary: "server-prefork",
        args: &["--accept", "mutex"],
        workers: Workers::Counted,
        unp: "4: prefork, thread mutex locking around accept",
    },
    Design {
        name: "prefork-pass",
        binary: "server-prefork",
        args: &["--accept", "pass"],
        workers: Workers::Counted,
        unp: "5: prefork, parent passes descriptor to child",
    },
    Design {
        name: "prefork-reuseport",
        binary: "server-prefork",
        args: &["--accept", "reuseport"],
        workers: Workers::Counted,
        unp: "(after the book) prefork, a SO_REUSEPORT listener per child",
    },
    Design {
        name: "threaded",
        binary: "server-threaded",
        args: &[],
        workers: Workers::None,
        unp: "6: concurrent server, one thread per client",
    },
    Design {
        name: "pool-each",
        binary: "server-pool",
        args: &["--accept", "each"],
        workers: Workers::Counted,
        unp: "7: prethreaded, mutex locking to protect accept",
    },
    Design {
        name: "pool-main",
        binary: "server-pool",
        args: &["--accept", "main"],
        workers: Workers::Counted,
        unp: "8: prethreaded, main thread calls accept",
    },
    Design {
        name: "evented",
        binary: "server-evented",
        args: &[],
        workers: Workers::Counted,
        unp: "(after the book) event loops fed by one acceptor",
    },
    Design {
        name: "evented-reuseport",
        binary: "server-evented",
        args: &["--accept", "reuseport"],
        workers: Workers::Counted,
        unp: "(after the book) event loops, a SO_REUSEPORT listener each",
    },
    Design {
        name: "async",
        binary: "server-async",
        args: &[],
        workers: Workers::Uncounted,
        unp: "(after the book) tokio tasks",
    },
    Design {
        name: "uring",
        binary: "server-uring",
        args: &[],
        workers: Workers::Uncounted,
        unp: "(after the book) io_uring rings",
    },
];

/// What one design measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The design's name.
    pub design: &'static str,
    /// Connections answered correctly.
    pub connections: u64,
    /// Connections that failed (refused, reset, a wrong answer).
    pub errors: u64,
    /// Server CPU time over the run, µs.
    pub cpu_us: f64,
    /// Connections per second, bench's.
    pub conn_per_s: f64,
    /// Workers it ran, for designs that have them.
    pub workers: Option<u64>,
    /// How many clients each worker served (`served N clients`), in log order.
    pub served: Vec<u64>,
}

impl Measured {
    /// Server CPU per connection, µs.
    pub fn cpu_us_per_conn(&self) -> f64 {
        self.cpu_us / self.connections.max(1) as f64
    }
}

/// Where the server's CPU time was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuSource {
    /// A cgroup v2 of its own, `cpu.stat`'s `usage_usec`.
    Cgroup,
    /// `/proc/PID/stat` of the server and its children.
    Proc,
}

/// Runs the experiment.
///
/// # Errors
///
/// When the machine's limits rule the run out, a build or a design's run fails, or the
/// files cannot be written (the designs measured so far are written all the same).
pub fn run(args: &StevensArgs) -> anyhow::Result<()> {
    let started = SystemTime::now();
    check_limits(args)?;
    let bin_dir = args.files.bin_dir();
    if !args.files.no_build {
        let mut build = util::cargo();
        build.args(["build", "--release", "-p", "bench"]);
        for binary in binaries_in_tree() {
            build.args(["-p", binary]);
        }
        util::run(build)?;
    }
    let bench = bin_dir.join("bench");
    if !bench.is_file() {
        bail!(
            "{} not found; build it with `cargo build --release -p bench` or drop --no-build",
            bench.display()
        );
    }
    let (designs, skipped) = available(&bin_dir);
    for (design, why) in &skipped {
        eprintln!("note: {} is left out: {why}", design.name);
    }
    let out = args.files.out("stevens", started);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let cgroups = cgroup::root();
    let source = if cgroups.is_some() {
        CpuSource::Cgroup
    } else {
        CpuSource::Proc
    };
    let load_before = load_average();
    eprintln!(
        "stevens: {} designs × {} connections from {} client loop(s), {}-byte answers; server CPU from {}; results in {}",
        designs.len(),
        args.connections,
        args.clients,
        args.bytes,
        match source {
            CpuSource::Cgroup => "a cgroup v2 per server",
            CpuSource::Proc => "/proc",
        },
        out.display()
    );
    let mut progress = Progress::new((designs.len() as u64 * args.rounds) as f64);
    let mut rounds: Vec<Vec<Measured>> = Vec::new();
    let mut failure = None;
    'rounds: for round in 1..=args.rounds {
        let mut this_round = Vec::new();
        for design in &designs {
            progress.during(1.0, 0.0, &format!("round {round}: {}", design.name));
            match measure(design, args, &bin_dir, &bench, cgroups.as_deref()) {
                Ok(m) => this_round.push(m),
                Err(e) => {
                    failure = Some(e.context(format!("measuring {}", design.name)));
                    rounds.push(this_round);
                    break 'rounds;
                }
            }
            progress.point_done(1.0);
        }
        rounds.push(this_round);
    }
    progress.finish();
    let measured = medians(&designs, &rounds);
    let run = report::Run {
        args: args.clone(),
        source,
        load_before,
        load_after: load_average(),
        kernel: util::output_of({
            let mut uname = Command::new("uname");
            uname.arg("-r");
            uname
        })
        .unwrap_or_default(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        skipped: skipped
            .iter()
            .map(|(d, why)| format!("{}: {why}", d.name))
            .collect(),
        stopped_because: failure.as_ref().map(|e| format!("{e:#}")),
    };
    report::write_csv(&out.join("stevens.csv"), &measured)?;
    report::write_rounds_csv(&out.join("stevens-rounds.csv"), &rounds)?;
    fs::write(out.join("STEVENS.md"), report::markdown(&run, &measured))
        .with_context(|| format!("writing {}", out.join("STEVENS.md").display()))?;
    plot::stevens(&out.join("plot-stevens.svg"), &measured)?;
    eprint!("{}", report::summary(&measured));
    eprintln!("wrote {}", out.display());
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// For each design, its run with the median CPU per connection over the rounds (the
/// lower middle one of an even count), in the designs' order.
fn medians(designs: &[Design], rounds: &[Vec<Measured>]) -> Vec<Measured> {
    designs
        .iter()
        .filter_map(|design| {
            let mut runs: Vec<&Measured> = rounds
                .iter()
                .flatten()
                .filter(|m| m.design == design.name)
                .collect();
            runs.sort_by(|a, b| a.cpu_us_per_conn().total_cmp(&b.cpu_us_per_conn()));
            runs.get(runs.len().saturating_sub(1) / 2)
                .map(|m| (*m).clone())
        })
        .collect()
}

/// The server binaries whose crate is in this workspace, each once.
fn binaries_in_tree() -> Vec<&'static str> {
    let root = util::project_root();
    let mut binaries: Vec<&'static str> = Vec::new();
    for design in DESIGNS {
        let in_tree = root
            .join("crates")
            .join(design.binary)
            .join("Cargo.toml")
            .is_file();
        if in_tree && !binaries.contains(&design.binary) {
            binaries.push(design.binary);
        }
    }
    binaries
}

/// The designs whose binary is in `bin_dir` and takes their flags; the others, with why.
fn available(bin_dir: &Path) -> (Vec<Design>, Vec<(Design, String)>) {
    let mut runnable = Vec::new();
    let mut skipped = Vec::new();
    for design in DESIGNS {
        let path = bin_dir.join(design.binary);
        if !path.is_file() {
            skipped.push((*design, format!("no {} binary", design.binary)));
            continue;
        }
        let flags: Vec<&str> = design
            .args
            .iter()
            .copied()
            .filter(|a| a.starts_with("--"))
            .collect();
        if !flags.is_empty() {
            let help = util::output_of({
                let mut help = Command::new(&path);
                help.arg("--help");
                help
            })
            .unwrap_or_default();
            let value = design.args.get(1).copied().unwrap_or_default();
            if flags.iter().any(|f| !help.contains(f)) || !help.contains(&format!("- {value}:")) {
                skipped.push((
                    *design,
                    format!(
                        "{} does not take {} yet",
                        design.binary,
                        design.args.join(" ")
                    ),
                ));
                continue;
            }
        }
        runnable.push(*design);
    }
    (runnable, skipped)
}

/// Fails, saying what to change, when this machine cannot run the experiment: each
/// connection leaves a TIME_WAIT entry holding a local port for 60 s (the server's port
/// differs from one design to the next, so only one design's connections count), and
/// bench and the servers need a few descriptors each.
fn check_limits(args: &StevensArgs) -> anyhow::Result<()> {
    if let Some((low, high)) = bench::limits::ephemeral_ports() {
        let ports = u64::from(high.saturating_sub(low)) + 1;
        let tw_reuse = bench::limits::read_number("/proc/sys/net/ipv4/tcp_tw_reuse");
        if args.connections > ports && tw_reuse != Some(1) {
            bail!(
                "--connections {} needs as many local ports within a minute, and \
                 net.ipv4.ip_local_port_range gives {ports}: lower --connections, or widen the \
                 range (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\") or set \
                 net.ipv4.tcp_tw_reuse=1",
                args.connections
            );
        }
    }
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
    let needed = args.clients + args.workers + 64;
    if soft.max(hard) < needed {
        bail!(
            "--clients {} with --workers {} need about {needed} open files, and the limit is {}: \
             raise it (ulimit -n) or lower them",
            args.clients,
            args.workers,
            soft.max(hard)
        );
    }
    Ok(())
}

/// Measures one design on a fresh server.
fn measure(
    design: &Design,
    args: &StevensArgs,
    bin_dir: &Path,
    bench: &Path,
    cgroups: Option<&Path>,
) -> anyhow::Result<Measured> {
    let binary = bin_dir.join(design.binary);
    let workers = args.workers.to_string();
    let mut server_args: Vec<String> = ["--port", "0", "--quiet"].map(String::from).to_vec();
    server_args.extend(design.args.iter().map(|a| (*a).to_owned()));
    if design.workers != Workers::None {
        server_args.extend(["--workers".to_owned(), workers]);
    }
    let cgroup = match cgroups {
        Some(root) => Some(Cgroup::create(root, &format!("stevens-{}", design.name))?),
        None => None,
    };
    let mut server = match &cgroup {
        // The shell moves itself into the cgroup, then becomes the server: every process
        // the server ever forks is in it from the start.
        Some(cgroup) => ServerProcess::start(
            Path::new("/bin/sh"),
            cgroup.shell_args(&binary, &server_args),
        ),
        None => ServerProcess::start(&binary, &server_args),
    }
    .with_context(|| format!("starting {}", binary.display()))?;
    if design.binary == "server-prefork" {
        wait_for_children(server.pid(), args.workers)?;
    }
    let cpu = || -> anyhow::Result<f64> {
        match &cgroup {
            Some(cgroup) => cgroup.usage_us(),
            None => procfs::cpu_s(server.pid())
                .map(|s| s * 1e6)
                .ok_or_else(|| anyhow!("the server has exited")),
        }
    };
    let before = cpu()?;
    let report = run_bench(bench, &server, args)?;
    let after = cpu()?;
    server.signal(Signal::SIGTERM)?;
    let status = server.wait_timeout(STOP_TIMEOUT)?.ok_or_else(|| {
        anyhow!(
            "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM",
            design.binary
        )
    })?;
    if !status.success() {
        bail!("{} exited with {status}", design.binary);
    }
    // The last line; the workers' counts were written before it.
    server.wait_for_output("Shut down", Duration::from_secs(5));
    let served = served_counts(&server.output());
    if let Some(cgroup) = cgroup {
        cgroup.remove();
    }
    Ok(Measured {
        design: design.name,
        connections: report.requests,
        errors: report.errors.total(),
        cpu_us: after - before,
        conn_per_s: report.connections_per_s,
        workers: (design.workers != Workers::None).then_some(args.workers),
        served,
    })
}

/// Waits until process `pid` has `n` children (prefork's workers, forked after the
/// banner), so that their start is not counted.
fn wait_for_children(pid: u32, n: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while procfs::children(pid, 1).len() < usize::try_from(n).unwrap_or(usize::MAX) {
        if Instant::now() >= deadline {
            bail!("the server did not fork its {n} workers within 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Runs bench against `server`: `--clients` loops, each opening a connection per request,
/// until `--connections` in all.
fn run_bench(
    bench: &Path,
    server: &ServerProcess,
    args: &StevensArgs,
) -> anyhow::Result<LoadReport> {
    let payload = "x".repeat(usize::try_from(args.bytes).unwrap_or(4000));
    let mut cmd = Command::new(bench);
    cmd.args(["--addr", &server.addr().to_string()])
        .args(["--clients", &args.clients.to_string()])
        .args(["--duration", RUN_CAP, "--connect-per-request"])
        .args(["--total-connections", &args.connections.to_string()])
        .args(["--source-addrs", "0", "--timeout", "30s", "--op", "3"])
        .args(["--payload", &payload, "--json"]);
    let out = cmd.output().context("running bench")?;
    // 1: the run happened but some connections failed, which the report counts.
    if !matches!(out.status.code(), Some(0 | 1)) {
        bail!(
            "bench failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("reading bench's JSON report")
}

/// The counts in the servers' `served N clients` lines, in log order.
pub fn served_counts(output: &[String]) -> Vec<u64> {
    output
        .iter()
        .filter_map(|line| {
            let (_, rest) = line.split_once("] - Stopping: served ")?;
            rest.trim_end().strip_suffix(" clients")?.parse().ok()
        })
        .collect()
}

/// `/proc/loadavg`'s first three numbers, as written there.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts come from the workers' lines only, whatever else a line says.
    #[test]
    fn served_counts_read_the_stop_lines() {
        let log = [
            "[12:00:00] [WORKER PID: 7] - Stopping: served 12 clients".to_owned(),
            "[12:00:00] [MAIN] - Shut down cleanly".to_owned(),
            "[12:00:00] [LOOP 2] - Stopping: served 0 clients".to_owned(),
            "[12:00:00] [WORKER PID: 8] - Received request: 3|served 4 clients".to_owned(),
        ];
        assert_eq!(served_counts(&log), [12, 0]);
    }

    /// The iterative baseline comes first, and every name is unique.
    #[test]
    fn designs_start_with_the_baseline() {
        assert_eq!(DESIGNS[0].name, "sequential");
        let mut names: Vec<&str> = DESIGNS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DESIGNS.len());
    }
}
