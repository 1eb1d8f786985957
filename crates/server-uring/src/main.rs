//! `server-uring`: the taskserver on io_uring, one ring per core — completion-based I/O.
//!
//! The evented server asks the kernel "which sockets may I read now?" (readiness, epoll)
//! and then reads and writes them itself. This one hands the kernel the work and is told
//! when it is done (completion, io_uring): "bring me the bytes of this connection as they
//! come", "send these", "wake me at this time". `--workers N` threads (default: the number
//! of cores) each own one ring and the connections on it. A connection is a [`Session`]
//! (server-core's sans-I/O machine: every rule of the protocol) and the operations in
//! flight for its socket; this file only carries completions to sessions and sessions'
//! wishes to the ring. Every `unsafe` block is in [`ring`], with the memory the kernel
//! touches. The shapes are the `io-uring` crate's `tcp_echo` example (a token per
//! operation in `user_data`, operations re-armed on completion) and Seastar's, glommio's
//! and monoio's thread per core.
//!
//! # Layout
//!
//! - `main.rs`: the acceptor, the hand-off, and each ring's loop — what a completion
//!   means to a connection.
//! - [`ring`]: the ring, its provided buffers, send buffers and timer, and the start-up
//!   check of the kernel; the only `unsafe` code.
//!
//! # Who accepts: one acceptor, round-robin (as the evented server)
//!
//! The main thread accepts through server-core's [`Server::accept`], a `Gate` place
//! first, and hands each socket to the next ring in turn (a short queue under a mutex,
//! and a byte on the ring's pipe, which a read on the ring is waiting for): server-core's
//! [`handoff::accept_and_deal`], the evented server's front too. We chose that
//! over a multishot accept on a `SO_REUSEPORT` listener per ring because `--max-clients`
//! must hold exactly, with excess clients waiting in the backlog and none refused: a
//! multishot accept takes every connection the kernel has, and a ring at the cap could
//! only cancel it after accepting one too many. With one acceptor the cap, the accept
//! errors and their back-off are server-core's, already tested, and round-robin spreads
//! persistent connections evenly (a `SO_REUSEPORT` hash may not). The cost is the hand-off
//! (a mutex push and, when a ring was idle, a pipe write); the thread count is
//! `--workers` + 1, whatever the number of clients.
//!
//! # A ring's loop
//!
//! One `io_uring_enter` per turn submits what the turn queued and waits for at least one
//! completion; then each completion is taken to its connection:
//!
//! - **Receiving.** A multishot receive into the ring's provided buffers: the kernel picks
//!   a buffer only when bytes arrive, so an idle connection holds none, and one
//!   submission serves many requests. The session may not want the bytes when they come
//!   (it says [`Output::Receive`] only while no request is held and no answer waits):
//!   they are kept in the connection's *stash* and given to the session when it asks,
//!   at most what it asks for, before any new receive is armed. That must not break the session's bound on what it buffers
//!   (the limit plus a line ending), so each receive is armed with a **byte limit**: what
//!   the session may still take when it is armed ([`Ring::receive`] explains why the
//!   kernel's count makes the limit exact). The receive ends by itself at the limit and
//!   is re-armed only when the stash is empty and the session wants more: what the
//!   session holds and the stash together never exceed what the session alone could.
//!   A pipelining client's further requests wait in its socket, as with the other servers.
//! - **Sending.** When the session has answers ([`Output::Transmit`]), they go out
//!   in one send (the writing rule: a pipelined batch is one send); the bytes are copied
//!   into the ring's send buffer for the slot, since the session's buffer may grow while
//!   the kernel reads. One send at a time per connection; its completion reports how much
//!   went ([`Session::handle_transmitted`]) and the rest, or what came meanwhile, goes in
//!   the next.
//! - **Deadlines.** The sessions' next deadlines sit in a heap, as in the evented server;
//!   the ring has one timeout, armed at the nearest and moved earlier (a timeout update)
//!   when a nearer one comes. A session's deadline is re-armed only after it has been
//!   driven, so the clock that judges a client is read after the server's own work.
//!   After server-core's [`TURN`] of computing, a connection's turn ends: its timer is
//!   set a millisecond on, and the other connections' completions come first.
//! - **Closing.** A finished session's receive and send are cancelled; the socket closes
//!   (and the `--max-clients` place is given back) only when the last of its operations
//!   has completed, so no operation ever refers to a closed descriptor — or to a new
//!   connection that got the same number.
//!
//! # Shutdown
//!
//! SIGINT/SIGTERM wake the main thread (server-core's self-pipe), which stops accepting
//! (the listener closes: new clients are refused), marks every ring's queue closed and
//! wakes each. A ring tells every session [`Session::handle_shutdown`], keeps driving them
//! — each answers what it has received and ends — and, when none is left or shortly after
//! the deadline (abandoning the rest), cancels what is still in flight and waits for those
//! cancellations' completions before its thread ends; the main thread joins the rings,
//! reports, and the server exits 0.
//!
//! Where io_uring is missing or refused (an old kernel, `kernel.io_uring_disabled`, a
//! seccomp filter), the server says so, naming the cause, and exits 1 before its banner.
//!
//! Architecture invariant: this file is the rings' loops and the hand-off to them; every
//! rule of a connection is the session's, in server-core; every `unsafe` is in `ring`.

