//! [`Service`]: serving one client from its first byte to its last, the same in all
//! three architectures.
//!
//! Read a request, hold it for `--delay`, run the engine, queue the answer; the
//! [`Connection`] writes queued answers in one write when no complete request is left
//! buffered. Bad requests are answered with `ERR` and the connection goes on; a line
//! over the limit is answered and the connection closed; a failed stream ends the
//! session quietly (it is the client's business, never the server's).
//!
//! Reads wait at most [`TICK`] at a time (`SO_RCVTIMEO`), so a session blocked on a
//! silent client still notices the idle timeout and a shutdown request. A client that is
//! not silent but trickles a line a byte at a time never lets such a read time out, so
//! the stream is also `Guarded`: once the request being read is overdue (the idle
//! timeout since the last request, or the short drain wait during shutdown) or a shutdown
//! is requested, its reads fail at once with `TimedOut`, and the session ends it as it
//! would a silent client.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use protocol::{Connection, ReadError, Request, Response};

use crate::config::Config;
use crate::listener::Client;
use crate::log::{Level, Log, Untrusted, Who};
use crate::shutdown::Shutdown;

/// The longest a blocked read waits before the session checks the shutdown flag and the
/// idle timeout. Shorter means a faster shutdown and a more exact idle timeout, longer
/// means fewer wake-ups of idle connections (four a second each at 250 ms, a few
/// microseconds of CPU each).
pub const TICK: Duration = Duration::from_millis(250);

/// Once shutting down, how long a read waits for a request that is already on its way
/// before the session decides there is none.
const DRAIN_WAIT: Duration = Duration::from_millis(20);

/// After refusing an over-long line, how long the rest of it is read and thrown away so
/// that closing does not reset the connection before the client reads the refusal.
const LINGER: Duration = Duration::from_millis(500);

/// The most thrown away while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// Everything a session needs, cheap to clone into a thread or keep across a fork.
#[derive(Debug, Clone)]
pub struct Service {
    config: Arc<Config>,
    log: Log,
    shutdown: Shutdown,
}

/// Why a session ended.
#[derive(Debug)]
pub enum End {
    /// The client closed its side.
    Closed,
    /// The client sent no request for `--idle-timeout`.
    Idle(Duration),
    /// The server is shutting down and nothing more had been received.
    Shutdown,
    /// A line was longer than `--max-request-bytes`.
    TooLong,
    /// The stream failed: reset, broken pipe, a write that stalled.
    Failed(io::Error),
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

    /// Serves `client` until it leaves, idles out, breaks a rule that ends the connection,
    /// or the server shuts down; logs the connection, each request and response, and the
    /// disconnect as `who`. Every answer is flushed before this returns.
    ///
    /// Never panics on anything the client does, and never returns an error: what goes
    /// wrong on one connection is that connection's end, logged with the peer.
    pub fn serve(&self, client: Client, who: &Who) -> End {
        let Client { stream, peer } = client;
        self.log.info(who, format_args!("Connection from {peer}"));
        let tick = self.config.idle_timeout.map_or(TICK, |idle| idle.min(TICK));
        // Without the timeouts the session still serves, but could block shutdown.
        let _ = stream.set_read_timeout(Some(tick));
        let _ = stream.set_write_timeout(Some(self.write_timeout()));
        let guarded = Guarded {
            stream,
            shutdown: self.shutdown.clone(),
            draining: false,
            deadline: None,
        };
        let mut conn =
            Connection::with_limit(guarded, self.config.framing, self.config.max_request_bytes);
        let end = self.run(&mut conn, who);
        let flushed = conn.flush();
        let stream = conn.into_inner().stream;
        if matches!(end, End::TooLong) {
            linger(&stream);
        }
        let end = match (end, flushed) {
            (End::Failed(e), _) | (_, Err(e)) => End::Failed(e),
            (end, Ok(())) => end,
        };
        self.log_end(who, peer, &end);
        end
    }

    /// A write that makes no progress for this long means the client stopped reading:
    /// it ends the connection. Bounded by the shutdown timeout so that a stalled write
    /// cannot hold up shutdown much past it.
    fn write_timeout(&self) -> Duration {
        let limit = self.config.shutdown_timeout.max(Duration::from_millis(100));
        self.config
            .idle_timeout
            .map_or(limit, |idle| idle.min(limit))
    }

