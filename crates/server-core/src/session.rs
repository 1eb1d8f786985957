//! [`Session`]: what one connection does, as a state machine with no I/O inside.
//!
//! Every architecture serves a connection by the same rules — framing, the size limit,
//! `ERR` answers that keep the connection, `--delay` and `--work` per request (one at a
//! time, in order), the protocol's writing rule, the idle timeout, a client that stops
//! reading, draining on shutdown, and what is logged — and every one of those rules lives
//! here, once. A session never touches a socket, a clock or a runtime: its driver feeds
//! it what arrived and the current time, and takes from it the bytes to send, the next
//! moment it needs to be woken, and whether it is over. The drivers are the blocking loop
//! of the first five architectures ([`crate::blocking`]), the mio loop of
//! `server-evented` and the tokio task of `server-async`; none re-implements a rule.
//! This is how `quinn-proto` and `rustls` are built, and the calls are named as theirs.
//!
//! A driver's loop, whatever its I/O:
//!
//! ```text
//! session = Session::new(config, log, who, peer, now)
//! loop {
//!     session.handle_timeout(now)                  // delays, idle, stalls, shutdown
//!     while let Some(bytes) = session.poll_transmit() {
//!         write what the socket takes;  session.handle_transmitted(n, now)
//!     }
//!     if session.is_finished() { close; break }
//!     if session.poll_close_write() { shutdown(Write) }    // once, after a refusal
//!     if session.read_size() > 0 and the socket is readable {
//!         read at most read_size() bytes;  session.handle_input(bytes, now)
//!                                          (0 bytes: session.handle_eof(now))
//!     }
//!     wait for readiness or session.next_deadline()
//! }
//! ```
//!
//! and on SIGTERM `session.handle_shutdown(now, deadline)`, on a socket error
//! `session.handle_error(e, now)`.
//!
//! # The rules, in the order a request meets them
//!
//! - **Framing.** Line framing splits at `\n` (one trailing `\r` is dropped); raw framing
//!   (the tutorial's) takes each read of at most min(1024, `--max-request-bytes`) bytes as
//!   one request, which is why [`Session::read_size`] bounds the driver's reads.
//! - **Size.** A line longer than the limit, not counting its `\n` or `\r\n`, is refused
//!   with `ERR request too long (limit N bytes)` and the connection is closed: once the
//!   answer is out the session shuts its sending side and reads and drops the rest for up
//!   to [`LINGER`], so the refusal is not lost to a reset. No more than the limit plus
//!   the line ending is ever buffered: `read_size` says how much room is left.
//! - **Bad requests** are answered with `ERR` at once (no delay) and the connection goes on.
//! - **One at a time.** A request is held for `--delay` (a deadline, never a sleep), then
//!   computed (the engine, then `--work` of CPU), then answered; the next request is not
//!   looked at before. While one is held or answers are waiting, the driver is told not
//!   to read (`read_size() == 0`), so a pipelining client's requests wait in its own
//!   socket buffer, not ours.
//! - **Writing.** Every complete request already buffered is answered before anything is
//!   offered for sending, so a pipelined batch goes out in one write; but an answer is
//!   never held across a wait: before a delay begins, what is queued is offered. Queued
//!   output beyond [`FLUSH_THRESHOLD`] stops the answering until it is sent, so a flood of
//!   tiny requests cannot grow it without bound.
//! - **A client that stops reading.** Output that makes no progress for
//!   min(`--idle-timeout`, `--shutdown-timeout`), at least 100 ms, ends the connection.
//! - **Idle.** The idle clock runs from when the connection opened or the last answer was
//!   sent, and only while nothing is held or waiting to be sent: the server's own delay
//!   never counts. A client trickling a line slower than the timeout is cut off too.
//! - **Shutdown.** From [`Session::handle_shutdown`] on, the session answers what it has
//!   received — the held request, whatever is buffered, and whatever arrives within
//!   [`DRAIN_WAIT`] of its last answer — then ends. A delay running into the shutdown
//!   deadline is cut short: the request is answered at once. At the deadline the session
//!   ends whatever it is doing.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{Framing, ReadError, Request, Response, codec};