mod ring;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, PipeReader, Write};
use std::net::{Shutdown as Direction, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use server_core::handoff::{self, Arrival, Inbox, Worker};
use server_core::session::TURN;
use server_core::{
    Architecture, Log, Output, Permit, Server, ServerArgs, Service, Session, Shutdown, StartError,
    Who,
};

use protocol::{Framing, codec};

use crate::ring::{Completion, Op, Ring, Sizes, Token};

/// Each ring's size: submission entries, and its provided buffers. 512 buffers of 512
/// bytes (256 KiB a ring, all of it resident once the kernel has cycled through them)
/// take a burst of hundreds of small requests, or a pipelined batch of 16, in one buffer
/// each; a long line takes several. Bigger buffers cost memory for nothing here: with
/// 2 KiB ones, 10,000 held connections cost 3 MiB more than the evented server.
const SIZES: Sizes = Sizes {
    entries: 1024,
    buffers: 512,
    buffer_size: 512,
};

/// [`SIZES`] for `framing`: with raw framing one receive is one request of up to
/// [`codec::RAW_READ_SIZE`] bytes, so a buffer must hold a whole one (a 1000-byte
/// request in two 512-byte buffers would be two requests).
fn sizes(framing: Framing) -> Sizes {
    match framing {
        Framing::Line => SIZES,
        Framing::Raw => Sizes {
            buffer_size: SIZES.buffer_size.max(codec::RAW_READ_SIZE),
            ..SIZES
        },
    }
}

/// The most a connection's emptied stash keeps allocated for the next time: 10,000
/// connections that once pipelined a lot must not keep 64 KiB each.
const KEPT_ROOM: usize = 16 * 1024;

/// How long past the shutdown deadline the sessions are still driven for their last
/// answers before they are abandoned: server-core's, the same for every driver.
const GRACE: Duration = server_core::session::DRIVER_GRACE;

/// How the server shows itself in the banner, with its number of rings.
fn architecture(rings: usize) -> Architecture {
    Architecture {
        title: "io_uring Server",
        pid_label: "PID",
        workers: rings,
        describe: |config, rings| {
            format!(
                "-- {rings} io_uring {} with completion-based I/O (at most {} clients at once) --",
                if rings == 1 { "ring" } else { "rings" },
                config.max_clients
            )
        },
    }
}

/// The taskserver, serving every client from a few io_uring rings.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    /// Ring threads, each serving its share of the clients [default: the number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = server_core::config::workers_or_cores(cli.workers);
    server_core::exit_status("server-uring", run(cli.server, workers))
}

