//! [`Session`]: what one connection does, as a state machine with no I/O inside.
//!
//! Every architecture serves a connection by the same rules — framing, the size limit,
//! `ERR` answers that keep the connection, `--delay` and `--work` per request (one at a
//! time, in order), the protocol's writing rule, the idle timeout, a client that stops
//! reading, draining on shutdown, and what is logged — and every one of those rules lives
//! here, once. A session never touches a socket, a clock or a runtime: its driver tells
//! it what happened and the current time, and asks it one question, [`Session::poll_output`],
//! whose [`Output`] says what to do next. The drivers are the blocking loop of the first
//! five architectures ([`crate::blocking`]), the mio loop of `server-evented` and the
//! tokio task of `server-async`; none re-implements a rule. This is how `quinn-proto` and
//! `str0m` are built, and the calls are named as theirs.
//!
//! A driver's loop, whatever its I/O:
//!
//! ```text
//! session = Session::new(config, log, ledger, who, peer, now)
//! loop {
//!     match session.poll_output(now) {
//!         Transmit { bytes, until } => write what the socket takes (waiting for it to
//!                                      take some no later than `until`);
//!                                      session.handle_transmitted(n, now)
//!         CloseWrite                => shutdown(Write)
//!         Receive { max, until }    => wait for the socket to be readable, no later than
//!                                      `until`; read at most `max` bytes:
//!                                      session.handle_input(bytes, now)
//!                                      (0 bytes: session.handle_eof(now))
//!         Computed                  => the session answered one request: its own work is
//!                                      done; let the others have a turn if this one's is
//!                                      used up (TURN), then ask again
//!         Wait(until)               => sleep until `until`
//!         Finished                  => close; break
//!     }
//!     now = the clock, read again
//! }
//! ```
//!
//! and on SIGTERM `session.handle_shutdown(now, deadline)`, on a socket error
//! `session.handle_error(e, now)`. The `handle_*` calls only record what happened; they
//! never compute. Computing happens in `poll_output`, one request per call, which then
//! returns [`Output::Computed`] so that the driver reads the clock again: no deadline of
//! the client's (idle, a stalled reader, shutdown) is ever judged with a time taken
//! before the server's own work.
//!
//! # The rules, in the order a request meets them
//!
//! - **Framing.** `protocol`'s [`Framer`], the one framer of the workspace, cuts the
//!   input: line framing splits at `\n` (one trailing `\r` is dropped); raw framing
//!   (the tutorial's) takes each read of at most min(1024, `--max-request-bytes`) bytes as
//!   one request, which is why [`Output::Receive`] bounds the driver's reads.
//! - **Size.** A line longer than the limit, not counting its `\n` or `\r\n`, is refused
//!   with `ERR request too long (limit N bytes)` and the connection is closed: once the
//!   answer is out the session shuts its sending side and reads and drops the rest for up
//!   to [`LINGER`], so the refusal is not lost to a reset. No more than the limit plus
//!   the line ending is ever buffered: the framer's room is what the driver may read.
//! - **Bad requests** are answered with `ERR` at once (no delay) and the connection goes on.
//! - **One at a time.** A request is held for `--delay` (a deadline, never a sleep), then
//!   computed (the engine, then `--work` of CPU), then answered; the next request is not
//!   looked at before. While one is held or answers are waiting, the driver is told not
//!   to read, so a pipelining client's requests wait in its own socket buffer, not ours.
//! - **Writing.** Buffered requests are answered one per step, and their answers go out
//!   together, so a pipelined batch of cheap requests is one write; but the batch is
//!   offered for sending as soon as its computing has taken [`TURN`], and an answer is
//!   never held across a wait (before a delay begins, what is queued is offered). Queued
//!   output beyond [`FLUSH_THRESHOLD`] is sent before anything more is computed.
//! - **Sent** means handed to the socket: `Sending response` is logged then
//!   ([`Session::handle_transmitted`]), not when the answer is queued.
//! - **A client that stops reading.** Output that makes no progress for
//!   min(`--idle-timeout`, `--shutdown-timeout`), at least 100 ms, ends the connection.
//!   The clock starts when the output is first offered to the driver, after the
//!   computing that produced it.
//! - **Idle.** The idle clock runs from when the connection opened or the last answer was
//!   sent, and only while nothing is held, waiting to be computed or waiting to be sent:
//!   the server's own delay and work never count. A client trickling a line slower than
//!   the timeout is cut off too.
//! - **Fairness.** One connection computes for at most [`TURN`] before its driver lets
//!   the others have a turn (the event loop puts it at the back of its ready list, the
//!   tokio task yields), so a client pipelining costly requests cannot starve the
//!   clients that share its thread.
//! - **Shutdown.** From [`Session::handle_shutdown`] on, the session answers what it has
//!   received — the held request, whatever is buffered, and whatever arrives within
//!   [`DRAIN_WAIT`] of its last answer — then ends. At the shutdown deadline it stops
//!   reading, cuts the held request's delay short and answers every request it has
//!   received, with no delay; what is not answered and sent [`LAST_WORDS`] after the
//!   deadline is abandoned, and counted in the server's [`Ledger`], so the server's last
//!   line and exit status can say so.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::{Frame, Framer, Framing, Rejection, Request, Response, codec};

