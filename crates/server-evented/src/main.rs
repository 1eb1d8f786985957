//! `server-evented`: the taskserver on a few event loops over non-blocking sockets.
//!
//! `--workers N` threads (default: the number of cores) each run one `mio::Poll` (epoll)
//! over the connections they own. A connection is a [`Session`](server_core::Session) (server-core's sans-I/O
//! machine: every rule of the protocol) and a non-blocking socket; the loop only moves
//! bytes between the two when the socket is ready, and wakes the session when its next
//! deadline comes. A request's `--delay` is an entry in the loop's timer heap, never a
//! sleep, so one thread holds thousands of delayed requests at once and a connection
//! costs only its buffers and a descriptor. This is redis's `ae` loop and an nginx worker;
//! mio's `examples/tcp_server.rs` is the shape of the code.
//!
//! # Where things are
//!
//! - `main.rs` (this file): the architecture — start-up, who accepts, and the loop
//!   ([`EventLoop::run`], the `poll` turn, and `drive`, which pumps one connection and
//!   closes, arms or re-queues it).
//! - [`conn`]: a connection ([`conn::Conn`]: socket, session, readiness) and its pump.
//! - [`timers`]: the timer heap with lazy deletion.
//! - server-core: the session (every rule of the protocol), the acceptor and the
//!   hand-off to the loops ([`handoff`]).
//!
//! # Who accepts: one acceptor, round-robin
//!
//! The main thread accepts, through server-core's [`Server::accept`], and hands each new
//! socket to the next loop in turn (a short queue under a mutex, and a `mio::Waker` when
//! the queue was empty): server-core's [`handoff::accept_and_deal`], which the uring
//! server shares. We chose that over a listener per loop (`SO_REUSEPORT`, or a
//! duplicate of one listener registered in every `Poll`) because:
//!
//! - the cap and the accept errors stay in one place, and are server-core's, already
//!   tested: `--max-clients` is a `Gate` place taken *before* accepting, exactly as in
//!   the threaded server, so at the cap nothing is accepted and clients wait in the
//!   backlog; `EMFILE` backs off 100 ms and is logged once, on the main thread, never on a
//!   loop;
//! - round-robin spreads persistent connections evenly over the loops, where loops racing
//!   for a shared listener split them by luck and a `SO_REUSEPORT` hash may leave one loop
//!   with more (and, at its cap, hold a connection back that another loop could take);
//! - every loop does not wake for every connection (the thundering herd of a listener
//!   registered in many epoll sets), and `--port 0` needs no second bind to the real port;
//! - the main thread exists anyway, to wait for SIGINT/SIGTERM.
//!
//! It costs a hand-off: a mutex push per batch of accepted clients (each loop gets its
//! share of up to [`handoff::MAX_BATCH`]) and, when the loop was idle, an `eventfd`
//! write. The thread count is `--workers` + 1, whatever the number of clients.
//!
//! `--accept reuseport` is the other choice, to measure it (`cargo xtask stevens`): each
//! loop has a `SO_REUSEPORT` listener of its own in its `Poll` and accepts for itself,
//! taking its `--max-clients` place at the same gate first; the main thread only waits
//! for the signal. No hand-off, and the kernel picks the loop by a hash. Each loop logs
//! how many clients it served when it stops, whichever the choice.
//!
//! # A loop
//!
//! Sockets are registered once for readable *and* writable, edge-triggered (mio's only
//! mode). An edge says "ready", not "how much", so each connection remembers it is
//! readable or writable until a read or write returns `WouldBlock` or comes back short
//! (the socket was emptied or filled, so the next change brings a new edge; a hang-up is
//! remembered for good, since no edge follows it). The session, not the socket, decides
//! when to read: [`Session::poll_output`](server_core::Session::poll_output) says [`Output::Receive`](server_core::Output::Receive) only when no request
//! is held or waiting and no answer is queued, and the socket stays marked readable
//! meanwhile, so when a delay ends or the output drains the loop reads again without
//! waiting for an edge that will not come (a pipelining client's next requests are
//! already in the socket buffer). A connection is driven — compute one request, write
//! until `WouldBlock`, read what the session allows, again — on every event, timer and
//! hand-off, until the session waits.
//!
//! # Fairness
//!
//! One connection's turn ends after server-core's [`TURN`](server_core::session::TURN) (5 ms) of computing, once its
//! answers are handed to the socket, or after [`conn::READ_BUDGET`] reads: it then goes to the
//! back of a ready list, and every other connection with something to do is driven
//! before it comes round again. So one client pipelining costly requests cannot starve
//! the others on its loop. Measured on `--workers 1` with one client pipelining
//! `2|3**10333//3**10333` as fast as it is answered and another sending one request at a
//! time (`cargo run --release -p server-core --example fairness -- server-evented`): the
//! other client's request is answered in 2.9–4.6 ms median and 24–217 ms at the most
//! (200 probes a run, five runs, on a shared 2-core machine at load average 16–27); before
//! turns, 1.3–2.8 s median and up to 23 s.
//!
//! Timers ([`timers`]) are a binary heap of (deadline, slot, connection id): after each drive the
//! connection's next deadline (the `until` of its last output) is pushed if earlier than
//! the one already armed; an entry that no longer matches (the connection is gone, or a newer
//! one replaced it) is dropped when it comes up, and the heap is rebuilt when stale
//! entries outnumber live ones. The `poll` timeout is the nearest deadline.
//!
//! # Shutdown
//!
//! SIGINT/SIGTERM wake the main thread (server-core's self-pipe), which stops accepting
//! (the listener closes: new clients are refused), marks every loop's queue closed and
//! wakes each loop. A loop tells every session [`Session::handle_shutdown`](server_core::Session::handle_shutdown), keeps
//! driving them — each answers what it has received and ends — and exits when none is
//! left, or [`GRACE`] after the deadline, abandoning the rest. The main thread waits for
//! every connection's place to come back, up to the deadline and [`GRACE`] (not for a
//! loop stuck computing: the process exits under it), and reports: `Shut down cleanly`
//! and exit status 0 when nothing was left unanswered, otherwise how many requests were
//! and exit status 3 (server-core's ledger counts them, whoever abandoned them).
//!
//! Architecture invariant: this crate is the event loop and its connections' I/O; every
//! rule of a connection is the session's, in server-core.