/// Checks the kernel, starts the rings, accepts and hands clients out until
/// SIGINT/SIGTERM, then drains.
fn run(args: ServerArgs, workers: usize) -> Result<(), StartError> {
    ring::check_kernel().map_err(|e| StartError::Serving {
        what: e.what,
        source: Some(e.error),
    })?;
    let server = Server::start(args, &architecture(workers))?;
    let log = server.log();
    server.reserve_descriptors();
    let mut rings = Vec::with_capacity(workers);
    for n in 1..=workers {
        match start_ring(&server, n) {
            Ok(worker) => rings.push(worker),
            Err(e) => log.warn(
                &Who::Main,
                format_args!("cannot start ring {n}: {e}; going on without it"),
            ),
        }
    }
    if rings.is_empty() {
        return Err(StartError::Serving {
            what: "cannot start any io_uring ring",
            source: None,
        });
    }
    handoff::accept_and_deal(server, rings, "every io_uring ring has stopped")
}

/// Starts the thread `ring-{n}`, which sets up its own ring (only the thread that made a
/// ring may submit to it), and waits until it has. The acceptor wakes it with a byte on
/// a pipe, which a read on the ring is always waiting for.
fn start_ring(server: &Server, n: usize) -> io::Result<Worker> {
    let (reader, writer) = io::pipe()?;
    let inbox = Inbox::new(move || (&writer).write_all(&[1]));
    let (ready, started) = mpsc::sync_channel(1);
    let framing = server.config().framing;
    let parts = (
        Arc::clone(&inbox),
        server.service(),
        server.shutdown().clone(),
        server.log(),
    );
    let thread = thread::Builder::new()
        .name(format!("ring-{n}"))
        .spawn(move || {
            let (inbox, service, shutdown, log) = parts;
            let ring = match Ring::new(sizes(framing)) {
                Ok(ring) => ring,
                Err(e) => {
                    let _ = ready.send(Err(io::Error::new(
                        e.error.kind(),
                        format!("{}: {}", e.what, e.error),
                    )));
                    return 0;
                }
            };
            let _ = ready.send(Ok(()));
            RingLoop::new(Who::Ring(n), ring, reader, inbox, service, shutdown, log).run()
        })?;
    match started.recv() {
        Ok(Ok(())) => Ok(Worker { inbox, thread }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::other("the ring's thread ended at start")),
    }
}

/// One ring's loop: its ring, its connections, its timers.
struct RingLoop {
    who: Who,
    ring: Ring,
    /// The pipe the acceptor writes to; a read on it is always in flight.
    wake: PipeReader,
    inbox: Arc<Inbox>,
    service: Service,
    shutdown: Shutdown,
    log: Log,
    /// The connections, by slot.
    conns: Vec<Option<Conn>>,
    /// Empty slots, to reuse before growing `conns`.
    free: Vec<usize>,
    /// How many slots hold a connection (closing ones included).
    live: usize,
    /// Numbers connections, so a completion or a timer never goes to a slot's next
    /// occupant.
    next_id: u64,
    /// (deadline, slot, connection id), earliest first.
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// When the ring's timeout will complete, while one is in flight.
    timer_armed: Option<Instant>,
    /// The shutdown deadline, once the loop has passed the shutdown on to its sessions.
    stopping: Option<Instant>,
    /// The acceptor has closed the queue: no more clients will come.
    closed: bool,
}

/// A client: its socket, its session, and the operations in flight for it.
struct Conn {
    id: u64,
    stream: TcpStream,
    session: Session,
    /// A receive is armed (its last completion has not come).
    receiving: bool,
    /// A send is in flight.
    sending: bool,
    /// Bytes received that the session did not want yet; `stash[taken..]` is left.
    stash: Vec<u8>,
    taken: usize,
    /// The stream has ended (a receive brought 0 bytes): never receive again; the session
    /// is told once the stash is empty.
    ended: bool,
    eof_told: bool,
    /// The session is over; the socket closes when no operation is left in flight.
    closing: bool,
    /// The earliest deadline this connection has in the timer heap.
    armed: Option<Instant>,
    /// Its place under `--max-clients`, given back when the connection is dropped.
    _permit: Permit,
}