use crate::config::Config;
use crate::ledger::Ledger;
use crate::log::{Level, Log, Untrusted, Who};

/// Queued output beyond this is sent before another request is answered.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

/// The most computing one connection does in a row: after it, the batch of answers is
/// offered for sending, and the driver lets the other connections on its thread have a
/// turn before this one computes again. About twenty costly evaluations; with one loop
/// and one client pipelining them, another client's request waits a few turns at most.
pub const TURN: Duration = Duration::from_millis(5);

/// Once shutting down, how long an idle connection is given for a request that is already
/// on its way before the session decides there is none.
pub const DRAIN_WAIT: Duration = Duration::from_millis(20);

/// After refusing an over-long line, how long the rest of it is read and dropped.
pub const LINGER: Duration = Duration::from_millis(500);

/// The most dropped while lingering.
const LINGER_BYTES: usize = 1 << 20;

/// A stalled write is never given less than this, however short the timeouts.
const MIN_STALL: Duration = Duration::from_millis(100);

/// How long past the shutdown deadline a session may take to compute and hand over the
/// answers to what it had received; what is left then is abandoned.
pub const LAST_WORDS: Duration = Duration::from_millis(100);

/// How long past the shutdown deadline a driver keeps driving its sessions (the mio loop,
/// the tokio runtime) and the main thread waits for them, before it abandons them: their
/// [`LAST_WORDS`], and as long again for the driver to notice.
pub const DRIVER_GRACE: Duration = LAST_WORDS.saturating_mul(2);

/// What the driver is to do next: the answer to [`Session::poll_output`].
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Hand these bytes to the socket — as many as it takes — and report how many with
    /// [`Session::handle_transmitted`]. If it takes none now, wait until it can, but no
    /// later than `until`, then ask again.
    Transmit {
        /// The answers not yet handed to the socket.
        bytes: &'a [u8],
        /// When the session has something to do even if the socket stays full.
        until: Option<Instant>,
    },
    /// Shut the socket's sending side (once, after an over-long line was refused and the
    /// refusal sent), then ask again.
    CloseWrite,
    /// Read at most `max` bytes when the socket has some and hand them to
    /// [`Session::handle_input`] (none: [`Session::handle_eof`]); wait for them no later
    /// than `until`. Reading more than `max` breaks the session's bound on what it holds.
    Receive {
        /// The most the session takes now.
        max: usize,
        /// When the session has something to do even if nothing arrives.
        until: Option<Instant>,
    },
    /// One request was computed and its answer queued. The server's own work took time:
    /// read the clock again before asking again, and if this connection's [`TURN`] is
    /// used up, serve the other connections first.
    Computed,
    /// Nothing to read or send: ask again at `until` (`None`: only after another input).
    Wait(Option<Instant>),
    /// The session is over: close the connection.
    Finished,
}

