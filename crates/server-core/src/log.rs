//! The tutorial's log style with a time stamp and who served it, written so that lines from
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
//! duplicate) at `fork`. Time stamps are local time (`localtime_r`), as the tutorial's
//! `datetime.now()`.
//!
//! # A log nobody reads never stops the server
//!
//! A server whose stdout is a pipe that is not read (`server | sleep 1000`, a paused
//! `| less`), a terminal paused with Ctrl-S, or a stuck socket (journald's) would block in
//! `write(2)` with a client half-served, and SIGTERM could not stop it. So log lines are
//! never waited for: a line that cannot be written at once is dropped and counted, and the
//! next line that can be written is preceded by
//! `[12:26:25] [LOG] 1234 lines dropped: stdout was not being read`.
//!
//! How, decided once per process at the first write (`Sink`):
//!
//! - A pipe, FIFO or terminal is opened again through `/proc/self/fd/1` with `O_NONBLOCK`:
//!   a new open file description of the same pipe or terminal, non-blocking for the log
//!   alone. Setting `O_NONBLOCK` on fd 1 itself would change the description that other
//!   processes share — the shell's terminal, or stderr after `2>&1`, whose writers (Rust's
//!   `eprintln!` among them) do not expect `EAGAIN`.
//! - A socket gets `send(MSG_DONTWAIT)`, which never blocks and changes no flag.
//! - Without `/proc`, a pipe gets `O_NONBLOCK` on fd 1 after all (the lesser evil); a
//!   terminal stays blocking there, as it is the user's shell's too.
//! - A regular file or `/dev/null` is written as before: such writes do not wait for a
//!   reader.
//!
//! A line is at most a few KiB (untrusted text is cut to [`EXCERPT_CHARS`] characters), so
//! on a pipe it is under `PIPE_BUF` and one write is atomic: all of it or `EAGAIN`, never
//! half a line. Where a write can be partial (a terminal, a socket), the rest gets up to
//! [`PARTIAL_LINE_WAIT`]; failing that, the line is counted as dropped and the next line
//! starts on a line of its own.
//!
//! A terminal paused with Ctrl-S is treated like an unread pipe: lines are dropped while it
//! is paused and their count is shown after Ctrl-Q, because a paused terminal must not
//! pause every client (a blocking log would also stop SIGTERM from ending the server).
//!
//! The count is an atomic in a page of memory shared with every process forked after the
//! banner, so threads, a forking server's children and prefork's workers add to one count,
//! and whichever of them next writes a line reports it. No thread is started: the forking
//! parent stays single-threaded. The banner ([`print_plain`]) is the exception that is always
//! written whole: it comes before the server serves anyone, and scripts wait for its
//! `Listening on` line.

use std::fmt::{self, Display, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;

pub use crate::config::Level;

/// How many characters of untrusted text (a payload, a result) a log line quotes.
pub const EXCERPT_CHARS: usize = 200;

/// Who wrote a log line, shown after the time stamp as the tutorial did.
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
    /// An io_uring ring's thread (server-uring), numbered from 1: `[RING n]`.
    Ring(usize),
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
            Who::Ring(n) => write!(f, "[RING {n}]"),
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
        let _ = writeln!(line, "{} {who} - {message}", TimeStamp);
        emit(&line);
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

/// A duration as log lines show it: as the flags take it, humantime's style (`0s`,
/// `250ms`, `2s 500ms`, `1year`), never Rust's `Debug` (`0ns`, `2.5s`, `31557600s`).
pub fn duration(d: Duration) -> impl Display {
    humantime::format_duration(d)
}

/// Writes `text` to standard output as is (no time stamp), with one `write(2)`; for the
/// banner, which scripts read. Unlike log lines it is always written whole, waiting for
/// the reader if need be: it comes before the server serves anyone.
pub fn print_plain(text: &str) {
    // Decide the output now, before any fork, so that children inherit the decision.
    let _ = output();
    write_all_blocking(stdout_fd(), text.as_bytes());
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
    c == '\\' || protocol::text::is_unsafe_to_show(c)
}

/// How long the rest of a partly written line may be waited for (terminals and sockets
/// only: a line on a pipe is written whole or not at all).
pub const PARTIAL_LINE_WAIT: Duration = Duration::from_millis(100);

/// Where log lines go: standard output, as decided once per process at the first write.
#[derive(Debug)]
enum Sink {
    /// A pipe, FIFO or terminal opened again through `/proc/self/fd/1` as a non-blocking
    /// open file description of its own.
    Reopened(OwnedFd),
    /// A socket: `send` with `MSG_DONTWAIT`.
    Socket,
    /// fd 1 itself, with `O_NONBLOCK` set on it (a pipe, when `/proc` is not there).
    NonBlocking,
    /// fd 1 with blocking writes: a regular file, `/dev/null`, a terminal without `/proc`,
    /// or a standard output that is closed.
    Blocking,
}

impl Sink {
    /// The descriptor that lines are written to.
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Sink::Reopened(fd) => fd.as_fd(),
            Sink::Socket | Sink::NonBlocking | Sink::Blocking => stdout_fd(),
        }
    }

    /// Looks at fd 1 and picks how to write to it without waiting.
    fn decide() -> Sink {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        use nix::sys::stat::{Mode, SFlag, fstat};

        let stdout = stdout_fd();
        let Ok(stat) = fstat(stdout) else {
            return Sink::Blocking;
        };
        let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
        let is_pipe = kind == SFlag::S_IFIFO;
        let is_terminal = kind == SFlag::S_IFCHR && nix::unistd::isatty(stdout).unwrap_or(false);
        if kind == SFlag::S_IFSOCK {
            return Sink::Socket;
        }
        if !is_pipe && !is_terminal {
            return Sink::Blocking;
        }
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        if let Ok(fd) = nix::fcntl::open("/proc/self/fd/1", flags, Mode::empty()) {
            return Sink::Reopened(fd);
        }
        if is_pipe && let Ok(bits) = fcntl(stdout, FcntlArg::F_GETFL) {
            let flags = OFlag::from_bits_truncate(bits) | OFlag::O_NONBLOCK;
            if fcntl(stdout, FcntlArg::F_SETFL(flags)).is_ok() {
                return Sink::NonBlocking;
            }
        }
        Sink::Blocking
    }

    /// One attempt to write `bytes`, never waiting (except for [`Sink::Blocking`]).
    fn write(&self, bytes: &[u8]) -> nix::Result<usize> {
        match self {
            Sink::Socket => {
                // SAFETY: fd 1 is open for the life of the process and `bytes` is a live
                // slice of `bytes.len()` bytes; send only reads from it.
                let sent = unsafe {
                    libc::send(
                        libc::STDOUT_FILENO,
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                Errno::result(sent).map(|n| n.unsigned_abs())
            }
            _ => nix::unistd::write(self.fd(), bytes),
        }
    }
}

/// Standard output, which the process keeps open for its whole life.
fn stdout_fd() -> BorrowedFd<'static> {
    // SAFETY: fd 1 is never closed by this program; writing to it when it was closed
    // by whoever started the server gives EBADF, which is handled as a failed write.
    unsafe { BorrowedFd::borrow_raw(libc::STDOUT_FILENO) }
}