impl Conn {
    fn token(&self, slot: usize, op: Op) -> Token {
        Token {
            slot: u32::try_from(slot).unwrap_or(u32::MAX),
            generation: Token::generation_of(self.id),
            op,
        }
    }

    /// Takes bytes a receive brought, to be handed to the session when it asks for them.
    fn receive(&mut self, bytes: &[u8]) {
        self.stash.extend_from_slice(bytes);
    }

    /// Hands the session at most `max` stashed bytes, or the end of the stream once the
    /// stash is empty; returns whether it had anything to hand over.
    fn feed_stash(&mut self, max: usize, now: Instant) -> bool {
        if self.taken < self.stash.len() {
            let end = self.stash.len().min(self.taken + max);
            self.session.handle_input(&self.stash[self.taken..end], now);
            self.taken = end;
            if self.taken == self.stash.len() {
                // An emptied stash keeps a little room, not what a flood grew it to.
                if self.stash.capacity() > KEPT_ROOM {
                    self.stash = Vec::new();
                }
                self.stash.clear();
                self.taken = 0;
            }
            return true;
        }
        if self.ended && !self.eof_told {
            self.eof_told = true;
            self.session.handle_eof(now);
            return true;
        }
        false
    }
}

impl RingLoop {
    fn new(
        who: Who,
        ring: Ring,
        wake: PipeReader,
        inbox: Arc<Inbox>,
        service: Service,
        shutdown: Shutdown,
        log: Log,
    ) -> RingLoop {
        RingLoop {
            who,
            ring,
            wake,
            inbox,
            service,
            shutdown,
            log,
            conns: Vec::new(),
            free: Vec::new(),
            live: 0,
            next_id: 0,
            timers: BinaryHeap::new(),
            timer_armed: None,
            stopping: None,
            closed: false,
        }
    }

    /// Runs until shutdown; returns how many clients were abandoned at the deadline.
    fn run(mut self) -> usize {
        self.ring.watch_wake(self.wake.as_raw_fd());
        let mut completions = Vec::new();
        loop {
            if !self.enter() {
                let live = self.live;
                self.log.warn(
                    &self.who,
                    format_args!("the ring failed; closing {live} client(s)"),
                );
                self.abandon_all(&mut completions);
                return 0;
            }
            self.ring.collect(&mut completions);
            for mut completion in completions.drain(..) {
                self.complete(&mut completion);
            }
            let now = Instant::now();
            if self.stopping.is_none()
                && let Some(deadline) = self.shutdown.deadline()
            {
                self.begin_shutdown(now, deadline);
            }
            self.fire_timers(now);
            if let Some(deadline) = self.stopping
                && self.closed
            {
                if self.live == 0 {
                    self.finish(&mut completions);
                    return 0;
                }
                if Instant::now() >= deadline + GRACE {
                    let abandoned = self.conns.iter().flatten().filter(|c| !c.closing).count();
                    self.abandon_all(&mut completions);
                    return abandoned;
                }
            }
            self.arm_timer(Instant::now());
        }
    }

    /// Submits the turn's operations and waits for a completion; false if the ring failed.
    fn enter(&mut self) -> bool {
        loop {
            match self.ring.submit_and_wait() {
                Ok(_) => return true,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                // Completions wait to be collected (an overflowed queue): collect them.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return true,
                Err(e) => {
                    self.log.warn(
                        &self.who,
                        format_args!("waiting for completions failed: {e}"),
                    );
                    return false;
                }
            }
        }
    }

