//! Timed load for the performance figures: N persistent connections sending back to back
//! (`--pipeline K` keeps K requests in flight on each), or N clients opening a
//! connection per request. Requests per second and per-request latency percentiles from
//! HdrHistogram. With a warm-up, answers to requests sent in it are not recorded, and the
//! rate counts from its end.
//!
//! A pipelined connection writes K requests, then, each time it has taken every complete
//! answer out of what it read, writes as many new requests as answers arrived, in one
//! write: K stay outstanding and the socket sees few, large writes, as a real pipelining
//! client's would.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::Target;
use crate::report::{ErrorCounts, ErrorKind, Failure, LoadReport};
use crate::source;
use crate::stats::Summary;
use crate::wire::{AnswerError, AnswerReader, ONE_ANSWER_BYTES};

/// A worker thread's stack: its work needs a few KiB; 64 KiB leaves ample room.
pub(crate) const WORKER_STACK_BYTES: usize = 64 * 1024;

/// Where worker threads wait until every one of them is ready, then are released at
/// once: they block on a read lock that the main thread holds for writing, so unlocking
/// wakes them all together (a condition variable would hand its mutex to one waiter at a
/// time and serialise the release). The timed run's clock starts after the release.
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

    /// Called by a worker: counts itself ready and waits for the gate to open.
    pub(crate) fn arrive_and_wait(&self) {
        if let Ok(mut ready) = self.ready.lock() {
            *ready += 1;
            self.arrived.notify_all();
        }
        drop(self.lock.read());
    }

    /// Waits until `n` workers are ready.
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

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    /// One connection per worker for the whole run, `pipeline` requests in flight.
    Persistent {
        /// Requests in flight per connection, at least 1.
        pipeline: u64,
    },
    /// A new connection for every request.
    ConnectPerRequest,
}

/// How a timed run is done.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where and what to send.
    pub target: Target,
    /// Concurrent connections (workers).
    pub connections: u64,
    /// Load before the measured window: answers to requests sent in it are not counted.
    pub warmup: Duration,
    /// How long new requests are sent for after the warm-up; outstanding ones are then
    /// waited for.
    pub duration: Duration,
    /// Persistent or connection per request.
    pub mode: LoadMode,
    /// Connection per request: how many loopback source addresses the connections are
    /// spread over, from 127.0.0.2 on (0: one, the kernel's choice).
    pub source_addrs: u32,
    /// Connection per request: stop after this many connections in all, if the duration
    /// has not ended first (UNP chapter 30's experiment: a fixed number of connections).
    pub total: Option<u64>,
}

/// The connections left to open, shared by the clients of a run with `total`.
#[derive(Debug)]
struct Budget(Option<AtomicU64>);

impl Budget {
    /// Takes one connection from the budget; false once it is spent.
    fn take(&self) -> bool {
        self.0.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }
}

/// What one worker did.
struct WorkerResult {
    hist: Histogram<u64>,
    requests: u64,
    connected: u64,
    errors: ErrorCounts,
    /// Requests sent before this are the warm-up, not recorded.
    counted_from: Instant,
}

/// An empty, auto-resizing latency histogram in nanoseconds.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("three significant digits is a valid HdrHistogram precision")
}

impl WorkerResult {
    fn new(counted_from: Instant) -> WorkerResult {
        WorkerResult {
            hist: histogram(),
            requests: 0,
            connected: 0,
            errors: ErrorCounts::default(),
            counted_from,
        }
    }

    /// Records the answer to a request sent at `sent`, unless that was in the warm-up.
    fn record(&mut self, sent: Instant, answered: Instant) {
        if sent < self.counted_from {
            return;
        }
        let latency = answered.duration_since(sent);
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // `record` grows an auto-resizing histogram; `saturating_record` would clamp to
        // its current top instead.
        if self.hist.record(ns).is_err() {
            self.hist.saturating_record(ns);
        }
        self.requests += 1;
    }
}

/// One persistent connection: keeps `pipeline` requests in flight until `deadline`.
fn persistent(target: &Target, pipeline: u64, window: (Instant, Instant)) -> WorkerResult {
    let (counted_from, deadline) = window;
    let mut result = WorkerResult::new(counted_from);
    let mut stream = match target.connect() {
        Ok(s) => s,
        Err(e) => {
            result.errors.add(Failure::connect(&e));
            return result;
        }
    };
    result.connected = 1;
    let request = &target.exchange.request;
    let mut reader = AnswerReader::new(&target.exchange);
    let mut in_flight: VecDeque<Instant> = VecDeque::new();
    let mut to_send = pipeline;
    let mut out = Vec::new();
    loop {
        match reader.take_answer() {
            Some(Ok(())) => {
                let now = Instant::now();
                if let Some(sent) = in_flight.pop_front() {
                    result.record(sent, now);
                }
                if now < deadline {
                    to_send += 1;
                }
            }
            Some(Err(wrong)) => {
                result
                    .errors
                    .add(Failure::answer(&AnswerError::Wrong(wrong)));
                break;
            }
            None => {
                if to_send > 0 {
                    out.clear();
                    for _ in 0..to_send {
                        out.extend_from_slice(request);
                    }
                    if let Err(e) = stream.write_all(&out) {
                        result.errors.add(Failure::send(&e));
                        break;
                    }
                    let now = Instant::now();
                    in_flight.extend((0..to_send).map(|_| now));
                    to_send = 0;
                }
                if in_flight.is_empty() {
                    break;
                }
                if let Err(e) = reader.fill(&mut stream) {
                    result.errors.add(Failure::answer(&e));
                    break;
                }
            }
        }
    }
    result
}

