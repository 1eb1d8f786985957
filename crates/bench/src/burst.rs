//! Burst mode, the tutorial's experiment: N clients connect at once; each sends its requests
//! one at a time, checks every answer and closes.
//!
//! The clients are driven by a few threads (one per core, at most one per client), each
//! owning a share of the clients as non-blocking sockets in one epoll set. Sockets are
//! created before the start, so the burst itself is only `connect` calls: each driver
//! issues its clients' connects back to back (taking in whatever became ready every few
//! connects, so no client waits for the whole loop to be noticed), then serves events
//! until every client is done. Thousands of clients therefore cost a socket each, not a
//! thread each, and releasing them takes microseconds per client rather than one wake-up
//! of a sleeping thread per client.
//!
//! Each client is timed with the monotonic clock at its connect call (start: the
//! latency and the total are measured from here), when the connection is up (connect
//! time, where SYN-retry stalls show), and when its last answer is read (end).

use std::io::{self, Write};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::Target;
use crate::report::{BurstReport, ErrorCounts, ErrorKind, Failure, SYN_RETRY_STALL_S};
use crate::stats::Summary;
use crate::wire::{AnswerError, AnswerReader, ONE_ANSWER_BYTES};

/// A driver thread's stack: it holds no large buffers of its own.
const DRIVER_STACK_BYTES: usize = 256 * 1024;

/// While issuing connects, how many connects between looks at the events that are ready.
const CONNECTS_PER_LOOK: usize = 16;

/// Events taken from epoll per wait.
const EVENTS_PER_WAIT: usize = 256;

/// How often client deadlines (`--timeout`) are checked.
const DEADLINE_CHECK: Duration = Duration::from_millis(100);

/// How a burst is run.
#[derive(Debug, Clone)]
pub struct BurstConfig {
    /// Where and what to send.
    pub target: Target,
    /// Clients released together.
    pub clients: u64,
    /// Requests each client sends, one after the other.
    pub requests: u64,
    /// Threads driving the clients; 0 means one per core.
    pub drivers: usize,
}

/// What one client saw.
#[derive(Debug, Clone, Copy)]
struct Times {
    /// Its connect call began.
    start: Instant,
    /// The connection was up.
    connected: Option<Instant>,
    /// Its last answer was read, or it failed.
    end: Instant,
}

/// Where a client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Its socket exists; the burst has not reached it yet.
    Ready,
    /// `connect` is in progress.
    Connecting,
    /// Its current request is (partly) written; `written` bytes so far.
    Sending { written: usize },
    /// Waiting for the answer to its current request.
    Reading,
    /// Done, with or without a failure; its socket is closed.
    Done,
}

/// One client of a driver.
struct Client<'a> {
    socket: Option<Socket>,
    phase: Phase,
    reader: AnswerReader<'a>,
    answered: u64,
    start: Option<Instant>,
    connected: Option<Instant>,
    end: Option<Instant>,
    deadline: Option<Instant>,
    failure: Option<Failure>,
}

/// One driver thread: its share of the clients and their epoll set.
struct Driver<'a> {
    target: &'a Target,
    requests: u64,
    epoll: Epoll,
    clients: Vec<Client<'a>>,
    /// Clients not yet done.
    active: usize,
}