use crate::config::Config;
use crate::log::{Level, Log, Untrusted, Who};

/// Queued output beyond this is sent before another request is answered.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Once shutting down, how long an idle connection is given for a request that is already
/// on its way before the session decides there is none.
pub const DRAIN_WAIT: Duration = Duration::from_millis(20);

/// After refusing an over-long line, how long the rest of it is read and dropped.
pub const LINGER: Duration = Duration::from_millis(500);

/// The most dropped while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// A stalled write is never given less than this, however short the timeouts.
const MIN_STALL: Duration = Duration::from_millis(100);

/// How long past the shutdown deadline a session may take to hand over its last answer.
pub const LAST_WORDS: Duration = Duration::from_millis(100);

/// How long past the shutdown deadline a driver keeps driving its sessions (the mio loop,
/// the tokio runtime) before it abandons them: their [`LAST_WORDS`], and as long again for
/// the driver to notice.
pub const DRIVER_GRACE: Duration = LAST_WORDS.saturating_mul(2);

/// Why a session ended.
#[derive(Debug)]
pub enum End {
    /// The client closed its side and every request it sent was answered.
    Closed,
    /// The client sent nothing for `--idle-timeout`.
    Idle(Duration),
    /// The server is shutting down and nothing more had been received.
    Shutdown,
    /// A line was longer than `--max-request-bytes`.
    TooLong,
    /// The connection failed: a reset, a broken pipe, a client that stopped reading.
    Failed(io::Error),
}

/// Where a session is in its life.
#[derive(Debug)]
enum State {
    /// Reading requests and answering them.
    Open,
    /// Done with requests; ends as `End` once the queued output is sent.
    Closing(End),
    /// The over-long line was refused and our side is to be shut (`shut`: the driver has
    /// been told): dropping what still arrives.
    Lingering {
        until: Instant,
        dropped: usize,
        shut: bool,
    },
    /// Over; the disconnect is logged.
    Finished(End),
}

/// A request waiting for its `--delay`.
#[derive(Debug)]
struct Held {
    request: Request,
    until: Instant,
}

/// One connection's state: see the module documentation for the rules it keeps.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    log: Log,
    who: Who,
    peer: SocketAddr,
    state: State,
    /// Received bytes; `input[start..]` is not yet consumed.
    input: Vec<u8>,
    start: usize,
    /// `input[start..scanned]` is known to hold no `\n` (line framing).
    scanned: usize,
    /// Raw framing: the lengths of the requests in `input[start..]`, in order.
    raw_frames: VecDeque<usize>,
    /// The client has closed its sending side.
    eof: bool,
    held: Option<Held>,
    /// Encoded answers; `output[sent..]` is not yet handed to the socket.
    output: Vec<u8>,
    sent: usize,
    /// When the idle clock started: the connection opened or the last answer went out.
    idle_since: Instant,
    /// When the output last made progress, while some is waiting.
    progress_at: Instant,
    /// The shutdown deadline, once shutdown has begun.
    shutdown_at: Option<Instant>,
    /// While shutting down and idle: when to stop waiting for another request.
    drain_until: Option<Instant>,
    /// Past the shutdown deadline: when to stop waiting for the last answers to go out.
    last_words_until: Option<Instant>,
}