/// One client opening a connection per request in `window` (from the warm-up's end to
/// the deadline); with `source_addrs`, each from the next source address, starting at the
/// `worker`-th.
fn connect_per_request(
    target: &Target,
    window: (Instant, Instant),
    source_addrs: u32,
    worker: u64,
    budget: &Budget,
) -> WorkerResult {
    let (counted_from, deadline) = window;
    let mut result = WorkerResult::new(counted_from);
    let mut next_source = worker;
    while Instant::now() < deadline && budget.take() {
        let start = Instant::now();
        let connected = if source_addrs == 0 {
            target.connect()
        } else {
            next_source += 1;
            target.connect_from(source::source_addr(next_source, source_addrs))
        };
        let outcome = connected
            .map_err(|e| Failure::connect(&e))
            .and_then(|mut stream| {
                result.connected += 1;
                stream
                    .write_all(&target.exchange.request)
                    .map_err(|e| Failure::send(&e))?;
                // One answer per connection: a small buffer, not a 64 KiB one zeroed per
                // request.
                AnswerReader::with_buffer(&target.exchange, ONE_ANSWER_BYTES)
                    .read_answer(&mut stream)
                    .map_err(|e| Failure::answer(&e))
            });
        match outcome {
            Ok(()) => result.record(start, Instant::now()),
            Err(failure) => {
                result.errors.add(failure);
                // Do not spin on a server that refuses: its errors would drown the count.
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
    result
}

/// Runs timed load and reports it.
pub fn run(config: &LoadConfig, warnings: Vec<String>) -> LoadReport {
    let gate = Arc::new(Gate::default());
    let target = Arc::new(config.target.clone());
    let mut errors = ErrorCounts::default();
    let closed = gate.close();
    let budget = Arc::new(Budget(config.total.map(AtomicU64::new)));
    let mut handles = Vec::new();
    for i in 0..config.connections {
        let gate = Arc::clone(&gate);
        let target = Arc::clone(&target);
        let budget = Arc::clone(&budget);
        let (warmup, duration, mode, source_addrs) = (
            config.warmup,
            config.duration,
            config.mode,
            config.source_addrs,
        );
        let spawned = thread::Builder::new()
            .name(format!("load-{i}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                gate.arrive_and_wait();
                let counted_from = Instant::now() + warmup;
                let window = (counted_from, counted_from + duration);
                match mode {
                    LoadMode::Persistent { pipeline } => {
                        persistent(&target, pipeline.max(1), window)
                    }
                    LoadMode::ConnectPerRequest => {
                        connect_per_request(&target, window, source_addrs, i, &budget)
                    }
                }
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => errors.add(Failure::new(
                ErrorKind::Spawn,
                format!("could not start worker thread {i}: {e}"),
            )),
        }
    }
    gate.wait_ready(handles.len() as u64);
    drop(closed);
    let start = Instant::now() + config.warmup;

    let mut hist = histogram();
    let mut requests = 0;
    let mut connected = 0;
    for handle in handles {
        match handle.join() {
            Ok(worker) => {
                // Both histograms auto-resize, so adding cannot run out of range.
                let _ = hist.add(&worker.hist);
                requests += worker.requests;
                connected += worker.connected;
                errors.merge(worker.errors);
            }
            Err(_) => errors.add(Failure::new(ErrorKind::Other, "a worker thread panicked")),
        }
    }
    let elapsed = Instant::now()
        .saturating_duration_since(start)
        .as_secs_f64();
    let rate = if elapsed > 0.0 {
        requests as f64 / elapsed
    } else {
        0.0
    };
    let (mode, pipeline, connections_per_s) = match config.mode {
        LoadMode::Persistent { pipeline: 1 } => ("throughput", 1, 0.0),
        LoadMode::Persistent { pipeline } => ("pipelined", pipeline.max(1), 0.0),
        LoadMode::ConnectPerRequest => ("connect-per-request", 1, rate),
    };
    LoadReport {
        mode: mode.into(),
        addr: target.addr.to_string(),
        request: target.exchange.label.clone(),
        connections: config.connections,
        pipeline,
        duration_s: elapsed,
        requests,
        requests_per_s: rate,
        connections_per_s,
        source_addrs: config.source_addrs,
        connected,
        warmup_s: config.warmup.as_secs_f64(),
        latency: Summary::from_histogram_ns(&hist),
        latency_from_send: None,
        rate: None,
        errors,
        warnings,
    }
}
