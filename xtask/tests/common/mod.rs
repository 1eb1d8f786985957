//! Helpers shared by xtask's end-to-end tests: the binaries already built into the
//! test's target directory (a test cannot run `cargo build` while cargo holds the build
//! lock), an xtask command on them, and a CSV file read back.

#![allow(dead_code, reason = "each suite uses a different part of the helpers")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::workspace_binary;

/// The directory holding this profile's binaries (server-* and bench).
pub fn bin_dir() -> PathBuf {
    let server = workspace_binary("server-threaded").expect("server-threaded is built");
    server
        .parent()
        .expect("a binary has a directory")
        .to_path_buf()
}

/// `cargo xtask TASK ARGS` on the binaries in `bin_dir` (no build), writing to `out`.
pub fn xtask_command(task: &str, bin_dir: &Path, out: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg(task)
        .args(args)
        .arg("--no-build")
        .arg("--bin-dir")
        .arg(bin_dir)
        .arg("--out")
        .arg(out);
    command
}

/// The CSV file at `path` as one map from column to value per row.
pub fn csv_rows(path: &Path) -> Vec<HashMap<String, String>> {
    let mut csv =
        csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{} opens: {e}", path.display()));
    let header: Vec<String> = csv
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    csv.records()
        .map(|record| {
            let record = record.expect("a CSV record");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}
