//! `cargo xtask`: the project's tasks, run as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`). This file only dispatches: [`flags`] parses the command line,
//! and each task is the module of its name.
//!
//! # Layout
//!
//! Tasks:
//! - [`bench`](mod@bench): `cargo xtask bench`, the tutorial's benchmark sweep across
//!   every architecture, end to end.
//! - [`report`]: `cargo xtask report DIR`, which re-renders a run's files from its JSON,
//!   and writes every file of a run.
//! - [`curve`]: `cargo xtask curve`, latency against offered load (`bench --rate`) per
//!   server up to its knee, with redis-server as a reference: `curve.csv`, `curve.json`,
//!   `plot-latency.svg`, `CURVE.md`.
//! - [`stevens`]: `cargo xtask stevens`, UNP chapter 30's experiment over every design
//!   (each accept strategy): `stevens.csv`, `STEVENS.md`, `plot-stevens.svg`.
//! - [`merge`]: `cargo xtask merge LOG…`, the interval logs of several load generators
//!   added on absolute time: `merged.hlog`, `merged.json`, `merged.txt`.
//!
//! What they share, each importing only the modules listed before it:
//! - [`util`]: project root, running commands (echoed), UTC time stamps.
//! - [`model`]: each kind of architecture's model (one at a time N × delay, workers
//!   ⌈N / workers⌉ × delay, the others one delay; plus `--work`) and its tolerances.
//! - [`architecture`]: [`Architecture`](architecture::Architecture), every architecture
//!   as one row of one table: name, binary, model, plot colour, headings.
//! - [`flags`]: every task's command line.
//! - [`procfs`]: a server's CPU time, peak RSS and PSS, threads and children, from `/proc`.
//! - [`cgroup`]: a server's CPU time to the microsecond from a cgroup v2 of its own.
//! - [`limits`]: open files, ports, somaxconn and task limits, checked before a sweep.
//! - [`results`]: one row per (server, clients), run metadata, `results.csv`/`results.json`.
//! - [`markdown`]: writes `REPORT.md`.
//! - [`plot`]: `plot.svg`, `plot-overhead.svg` and `plot-detail.svg`.
//! - [`progress`]: the sweep's progress bar.
//! - [`sweep`]: each server started, benchmarked at each client count, and stopped.
//! - `tidy` (tests only): convention checks over the whole tree: module docs, no
//!   `unwrap()` on the serving path, leaves that depend on std only.
//!
//! Architecture invariant: xtask only orchestrates — it builds, starts processes and
//! writes files; it times nothing itself (every time comes from `bench`; from the server
//! it reads only the kernel's `/proc` counters), and it measures release binaries run as
//! child processes, never its own dev-profile code.

mod architecture;
mod bench;
mod cgroup;
mod curve;
mod flags;
mod limits;
mod markdown;
mod merge;
mod model;
mod plot;
mod procfs;
mod progress;
mod report;
mod results;
mod stevens;
mod sweep;
#[cfg(test)]
mod tidy;
mod util;

use std::process::ExitCode;

use clap::Parser;

use crate::flags::{Cli, Task};

fn main() -> ExitCode {
    let outcome = match Cli::parse().task {
        Task::Bench(args) => bench::run(&args),
        Task::Curve(args) => curve::run(&args),
        Task::Report { dir } => report::run(&dir),
        Task::Stevens(args) => stevens::run(&args),
        Task::Merge(args) => merge::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<util::Exit>() {
            Some(exit @ util::Exit::Usage(_)) => {
                eprintln!("error: {exit}\n\nFor more information, try '--help'.");
                ExitCode::from(exit.code())
            }
            Some(exit) => {
                eprintln!("{exit}");
                ExitCode::from(exit.code())
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