/// Lines dropped and not yet reported, and whether one was cut half-way (so that the
/// next line must start afresh).
#[derive(Debug)]
struct Drops {
    lines: AtomicU64,
    cut: AtomicBool,
}

impl Drops {
    /// Records `lines` dropped lines, and whether one of them was cut half-way.
    fn record(&self, lines: u64, cut: bool) {
        self.lines.fetch_add(lines, Ordering::Relaxed);
        if cut {
            self.cut.store(true, Ordering::Relaxed);
        }
    }

    /// Takes what is pending (lines dropped, a cut line), for the caller to report.
    fn take(&self) -> (u64, bool) {
        if self.lines.load(Ordering::Relaxed) == 0 && !self.cut.load(Ordering::Relaxed) {
            return (0, false);
        }
        (
            self.lines.swap(0, Ordering::Relaxed),
            self.cut.swap(false, Ordering::Relaxed),
        )
    }

    /// A record in memory shared with the processes this one forks after it, so that the
    /// count covers a forking server's children and prefork's workers too, and is reported
    /// by whichever process writes next. Allocated once and never freed; `None` if the
    /// mapping cannot be made.
    fn shared() -> Option<&'static Drops> {
        // SAFETY: an anonymous shared mapping with no address hint has no preconditions;
        // the result is checked against MAP_FAILED before use.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Drops>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: the mapping is page-aligned, at least one page long, zero-filled (which
        // is a valid `Drops`: all atomics at zero and false), lives until the process
        // ends, and is only ever accessed through atomics, from any process.
        Some(unsafe { &*page.cast::<Drops>() })
    }
}

/// Where this process writes log lines and counts the ones it drops.
#[derive(Debug)]
struct Output {
    sink: Sink,
    drops: &'static Drops,
}

/// The output of this process, decided at the first use (the banner, before any fork).
/// A forked child inherits it: the reopened descriptor and the shared drop record.
fn output() -> &'static Output {
    static OUTPUT: OnceLock<Output> = OnceLock::new();
    static PRIVATE_DROPS: Drops = Drops {
        lines: AtomicU64::new(0),
        cut: AtomicBool::new(false),
    };
    OUTPUT.get_or_init(|| Output {
        sink: Sink::decide(),
        drops: Drops::shared().unwrap_or(&PRIVATE_DROPS),
    })
}

/// Writes one log line (newline-terminated) without waiting for stdout: if it cannot be
/// written now, it is dropped and counted. The first line written after drops is
/// preceded, in the same write, by the count.
fn emit(line: &str) {
    let Output { sink, drops } = output();
    if let Sink::Blocking = sink {
        write_all_blocking(sink.fd(), line.as_bytes());
        return;
    }
    let (dropped, cut) = drops.take();
    let notice;
    let bytes = if dropped == 0 && !cut {
        line.as_bytes()
    } else {
        notice = drop_notice(dropped, cut, line);
        notice.as_bytes()
    };
    loop {
        match sink.write(bytes) {
            Ok(n) if n == bytes.len() => return,
            Ok(n) => {
                if !finish_partial(sink, &bytes[n..]) {
                    // The count went out if the cut came after it.
                    let reported = n >= bytes.len() - line.len();
                    drops.record(if reported { 1 } else { dropped + 1 }, true);
                }
                return;
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                drops.record(dropped + 1, cut);
                return;
            }
            // stdout is gone (EPIPE, EBADF): there is no one to tell.
            Err(_) => return,
        }
    }
}