    /// Takes one completion to whom it belongs.
    fn complete(&mut self, completion: &mut Completion) {
        let token = completion.token;
        match token.op {
            Op::Wake => self.woken(completion.result),
            Op::Timer => self.timer_armed = None,
            Op::Cancel | Op::TimerUpdate => {}
            Op::Receive => self.received(completion),
            Op::Send => self.sent(completion),
        }
    }

    /// The acceptor wrote to the pipe: take the new clients, and read the pipe again.
    fn woken(&mut self, result: i32) {
        // Cancelled at the end, or the acceptor's end is gone (0 bytes): no more reads.
        if result > 0 {
            self.ring.watch_wake(self.wake.as_raw_fd());
        } else {
            self.closed = true;
        }
        let (arrivals, closed) = self.inbox.take();
        self.closed |= closed;
        let now = Instant::now();
        for arrival in arrivals {
            self.open(arrival, now);
        }
    }

    /// The connection in `slot` if the completion is its (and not a predecessor's).
    fn conn_for(&mut self, token: Token) -> Option<&mut Conn> {
        let conn = self.conns.get_mut(token.slot as usize)?.as_mut()?;
        (Token::generation_of(conn.id) == token.generation).then_some(conn)
    }

    /// A receive brought bytes, the end of the stream, or an error.
    fn received(&mut self, completion: &mut Completion) {
        let token = completion.token;
        let now = Instant::now();
        let RingLoop { ring, conns, .. } = self;
        let conn = conns
            .get_mut(token.slot as usize)
            .and_then(Option::as_mut)
            .filter(|conn| Token::generation_of(conn.id) == token.generation);
        let Some(conn) = conn else {
            // Nobody's (cannot happen: a slot is freed only after its last completion):
            // the buffer still goes back.
            ring.with_received(completion, |_| ());
            return;
        };
        if !completion.more {
            conn.receiving = false;
        }
        let result = completion.result;
        if conn.closing {
            ring.with_received(completion, |_| ());
        } else if result > 0 {
            ring.with_received(completion, |bytes| conn.receive(bytes));
        } else if result == 0 {
            conn.ended = true;
        } else if result != -libc::ENOBUFS && result != -libc::ECANCELED {
            // ENOBUFS: the buffer ring ran dry in a burst; the receive is armed again
            // below, after this turn's buffers have gone back.
            conn.session
                .handle_error(io::Error::from_raw_os_error(-result), now);
        }
        self.settle(token.slot as usize);
    }

    /// A send completed: tell the session how much went.
    fn sent(&mut self, completion: &Completion) {
        let token = completion.token;
        let now = Instant::now();
        let Some(conn) = self.conn_for(token) else {
            return;
        };
        conn.sending = false;
        let result = completion.result;
        if !conn.closing {
            match result {
                0 => conn
                    .session
                    .handle_error(io::ErrorKind::WriteZero.into(), now),
                n if n > 0 => conn
                    .session
                    .handle_transmitted(usize::try_from(n).unwrap_or(0), now),
                e if e == -libc::EINTR || e == -libc::EAGAIN => {}
                e => conn
                    .session
                    .handle_error(io::Error::from_raw_os_error(-e), now),
            }
        }
        self.settle(token.slot as usize);
    }

    /// Drives the connection after a completion, or closes it once nothing is in flight.
    fn settle(&mut self, slot: usize) {
        let Some(Some(conn)) = self.conns.get(slot) else {
            return;
        };
        if conn.closing {
            if !conn.receiving && !conn.sending {
                self.release(slot);
            }
            return;
        }
        self.drive(slot, Instant::now());
    }

