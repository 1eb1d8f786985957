//! Burst mode, the seed's experiment: N clients are started, wait at a gate, and are
//! released together; each connects, sends its requests one at a time, checks every
//! answer and closes. Starting a client is therefore never part of what is timed.
//!
//! One OS thread per client with a small stack: a burst of 5,000 costs 5,000 × 64 KiB of
//! address space, and a thread blocked in `read` costs nothing while the server holds
//! the request. Each client times itself with the monotonic clock.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use crate::Target;
use crate::report::{BurstReport, ErrorCounts, ErrorKind, Failure, SYN_RETRY_STALL_S};
use crate::stats::Summary;
use crate::wire::AnswerReader;

/// A client thread's stack: its work needs a few KiB; 64 KiB leaves ample room.
pub const CLIENT_STACK_BYTES: usize = 64 * 1024;

/// How a burst is run.
#[derive(Debug, Clone)]
pub struct BurstConfig {
    /// Where and what to send.
    pub target: Target,
    /// Clients released together.
    pub clients: u64,
    /// Requests each client sends, one after the other.
    pub requests: u64,
}

/// What one client saw.
#[derive(Debug)]
struct ClientOutcome {
    start: Instant,
    end: Instant,
    connect: Option<Duration>,
    failure: Option<Failure>,
}

/// Where client threads wait until every one of them is ready, then are released at
/// once: they block on a read lock that the main thread holds for writing, so unlocking
/// wakes them all together (a condition variable would hand its mutex to one waiter at a
/// time and serialise the release).
#[derive(Default)]
pub(crate) struct Gate {
    lock: RwLock<()>,
    ready: Mutex<u64>,
    arrived: Condvar,
}

impl Gate {
    /// Closes the gate; it opens when the returned guard is dropped.
    pub(crate) fn close(&self) -> Option<RwLockWriteGuard<'_, ()>> {
        self.lock.write().ok()
    }

    /// Called by a client: counts itself ready and waits for the gate to open.
    pub(crate) fn arrive_and_wait(&self) {
        if let Ok(mut ready) = self.ready.lock() {
            *ready += 1;
            self.arrived.notify_all();
        }
        drop(self.lock.read());
    }

    /// Waits until `n` clients are ready.
    pub(crate) fn wait_ready(&self, n: u64) {
        let Ok(mut ready) = self.ready.lock() else {
            return;
        };
        while *ready < n {
            match self.arrived.wait(ready) {
                Ok(r) => ready = r,
                Err(_) => return,
            }
        }
    }
}

/// Runs one client: connect, send and check each request, close.
fn client(target: &Target, requests: u64) -> ClientOutcome {
    let start = Instant::now();
    let done = |connect, failure| ClientOutcome {
        start,
        end: Instant::now(),
        connect,
        failure,
    };
    let mut stream = match target.connect() {
        Ok(s) => s,
        Err(e) => return done(None, Some(Failure::connect(&e))),
    };
    let connect = Some(start.elapsed());
    let mut reader = AnswerReader::new(&target.exchange);
    for _ in 0..requests {
        if let Err(e) = stream.write_all(&target.exchange.request) {
            return done(connect, Some(Failure::send(&e)));
        }
        if let Err(e) = reader.read_answer(&mut stream) {
            return done(connect, Some(Failure::answer(&e)));
        }
    }
    let outcome = done(connect, None);
    let _ = stream.shutdown(Shutdown::Both);
    outcome
}

/// Runs a burst and reports it.
///
/// Client threads that cannot be started are counted as `spawn` errors; the burst goes
/// on with the others.
pub fn run(config: &BurstConfig, warnings: Vec<String>) -> BurstReport {
    let gate = Arc::new(Gate::default());
    let target = Arc::new(config.target.clone());
    let mut errors = ErrorCounts::default();
    let closed = gate.close();
    let mut handles = Vec::with_capacity(usize::try_from(config.clients).unwrap_or(0));
    for i in 0..config.clients {
        let gate = Arc::clone(&gate);
        let target = Arc::clone(&target);
        let requests = config.requests;
        let spawned = thread::Builder::new()
            .name(format!("client-{i}"))
            .stack_size(CLIENT_STACK_BYTES)
            .spawn(move || {
                gate.arrive_and_wait();
                client(&target, requests)
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => errors.add(Failure::new(
                ErrorKind::Spawn,
                format!("could not start client thread {i}: {e}"),
            )),
        }
    }
    gate.wait_ready(handles.len() as u64);
    drop(closed);

    let mut outcomes = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.join() {
            Ok(outcome) => outcomes.push(outcome),
            Err(_) => errors.add(Failure::new(ErrorKind::Other, "a client thread panicked")),
        }
    }
    summarise(config, &target, outcomes, errors, warnings)
}

/// Turns the clients' outcomes into the report.
fn summarise(
    config: &BurstConfig,
    target: &Target,
    outcomes: Vec<ClientOutcome>,
    mut errors: ErrorCounts,
    warnings: Vec<String>,
) -> BurstReport {
    let first = outcomes.iter().map(|o| o.start).min();
    let last = outcomes.iter().map(|o| o.end).max();
    let start_spread = match (first, outcomes.iter().map(|o| o.start).max()) {
        (Some(first), Some(last_start)) => last_start.duration_since(first),
        _ => Duration::ZERO,
    };
    let total = match (first, last) {
        (Some(first), Some(last)) => last.duration_since(first),
        _ => Duration::ZERO,
    };
    let connects: Vec<Duration> = outcomes.iter().filter_map(|o| o.connect).collect();
    let slow_connects = connects
        .iter()
        .filter(|d| d.as_secs_f64() >= SYN_RETRY_STALL_S)
        .count() as u64;
    let mut latencies = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome.failure {
            Some(failure) => errors.add(failure),
            None => latencies.push(outcome.end.duration_since(outcome.start)),
        }
    }
    BurstReport {
        mode: "burst".into(),
        addr: target.addr.to_string(),
        request: target.exchange.label.clone(),
        clients: config.clients,
        requests_per_client: config.requests,
        clients_ok: latencies.len() as u64,
        total_s: total.as_secs_f64(),
        start_spread_s: start_spread.as_secs_f64(),
        latency: Summary::from_durations(&latencies),
        connect: Summary::from_durations(&connects),
        slow_connects,
        errors,
        warnings,
    }
}

/// Connects with the target's timeout and sets `TCP_NODELAY` and the read timeout.
pub(crate) fn connect(target: &Target) -> std::io::Result<TcpStream> {
    let stream = match target.timeout {
        Some(t) => TcpStream::connect_timeout(&target.addr, t)?,
        None => TcpStream::connect(target.addr)?,
    };
    stream.set_nodelay(true)?;
    stream.set_read_timeout(target.timeout)?;
    stream.set_write_timeout(target.timeout)?;
    Ok(stream)
}
