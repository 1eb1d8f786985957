//! [`Service`]: the blocking driver of a [`Session`], for the architectures that give each
//! client a process or a thread of its own (sequential, forking, threaded, prefork, pool).
//!
//! The session decides everything; this loop only moves bytes between it and a blocking
//! socket and tells it the time. Each read and write waits at most [`TICK`] (or until
//! the session's next deadline, if sooner), so a loop blocked on a silent client still
//! notices a deadline and a shutdown request; a request held for `--delay` is waited out
//! in slices of at most [`TICK`] for the same reason, which is what lets SIGTERM cut a
//! long delay short on every architecture.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::listener::Client;
use crate::log::{Log, Who};
use crate::session::{End, Session};
use crate::shutdown::Shutdown;

/// The longest a blocked read or write, or a wait for a delay, lasts before the loop
/// looks at the shutdown flag and the session's deadlines again. Shorter means a faster
/// shutdown, longer fewer wake-ups of idle connections (four a second each at 250 ms, a
/// few microseconds of CPU each).
pub const TICK: Duration = Duration::from_millis(250);

/// How much one read asks for, at most.
const READ_CHUNK: usize = 16 * 1024;

/// How much the first read asks for. A read that comes back full doubles the buffer, up to
/// [`READ_CHUNK`], so a client that sends one short request at a time (or none: thousands
/// of idle clients, a thread each) costs a 512-byte buffer, while a pipelining one soon
/// reads in large chunks. (A 16 KiB buffer on each thread's stack, zeroed, cost 10,000
/// idle clients 110 MiB more.)
const FIRST_READ: usize = 512;

/// Everything a session needs, cheap to clone into a thread or keep across a fork.
#[derive(Debug, Clone)]
pub struct Service {
    config: Arc<Config>,
    log: Log,
    shutdown: Shutdown,
}

impl Service {
    /// A session factory for `config`, logging to `log`, watching `shutdown`.
    pub fn new(config: Arc<Config>, log: Log, shutdown: Shutdown) -> Service {
        Service {
            config,
            log,
            shutdown,
        }
    }

    /// A new sans-I/O session for a client at `peer`, logging as `who` (for drivers of
    /// their own: the mio loop, the tokio task).
    pub fn open(&self, peer: std::net::SocketAddr, who: Who, now: Instant) -> Session {
        Session::new(Arc::clone(&self.config), self.log, who, peer, now)
    }

    /// Serves `client` until it leaves, idles out, breaks a rule that ends the connection,
    /// or the server shuts down, logging as `who`. Every answer is sent before this returns.
    ///
    /// Never panics on anything the client does, and never returns an error: what goes
    /// wrong on one connection is that connection's end, logged with the peer.
    pub fn serve(&self, client: Client, who: &Who) -> End {
        self.serve_with(client, who, &mut || {})
    }

    /// [`Service::serve`], calling `on_shutdown` once when the session first notices a
    /// shutdown request: the sequential server closes its listener there, since it is
    /// inside this loop, not its accept loop, when the signal comes.
    pub fn serve_with(&self, client: Client, who: &Who, on_shutdown: &mut dyn FnMut()) -> End {
        let Client { stream, peer } = client;
        let mut session = self.open(peer, who.clone(), Instant::now());
        let mut driver = Driver {
            stream,
            read_timeout: None,
            write_timeout: None,
        };
        let mut told_shutdown = false;
        let mut buf = vec![0u8; FIRST_READ];
        loop {
            let now = Instant::now();
            if !told_shutdown && let Some(deadline) = self.shutdown.deadline() {
                told_shutdown = true;
                on_shutdown();
                // A forked child or worker notices the signal up to a TICK after its
                // parent, which kills what is left at its own deadline: aim a TICK early,
                // so a held request is answered before that, not cut off by the kill.
                let deadline = deadline.checked_sub(TICK).unwrap_or(now).max(now);
                session.handle_shutdown(now, deadline);
            }
            session.handle_timeout(now);
            if let Some(bytes) = session.poll_transmit() {
                let wait = until_next(&session, now);
                match driver.write(bytes, wait) {
                    Ok(n) => session.handle_transmitted(n, Instant::now()),
                    Err(e) if is_transient(&e) => {}
                    Err(e) => session.handle_error(e, Instant::now()),
                }
                continue;
            }
            if session.is_finished() {
                break;
            }
            if session.poll_close_write() {
                let _ = driver.stream.shutdown(Direction::Write);
            }
            let wait = until_next(&session, now);
            let want = session.read_size().min(buf.len());
            if want == 0 {
                // A request is held for its delay: wait for it, a slice at a time.
                thread::sleep(wait);
                continue;
            }
            match driver.read(&mut buf[..want], wait) {
                Ok(0) => session.handle_eof(Instant::now()),
                Ok(n) => {
                    session.handle_input(&buf[..n], Instant::now());
                    if n == buf.len() && buf.len() < READ_CHUNK {
                        buf.resize(buf.len() * 2, 0);
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => session.handle_error(e, Instant::now()),
            }
        }
        session.into_end().unwrap_or(End::Closed)
    }
}

/// How long the loop may block now: until the session's next deadline, at most [`TICK`],
/// at least a millisecond (a socket timeout of zero would mean forever).
fn until_next(session: &Session, now: Instant) -> Duration {
    session
        .next_deadline()
        .map_or(TICK, |deadline| deadline.saturating_duration_since(now))
        .clamp(Duration::from_millis(1), TICK)
}

/// A blocking socket whose waits are bounded; the timeouts are set only when they change.
struct Driver {
    stream: TcpStream,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl Driver {
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<usize> {
        if self.read_timeout != Some(wait) {
            self.stream.set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        self.stream.read(buf)
    }

    fn write(&mut self, bytes: &[u8], wait: Duration) -> io::Result<usize> {
        if self.write_timeout != Some(wait) {
            self.stream.set_write_timeout(Some(wait))?;
            self.write_timeout = Some(wait);
        }
        match self.stream.write(bytes) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            other => other,
        }
    }
}

/// Whether a read or write only timed out or was interrupted: try again after the
/// session has looked at the time.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