    fn run(&self, conn: &mut Connection<Guarded>, who: &Who) -> End {
        let mut last_request = Instant::now();
        loop {
            if let Some(deadline) = self.shutdown.deadline() {
                if !conn.get_ref().draining {
                    // From now on, answer only what has already arrived.
                    conn.get_mut().draining = true;
                    let _ = conn.get_ref().stream.set_read_timeout(Some(DRAIN_WAIT));
                }
                if Instant::now() >= deadline {
                    return End::Shutdown;
                }
            }
            let draining = conn.get_ref().draining;
            // However the client spaces its bytes, this request must be complete by then.
            conn.get_mut().deadline = if draining {
                Some(Instant::now() + DRAIN_WAIT)
            } else {
                self.config.idle_timeout.map(|idle| last_request + idle)
            };
            match conn.read_request() {
                Ok(Some(request)) => {
                    last_request = Instant::now();
                    let response = self.answer(&request, who);
                    if let Err(e) = conn.write_response(&response) {
                        return End::Failed(e);
                    }
                }
                Ok(None) => return End::Closed,
                Err(ReadError::Io(e)) if is_timeout(&e) => {
                    if draining {
                        return End::Shutdown;
                    }
                    if let Some(idle) = self.config.idle_timeout
                        && last_request.elapsed() >= idle
                    {
                        return End::Idle(idle);
                    }
                }
                Err(ReadError::Io(e)) => return End::Failed(e),
                Err(rejected @ ReadError::Invalid(_)) => {
                    last_request = Instant::now();
                    self.log_rejection(who, &rejected);
                    if let Err(e) = conn.write_rejection(&rejected) {
                        return End::Failed(e);
                    }
                }
                Err(rejected @ ReadError::TooLong { .. }) => {
                    self.log_rejection(who, &rejected);
                    return match conn.write_rejection(&rejected) {
                        Ok(()) => End::TooLong,
                        Err(e) => End::Failed(e),
                    };
                }
            }
        }
    }

    /// Holds the request for `--delay`, runs it, and logs both ends.
    ///
    /// A delay that has begun is always finished, even once shutdown is requested: the
    /// request was received, and answering it is the point of a graceful shutdown.
    fn answer(&self, request: &Request, who: &Who) -> Response {
        if self.log.enabled(Level::Info) {
            self.log.info(
                who,
                format_args!(
                    "Received request: {}|{}",
                    request.op.code(),
                    Untrusted(&request.payload)
                ),
            );
        }
        if !self.config.delay.is_zero() {
            thread::sleep(self.config.delay);
        }
        let response = execute(request);
        crate::work::compute_for(self.config.work);
        if self.log.enabled(Level::Info) {
            match &response {
                Response::Ok(result) => self
                    .log
                    .info(who, format_args!("Sending response: {}", Untrusted(result))),
                Response::Err(message) => self.log.info(
                    who,
                    format_args!("Sending response: ERR {}", Untrusted(message)),
                ),
            }
        }
        response
    }

    fn log_rejection(&self, who: &Who, rejected: &ReadError) {
        if self.log.enabled(Level::Info) {
            self.log.info(
                who,
                format_args!("Rejected request: {}", Untrusted(&rejected.to_string())),
            );
        }
    }

    fn log_end(&self, who: &Who, peer: SocketAddr, end: &End) {
        let why = match end {
            End::Closed => String::new(),
            End::Idle(idle) => format!(" (idle for {})", humantime::format_duration(*idle)),
            End::Shutdown => " (server shutting down)".to_owned(),
            End::TooLong => " (request too long)".to_owned(),
            End::Failed(e) => format!(" ({e})"),
        };
        self.log
            .info(who, format_args!("Client {peer} disconnected{why}"));
    }
}

/// Runs one request through the engine.
fn execute(request: &Request) -> Response {
    let op = match request.op {
        protocol::Op::ChangeCase => engine::Op::ChangeCase,
        protocol::Op::Evaluate => engine::Op::Evaluate,
        protocol::Op::Reverse => engine::Op::Reverse,
    };
    match engine::execute(op, &request.payload) {
        Ok(result) => Response::Ok(result),
        Err(e) => Response::Err(e.to_string()),
    }
}

/// The client's stream, whose reads give up at once, with `TimedOut`, when the request
/// being read is overdue or a shutdown has been requested and not yet noticed: otherwise
/// a client sending one byte every little while would keep the session inside one
/// `read_request` for as long as it liked, past the idle timeout and past a shutdown
/// (on the sequential server, holding every other client off). [`Connection`] keeps a
/// partial line across such a failed read.
#[derive(Debug)]
struct Guarded {
    stream: TcpStream,
    shutdown: Shutdown,
    /// Whether the session has noticed the shutdown (and set `deadline` to match).
    draining: bool,
    /// When reading the current request must be done by.
    deadline: Option<Instant>,
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let overdue = self.deadline.is_some_and(|d| Instant::now() >= d);
        if overdue || (self.shutdown.requested() && !self.draining) {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.read(buf)
    }
}

impl Write for Guarded {
    /// A write that times out (`SO_SNDTIMEO`) is reported as a stalled client, not as a
    /// timeout: [`Connection`] flushes before it reads, and a timeout from that flush
    /// would otherwise pass for a read timeout, so a client that stopped reading its
    /// answers would be retried for ever instead of cut off.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf).map_err(|e| {
            if is_timeout(&e) {
                io::Error::other("the client stopped reading its answers")
            } else {
                e
            }
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Whether a read failed only because `SO_RCVTIMEO` passed (or the request is overdue).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Closes our side, then reads and drops what the client is still sending for a short
/// while. Closing a socket with unread data makes the kernel send a reset, which can
/// reach the client before it has read our last answer (the refusal of its over-long
/// line); reading the rest first lets the answer arrive.
fn linger(stream: &TcpStream) {
    let _ = stream.shutdown(Direction::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let until = Instant::now() + LINGER;
    let mut dropped = 0;
    let mut buf = [0u8; 4096];
    while dropped < LINGER_BYTES && Instant::now() < until {
        match (&*stream).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => dropped += n,
        }
    }
}
