//! What every task needs: where the workspace is, how cargo and other commands are run
//! (echoed, failing with the command's name), and UTC time stamps without a date crate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

/// A task's end that decides its exit status, beyond plain failure (status 1): one exit
/// rule for every task, as bench and the servers follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The command line asks for something impossible (`--clients 0`, `--clients 10..5`):
    /// status 2, as clap's own usage errors, and nothing is run.
    Usage(String),
    /// The run did what it was asked and wrote its files, but some points are off their
    /// model: status 1, as bench's for failed clients.
    OffModel(String),
    /// Ctrl-C (SIGINT) or SIGTERM stopped the run after its files were written: status
    /// 130, the shell's 128 + SIGINT.
    Interrupted(String),
}

impl Exit {
    /// The exit status.
    pub fn code(&self) -> u8 {
        match self {
            Exit::Usage(_) => 2,
            Exit::OffModel(_) => 1,
            Exit::Interrupted(_) => 130,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Usage(message) | Exit::OffModel(message) | Exit::Interrupted(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for Exit {}

/// The workspace root: the parent of this crate's directory.
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The target directory: `$CARGO_TARGET_DIR` when set, else `<root>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

/// `dir/name`, a binary built with `cargo build --release`, or an error saying how to
/// build it.
pub fn built_binary(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "{} not found; build it with `cargo build --release -p {name}` or drop --no-build",
            path.display()
        )
    }
}

/// `cargo`, as the running cargo names itself in `$CARGO`, so the same toolchain builds.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A command as a shell line, for echoing.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Echoes `cmd` on stderr, runs it in the workspace root, and fails with its name when
/// it cannot start or exits unsuccessfully.
///
/// # Errors
///
/// When the command cannot be started or exits non-zero.
pub fn run(mut cmd: Command) -> anyhow::Result<()> {
    let line = display(&cmd);
    eprintln!("$ {line}");
    let status = cmd
        .current_dir(project_root())
        .status()
        .with_context(|| format!("could not run `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its trimmed standard output, or `None` on any failure.
pub fn output_of(mut cmd: Command) -> Option<String> {
    let out = cmd.current_dir(project_root()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A UTC date and time as `(year, month, day, hour, minute, second)`.
pub fn utc(time: SystemTime) -> (i64, u32, u32, u32, u32, u32) {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let small = |v: i64| u32::try_from(v).unwrap_or(0);
    (
        year,
        small(month),
        small(day),
        small(rem / 3600),
        small(rem % 3600 / 60),
        small(rem % 60),
    )
}

/// `20250314T092653Z`: a time stamp that sorts and is safe in a path.
pub fn stamp(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc(time);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `2025-03-14T09:26:53Z` (RFC 3339).
pub fn rfc3339(time: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc(time);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Known instants convert to the right calendar dates, leap days included.
    #[test]
    fn utc_dates() {
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(stamp(at(1_741_944_413)), "20250314T092653Z");
    }

    /// The root is the directory that holds the workspace's Cargo.toml and xtask.
    #[test]
    fn root_holds_the_workspace() {
        assert!(project_root().join("xtask").is_dir());
        assert!(project_root().join("Cargo.toml").is_file());
    }
}
