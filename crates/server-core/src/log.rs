//! The seed's log style with a time stamp and who served it, written so that lines from
//! many threads or forked children never mix.
//!
//! ```text
//! [12:26:25] [MAIN PROCESS] - Connection from 127.0.0.1:34416
//! [12:26:25] [MAIN PROCESS] - Received request: 1|hello
//! [12:26:25] [MAIN PROCESS] - Sending response: HELLO
//! [12:26:31] [MAIN PROCESS] - Client 127.0.0.1:34416 disconnected
//! ```
//!
//! Every line goes to standard output with **one** `write(2)` of a buffer formatted
//! beforehand, never through Rust's buffered `Stdout`: a forked child and its parent, or
//! two threads, each write whole lines, and there is nothing buffered to flush (or to
//! duplicate) at `fork`. Time stamps are local time (`localtime_r`), as the seed's
//! `datetime.now()`.

use std::fmt::{self, Display, Write as _};
use std::io;
use std::os::fd::AsFd;
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::config::Level;

/// How many characters of untrusted text (a payload, a result) a log line quotes.
pub const EXCERPT_CHARS: usize = 200;

/// Who wrote a log line, shown after the time stamp as the seed did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// The accept loop of the forking or threaded server: `[MAIN]`.
    Main,
    /// The sequential server, which serves clients in its only process: `[MAIN PROCESS]`.
    MainProcess,
    /// A forked child serving one client: `[CHILD PID: n]`.
    Child(u32),
    /// A thread serving one client: `[THREAD: name]`.
    Thread(String),
    /// A pre-forked worker process (server-prefork): `[WORKER PID: n]`.
    WorkerProcess(u32),
    /// A pool's worker thread (server-pool), by name: `[WORKER: worker-3]`.
    Worker(String),
    /// An event loop (server-evented), numbered from 1: `[LOOP n]`.
    Loop(usize),
    /// A task serving one client (server-async), numbered from 1: `[TASK n]`.
    Task(u64),
}

impl Who {
    /// The calling process, as a forked child: `[CHILD PID: n]`.
    pub fn this_child() -> Who {
        Who::Child(std::process::id())
    }

    /// The calling thread, by its name: `[THREAD: name]`.
    pub fn this_thread() -> Who {
        let current = std::thread::current();
        Who::Thread(current.name().unwrap_or("unnamed").to_owned())
    }
}

impl Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Main => f.write_str("[MAIN]"),
            Who::MainProcess => f.write_str("[MAIN PROCESS]"),
            Who::Child(pid) => write!(f, "[CHILD PID: {pid}]"),
            Who::Thread(name) => write!(f, "[THREAD: {name}]"),
            Who::WorkerProcess(pid) => write!(f, "[WORKER PID: {pid}]"),
            Who::Worker(name) => write!(f, "[WORKER: {name}]"),
            Who::Loop(n) => write!(f, "[LOOP {n}]"),
            Who::Task(n) => write!(f, "[TASK {n}]"),
        }
    }
}

/// The logger: a level, copied into every thread and child. Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct Log {
    level: Level,
}

impl Log {
    /// A logger that writes lines at `level` and more severe.
    pub fn new(level: Level) -> Log {
        Log { level }
    }

    /// Whether lines at `level` are written. Callers on the hot path check this before
    /// they build anything to log.
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    /// Writes `[HH:MM:SS] WHO - message` if `level` is enabled.
    pub fn line(&self, level: Level, who: &Who, message: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        let mut line = String::with_capacity(128);
        let (h, m, s) = local_time();
        let _ = writeln!(line, "[{h:02}:{m:02}:{s:02}] {who} - {message}");
        write_stdout(line.as_bytes());
    }

    /// [`Log::line`] at [`Level::Warn`].
    pub fn warn(&self, who: &Who, message: fmt::Arguments<'_>) {
        self.line(Level::Warn, who, message);
    }

    /// [`Log::line`] at [`Level::Info`].
    pub fn info(&self, who: &Who, message: fmt::Arguments<'_>) {
        self.line(Level::Info, who, message);
    }

