//! `cargo xtask`: the project's tasks, run as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`). This file only dispatches.
//!
//! # Layout
//!
//! - [`bench`](mod@bench): `cargo xtask bench`, the tutorial's benchmark sweep across the seven
//!   servers, and `cargo xtask report DIR`, which re-renders a run's files from its JSON.
//! - [`limits`]: open files, ports, somaxconn and task limits, checked before a sweep.
//! - [`results`]: one row per (server, clients), run metadata, `results.csv`/`results.json`.
//! - [`report`]: `REPORT.md` and each architecture's model (sequential N × delay, prefork
//!   and pool ⌈N / workers⌉ × delay, the others one delay; plus `--work`).
//! - [`plot`]: `plot.svg`, `plot-overhead.svg` and `plot-detail.svg`.
//! - [`procfs`]: a server's CPU time, peak RSS and PSS, threads and children, from `/proc`.
//! - [`util`]: project root, running commands (echoed), UTC time stamps.
//! - `tidy` (tests only): convention checks over the whole tree: module docs, no
//!   `unwrap()` on the serving path, leaves that depend on std only.
//!
//! Architecture invariant: xtask only orchestrates — it builds, starts processes and
//! writes files; it times nothing itself (every time comes from `bench`; from the server
//! it reads only the kernel's `/proc` counters), and it measures release binaries run as
//! child processes, never its own dev-profile code.

mod bench;
mod limits;
mod plot;
mod procfs;
mod report;
mod results;
#[cfg(test)]
mod tidy;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Re-run the tutorial's benchmark: N concurrent clients against each server, with a
    /// fixed delay per request; writes CSV, JSON, plots and REPORT.md.
    Bench(bench::BenchArgs),
    /// Re-render a finished run's REPORT.md, results.csv and plots from its results.json.
    Report {
        /// The run's folder (the `--out` of `cargo xtask bench`).
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().task {
        Task::Bench(args) => bench::run(&args),
        Task::Report { dir } => bench::rerender(&dir),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
