//! SIGINT/SIGTERM/SIGHUP as a [`Shutdown`] flag, and a self-pipe that wakes the accept
//! loop on those signals and on SIGCHLD.
//!
//! SIGHUP (the terminal the server runs in was closed, or its SSH session dropped) stops
//! the server as SIGTERM does — stop accepting, answer what was received, exit by the
//! deadline — rather than killing it with answers in flight, which is the signal's
//! default. No server here has a configuration to re-read, the other meaning daemons
//! give SIGHUP.
//!
//! The handlers, installed through signal-hook, do only async-signal-safe things: set
//! an atomic flag and write a byte to a non-blocking socket. No thread is started, so the
//! forking server's parent stays single-threaded. SIGPIPE is left as Rust sets it
//! (ignored), so a write to a vanished client is an `EPIPE` error, never a dead server.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};

/// The signals that ask for a graceful shutdown.
const STOP_SIGNALS: [libc::c_int; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Whether the server was asked to stop, and by when it must be done.
///
/// Clones share the flag (threads); a forked child gets its own copy, which its own
/// inherited handlers set.
#[derive(Debug, Clone)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
    /// When this process first saw the request; the deadline counts from there.
    noticed: Arc<OnceLock<Instant>>,
    timeout: Duration,
}

impl Shutdown {
    /// A flag not yet set, with `timeout` to finish in once it is.
    pub fn new(timeout: Duration) -> Shutdown {
        Shutdown {
            requested: Arc::new(AtomicBool::new(false)),
            noticed: Arc::new(OnceLock::new()),
            timeout,
        }
    }

    /// Whether shutdown was requested (by a signal or [`Shutdown::request`]).
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Asks for shutdown, as SIGTERM (or SIGINT, or SIGHUP) does.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Relaxed);
    }

    /// When in-flight work must be done by: `None` while no shutdown was requested,
    /// otherwise `--shutdown-timeout` after this process first noticed the request.
    pub fn deadline(&self) -> Option<Instant> {
        self.requested()
            .then(|| *self.noticed.get_or_init(Instant::now) + self.timeout)
    }
}

/// The installed signal handlers and the read end of their wake-up pipe.
#[derive(Debug)]
pub struct Signals {
    shutdown: Shutdown,
    wake: UnixStream,
}

impl Signals {
    /// Installs the handlers: SIGINT, SIGTERM and SIGHUP set `shutdown`'s flag, and those
    /// three and SIGCHLD each write a byte to the wake-up pipe, so that `poll` on it
    /// returns at once whichever thread the signal landed on.
    ///
    /// # Errors
    ///
    /// When the pipe cannot be made or a handler cannot be installed.
    pub fn install(shutdown: Shutdown) -> io::Result<Signals> {
        for signal in STOP_SIGNALS {
            // Registered before the pipe, so the flag is set by the time the pipe wakes
            // anyone (signal-hook runs a signal's actions in registration order).
            signal_hook::flag::register(signal, Arc::clone(&shutdown.requested))?;
        }
        let (wake, write) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        for signal in STOP_SIGNALS.into_iter().chain([SIGCHLD]) {
            signal_hook::low_level::pipe::register(signal, write.try_clone()?)?;
        }
        Ok(Signals { shutdown, wake })
    }

    /// The shutdown flag the handlers set.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The descriptor that becomes readable when a signal arrives.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Empties the wake-up pipe, so the next `poll` waits for the next signal.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.wake).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}

/// Waits up to `timeout` until one of `fds` is readable (or has an error or hang-up
/// pending) and reports which. A signal cuts the wait short (`poll` is never restarted
/// after a handler ran); that is returned as "nothing ready".
///
/// # Errors
///
/// When `poll(2)` fails for another reason than a signal.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<Vec<bool>> {
    wait_ready(fds, libc::POLLIN, Some(timeout))
}

/// [`wait_readable`] for any `events` (`POLLIN`, `POLLOUT`), and `None` to wait as long as
/// it takes. A timeout is rounded up to whole milliseconds, so the wait never ends before
/// it.
///
/// # Errors
///
/// When `poll(2)` fails for another reason than a signal.
pub(crate) fn wait_ready(
    fds: &[BorrowedFd<'_>],
    events: libc::c_short,
    timeout: Option<Duration>,
) -> io::Result<Vec<bool>> {
    use std::os::fd::AsRawFd;
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        })
        .collect();
    let millis = timeout.map_or(-1, |t| {
        libc::c_int::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX)
    });
    let count = libc::nfds_t::try_from(polled.len()).unwrap_or(0);
    // SAFETY: `polled` is a live, properly initialised array of `count` pollfd structs,
    // and every descriptor in it is borrowed for the duration of the call.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), count, millis) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(polled.iter().map(|p| p.revents != 0).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deadline appears with the request and stays put once noticed.
    #[test]
    fn deadline_counts_from_first_notice() {
        let shutdown = Shutdown::new(Duration::from_secs(10));
        assert!(!shutdown.requested());
        assert_eq!(shutdown.deadline(), None);
        shutdown.clone().request();
        let first = shutdown.deadline().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(shutdown.deadline(), Some(first));
        assert!(first > Instant::now() + Duration::from_secs(9));
    }

    /// poll reports a readable socket and times out on a silent one.
    #[test]
    fn wait_readable_reports_ready_fds() {
        let (a, b) = UnixStream::pair().unwrap();
        let ready = wait_readable(&[a.as_fd()], Duration::from_millis(10)).unwrap();
        assert_eq!(ready, [false]);
        io::Write::write_all(&mut &b, b"x").unwrap();
        let ready = wait_readable(&[b.as_fd(), a.as_fd()], Duration::from_secs(5)).unwrap();
        assert_eq!(ready, [false, true]);
    }
}