    /// [`Log::line`] at [`Level::Debug`].
    pub fn debug(&self, who: &Who, message: fmt::Arguments<'_>) {
        self.line(Level::Debug, who, message);
    }
}

/// Writes `text` to standard output as is (no time stamp), with one `write(2)`; for the
/// banner, which scripts read.
pub fn print_plain(text: &str) {
    write_stdout(text.as_bytes());
}

/// Untrusted text (a payload, a result) made safe to put in one log line: control
/// characters and Unicode line and direction marks are escaped, and text longer than
/// [`EXCERPT_CHARS`] characters is cut, with its full size noted: `abc… (70000 bytes)`.
///
/// Escaping happens while formatting, so nothing is built when the line is not written.
pub struct Untrusted<'a>(pub &'a str);

impl Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == EXCERPT_CHARS {
                return write!(f, "… ({} bytes)", self.0.len());
            }
            if needs_escape(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// Characters that could end a log line or disguise one: controls (`\n`, `\r`, ESC…),
/// the Unicode line and paragraph separators, and the bidirectional overrides.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Writes all of `bytes` to file descriptor 1. A line of up to `PIPE_BUF` (4096) bytes is
/// one atomic write on a pipe; a longer one may be split by the kernel, but log lines are
/// short because untrusted text is cut. Errors (a closed stdout) are dropped: logging must
/// never take the server down.
fn write_stdout(mut bytes: &[u8]) {
    let stdout = io::stdout();
    let fd = stdout.as_fd();
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

/// The local time of day, or UTC when the local time zone cannot be read.
fn local_time() -> (i32, i32, i32) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = libc::time_t::try_from(secs).unwrap_or(0);
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, properly aligned locals; localtime_r is the
    // thread-safe variant and writes only to `tm`.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if ok {
        (tm.tm_hour, tm.tm_min, tm.tm_sec)
    } else {
        let day = (secs % 86_400) as i32;
        (day / 3600, day / 60 % 60, day % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who served a line reads as in the seed.
    #[test]
    fn who_labels() {
        assert_eq!(Who::MainProcess.to_string(), "[MAIN PROCESS]");
        assert_eq!(Who::Child(42).to_string(), "[CHILD PID: 42]");
        assert_eq!(
            Who::Thread("client-7".into()).to_string(),
            "[THREAD: client-7]"
        );
        assert_eq!(Who::Main.to_string(), "[MAIN]");
    }

    /// A client cannot end a log line early or forge one: newlines, escapes and
    /// direction overrides are escaped.
    #[test]
    fn untrusted_text_is_escaped() {
        let forged = "hi\n[12:00:00] [MAIN] - Server compromised\r\x1b[2J\u{202E}";
        let shown = Untrusted(forged).to_string();
        assert!(!shown.contains(['\n', '\r', '\x1b', '\u{202E}']), "{shown}");
        assert!(shown.starts_with("hi\\n[12:00:00]"), "{shown}");
        assert_eq!(Untrusted("Straße").to_string(), "Straße");
    }

    /// Long text is cut to EXCERPT_CHARS characters with its full size noted.
    #[test]
    fn untrusted_text_is_cut() {
        let long = "é".repeat(70_000);
        let shown = Untrusted(&long).to_string();
        assert_eq!(shown.chars().filter(|&c| c == 'é').count(), EXCERPT_CHARS);
        assert!(shown.ends_with("… (140000 bytes)"), "{shown}");
    }

    /// Levels filter: quiet (warn) drops info and debug, keeps warnings and errors.
    #[test]
    fn levels() {
        let quiet = Log::new(Level::Warn);
        assert!(quiet.enabled(Level::Error) && quiet.enabled(Level::Warn));
        assert!(!quiet.enabled(Level::Info) && !quiet.enabled(Level::Debug));
        assert!(Log::new(Level::Debug).enabled(Level::Info));
    }

    /// The time of day is in range.
    #[test]
    fn time_of_day() {
        let (h, m, s) = local_time();
        assert!((0..24).contains(&h) && (0..60).contains(&m) && (0..=60).contains(&s));
    }
}