/// What goes out after drops: a line break if a line was cut, the count, and the line.
fn drop_notice(dropped: u64, cut: bool, line: &str) -> String {
    let mut text = String::with_capacity(line.len() + 80);
    if cut {
        text.push('\n');
    }
    if dropped > 0 {
        let lines = if dropped == 1 { "line" } else { "lines" };
        let _ = writeln!(
            text,
            "{TimeStamp} [LOG] {dropped} {lines} dropped: stdout was not being read"
        );
    }
    text.push_str(line);
    text
}

/// Writes the rest of a partly written line, waiting at most [`PARTIAL_LINE_WAIT`] in
/// all; whether it was all written.
fn finish_partial(sink: &Sink, mut rest: &[u8]) -> bool {
    let deadline = Instant::now() + PARTIAL_LINE_WAIT;
    while !rest.is_empty() {
        match sink.write(rest) {
            Ok(0) => return false,
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !wait_writable(sink.fd(), Some(left)) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

/// Waits until `fd` can be written to (or has failed), at most `timeout` (`None`: as long
/// as it takes); whether it can be tried.
fn wait_writable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> bool {
    crate::shutdown::wait_ready(&[fd], libc::POLLOUT, timeout).is_ok_and(|ready| ready[0])
}

/// Writes all of `bytes`, waiting as long as it takes: for the banner, and for a regular
/// file or `/dev/null`, which do not wait for a reader. On `EAGAIN` (fd 1 itself was made
/// non-blocking, when there is no `/proc`) it waits for room. Errors (a closed stdout) are
/// dropped: logging must never take the server down.
fn write_all_blocking(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return,
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let _ = wait_writable(fd, None);
            }
            Err(_) => return,
        }
    }
}

/// A log line's time stamp, `[HH:MM:SS]` in local time.
struct TimeStamp;

impl Display for TimeStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = local_time();
        write!(f, "[{h:02}:{m:02}:{s:02}]")
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

    /// Who served a line reads as in the tutorial.
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
    /// from. A typed backslash-n is `\\n`, a newline `\n`. Checked for many characters
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
        // Every character up to U+3000 (controls, Latin, punctuation, the marks), every
        // format character, and a sample of the rest.
        let sample = (0..=0x10_FFFF).filter_map(char::from_u32).filter(|&c| {
            u32::from(c) < 0x3000 || u32::from(c) % 61 == 0 || protocol::text::is_format_char(c)
        });
        for c in sample {
            for text in [c.to_string(), format!("\\{c}"), format!("{c}\\u")] {
                let shown = Untrusted(&text).to_string();
                assert_eq!(unescape(&shown).as_deref(), Some(text.as_str()), "{shown}");
                let hidden = shown.chars().any(|c| c != '\\' && needs_escape(c));
                assert!(!hidden, "{text:?} shows as {shown:?}");
            }
        }
    }

    /// Every format character (Cf, protocol's table) is shown as its code point, e.g.
    /// `\u{200e}`; letters and symbols outside the table are not.
    #[test]
    fn format_characters_are_escaped() {
        let format = (0..=0x10_FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| protocol::text::is_format_char(c));
        for c in format {
            let shown = Untrusted(&c.to_string()).to_string();
            assert_eq!(shown, format!("\\u{{{:x}}}", u32::from(c)));
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

    /// After drops, the next line written is preceded by the count in the log's style,
    /// and by a line break when a line was cut half-way; the count is taken once.
    #[test]
    fn drop_count_is_reported_once_before_the_next_line() {
        let line = "[12:00:00] [MAIN] - next\n";
        let notice = drop_notice(1234, false, line);
        let (count, rest) = notice.split_once('\n').expect("two lines");
        assert_eq!(rest, line);
        assert!(
            count.starts_with('[') && count.as_bytes()[9] == b']',
            "{count}"
        );
        assert_eq!(
            &count[10..],
            " [LOG] 1234 lines dropped: stdout was not being read"
        );
        assert!(drop_notice(1, false, line).contains("] [LOG] 1 line dropped: stdout"));
        assert_eq!(drop_notice(0, true, line), format!("\n{line}"));

        let drops = Drops {
            lines: AtomicU64::new(0),
            cut: AtomicBool::new(false),
        };
        assert_eq!(drops.take(), (0, false));
        drops.record(3, false);
        drops.record(1, true);
        assert_eq!(drops.take(), (4, true));
        assert_eq!(drops.take(), (0, false));
        let shared = Drops::shared().expect("an anonymous shared mapping");
        assert_eq!(shared.take(), (0, false));
        shared.record(2, false);
        assert_eq!(shared.take(), (2, false));
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
