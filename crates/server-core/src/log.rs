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
/// characters, the Unicode line and paragraph separators, every format character
/// (direction marks and overrides, zero-width characters, tags…) and the backslash itself
/// are escaped as Rust escapes them (`\n`, `\\`, `\u{200e}`), and text longer than
/// [`EXCERPT_CHARS`] characters is cut, with its full size noted: `abc… (70000 bytes)`.
///
/// Because the backslash that starts every escape is itself escaped, the shown text reads
/// back to exactly one payload: a typed `\n` (`\\n`) never looks like a newline (`\n`),
/// and nothing in a line is invisible.
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

/// Characters that could end a log line, disguise one, or make two lines look alike:
/// controls (`\n`, `\r`, ESC…), the Unicode line and paragraph separators, format
/// characters, and the backslash that starts an escape.
fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format(c)
}

/// Unicode's format characters (general category Cf) as inclusive ranges, sorted: from
/// `extracted/DerivedGeneralCategory.txt` of Unicode 17.0.0, the version of this
/// toolchain's `std` (`char::UNICODE_VERSION`); the list has not changed since 15.0.0.
/// They are invisible or reorder text: the soft hyphen, Arabic and Syriac marks, the
/// Mongolian vowel separator, zero-width space and (non-)joiners, the direction marks,
/// embeddings, overrides and isolates, word joiner and invisible operators, the byte order
/// mark, interlinear annotation marks, Egyptian hieroglyph and shorthand format controls,
/// musical symbol beams, and the language tags.
const FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` is a format character (Cf), by binary search of [`FORMAT_CHARS`].
fn is_format(c: char) -> bool {
    FORMAT_CHARS
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
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

    /// Reads a shown text back, undoing `char::escape_default` where a backslash starts
    /// an escape; `None` if the text is not a well-formed rendering.
    fn unescape(shown: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let rest = chars.as_str().strip_prefix('{')?;
                    let (hex, after) = rest.split_once('}')?;
                    out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                    chars = after.chars();
                }
                _ => return None,
            }
        }
        Some(out)
    }

    /// Two payloads that differ never log alike: every escape starts with a backslash and
    /// a backslash is escaped too, so each shown text reads back to the one payload it came
    /// from. A typed backslash-n is `\\n`, a newline `\n`. Checked for every character
    /// alone, after a backslash and before one, and for hand-picked look-alikes.
    #[test]
    fn distinct_payloads_never_log_alike() {
        assert_eq!(Untrusted("a\\nb").to_string(), r"a\\nb");
        assert_eq!(Untrusted("a\nb").to_string(), r"a\nb");
        assert_eq!(Untrusted("\\u{200e}").to_string(), r"\\u{200e}");
        assert_eq!(Untrusted("\u{200e}").to_string(), r"\u{200e}");
        let pairs = [
            ("a\\nb", "a\nb"),
            ("\\\\", "\\"),
            ("\\u{1b}", "\x1b"),
            ("x\u{200b}y", "xy"),
            ("\\r\n", "\r\\n"),
        ];
        for (a, b) in pairs {
            assert_ne!(
                Untrusted(a).to_string(),
                Untrusted(b).to_string(),
                "{a:?} {b:?}"
            );
        }
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            for text in [c.to_string(), format!("\\{c}"), format!("{c}\\u")] {
                let shown = Untrusted(&text).to_string();
                assert_eq!(unescape(&shown).as_deref(), Some(text.as_str()), "{shown}");
                let hidden = shown.chars().any(|c| c != '\\' && needs_escape(c));
                assert!(!hidden, "{text:?} shows as {shown:?}");
            }
        }
    }

    /// Every format character (Cf) is shown as its code point, e.g. `\u{200e}`; letters
    /// and symbols outside the table are not. The table is sorted and its ranges disjoint,
    /// as the binary search needs.
    #[test]
    fn format_characters_are_escaped() {
        assert!(FORMAT_CHARS.iter().all(|&(first, last)| first <= last));
        assert!(FORMAT_CHARS.windows(2).all(|w| w[0].1 < w[1].0));
        let total: u32 = FORMAT_CHARS
            .iter()
            .map(|&(first, last)| u32::from(last) - u32::from(first) + 1)
            .sum();
        // DerivedGeneralCategory-17.0.0.txt: "Total code points: 170" for Cf.
        assert_eq!(total, 170);
        for &(first, last) in FORMAT_CHARS {
            for c in (u32::from(first)..=u32::from(last)).filter_map(char::from_u32) {
                let shown = Untrusted(&c.to_string()).to_string();
                assert_eq!(shown, format!("\\u{{{:x}}}", u32::from(c)));
            }
        }
        let named = "\u{200B}\u{200E}\u{200F}\u{061C}\u{2060}\u{FEFF}\u{00AD}\u{180E}\u{E0001}";
        assert_eq!(
            Untrusted(named).to_string(),
            r"\u{200b}\u{200e}\u{200f}\u{61c}\u{2060}\u{feff}\u{ad}\u{180e}\u{e0001}"
        );
        // Neighbours of the ranges and ordinary text pass as they are.
        for text in [
            "\u{2065}",
            "\u{2070}",
            "\u{E0000}",
            "\u{E0080}",
            "é中😀ع",
            "\u{200A}",
        ] {
            assert_eq!(Untrusted(text).to_string(), text);
        }
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