    /// Takes a new client into a slot and drives it once (its session logs the
    /// connection and arms the first receive).
    fn open(&mut self, arrival: Arrival, now: Instant) {
        let Arrival {
            stream,
            peer,
            permit,
        } = arrival;
        let slot = self.free.pop().unwrap_or(self.conns.len());
        let mut session = self.service.open(peer, self.who.clone(), now);
        if let Some(deadline) = self.stopping {
            session.handle_shutdown(now, deadline);
        }
        self.next_id += 1;
        let conn = Conn {
            id: self.next_id,
            stream,
            session,
            receiving: false,
            sending: false,
            stash: Vec::new(),
            taken: 0,
            ended: false,
            eof_told: false,
            closing: false,
            armed: None,
            _permit: permit,
        };
        if slot == self.conns.len() {
            self.conns.push(Some(conn));
        } else {
            self.conns[slot] = Some(conn);
        }
        self.live += 1;
        self.drive(slot, now);
    }

    /// Passes the shutdown on to every session, and drives each once.
    fn begin_shutdown(&mut self, now: Instant, deadline: Instant) {
        self.stopping = Some(deadline);
        for slot in 0..self.conns.len() {
            if let Some(conn) = &mut self.conns[slot]
                && !conn.closing
            {
                conn.session.handle_shutdown(now, deadline);
                self.drive(slot, now);
            }
        }
    }

    /// Drives every connection whose timer is due.
    fn fire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, slot, id))) = self.timers.peek()
            && deadline <= now
        {
            self.timers.pop();
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            // A stale entry: the slot's next occupant, or a deadline since replaced.
            if conn.id != id || conn.armed != Some(deadline) || conn.closing {
                continue;
            }
            conn.armed = None;
            self.drive(slot, now);
        }
        // Stale entries outnumbering the live ones: keep only the live.
        if self.timers.len() > 2 * self.live + 1024 {
            let conns = &self.conns;
            self.timers.retain(|Reverse((deadline, slot, id))| {
                matches!(conns.get(*slot), Some(Some(c)) if c.id == *id && c.armed == Some(*deadline))
            });
        }
    }

    /// Arms the ring's timeout at the nearest deadline (rounded up to a millisecond, so it
    /// does not complete just before it), or moves it there if it is armed later.
    fn arm_timer(&mut self, now: Instant) {
        let grace = self.stopping.map(|deadline| deadline + GRACE);
        let Some(next) = self
            .timers
            .peek()
            .map(|Reverse((deadline, _, _))| *deadline)
            .into_iter()
            .chain(grace)
            .min()
        else {
            return;
        };
        let wait = next.saturating_duration_since(now);
        let wait = Duration::from_millis(
            u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX),
        );
        match self.timer_armed {
            None => self.ring.arm_timer(wait),
            Some(armed) if next + Duration::from_millis(1) < armed => {
                self.ring.update_timer(wait);
            }
            Some(_) => return,
        }
        self.timer_armed = Some(now + wait);
    }

    /// Hands what is due to the session in `slot` and starts the operations it needs; or
    /// begins closing it if it is over.
    fn drive(&mut self, slot: usize, now: Instant) {
        let RingLoop {
            ring,
            conns,
            timers,
            log,
            who,
            ..
        } = self;
        let Some(Some(conn)) = conns.get_mut(slot) else {
            return;
        };
        // A panic in one session (a bug: the session never panics on what a client
        // sends) ends that connection, not the ring and its other clients.
        let pumped = panic::catch_unwind(AssertUnwindSafe(|| pump(ring, slot, conn, now)));
        let until = match pumped {
            Ok(Some(until)) => until,
            Ok(None) => {
                self.begin_close(slot);
                return;
            }
            Err(_) => {
                log.warn(
                    who,
                    format_args!("a session panicked; closed {}", conn.session.peer()),
                );
                self.begin_close(slot);
                return;
            }
        };
        if let Some(deadline) = until
            && conn.armed.is_none_or(|armed| deadline < armed)
        {
            // A deadline already past (it should not be, after a drive) still waits a
            // millisecond, so a session that kept one could never make the loop spin.
            let deadline = deadline.max(now + Duration::from_millis(1));
            conn.armed = Some(deadline);
            timers.push(Reverse((deadline, slot, conn.id)));
        }
    }

    /// The session is over: cancel what is in flight; the socket closes when it is done.
    fn begin_close(&mut self, slot: usize) {
        let RingLoop { ring, conns, .. } = self;
        let Some(Some(conn)) = conns.get_mut(slot) else {
            return;
        };
        if !conn.closing {
            conn.closing = true;
            let slot32 = u32::try_from(slot).unwrap_or(u32::MAX);
            if conn.receiving {
                ring.cancel(slot32, conn.token(slot, Op::Receive));
            }
            if conn.sending {
                ring.cancel(slot32, conn.token(slot, Op::Send));
            }
        }
        if !conn.receiving && !conn.sending {
            self.release(slot);
        }
    }

    /// Drops the connection in `slot` (nothing is in flight for it): the socket closes and
    /// its `--max-clients` place is given back.
    fn release(&mut self, slot: usize) {
        if self.conns[slot].take().is_some() {
            self.free.push(slot);
            self.live -= 1;
        }
    }

    /// No connection is left: cancel the ring's own operations and wait for them.
    fn finish(&mut self, completions: &mut Vec<Completion>) {
        self.ring.cancel(0, Token::ring(Op::Wake));
        if self.timer_armed.is_some() {
            self.ring.cancel(0, Token::ring(Op::Timer));
        }
        self.wait_for_all(completions);
    }

    /// Closes every connection, cancelling their operations, and waits for all of them.
    fn abandon_all(&mut self, completions: &mut Vec<Completion>) {
        for slot in 0..self.conns.len() {
            self.begin_close(slot);
        }
        self.finish(completions);
    }

    /// Waits until no operation is in flight: every cancellation has completed.
    fn wait_for_all(&mut self, completions: &mut Vec<Completion>) {
        while self.ring.in_flight() > 0 {
            if !self.enter() {
                // The ring cannot wait: `Ring`'s drop leaks what the kernel may still use.
                return;
            }
            self.ring.collect(completions);
            for mut completion in completions.drain(..) {
                match completion.token.op {
                    Op::Receive => self.received(&mut completion),
                    Op::Send => self.sent(&completion),
                    Op::Timer => self.timer_armed = None,
                    Op::Wake | Op::Cancel | Op::TimerUpdate => {}
                }
            }
        }
    }
}