mod conn;
mod timers;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use server_core::handoff::{self, Arrival, Inbox, Worker};
use server_core::listener::{self, ACCEPT_BACKOFF, AcceptFailure, AcceptLog};
use server_core::{
    Architecture, Gate, Log, Server, ServerArgs, Service, Shutdown, StartError, Who,
};

use crate::conn::{Conn, Pumped};
use crate::timers::{Timer, Timers};

/// The token of each loop's waker; connections use their slot number.
const WAKE: Token = Token(usize::MAX);

/// The token of a loop's own listener (`--accept reuseport`).
const LISTENER: Token = Token(usize::MAX - 1);

/// The most readiness events taken from one `poll`.
const EVENTS: usize = 1024;

/// Each loop's read buffer: one, shared by its connections, since a read's bytes go
/// straight into the session.
const READ_BUFFER: usize = 64 * 1024;

/// How long past the shutdown deadline the sessions are still driven for their last
/// answers before they are abandoned: server-core's, the same for every driver.
const GRACE: Duration = server_core::session::DRIVER_GRACE;

/// How the server shows itself in the banner, with its number of loops.
fn architecture(loops: usize) -> Architecture {
    Architecture {
        title: "Evented Server",
        pid_label: "PID",
        workers: loops,
        describe: |config, loops| {
            format!(
                "-- {loops} event {} over non-blocking sockets (at most {} clients at once) --",
                if loops == 1 { "loop" } else { "loops" },
                config.max_clients
            )
        },
    }
}

/// The taskserver, serving every client from a few event loops.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,

    /// Event-loop threads, each serving its share of the clients [default: the number of
    /// cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,

    /// Who accepts the clients (Stevens, UNIX Network Programming, ch. 30, and Linux since)
    #[arg(long, value_enum, value_name = "WHO", default_value_t = Accept::Dealer)]
    accept: Accept,
}

/// The `--accept` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Accept {
    /// The main thread accepts and deals the clients round-robin to the loops
    Dealer,
    /// Each loop accepts on a SO_REUSEPORT listener of its own; the kernel hashes
    /// connections over them
    Reuseport,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workers = server_core::config::workers_or_cores(cli.workers);
    server_core::exit_status("server-evented", run(cli.server, workers, cli.accept))
}