impl<'a> Driver<'a> {
    /// Creates `count` non-blocking sockets with `TCP_NODELAY`, not yet connected.
    /// A socket that cannot be created fails its client at once (counted, not fatal).
    fn new(target: &'a Target, requests: u64, count: usize) -> io::Result<Driver<'a>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let domain = Domain::for_address(target.addr);
        let mut clients = Vec::with_capacity(count);
        for _ in 0..count {
            let made = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
                .and_then(|s| s.set_tcp_nodelay(true).map(|()| s));
            let (socket, failure) = match made {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(Failure::connect(&e))),
            };
            clients.push(Client {
                phase: if socket.is_some() {
                    Phase::Ready
                } else {
                    Phase::Done
                },
                socket,
                reader: AnswerReader::with_buffer(&target.exchange, ONE_ANSWER_BYTES),
                answered: 0,
                start: None,
                connected: None,
                end: None,
                deadline: None,
                failure,
            });
        }
        let active = clients.iter().filter(|c| c.phase != Phase::Done).count();
        Ok(Driver {
            target,
            requests,
            epoll,
            clients,
            active,
        })
    }

    /// Connects every client back to back, then serves events until all are done.
    fn run(&mut self) {
        let addr = SockAddr::from(self.target.addr);
        let mut events = vec![EpollEvent::empty(); EVENTS_PER_WAIT];
        for i in 0..self.clients.len() {
            self.connect(i, &addr);
            if i % CONNECTS_PER_LOOK == CONNECTS_PER_LOOK - 1 {
                self.poll(&mut events, 0);
            }
        }
        let mut next_check = Instant::now() + DEADLINE_CHECK;
        while self.active > 0 {
            self.poll(&mut events, DEADLINE_CHECK.as_millis() as u16);
            let now = Instant::now();
            if now >= next_check {
                self.expire(now);
                next_check = now + DEADLINE_CHECK;
            }
        }
    }

    /// Starts client `i`'s connect and registers its socket.
    fn connect(&mut self, i: usize, addr: &SockAddr) {
        let timeout = self.target.timeout;
        let client = &mut self.clients[i];
        let Some(socket) = client.socket.as_ref() else {
            return;
        };
        let start = Instant::now();
        client.start = Some(start);
        client.deadline = timeout.map(|t| start + t);
        let connected = match socket.connect(addr) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(Errno::EINPROGRESS as i32) => false,
            Err(e) => {
                self.fail(i, Failure::connect(&e));
                return;
            }
        };
        // Edge-triggered: each readiness change is reported once, and every handler
        // reads or writes until the socket would block.
        let interest = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET;
        if let Err(e) = self.epoll.add(socket, EpollEvent::new(interest, i as u64)) {
            self.fail(i, Failure::connect(&io::Error::from(e)));
            return;
        }
        if connected {
            self.clients[i].connected = Some(Instant::now());
            self.send(i);
        } else {
            self.clients[i].phase = Phase::Connecting;
        }
    }

    /// Waits up to `timeout_ms` for events and handles them.
    fn poll(&mut self, events: &mut [EpollEvent], timeout_ms: u16) {
        let n = match self.epoll.wait(events, timeout_ms) {
            Ok(n) => n,
            // EINTR: nothing happened that needs handling here.
            Err(_) => return,
        };
        for event in &events[..n] {
            let Ok(i) = usize::try_from(event.data()) else {
                continue;
            };
            if i < self.clients.len() {
                self.ready(i);
            }
        }
    }

    /// Client `i`'s socket changed: move it on as far as it goes without blocking.
    fn ready(&mut self, i: usize) {
        match self.clients[i].phase {
            Phase::Connecting => {
                let error = match self.clients[i].socket.as_ref().map(Socket::take_error) {
                    Some(Ok(None)) => None,
                    Some(Ok(Some(e)) | Err(e)) => Some(e),
                    None => return,
                };
                match error {
                    Some(e) => self.fail(i, Failure::connect(&e)),
                    None => {
                        self.clients[i].connected = Some(Instant::now());
                        self.send(i);
                    }
                }
            }
            Phase::Sending { .. } => self.send(i),
            Phase::Reading => self.read(i),
            Phase::Ready | Phase::Done => {}
        }
    }

    /// Writes client `i`'s current request (or what is left of it), then reads.
    fn send(&mut self, i: usize) {
        let target = self.target;
        let request = target.exchange.request.as_slice();
        let client = &mut self.clients[i];
        let Some(socket) = client.socket.as_ref() else {
            return;
        };
        let mut written = match client.phase {
            Phase::Sending { written } => written,
            _ => 0,
        };
        let mut failed = None;
        while written < request.len() {
            match (&*socket).write(&request[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    client.phase = Phase::Sending { written };
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(Failure::send(&e));
                    break;
                }
            }
        }
        if let Some(failure) = failed {
            self.fail(i, failure);
            return;
        }
        client.phase = Phase::Reading;
        client.deadline = target.timeout.map(|t| Instant::now() + t);
        // The answer may be there already; with edge triggering it would not be reported
        // again.
        self.read(i);
    }

    /// Reads what client `i` has been sent and checks each complete answer.
    fn read(&mut self, i: usize) {
        loop {
            match self.clients[i].reader.take_answer() {
                Some(Ok(())) => {
                    let client = &mut self.clients[i];
                    client.answered += 1;
                    if client.answered >= self.requests {
                        client.end = Some(Instant::now());
                        self.finish(i);
                    } else {
                        self.send(i);
                    }
                    return;
                }
                Some(Err(wrong)) => {
                    self.fail(i, Failure::answer(&AnswerError::Wrong(wrong)));
                    return;
                }
                None => {}
            }
            let client = &mut self.clients[i];
            let Some(mut socket) = client.socket.as_ref() else {
                return;
            };
            match client.reader.fill(&mut socket) {
                Ok(()) => {}
                Err(AnswerError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.fail(i, Failure::answer(&e));
                    return;
                }
            }
        }
    }

    /// Fails every client whose connect or answer is overdue.
    fn expire(&mut self, now: Instant) {
        for i in 0..self.clients.len() {
            let client = &self.clients[i];
            if client.phase == Phase::Done || client.deadline.is_none_or(|d| now < d) {
                continue;
            }
            let timed_out = io::Error::from(io::ErrorKind::TimedOut);
            let failure = match client.phase {
                Phase::Connecting => Failure::connect(&timed_out),
                Phase::Sending { .. } => Failure::send(&timed_out),
                _ => Failure::answer(&AnswerError::Io(timed_out)),
            };
            self.fail(i, failure);
        }
    }

    fn fail(&mut self, i: usize, failure: Failure) {
        self.clients[i].failure = Some(failure);
        self.finish(i);
    }

    /// Closes client `i`'s socket (which also takes it out of the epoll set).
    fn finish(&mut self, i: usize) {
        let client = &mut self.clients[i];
        if client.phase == Phase::Done {
            return;
        }
        client.phase = Phase::Done;
        client.end.get_or_insert_with(Instant::now);
        client.socket = None;
        self.active -= 1;
    }

    /// The times of every client that started, the failures in client order, and the
    /// latencies of the clients that succeeded.
    fn outcomes(self) -> DriverResult {
        let mut times = Vec::new();
        let mut failures = Vec::new();
        let mut latencies = Vec::new();
        for client in self.clients {
            if let (Some(start), Some(end)) = (client.start, client.end) {
                times.push(Times {
                    start,
                    connected: client.connected,
                    end,
                });
                if client.failure.is_none() {
                    latencies.push(end.duration_since(start));
                }
            }
            if let Some(failure) = client.failure {
                failures.push(failure);
            }
        }
        (times, failures, latencies)
    }
}