/// Does what the session says — compute, start a send, hand it stashed input, arm a
/// receive — until it waits on the ring or a timer. Returns when to drive it again at the
/// latest (`Some(None)`: on a completion only), or `None` once the session is over.
///
/// After server-core's [`TURN`] of computing the connection's turn ends: it is driven
/// again by its timer a millisecond on, after the completions of the others.
fn pump(ring: &mut Ring, slot: usize, conn: &mut Conn, began: Instant) -> Option<Option<Instant>> {
    let mut now = began;
    let send_token = conn.token(slot, Op::Send);
    let fd = conn.stream.as_raw_fd();
    loop {
        match conn.session.poll_output(now) {
            Output::Computed => {
                now = Instant::now();
                if now >= began + TURN {
                    return Some(Some(now));
                }
                continue;
            }
            Output::Transmit { bytes, until } => {
                if !conn.sending {
                    conn.sending = ring.send(send_token, fd, bytes);
                }
                return Some(until);
            }
            Output::CloseWrite => {
                let _ = conn.stream.shutdown(Direction::Write);
            }
            Output::Receive { max, until } => {
                if conn.feed_stash(max, now) {
                    now = Instant::now();
                    continue;
                }
                if !conn.receiving && !conn.ended {
                    let limit = u32::try_from(max).unwrap_or(u32::MAX);
                    ring.receive(
                        conn.token(slot, Op::Receive),
                        conn.stream.as_raw_fd(),
                        limit,
                    );
                    conn.receiving = true;
                }
                return Some(until);
            }
            Output::Wait(until) => return Some(until),
            Output::Finished => return None,
        }
        now = Instant::now();
    }
}
