//! [`Service`]: the blocking driver of a [`Session`], for the architectures that give each
//! client a process or a thread of its own (sequential, forking, threaded, prefork, pool).
//!
//! The session decides everything; this loop only does what [`Session::poll_output`]
//! says, on a socket of its own, and reads the clock after every step. It waits in
//! `poll(2)` — for the socket, and for the shutdown [`Bell`] — at most [`TICK`] or until
//! the session's next deadline, so a loop blocked on a silent client or on a `--delay`
//! wakes at once when the server starts shutting down: the main thread rings the bell (a
//! thread of the threaded or pool server), and a signal interrupts the `poll` of the
//! thread it lands on (the sequential server, a forked child or worker, which its parent
//! sends SIGTERM).

use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{Framing, codec};

use crate::config::Config;
use crate::ledger::Ledger;
use crate::listener::Client;
use crate::log::{Log, Who};
use crate::session::{DRIVER_GRACE, End, Output, Session};
use crate::shutdown::Shutdown;

/// The longest a blocked read or write, or a wait for a delay, lasts before the loop
/// looks at the shutdown flag and the session's deadlines again. Shorter means a faster
/// shutdown, longer fewer wake-ups of idle connections (four a second each at 250 ms, a
/// few microseconds of CPU each).
pub const TICK: Duration = Duration::from_millis(250);

/// How much one read asks for, at most.
const READ_CHUNK: usize = 16 * 1024;

/// How much the first read asks for, with line framing. A read that comes back full
/// doubles the buffer, up to [`READ_CHUNK`], so a client that sends one short request at
/// a time (or none: thousands of idle clients, a thread each) costs a 512-byte buffer,
/// while a pipelining one soon reads in large chunks. (A 16 KiB buffer on each thread's
/// stack, zeroed, cost 10,000 idle clients 110 MiB more.) With raw framing every read is
/// one request, so the buffer starts as large as the session allows one to be.
const FIRST_READ: usize = 512;

/// A blocking session is told a deadline this much earlier than the server's: a forked
/// child or worker is killed by its parent at the server's deadline, and a thread is
/// given up on then, so the session's last answers ([`LAST_WORDS`](crate::session::LAST_WORDS)) must be out before.
const AHEAD: Duration = DRIVER_GRACE;

/// Everything a session needs, cheap to clone into a thread or keep across a fork.
#[derive(Debug, Clone)]
pub struct Service {
    config: Arc<Config>,
    log: Log,
    shutdown: Shutdown,
    ledger: Ledger,
    bell: Bell,
}

impl Service {
    /// A session factory for `config`, logging to `log`, watching `shutdown` and `bell`,
    /// counting what shutting-down sessions leave unanswered in `ledger`.
    pub fn new(
        config: Arc<Config>,
        log: Log,
        shutdown: Shutdown,
        ledger: Ledger,
        bell: Bell,
    ) -> Service {
        Service {
            config,
            log,
            shutdown,
            ledger,
            bell,
        }
    }

