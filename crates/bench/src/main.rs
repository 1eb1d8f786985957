//! The `bench` binary: parses the command line, runs the burst or timed load it asks
//! for, and prints the report as a table (or JSON with `--json`). Exits 1 when the run
//! cannot start, 2 when it ran but some client failed or got a wrong answer.
//!
//! Architecture invariant: thin — everything is in the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

fn main() -> ExitCode {
    let args = bench::Args::parse();
    let outcome = bench::run(&args).context("bench").and_then(|report| {
        let text = if args.json {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            report.to_table()
        };
        // Written, not printed: a closed stdout (`bench | head`) is an error, not a panic.
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the report")?;
        Ok(report.error_count())
    });
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