/// Starts the loops, accepts and hands clients out (or, with `reuseport`, lets each loop
/// accept) until SIGINT/SIGTERM, then drains.
fn run(args: ServerArgs, workers: usize, accept: Accept) -> Result<(), StartError> {
    let mut server = match accept {
        Accept::Dealer => Server::start(args, &architecture(workers))?,
        Accept::Reuseport => Server::start_reusing_port(args, &architecture(workers))?,
    };
    let log = server.log();
    server.reserve_descriptors();
    let gate = Gate::new(server.config().max_clients);
    let mut listeners = match accept {
        Accept::Dealer => Vec::new(),
        Accept::Reuseport => own_listeners(&mut server, workers).map_err(StartError::Share)?,
    };
    let loops: Vec<Worker> = (1..=workers)
        .filter_map(|n| {
            let own = listeners.pop().map(|listener| Listening {
                listener,
                gate: Arc::clone(&gate),
                ready: true,
                retry_at: None,
                log: AcceptLog::default(),
            });
            match start_loop(&server, n, own) {
                Ok(worker) => Some(worker),
                Err(e) => {
                    log.warn(
                        &Who::Main,
                        format_args!("cannot start event loop {n}: {e}; going on without it"),
                    );
                    None
                }
            }
        })
        .collect();
    if loops.is_empty() {
        return Err(StartError::Serving {
            what: "cannot start any event loop",
            source: None,
        });
    }
    let all_stopped = "every event loop has stopped";
    match accept {
        Accept::Dealer => handoff::accept_and_deal(server, loops, all_stopped),
        Accept::Reuseport => handoff::serve_until_shutdown(server, loops, &gate, all_stopped),
    }
}

/// A listener for each of `loops` loops, all on the server's address with `SO_REUSEPORT`:
/// the server's own (bound so) is the first.
fn own_listeners(server: &mut Server, loops: usize) -> io::Result<Vec<TcpListener>> {
    let addr = server
        .local_addr()
        .ok_or_else(|| io::Error::other("the server has no listener"))?;
    let backlog = server.config().backlog;
    let mut listeners = Vec::with_capacity(loops);
    if let Some(first) = server.take_listener() {
        listeners.push(TcpListener::from_std(first));
    }
    while listeners.len() < loops {
        listeners.push(TcpListener::from_std(listener::bind_reusing_port(
            addr, backlog,
        )?));
    }
    Ok(listeners)
}

/// A loop's own listener (`--accept reuseport`) and what it knows of it.
struct Listening {
    listener: TcpListener,
    /// The `--max-clients` places, shared by every loop.
    gate: Arc<Gate>,
    /// The last edge said a connection waits, and no accept has since found none.
    ready: bool,
    /// After accept ran out of descriptors: when to try again.
    retry_at: Option<Instant>,
    log: AcceptLog,
}

/// Starts the thread `loop-{n}`, woken through its poll's `Waker` when clients are
/// handed to it. Everything else about a new socket is done on the loop, to keep the
/// acceptor fast in a burst: the backlog overflows (and clients wait a second for a SYN
/// retry) if it falls behind.
fn start_loop(server: &Server, n: usize, mut own: Option<Listening>) -> io::Result<Worker> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKE)?;
    if let Some(own) = &mut own {
        poll.registry()
            .register(&mut own.listener, LISTENER, Interest::READABLE)?;
    }
    let inbox = Inbox::new(move || waker.wake());
    let event_loop = EventLoop {
        who: Who::Loop(n),
        poll,
        inbox: Arc::clone(&inbox),
        service: server.service(),
        shutdown: server.shutdown().clone(),
        log: server.log(),
        conns: Vec::new(),
        free: Vec::new(),
        live: 0,
        next_id: 0,
        timers: Timers::default(),
        ready: Vec::new(),
        buf: vec![0; READ_BUFFER].into_boxed_slice(),
        stopping: None,
        own,
        served: 0,
    };
    let thread = thread::Builder::new()
        .name(format!("loop-{n}"))
        .spawn(move || event_loop.run())?;
    Ok(Worker { inbox, thread })
}

/// One event loop: its poll, its connections, its timers.
struct EventLoop {
    who: Who,
    poll: Poll,
    inbox: Arc<Inbox>,
    service: Service,
    shutdown: Shutdown,
    log: Log,
    /// The connections, by slot; a slot is a connection's `Token`.
    conns: Vec<Option<Conn>>,
    /// Empty slots, to reuse before growing `conns`.
    free: Vec<usize>,
    /// How many slots hold a connection.
    live: usize,
    /// Numbers connections, so a timer entry never fires for a slot's next occupant.
    next_id: u64,
    /// Each connection's next deadline, earliest first.
    timers: Timers,
    /// Connections that used their read budget and still have input to read.
    ready: Vec<usize>,
    buf: Box<[u8]>,
    /// The shutdown deadline, once the loop has passed the shutdown on to its sessions.
    stopping: Option<Instant>,
    /// Its own listener, with `--accept reuseport`; closed at the shutdown.
    own: Option<Listening>,
    /// Clients it has taken.
    served: u64,
}