/// Why a session ended.
#[derive(Debug)]
pub enum End {
    /// The client closed its side and every request it sent was answered.
    Closed,
    /// The client sent nothing for `--idle-timeout`.
    Idle(Duration),
    /// The server is shutting down: everything received was answered, or what was left
    /// at the deadline is abandoned (and counted in the [`Ledger`]).
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

/// An answer in the output buffer, not yet wholly handed to the socket.
#[derive(Debug)]
struct Queued {
    /// Where it ends in the output.
    end: usize,
    /// What `Sending response` says once it is sent (`None`: an `ERR` for a request that
    /// could not be read, logged as rejected when it was, or logging is off).
    shown: Option<String>,
}

/// One connection's state: see the module documentation for the rules it keeps.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    log: Log,
    ledger: Ledger,
    who: Who,
    peer: SocketAddr,
    state: State,
    /// What the client sent and was not yet taken as requests, and whether it closed its
    /// sending side.
    input: Framer,
    held: Option<Held>,
    /// Encoded answers; `output[sent..]` is not yet handed to the socket.
    output: Vec<u8>,
    sent: usize,
    /// The answers in `output[sent..]`, in order.
    queued: VecDeque<Queued>,
    /// When computing the answers now queued began: the batch is offered for sending
    /// once that is [`TURN`] ago.
    batch_began: Option<Instant>,
    /// When the idle clock started: the connection opened or the last answer went out.
    idle_since: Instant,
    /// When the queued output was first offered or last made progress (the stall clock).
    progress_at: Option<Instant>,
    /// The shutdown deadline, once shutdown has begun.
    shutdown_at: Option<Instant>,
    /// While shutting down and idle: when to stop waiting for another request.
    drain_until: Option<Instant>,
    /// Past the shutdown deadline: when to abandon what is still unanswered.
    last_words_until: Option<Instant>,
    /// This session's share of the ledger's count, while shutting down.
    published: usize,
}