    /// A new sans-I/O session for a client at `peer`, logging as `who` (for drivers of
    /// their own: the mio loop, the tokio task).
    pub fn open(&self, peer: std::net::SocketAddr, who: Who, now: Instant) -> Session {
        Session::new(
            Arc::clone(&self.config),
            self.log,
            self.ledger.clone(),
            who,
            peer,
            now,
        )
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
        let mut now = Instant::now();
        let mut session = self.open(peer, who.clone(), now);
        if let Err(e) = stream.set_nonblocking(true) {
            session.handle_error(e, now);
        }
        let mut socket = Socket {
            stream,
            bell: Some(self.bell.fd()),
        };
        let mut buf = vec![0u8; first_read(&self.config)];
        // The last read filled the buffer: more is probably waiting, so read before polling.
        let mut more = false;
        loop {
            if socket.bell.is_some()
                && let Some(deadline) = self.shutdown.deadline()
            {
                socket.bell = None;
                on_shutdown();
                let deadline = deadline.checked_sub(AHEAD).unwrap_or(now).max(now);
                session.handle_shutdown(now, deadline);
            }
            match session.poll_output(now) {
                Output::Computed => {}
                Output::Transmit { bytes, until } => match (&socket.stream).write(bytes) {
                    Ok(0) => session.handle_error(io::ErrorKind::WriteZero.into(), Instant::now()),
                    Ok(n) => session.handle_transmitted(n, Instant::now()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        socket.wait(libc::POLLOUT, until, Instant::now());
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => session.handle_error(e, Instant::now()),
                },
                Output::CloseWrite => {
                    let _ = socket.stream.shutdown(Direction::Write);
                }
                Output::Receive { max, until } => {
                    if !more && !socket.wait(libc::POLLIN, until, now) {
                        now = Instant::now();
                        continue;
                    }
                    let want = max.min(buf.len());
                    match (&socket.stream).read(&mut buf[..want]) {
                        Ok(0) => session.handle_eof(Instant::now()),
                        Ok(n) => {
                            more = n == want;
                            session.handle_input(&buf[..n], Instant::now());
                            if n == buf.len() && buf.len() < READ_CHUNK {
                                buf.resize(buf.len() * 2, 0);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => more = false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => session.handle_error(e, Instant::now()),
                    }
                }
                Output::Wait(until) => {
                    socket.wait(0, until, now);
                }
                Output::Finished => break,
            }
            now = Instant::now();
        }
        session.into_end().unwrap_or(End::Closed)
    }
}

/// How much the first read asks for: a whole raw request, or [`FIRST_READ`] of a line.
fn first_read(config: &Config) -> usize {
    match config.framing {
        Framing::Raw => codec::RAW_READ_SIZE.min(config.max_request_bytes),
        Framing::Line => FIRST_READ,
    }
}

/// A client's non-blocking socket, and the shutdown bell while it is still listened for.
struct Socket<'a> {
    stream: TcpStream,
    bell: Option<BorrowedFd<'a>>,
}

impl Socket<'_> {
    /// Waits until the socket is ready for `events` (0: never), the bell rings, a signal
    /// comes, or `until` (at most [`TICK`]); returns whether the socket is ready.
    fn wait(&self, events: libc::c_short, until: Option<Instant>, now: Instant) -> bool {
        let timeout = until
            .map_or(TICK, |until| until.saturating_duration_since(now))
            .min(TICK);
        let mut fds = [
            // Not watched at all when no event is wanted: a reset socket reports an error
            // whatever it is asked, and the wait would spin.
            libc::pollfd {
                fd: if events == 0 {
                    -1
                } else {
                    self.stream.as_raw_fd()
                },
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: self.bell.map_or(-1, |bell| bell.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Rounded up, so the wait never ends just before the deadline.
        let millis = libc::c_int::try_from(timeout.as_nanos().div_ceil(1_000_000))
            .unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a live array of two pollfd structs (a negative fd is ignored),
        // whose descriptors are borrowed for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) };
        n > 0 && fds[0].revents != 0
    }
}

/// The shutdown bell: an `eventfd` that the main thread rings when the server starts
/// shutting down ([`crate::Server::stop_accepting`]) and that stays readable from then
/// on, so every blocking session waiting in `poll` wakes at once. A forked child shares
/// it with its parent.
#[derive(Debug, Clone)]
pub struct Bell {
    fd: Arc<OwnedFd>,
}

impl Bell {
    /// A bell not yet rung.
    ///
    /// # Errors
    ///
    /// When no `eventfd` can be made (out of descriptors).
    pub fn new() -> io::Result<Bell> {
        // SAFETY: eventfd takes no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: eventfd just made this descriptor; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Bell { fd: Arc::new(fd) })
    }

    /// Rings the bell: from now on it is readable (it is never read).
    pub fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one` to an eventfd we own.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