/// What a driver thread hands back.
type DriverResult = (Vec<Times>, Vec<Failure>, Vec<Duration>);

/// How many driver threads: `drivers`, or one per core when it is 0; never more than
/// `clients`.
fn driver_count(drivers: usize, clients: usize) -> usize {
    let wanted = match drivers {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    wanted.clamp(1, clients.max(1))
}

/// Runs a burst and reports it.
///
/// Clients whose socket cannot be made are counted as failures; a driver thread that
/// cannot be started fails its clients as `spawn` errors. The burst goes on with the
/// others.
pub fn run(config: &BurstConfig, warnings: Vec<String>) -> BurstReport {
    let clients = usize::try_from(config.clients).unwrap_or(usize::MAX);
    let drivers = driver_count(config.drivers, clients);
    let target = &config.target;
    let requests = config.requests;
    // Every driver makes its sockets first; the last one ready starts them all.
    let barrier = Barrier::new(drivers);
    let mut errors = ErrorCounts::default();
    let mut times = Vec::with_capacity(clients);
    let mut latencies = Vec::with_capacity(clients);
    thread::scope(|scope| {
        let mut handles = Vec::with_capacity(drivers);
        for d in 0..drivers {
            // Shares differ by at most one client.
            let share = clients / drivers + usize::from(d < clients % drivers);
            let barrier = &barrier;
            let spawned = thread::Builder::new()
                .name(format!("driver-{d}"))
                .stack_size(DRIVER_STACK_BYTES)
                .spawn_scoped(scope, move || -> io::Result<DriverResult> {
                    let driver = Driver::new(target, requests, share);
                    barrier.wait();
                    let mut driver = driver?;
                    driver.run();
                    Ok(driver.outcomes())
                });
            handles.push((share, spawned));
        }
        for (share, handle) in handles {
            let outcome = match handle {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a driver thread panicked"))),
                Err(e) => Err(e),
            };
            match outcome {
                Ok((t, failures, l)) => {
                    times.extend(t);
                    latencies.extend(l);
                    for failure in failures {
                        errors.add(failure);
                    }
                }
                Err(e) => {
                    for _ in 0..share {
                        errors.add(Failure::new(
                            ErrorKind::Spawn,
                            format!("could not drive clients: {e}"),
                        ));
                    }
                }
            }
        }
    });
    summarise(config, &times, latencies, errors, warnings)
}

/// Turns the clients' times into the report.
fn summarise(
    config: &BurstConfig,
    times: &[Times],
    latencies: Vec<Duration>,
    errors: ErrorCounts,
    warnings: Vec<String>,
) -> BurstReport {
    let first = times.iter().map(|t| t.start).min();
    let last_start = times.iter().map(|t| t.start).max();
    let last = times.iter().map(|t| t.end).max();
    let since = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) => b.duration_since(a),
        _ => Duration::ZERO,
    };
    let connects: Vec<Duration> = times
        .iter()
        .filter_map(|t| t.connected.map(|c| c.duration_since(t.start)))
        .collect();
    let slow_connects = connects
        .iter()
        .filter(|d| d.as_secs_f64() >= SYN_RETRY_STALL_S)
        .count() as u64;
    BurstReport {
        mode: "burst".into(),
        addr: config.target.addr.to_string(),
        request: config.target.exchange.label.clone(),
        clients: config.clients,
        requests_per_client: config.requests,
        clients_ok: latencies.len() as u64,
        total_s: since(first, last).as_secs_f64(),
        start_spread_s: since(first, last_start).as_secs_f64(),
        latency: Summary::from_durations(&latencies),
        connect: Summary::from_durations(&connects),
        slow_connects,
        errors,
        warnings,
    }
}