impl Session {
    /// A session for a client at `peer` that connected at `now`, logging as `who`;
    /// while shutting down it keeps its unanswered requests counted in `ledger`.
    pub fn new(
        config: Arc<Config>,
        log: Log,
        ledger: Ledger,
        who: Who,
        peer: SocketAddr,
        now: Instant,
    ) -> Session {
        log.info(&who, format_args!("Connection from {peer}"));
        let input = Framer::new(config.framing, frame_limit(&config));
        Session {
            config,
            log,
            ledger,
            who,
            peer,
            state: State::Open,
            input,
            held: None,
            output: Vec::new(),
            sent: 0,
            queued: VecDeque::new(),
            batch_began: None,
            idle_since: now,
            progress_at: None,
            shutdown_at: None,
            drain_until: None,
            last_words_until: None,
            published: 0,
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// What the driver is to do next, at `now`: does what is due (a delay that has run
    /// out, the idle timeout, a stalled client, the end of draining or lingering, the
    /// shutdown deadline), computes at most one request, and says what is left to do.
    pub fn poll_output(&mut self, now: Instant) -> Output<'_> {
        self.handle_deadlines(now);
        self.publish();
        match &mut self.state {
            State::Finished(_) => return Output::Finished,
            State::Lingering { shut, .. } if !*shut => {
                *shut = true;
                return Output::CloseWrite;
            }
            State::Lingering { until, dropped, .. } => {
                return Output::Receive {
                    max: LINGER_BYTES - *dropped,
                    until: Some(*until),
                };
            }
            State::Open | State::Closing(_) => {}
        }
        if self.may_compute(now) && self.step(now) {
            return Output::Computed;
        }
        if self.is_over() {
            let end = match std::mem::replace(&mut self.state, State::Open) {
                State::Closing(end) => end,
                _ => End::Shutdown,
            };
            self.finish(end);
            return Output::Finished;
        }
        if self.pending_output() > 0 {
            self.progress_at.get_or_insert(now);
            let until = self.next_deadline();
            return Output::Transmit {
                bytes: &self.output[self.sent..],
                until,
            };
        }
        let until = self.next_deadline();
        match self.read_size() {
            0 => Output::Wait(until),
            max => Output::Receive { max, until },
        }
    }

    /// Takes bytes the client sent (at most what [`Output::Receive`] allowed).
    pub fn handle_input(&mut self, bytes: &[u8], _now: Instant) {
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
        self.input.receive(bytes);
        self.publish();
    }

    /// The client closed its sending side (a read returned 0 bytes). What it sent is still
    /// answered — a last line without its `\n` included — and then the session ends.
    pub fn handle_eof(&mut self, _now: Instant) {
        if let State::Lingering { .. } = self.state {
            self.finish(End::TooLong);
            return;
        }
        self.input.receive_eof();
        self.publish();
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
    pub fn handle_shutdown(&mut self, _now: Instant, deadline: Instant) {
        if self.shutdown_at.is_some() {
            return;
        }
        self.shutdown_at = Some(deadline);
        if let Some(held) = &mut self.held {
            held.until = held.until.min(deadline);
        }
    }

    /// The socket took `n` bytes of what [`Output::Transmit`] offered, at `now`.
    pub fn handle_transmitted(&mut self, n: usize, now: Instant) {
        if n == 0 || self.pending_output() == 0 {
            return;
        }
        self.sent = (self.sent + n).min(self.output.len());
        self.progress_at = Some(now);
        while let Some(answer) = self.queued.front()
            && answer.end <= self.sent
        {
            if let Some(Queued {
                shown: Some(shown), ..
            }) = self.queued.pop_front()
            {
                self.log.info(
                    &self.who,
                    format_args!("Sending response: {}", Untrusted(&shown)),
                );
            }
        }
        self.publish();
        if self.sent < self.output.len() {
            return;
        }
        self.output.clear();
        self.sent = 0;
        self.progress_at = None;
        self.batch_began = None;
        if self.held.is_none() {
            self.idle_since = now;
        }
        if let State::Closing(End::TooLong) = self.state {
            self.state = State::Lingering {
                until: now + LINGER,
                dropped: 0,
                shut: false,
            };
        }
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

    /// How many requests were received and not yet answered: the held one, those
    /// buffered, and those whose answers are not wholly handed to the socket.
    pub fn unanswered(&self) -> usize {
        usize::from(self.held.is_some()) + self.input.frames_waiting() + self.queued.len()
    }

    fn pending_output(&self) -> usize {
        self.output.len() - self.sent
    }

    /// Past the shutdown deadline: reading has stopped and the last answers are due.
    fn is_past_deadline(&self) -> bool {
        self.last_words_until.is_some()
    }

    /// Past the last words after the shutdown deadline: nothing more is computed.
    fn is_out_of_words(&self, now: Instant) -> bool {
        self.last_words_until.is_some_and(|until| now >= until)
    }

    /// Nothing held, nothing to send, no complete request waiting.
    fn is_quiet(&self) -> bool {
        self.held.is_none() && self.pending_output() == 0 && self.input.frames_waiting() == 0
    }

    /// Whether the session is done, with nothing left to send: the client closed and all
    /// was answered, or, past the shutdown deadline, all received was answered.
    fn is_over(&self) -> bool {
        match self.state {
            State::Closing(End::TooLong) => false,
            State::Closing(_) => self.pending_output() == 0,
            State::Open => self.is_past_deadline() && self.is_quiet(),
            State::Lingering { .. } | State::Finished(_) => false,
        }
    }

    /// Keeps this session's share of the ledger equal to what it has received and not
    /// answered: the ledger is right at any moment, even for a session whose driver never
    /// asks again (stuck computing when the server stops waiting, or killed).
    fn publish(&mut self) {
        if matches!(self.state, State::Finished(_)) {
            return;
        }
        let now = self.unanswered();
        self.ledger.add(signed(now) - signed(self.published));
        self.published = now;
    }

    /// The idle deadline, while the idle clock runs.
    fn idle_deadline(&self) -> Option<Instant> {
        let idle = self.config.idle_timeout?;
        let running =
            matches!(self.state, State::Open) && self.shutdown_at.is_none() && self.is_quiet();
        running.then(|| self.idle_since + idle)
    }

    /// How long queued output may make no progress before the client counts as gone.
    fn stall_limit(&self) -> Duration {
        let limit = self.config.shutdown_timeout.max(MIN_STALL);
        self.config
            .idle_timeout
            .map_or(limit, |idle| idle.min(limit).max(MIN_STALL))
    }

    /// The next moment [`Session::poll_output`] has something to do, if any.
    fn next_deadline(&self) -> Option<Instant> {
        if let State::Lingering { until, .. } = self.state {
            return Some(until);
        }
        if matches!(self.state, State::Finished(_)) {
            return None;
        }
        let stall = self.progress_at.map(|at| at + self.stall_limit());
        if self.is_past_deadline() {
            return [self.last_words_until, stall].into_iter().flatten().min();
        }
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

    /// Does what is due at `now`: ends lingering, abandons what is left at the end of the
    /// last words, passes the shutdown deadline, ends a stalled, idle or drained session.
    /// Never computes.
    fn handle_deadlines(&mut self, now: Instant) {
        match self.state {
            State::Lingering { until, .. } => {
                if now >= until {
                    self.finish(End::TooLong);
                }
                return;
            }
            State::Finished(_) => return,
            State::Open | State::Closing(_) => {}
        }
        if let Some(deadline) = self.shutdown_at
            && now >= deadline
            && self.last_words_until.is_none()
        {
            // Out of time: stop reading; what was received is answered now, undelayed.
            // The last words run from when the session sees the deadline, not from the
            // deadline itself: a driver woken late (a loaded machine) still gets to
            // answer, as long as its own driver waits for it.
            self.last_words_until = Some(now + LAST_WORDS);
            if let State::Closing(End::TooLong) = self.state {
                self.state = State::Closing(End::Shutdown);
            }
        }
        // At the end of the last words nothing more is computed; answers already computed
        // are offered once (a write that does not wait), and the rest is abandoned.
        if self.is_out_of_words(now) && (self.pending_output() == 0 || self.progress_at.is_some()) {
            self.finish(End::Shutdown);
            return;
        }
        if let Some(at) = self.progress_at
            && self.pending_output() > 0
            && now >= at + self.stall_limit()
        {
            self.finish(End::Failed(io::Error::other(
                "the client stopped reading its answers",
            )));
            return;
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
        }
    }

    /// Whether the session may compute now: it is open, and the answers already queued
    /// (if any) are young enough and few enough to wait for one more.
    fn may_compute(&self, now: Instant) -> bool {
        if !matches!(self.state, State::Open) || self.is_out_of_words(now) {
            return false;
        }
        if self.pending_output() == 0 {
            return true;
        }
        self.pending_output() < FLUSH_THRESHOLD
            && self.batch_began.is_some_and(|began| now < began + TURN)
    }

    /// Takes the next requests from the input: a bad one is answered with `ERR`, a delayed
    /// one is held, and the first that is due is computed. Returns whether one was.
    fn step(&mut self, now: Instant) -> bool {
        loop {
            if let Some(held) = &self.held {
                if held.until > now {
                    return false;
                }
                self.answer_held(now);
                return true;
            }
            if !self.may_compute(now) {
                return false;
            }
            match self.input.next_frame() {
                // A last line cut off by the end of the stream is still a request.
                Some(Frame::Complete(bytes) | Frame::Unterminated(bytes)) => {
                    self.drain_until = None;
                    match codec::decode_request(bytes, self.config.framing) {
                        Ok(request) => {
                            if self.receive(request, now) {
                                return true;
                            }
                        }
                        Err(e) => self.reject(&Rejection::Invalid(e), now),
                    }
                }
                Some(Frame::TooLong) => {
                    let limit = self.config.max_request_bytes;
                    self.reject(&Rejection::TooLong { limit }, now);
                    self.input.release();
                    self.state = State::Closing(End::TooLong);
                    return false;
                }
                None => {
                    if self.input.is_eof() {
                        self.state = State::Closing(End::Closed);
                    } else if self.shutdown_at.is_some() && self.is_quiet() {
                        self.drain_until.get_or_insert(now + DRAIN_WAIT);
                    }
                    return false;
                }
            }
        }
    }

    /// A request has arrived: hold it for the delay, or answer it now. Returns whether
    /// it was answered (computed).
    fn receive(&mut self, request: Request, now: Instant) -> bool {
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
        if delay.is_zero() || self.is_past_deadline() {
            self.answer(&request, now);
            return true;
        }
        let mut until = now
            .checked_add(delay)
            .unwrap_or(now + crate::config::FOREVER);
        if let Some(deadline) = self.shutdown_at {
            until = until.min(deadline);
        }
        self.held = Some(Held { request, until });
        false
    }

    fn answer_held(&mut self, now: Instant) {
        if let Some(held) = self.held.take() {
            self.answer(&held.request, now);
        }
    }

    /// Runs a request (the engine, then `--work`) and queues its answer, to be logged as
    /// sent when it is.
    fn answer(&mut self, request: &Request, now: Instant) {
        let response = execute(request);
        crate::work::compute_for(self.config.work);
        let shown = self.log.enabled(Level::Info).then(|| match &response {
            Response::Ok(result) => result.clone(),
            Response::Err(message) => format!("ERR {message}"),
        });
        let framing = self.config.framing;
        codec::encode_response(&response, framing, self.queue(now));
        self.queued.push_back(Queued {
            end: self.output.len(),
            shown,
        });
    }

    /// The output buffer, to queue an answer in; `now` is when computing it began, which
    /// begins the batch if the output was empty.
    fn queue(&mut self, now: Instant) -> &mut Vec<u8> {
        if self.pending_output() == 0 {
            self.batch_began = Some(now);
        }
        &mut self.output
    }

    /// Answers a request that could not be read, at once.
    fn reject(&mut self, rejected: &Rejection, now: Instant) {
        if self.log.enabled(Level::Info) {
            self.log.info(
                &self.who,
                format_args!("Rejected request: {}", Untrusted(&rejected.to_string())),
            );
        }
        let framing = self.config.framing;
        codec::encode_rejection(rejected, framing, self.queue(now));
        self.queued.push_back(Queued {
            end: self.output.len(),
            shown: None,
        });
    }

    /// How many bytes the driver may read now; 0 means "do not read": a request is held
    /// or waiting to be answered, answers are waiting to be sent, the shutdown deadline
    /// has passed, or the session is over.
    fn read_size(&self) -> usize {
        match self.state {
            State::Open => {}
            State::Lingering { dropped, .. } => return LINGER_BYTES - dropped,
            State::Closing(_) | State::Finished(_) => return 0,
        }
        if self.is_past_deadline() || self.held.is_some() || self.pending_output() > 0 {
            return 0;
        }
        // The framer's room: none while a request waits (answering paused for a turn) or
        // after the end of the stream; else room for the rest of a line at the limit and
        // its `\r\n`, or for one raw read.
        self.input.room()
    }

    /// Ends the session and logs the disconnect (once). What is left unanswered stays
    /// counted in the ledger only when the shutdown deadline abandoned it.
    fn finish(&mut self, end: End) {
        if matches!(self.state, State::Finished(_)) {
            return;
        }
        let left = match end {
            End::Shutdown => self.unanswered(),
            _ => 0,
        };
        self.ledger.add(signed(left) - signed(self.published));
        self.published = left;
        let why = match &end {
            End::Closed => String::new(),
            End::Idle(idle) => format!(" (idle for {})", humantime::format_duration(*idle)),
            End::Shutdown if left > 0 => {
                format!(" (server shutting down; {left} request(s) left unanswered)")
            }
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
        self.queued.clear();
        self.input.release();
        self.state = State::Finished(end);
    }
}

/// A count as a signed difference for the ledger (counts never come near `isize::MAX`).
fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

/// The most one frame may hold: a line of `--max-request-bytes`, not counting its ending,
/// or in raw framing one read of at most min(1024, `--max-request-bytes`) bytes.
fn frame_limit(config: &Config) -> usize {
    match config.framing {
        Framing::Line => config.max_request_bytes,
        Framing::Raw => codec::RAW_READ_SIZE.min(config.max_request_bytes),
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

#[cfg(test)]
mod tests;
