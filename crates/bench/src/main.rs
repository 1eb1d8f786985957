//! The `bench` binary: parses the command line, runs the burst or timed load it asks
//! for, and prints the report as a table (or JSON with `--json`). Exits 0 when every
//! client was answered correctly, 1 when the run happened but some clients failed, and 2
//! when nothing was measured: a usage error (clap's or bench's own), an address that does
//! not resolve, or a limit that rules the run out ([`bench::cli::EXIT_CODES`]).
//!
//! Architecture invariant: thin — everything is in the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

fn main() -> ExitCode {
    // clap exits 2 on a usage error, as the rule says.
    let args = bench::Args::parse();
    let report = match bench::run(&args) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: bench: {e}");
            return ExitCode::from(2);
        }
    };
    match write_report(&report, args.json) {
        Err(e) => {
            eprintln!("error: bench: {e:#}");
            ExitCode::from(2)
        }
        Ok(()) if report.error_count() == 0 => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
    }
}

/// Writes `report` to stdout, as JSON or as the table. Written, not printed: a closed
/// stdout (`bench | head`) is an error, not a panic.
fn write_report(report: &bench::Report, json: bool) -> anyhow::Result<()> {
    let text = if json {
        serde_json::to_string_pretty(report)? + "\n"
    } else {
        report.to_table()
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the report")
}