impl Session {
    /// A session for a client at `peer` that connected at `now`, logging as `who`.
    pub fn new(config: Arc<Config>, log: Log, who: Who, peer: SocketAddr, now: Instant) -> Session {
        log.info(&who, format_args!("Connection from {peer}"));
        Session {
            config,
            log,
            who,
            peer,
            state: State::Open,
            input: Vec::new(),
            start: 0,
            scanned: 0,
            raw_frames: VecDeque::new(),
            eof: false,
            held: None,
            output: Vec::new(),
            sent: 0,
            idle_since: now,
            progress_at: now,
            shutdown_at: None,
            drain_until: None,
            last_words_until: None,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// How many bytes the driver may read now; 0 means "do not read": a request is held or
    /// being answered, answers are waiting to be sent, or the session is over. Reading
    /// more than this breaks the session's bound on what it buffers.
    pub fn read_size(&self) -> usize {
        match self.state {
            State::Open => {}
            State::Lingering { dropped, .. } => return LINGER_BYTES - dropped,
            State::Closing(_) | State::Finished(_) => return 0,
        }
        if self.eof || self.held.is_some() || self.pending_output() > 0 {
            return 0;
        }
        let buffered = self.input.len() - self.start;
        match self.config.framing {
            Framing::Line => {
                if self.scanned < self.input.len() {
                    // A complete line is waiting (answering paused at the flush threshold).
                    return 0;
                }
                // Room for the rest of a line at the limit and its `\r\n`, no more.
                (self.config.max_request_bytes + 2).saturating_sub(buffered)
            }
            Framing::Raw if buffered == 0 => raw_read_size(&self.config),
            Framing::Raw => 0,
        }
    }

    /// Takes bytes the client sent (at most [`Session::read_size`]) and answers every
    /// complete request they finish, as far as the rules allow.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        match &mut self.state {
            State::Open => {}
            State::Lingering { dropped, .. } => {
                *dropped += bytes.len();
                if *dropped >= LINGER_BYTES {
                    self.finish(End::TooLong);
                }
                return;
            }
            State::Closing(_) | State::Finished(_) => return,
        }
        if bytes.is_empty() {
            return;
        }
        if self.start > 0 {
            // Keep only the unconsumed part, so a stream of pipelined requests that never
            // ends on a line boundary cannot grow the buffer past the limit.
            self.input.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.config.framing == Framing::Raw {
            for chunk in bytes.chunks(raw_read_size(&self.config)) {
                self.raw_frames.push_back(chunk.len());
            }
        }
        self.input.extend_from_slice(bytes);
        self.process(now);
    }

    /// The client closed its sending side (a read returned 0 bytes). What it sent is still
    /// answered — a last line without its `\n` included — and then the session ends.
    pub fn handle_eof(&mut self, now: Instant) {
        if let State::Lingering { .. } = self.state {
            self.finish(End::TooLong);
            return;
        }
        self.eof = true;
        self.process(now);
    }

    /// The connection failed (a reset, a broken pipe): the session ends at once.
    pub fn handle_error(&mut self, error: io::Error, _now: Instant) {
        match self.state {
            State::Finished(_) => {}
            // The refusal was sent; what happens to the rest of the line does not matter.
            State::Lingering { .. } => self.finish(End::TooLong),
            _ => self.finish(End::Failed(error)),
        }
    }

    /// The server is shutting down and must be done by `deadline`: answer what has been
    /// received, then end.
    pub fn handle_shutdown(&mut self, now: Instant, deadline: Instant) {
        if self.shutdown_at.is_some() {
            return;
        }
        self.shutdown_at = Some(deadline);
        if let Some(held) = &mut self.held {
            held.until = held.until.min(deadline);
        }
        self.handle_timeout(now);
    }

    /// Does what is due at `now`: a delay that has run out, the idle timeout, a stalled
    /// client, the end of draining or lingering, the shutdown deadline. Harmless to call
    /// early or often.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let State::Lingering { until, .. } = self.state {
            if now >= until {
                self.finish(End::TooLong);
            }
            return;
        }
        if matches!(self.state, State::Finished(_)) {
            return;
        }
        if let Some(until) = self.last_words_until {
            if now >= until || self.pending_output() == 0 {
                self.finish(End::Shutdown);
            }
            return;
        }
        if let Some(deadline) = self.shutdown_at
            && now >= deadline
        {
            // Out of time: a held request is answered at once, and whatever is queued gets
            // a last moment to go out.
            if self.held.is_some() {
                self.answer_held(now);
            }
            if self.pending_output() == 0 {
                self.finish(End::Shutdown);
            } else {
                self.last_words_until = Some(now + LAST_WORDS);
                if let State::Open = self.state {
                    self.state = State::Closing(End::Shutdown);
                }
            }
            return;
        }
        if self.pending_output() > 0 && now >= self.progress_at + self.stall_limit() {
            self.finish(End::Failed(io::Error::other(
                "the client stopped reading its answers",
            )));
            return;
        }
        if let Some(until) = self.held.as_ref().map(|held| held.until)
            && now >= until
        {
            self.answer_held(now);
        }
        if let Some(deadline) = self.idle_deadline()
            && now >= deadline
        {
            let idle = self.config.idle_timeout.unwrap_or_default();
            self.finish(End::Idle(idle));
            return;
        }
        if let Some(until) = self.drain_until
            && now >= until
            && self.is_quiet()
        {
            self.finish(End::Shutdown);
            return;
        }
        self.process(now);
    }

    /// The bytes to send next, if any. Hand as much as the socket takes to it, then call
    /// [`Session::handle_transmitted`].
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        match self.state {
            State::Finished(_) | State::Lingering { .. } => None,
            _ => (self.pending_output() > 0).then(|| &self.output[self.sent..]),
        }
    }

    /// The socket took `n` bytes of what [`Session::poll_transmit`] offered.
    pub fn handle_transmitted(&mut self, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        self.sent = (self.sent + n).min(self.output.len());
        self.progress_at = now;
        if self.sent < self.output.len() {
            return;
        }
        self.output.clear();
        self.sent = 0;
        if self.held.is_none() {
            self.idle_since = now;
        }
        match std::mem::replace(&mut self.state, State::Open) {
            State::Closing(End::TooLong) => {
                self.state = State::Lingering {
                    until: now + LINGER,
                    dropped: 0,
                    shut: false,
                };
            }
            State::Closing(end) => self.finish(end),
            other => {
                self.state = other;
                self.process(now);
            }
        }
    }

    /// Whether the driver should shut the socket's sending side now: true once, after an
    /// over-long line was refused and the refusal sent.
    pub fn poll_close_write(&mut self) -> bool {
        match &mut self.state {
            State::Lingering { shut, .. } => !std::mem::replace(shut, true),
            _ => false,
        }
    }

    /// The next moment [`Session::handle_timeout`] has something to do, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        if let State::Lingering { until, .. } = self.state {
            return Some(until);
        }
        if matches!(self.state, State::Finished(_)) {
            return None;
        }
        if self.last_words_until.is_some() {
            return self.last_words_until;
        }
        let stall = (self.pending_output() > 0).then(|| self.progress_at + self.stall_limit());
        [
            self.held.as_ref().map(|held| held.until),
            self.idle_deadline(),
            stall,
            self.drain_until.filter(|_| self.is_quiet()),
            self.shutdown_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the session is over: the driver closes the connection.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished(_))
    }

    /// Why the session ended, once it has.
    pub fn end(&self) -> Option<&End> {
        match &self.state {
            State::Finished(end) => Some(end),
            _ => None,
        }
    }

    /// The session's end, taken out (for a driver that returns it).
    pub fn into_end(self) -> Option<End> {
        match self.state {
            State::Finished(end) => Some(end),
            _ => None,
        }
    }

    fn pending_output(&self) -> usize {
        self.output.len() - self.sent
    }

    /// Nothing held, nothing to send, no complete request waiting.
    fn is_quiet(&self) -> bool {
        self.held.is_none() && self.pending_output() == 0 && !self.has_complete_frame()
    }

    fn has_complete_frame(&self) -> bool {
        match self.config.framing {
            Framing::Line => self.input[self.scanned..].contains(&b'\n'),
            Framing::Raw => !self.raw_frames.is_empty(),
        }
    }

    /// The idle deadline, while the idle clock runs.
    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout?;
        let running = matches!(self.state, State::Open)
            && self.shutdown_at.is_none()
            && self.held.is_none()
            && self.pending_output() == 0;
        running.then(|| self.idle_since + idle)
    }

    /// How long queued output may make no progress before the client counts as gone.
    fn stall_limit(&self) -> Duration {
        let limit = self.config.shutdown_timeout.max(MIN_STALL);
        self.config
            .idle_timeout
            .map_or(limit, |idle| idle.min(limit).max(MIN_STALL))
    }

    /// Answers buffered requests, one at a time, until one is held for its delay, the
    /// output is over the threshold, or none is left; then decides what waiting means.
    fn process(&mut self, now: Instant) {
        while let State::Open = self.state {
            if self.held.is_some() || self.pending_output() >= FLUSH_THRESHOLD {
                return;
            }
            match self.next_frame() {
                Frame::Request(range) => {
                    self.drain_until = None;
                    let bytes = &self.input[range];
                    let decoded = match self.config.framing {
                        Framing::Line => codec::decode_line_request(bytes),
                        Framing::Raw => protocol::parse_request(bytes),
                    };
                    match decoded {
                        Ok(request) => self.receive(request, now),
                        Err(e) => self.reject(&ReadError::Invalid(e), now),
                    }
                }
                Frame::TooLong => {
                    self.reject(
                        &ReadError::TooLong {
                            limit: self.config.max_request_bytes,
                        },
                        now,
                    );
                    self.drop_input();
                    self.state = State::Closing(End::TooLong);
                }
                Frame::Partial => {
                    if self.eof {
                        self.state = State::Closing(End::Closed);
                        if self.pending_output() == 0 {
                            self.finish(End::Closed);
                        }
                    } else if self.shutdown_at.is_some() && self.is_quiet() {
                        self.drain_until.get_or_insert(now + DRAIN_WAIT);
                    }
                    return;
                }
            }
        }
    }

    /// The next request in the input, as a range of it.
    fn next_frame(&mut self) -> Frame {
        let limit = self.config.max_request_bytes;
        match self.config.framing {
            Framing::Raw => match self.raw_frames.pop_front() {
                Some(len) => {
                    let range = self.start..self.start + len;
                    self.start += len;
                    // Raw frames need no scanning; keep `start <= scanned` all the same.
                    self.scanned = self.start;
                    Frame::Request(range)
                }
                None => Frame::Partial,
            },
            Framing::Line => {
                if let Some(i) = self.input[self.scanned..].iter().position(|&b| b == b'\n') {
                    let end = self.scanned + i;
                    let line = self.start..end;
                    self.start = end + 1;
                    self.scanned = self.start;
                    if exceeds_limit(&self.input[line.clone()], limit) {
                        return Frame::TooLong;
                    }
                    return Frame::Request(line);
                }
                self.scanned = self.input.len();
                let pending = &self.input[self.start..];
                // A line that can no longer fit, whatever its ending, is refused now.
                if pending.len() > limit + 1
                    || (pending.len() == limit + 1 && pending.last() != Some(&b'\r'))
                {
                    return Frame::TooLong;
                }
                if self.eof && !pending.is_empty() {
                    // The last line, cut off by the end of the stream, is still a request.
                    let line = self.start..self.input.len();
                    self.start = self.input.len();
                    self.scanned = self.start;
                    return Frame::Request(line);
                }
                Frame::Partial
            }
        }
    }

    /// Lets go of all input, read or not, and its memory (after a refusal, at the end).
    fn drop_input(&mut self) {
        self.input = Vec::new();
        self.start = 0;
        self.scanned = 0;
    }

    /// A request has arrived: hold it for the delay, or answer it now.
    fn receive(&mut self, request: Request, now: Instant) {
        if self.log.enabled(Level::Info) {
            self.log.info(
                &self.who,
                format_args!(
                    "Received request: {}|{}",
                    request.op.code(),
                    Untrusted(&request.payload)
                ),
            );
        }
        let delay = self.config.delay;
        if delay.is_zero() {
            self.answer(&request, now);
            return;
        }
        let mut until = now
            .checked_add(delay)
            .unwrap_or(now + crate::config::FOREVER);
        if let Some(deadline) = self.shutdown_at {
            until = until.min(deadline);
        }
        self.held = Some(Held { request, until });
    }

    fn answer_held(&mut self, now: Instant) {
        if let Some(held) = self.held.take() {
            self.answer(&held.request, now);
        }
    }

    /// Runs a request (the engine, then `--work`), logs and queues its answer.
    fn answer(&mut self, request: &Request, now: Instant) {
        let response = execute(request);
        crate::work::compute_for(self.config.work);
        if self.log.enabled(Level::Info) {
            match &response {
                Response::Ok(result) => self.log.info(
                    &self.who,
                    format_args!("Sending response: {}", Untrusted(result)),
                ),
                Response::Err(message) => self.log.info(
                    &self.who,
                    format_args!("Sending response: ERR {}", Untrusted(message)),
                ),
            }
        }
        let framing = self.config.framing;
        codec::encode_response(&response, framing, self.queue(now));
    }

    /// The output buffer, to queue an answer in at `now`: the stall clock (a client that
    /// stops reading) starts with the first answer queued after the output was empty.
    fn queue(&mut self, now: Instant) -> &mut Vec<u8> {
        if self.pending_output() == 0 {
            self.progress_at = now;
        }
        &mut self.output
    }

    /// Answers a request that could not be read, at once.
    fn reject(&mut self, rejected: &ReadError, now: Instant) {
        if self.log.enabled(Level::Info) {
            self.log.info(
                &self.who,
                format_args!("Rejected request: {}", Untrusted(&rejected.to_string())),
            );
        }
        let framing = self.config.framing;
        match rejected {
            ReadError::Invalid(e) => codec::encode_rejection(e, framing, self.queue(now)),
            other => {
                codec::encode_response(&Response::Err(other.to_string()), framing, self.queue(now));
            }
        }
    }

    /// Ends the session and logs the disconnect (once).
    fn finish(&mut self, end: End) {
        if matches!(self.state, State::Finished(_)) {
            return;
        }
        let why = match &end {
            End::Closed => String::new(),
            End::Idle(idle) => format!(" (idle for {})", humantime::format_duration(*idle)),
            End::Shutdown => " (server shutting down)".to_owned(),
            End::TooLong => " (request too long)".to_owned(),
            End::Failed(e) => format!(" ({e})"),
        };
        self.log.info(
            &self.who,
            format_args!("Client {} disconnected{why}", self.peer),
        );
        self.held = None;
        self.output = Vec::new();
        self.sent = 0;
        self.drop_input();
        self.state = State::Finished(end);
    }
}

/// What the input holds next.
enum Frame {
    /// A whole request, as a range of the input.
    Request(std::ops::Range<usize>),
    /// A line longer than the limit.
    TooLong,
    /// Not a whole request yet.
    Partial,
}

/// Whether a line (without its `\n`) is over `limit`, not counting one trailing `\r`.
fn exceeds_limit(line: &[u8], limit: usize) -> bool {
    line.strip_suffix(b"\r").unwrap_or(line).len() > limit
}

/// Raw framing: the most one request (one read) may hold.
fn raw_read_size(config: &Config) -> usize {
    codec::RAW_READ_SIZE.min(config.max_request_bytes)
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

#[cfg(test)]
mod tests;