impl EventLoop {
    /// Runs until shutdown, then says how many clients it served; returns how many were
    /// abandoned at the deadline.
    fn run(mut self) -> usize {
        let abandoned = self.turn();
        self.log.warn(
            &self.who,
            format_args!("Stopping: served {} clients", self.served),
        );
        abandoned
    }

    /// The loop itself, until shutdown; returns how many clients were abandoned.
    fn turn(&mut self) -> usize {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // epoll_wait fails only on a bug (a bad descriptor or argument): this
                // loop cannot go on, and retrying would spin. Its clients are closed; the
                // acceptor stops handing it new ones.
                self.log.warn(
                    &self.who,
                    format_args!(
                        "waiting for events failed: {e}; closing {} client(s)",
                        self.live
                    ),
                );
                return 0;
            }
            let mut woken = false;
            for event in &events {
                match event.token() {
                    WAKE => woken = true,
                    LISTENER => {
                        if let Some(own) = &mut self.own {
                            own.ready = true;
                        }
                    }
                    Token(slot) => {
                        let Some(Some(conn)) = self.conns.get_mut(slot) else {
                            continue;
                        };
                        conn.note(event);
                        self.drive(slot);
                    }
                }
            }
            let now = Instant::now();
            let closed = if woken {
                self.take_arrivals(now)
            } else {
                false
            };
            self.accept_own(now);
            if self.stopping.is_none()
                && let Some(deadline) = self.shutdown.deadline()
            {
                self.begin_shutdown(now, deadline);
            }
            self.fire_timers(now);
            self.run_ready();
            if let Some(deadline) = self.stopping
                && (closed || self.inbox.is_closed())
            {
                if self.live == 0 {
                    return 0;
                }
                if Instant::now() >= deadline + GRACE {
                    return self.live;
                }
            }
        }
    }

    /// How long `poll` may wait: until the nearest timer (rounded up to a millisecond, so
    /// it does not wake just before it), at once if connections are ready to read.
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        // Own listener with connections waiting, held back by the cap or out of
        // descriptors: look again shortly (a place freed on another loop wakes none here).
        let retry = self
            .own
            .as_ref()
            .filter(|own| own.ready)
            .map(|own| own.retry_at.unwrap_or(now + ACCEPT_BACKOFF));
        let grace = self
            .stopping
            .map(|deadline| deadline + GRACE)
            .into_iter()
            .chain(retry);
        let next = self.timers.next_deadline().into_iter().chain(grace).min()?;
        let wait = next.saturating_duration_since(now);
        let millis = wait.as_nanos().div_ceil(1_000_000);
        Some(Duration::from_millis(
            u64::try_from(millis).unwrap_or(u64::MAX),
        ))
    }

    /// Registers the clients the acceptor handed over; returns whether the acceptor has
    /// closed the queue (no more will come).
    fn take_arrivals(&mut self, now: Instant) -> bool {
        let (arrivals, closed) = self.inbox.take();
        for arrival in arrivals {
            self.open(arrival, now);
        }
        closed
    }

    /// Accepts what waits on the loop's own listener (`--accept reuseport`), a place at the
    /// gate first, until none is left (the next edge will say when more come), the cap
    /// is reached, or descriptors run out (tried again [`ACCEPT_BACKOFF`] later).
    fn accept_own(&mut self, now: Instant) {
        let mut arrivals = Vec::new();
        if let Some(own) = &mut self.own
            && own.retry_at.is_none_or(|at| now >= at)
        {
            own.retry_at = None;
            while own.ready
                && let Some(permit) = own.gate.try_acquire()
            {
                match own.listener.accept() {
                    Ok((stream, peer)) => {
                        own.log.accepted(&self.log, &self.who);
                        let stream = std::net::TcpStream::from(stream);
                        // Without NODELAY the client is served all the same, only slower.
                        let _ = stream.set_nodelay(true);
                        arrivals.push(Arrival {
                            stream,
                            peer,
                            permit,
                        });
                    }
                    Err(e) => match listener::classify(e) {
                        AcceptFailure::Retry(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            own.ready = false;
                        }
                        AcceptFailure::Retry(e) => own.log.retried(&e, &self.log, &self.who),
                        AcceptFailure::Exhausted(e) | AcceptFailure::Failed(e) => {
                            own.log.failed(&e, &self.log, &self.who);
                            own.retry_at = Some(now + ACCEPT_BACKOFF);
                            break;
                        }
                    },
                }
            }
        }
        for arrival in arrivals {
            self.open(arrival, now);
        }
    }

    /// Takes a new client into a slot, registers it, and drives it once: it may have
    /// sent its request already, and no edge will say so.
    fn open(&mut self, arrival: Arrival, now: Instant) {
        let Arrival {
            stream,
            peer,
            permit,
        } = arrival;
        if let Err(e) = stream.set_nonblocking(true) {
            self.log.warn(
                &self.who,
                format_args!("cannot make {peer}'s socket non-blocking: {e}; closed it"),
            );
            return;
        }
        let mut stream = TcpStream::from_std(stream);
        let slot = self.free.pop().unwrap_or(self.conns.len());
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(slot);
            self.log.warn(
                &self.who,
                format_args!("cannot watch {peer}'s socket: {e}; closed it"),
            );
            return;
        }
        let mut session = self.service.open(peer, self.who.clone(), now);
        if let Some(deadline) = self.stopping {
            session.handle_shutdown(now, deadline);
        }
        self.next_id += 1;
        let conn = Conn::new(self.next_id, stream, session, permit);
        if slot == self.conns.len() {
            self.conns.push(Some(conn));
        } else {
            self.conns[slot] = Some(conn);
        }
        self.live += 1;
        self.served += 1;
        self.drive(slot);
    }

    /// Passes the shutdown on to every session, and drives each once.
    fn begin_shutdown(&mut self, now: Instant, deadline: Instant) {
        self.stopping = Some(deadline);
        // New connections to this loop's own listener are refused from now on.
        self.own = None;
        for slot in 0..self.conns.len() {
            if let Some(conn) = &mut self.conns[slot] {
                conn.session.handle_shutdown(now, deadline);
                self.drive(slot);
            }
        }
    }

    /// Drives every connection whose timer is due.
    fn fire_timers(&mut self, now: Instant) {
        // Driven as they come off the heap, with no list of the due ones to allocate: a
        // drive re-arms at least a millisecond past `now`, so this ends.
        while let Some(Timer { deadline, slot, id }) = self.timers.pop_due(now) {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            // A stale entry: the slot's next occupant, or a deadline since replaced.
            if conn.id != id || conn.armed != Some(deadline) {
                continue;
            }
            conn.armed = None;
            self.drive(slot);
        }
        // Stale entries outnumbering the live ones: keep only the live.
        let conns = &self.conns;
        self.timers.compact(self.live, |Timer { deadline, slot, id }| {
            matches!(conns.get(slot), Some(Some(c)) if c.id == id && c.armed == Some(deadline))
        });
    }

    /// Gives the connections that used up their read budget another turn.
    fn run_ready(&mut self) {
        for slot in std::mem::take(&mut self.ready) {
            if let Some(Some(conn)) = self.conns.get_mut(slot) {
                conn.queued = false;
                self.drive(slot);
            }
        }
    }

    /// Hands what is due to the session in `slot`, and closes it if it is over; otherwise
    /// arms its next deadline, or puts it in the ready list if it used up its turn. The
    /// clock is read here, not passed in: the connections driven before this one may have
    /// computed for a while.
    fn drive(&mut self, slot: usize) {
        let now = Instant::now();
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        // A panic in one session (a bug: the session never panics on what a client
        // sends) ends that connection, not the loop and its other clients.
        let pumped = panic::catch_unwind(AssertUnwindSafe(|| conn.pump(&mut self.buf, now)));
        let until = match pumped {
            Ok(Pumped::Waiting(until)) => until,
            Ok(Pumped::Yielded) => {
                if !conn.queued {
                    conn.queued = true;
                    self.ready.push(slot);
                }
                None
            }
            Ok(Pumped::Finished) => {
                self.close(slot);
                return;
            }
            Err(_) => {
                self.log.warn(
                    &self.who,
                    format_args!("a session panicked; closed {}", conn.session.peer()),
                );
                self.close(slot);
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
            self.timers.arm(Timer {
                deadline,
                slot,
                id: conn.id,
            });
        }
    }

    /// Drops the connection in `slot`: closing the socket takes it out of the epoll set
    /// (no other descriptor refers to it), and its `--max-clients` place is given back.
    fn close(&mut self, slot: usize) {
        if self.conns[slot].take().is_some() {
            self.free.push(slot);
            self.live -= 1;
        }
    }
}
