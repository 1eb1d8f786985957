//! Open-loop load (`--rate R`): requests are sent on a schedule, whether or not the
//! server keeps up, and each one's latency is measured from when it was *due*.
//!
//! A closed-loop generator (the timed load of [`crate::load`]) sends the next request
//! when the previous answer arrives. When the server stalls for a second, that generator
//! stalls with it: it sends nothing, so the requests a real user would have sent during
//! the stall are never measured, and the one request that waited a second is one sample
//! among thousands. Gil Tene called this *coordinated omission*; wrk2 corrects it.
//!
//! The schedule is wrk2's: `R` requests per second in total, spread evenly over the
//! `--clients` connections, so request *i* of a connection is due at its start +
//! *i* / its rate, and the connections' starts are staggered so that their requests
//! interleave. A connection keeps one request in flight (as wrk2's do): when an answer
//! comes after the next request's due time, that request is sent at once, and its
//! latency still counts from its due time. That is the *corrected* latency; the latency
//! from the send, which is what a closed-loop tool would have shown, is reported beside
//! it. With `--connect-per-request`, each scheduled request is a new connection.
//!
//! The generator can be late too: a thread that sleeps until a due time wakes a little
//! after it, and on a busy machine much after it. How late each send left — after its due
//! time, or after the previous answer when that came later — is bench's own *lag*, and
//! the report warns when its p99 exceeds a millisecond instead of blaming the server.
//!
//! One thread per connection, as in timed load: sleeping until a due time is what a
//! thread does well, and a thread's lateness is measured, not assumed away.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use crate::Target;
use crate::hdr_log;
use crate::load::{Gate, WORKER_STACK_BYTES, histogram};
use crate::report::{ErrorCounts, ErrorKind, Failure, Lag, LoadReport, RateReport};
use crate::source;
use crate::stats::Summary;
use crate::wire::{AnswerReader, ONE_ANSWER_BYTES};

/// How an open-loop run is done.
#[derive(Debug, Clone)]
pub struct RateConfig {
    /// Where and what to send.
    pub target: Target,
    /// Connections (persistent), or clients each opening one connection at a time.
    pub connections: u64,
    /// Requests (or new connections) per second, in total: finite and above 0.
    pub rate: f64,
    /// Load before the measured window that is not recorded.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// A new connection for every request instead of persistent ones.
    pub connect_per_request: bool,
    /// Connection per request: loopback source addresses to spread the connections over
    /// (0: the kernel's choice), as in [`crate::source`].
    pub source_addrs: u32,
    /// Whether to encode the corrected latencies as an interval log (`--hdr-log`).
    pub hdr_log: bool,
}

/// When each request of one connection is due.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// When request 0 is due.
    first: Instant,
    /// Seconds between two requests of this connection.
    interval_s: f64,
}

impl Schedule {
    /// Connection `k` of `connections` sharing `rate` requests per second: its requests
    /// are `connections / rate` apart, and its first is due `k / rate` after `start`, so
    /// that together the connections send one request every `1 / rate`.
    pub fn for_connection(start: Instant, rate: f64, connections: u64, k: u64) -> Schedule {
        Schedule {
            first: start + seconds(k as f64 / rate),
            interval_s: connections as f64 / rate,
        }
    }

    /// When request `i` is due.
    pub fn due(&self, i: u64) -> Instant {
        self.first + seconds(i as f64 * self.interval_s)
    }
}

/// `s` seconds as a duration, saturating (at about 584 years) instead of panicking.
fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// The measured part of a run.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Requests due before this are the warm-up: sent, not recorded.
    start: Instant,
    /// Requests due from this on are not sent.
    end: Instant,
}

/// What happened to one request, in time.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    /// When it was due.
    due: Instant,
    /// When it could have been sent at the earliest: the due time, or the previous
    /// answer on its connection when that came later.
    ready: Instant,
    /// When it was handed to the socket (persistent) or its connect began.
    sent: Instant,
    /// When its correct answer was read.
    answered: Instant,
}

/// Latencies recorded by a group of connections. Connections share a few of these
/// (one per two cores) behind mutexes, so that memory does not grow with the number of
/// connections, while contention stays low.
struct Shard {
    /// From due time to answer.
    corrected: Histogram<u64>,
    /// From send to answer.
    from_send: Histogram<u64>,
    /// From ready to send: bench's own lateness.
    lag: Histogram<u64>,
    /// With `--hdr-log`: corrected latencies by the second of the window their answer
    /// came in, until the collector takes each second away to encode it (so that a long
    /// run holds a second or two of them, not all).
    intervals: Option<BTreeMap<u64, Histogram<u64>>>,
}

impl Shard {
    fn new(log_intervals: bool) -> Shard {
        Shard {
            corrected: histogram(),
            from_send: histogram(),
            lag: histogram(),
            intervals: log_intervals.then(BTreeMap::new),
        }
    }

    fn record(&mut self, e: &Exchange, window: &Window) {
        let corrected = e.answered.saturating_duration_since(e.due);
        record(&mut self.corrected, corrected);
        if let Some(intervals) = &mut self.intervals {
            let second = e.answered.saturating_duration_since(window.start).as_secs();
            record(intervals.entry(second).or_insert_with(histogram), corrected);
        }
        record(
            &mut self.from_send,
            e.answered.saturating_duration_since(e.sent),
        );
        record(&mut self.lag, e.sent.saturating_duration_since(e.ready));
    }

    fn merge(&mut self, other: &Shard) {
        // Every histogram auto-resizes, so adding cannot run out of range.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.from_send.add(&other.from_send);
        let _ = self.lag.add(&other.lag);
    }

    /// Takes the latencies answered in `second` out, adding them to `into`.
    fn take_second(&mut self, second: u64, into: &mut Histogram<u64>) {
        if let Some(hist) = self.intervals.as_mut().and_then(|i| i.remove(&second)) {
            let _ = into.add(&hist);
        }
    }

    /// Takes the latencies answered in `second` and every later one out, adding them to
    /// `into`: the window's last second holds the answers that came after its end.
    fn take_from(&mut self, second: u64, into: &mut Histogram<u64>) {
        if let Some(intervals) = &mut self.intervals {
            for (_, hist) in intervals.split_off(&second) {
                let _ = into.add(&hist);
            }
        }
    }
}

/// How long after a second of the window ends its interval is taken for the log: a
/// worker that read its answer just before the boundary may take a moment to record it.
const INTERVAL_GRACE: Duration = Duration::from_millis(100);

/// Hands the interval log one second of corrected latencies at a time, each once it is
/// over, while the workers run. The log covers the window exactly: one interval per
/// second of it, the last cut at its end and handed over once every worker has finished,
/// with the answers that came after the end (to requests due before it) — so that the
/// log's count over its length is the run's achieved rate, as `cargo xtask merge`
/// reads it.
struct IntervalCollector<'a> {
    shards: &'a [Arc<Mutex<Shard>>],
    handles: &'a [thread::JoinHandle<Tally>],
    window_start: Instant,
    /// The window's length.
    window: Duration,
    next: u64,
}

impl IntervalCollector<'_> {
    /// The window's last second (counted from 0).
    fn last(&self) -> u64 {
        self.window
            .saturating_sub(Duration::from_nanos(1))
            .as_secs()
    }

    fn next_interval(&mut self) -> Option<hdr_log::Interval> {
        let second = self.next;
        if second > self.last() {
            return None;
        }
        let is_last = second == self.last();
        loop {
            let finished = self.handles.iter().all(thread::JoinHandle::is_finished);
            let over = self.window_start + Duration::from_secs(second + 1) + INTERVAL_GRACE;
            let now = Instant::now();
            if finished || (!is_last && now >= over) {
                let mut histogram = histogram();
                for shard in self.shards {
                    if let Ok(mut shard) = shard.lock() {
                        match is_last {
                            true => shard.take_from(second, &mut histogram),
                            false => shard.take_second(second, &mut histogram),
                        }
                    }
                }
                self.next += 1;
                let start = Duration::from_secs(second);
                return Some(hdr_log::Interval {
                    start,
                    length: self
                        .window
                        .saturating_sub(start)
                        .min(Duration::from_secs(1)),
                    histogram,
                });
            }
            let wait = if now < over {
                over - now
            } else {
                Duration::MAX
            };
            thread::sleep(wait.min(Duration::from_millis(100)));
        }
    }
}

/// Records `latency` in nanoseconds in an auto-resizing histogram.
fn record(hist: &mut Histogram<u64>, latency: Duration) {
    let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
    if hist.record(ns).is_err() {
        hist.saturating_record(ns);
    }
}

/// What one connection (or one connect-per-request client) did, besides its latencies.
#[derive(Default)]
struct Tally {
    /// Requests due in the window and answered correctly.
    answered: u64,
    /// Connections established.
    connected: u64,
    errors: ErrorCounts,
}

/// One worker's view of the run.
struct Worker {
    /// Which connection of the run this is.
    k: u64,
    target: Arc<Target>,
    source_addrs: u32,
    schedule: Schedule,
    window: Window,
    shard: Arc<Mutex<Shard>>,
    tally: Tally,
}

impl Worker {
    /// Sleeps until request `i` is due; `None` once it is due after the window, or the
    /// window is over (requests a connection owes when the window closes are not sent:
    /// the achieved rate shows them).
    fn wait_for(&self, i: u64) -> Option<Instant> {
        let due = self.schedule.due(i);
        let now = Instant::now();
        if due >= self.window.end || now >= self.window.end {
            return None;
        }
        if due > now {
            thread::sleep(due - now);
        }
        Some(due)
    }

    /// Records an answered exchange if it was due in the window.
    fn answered(&mut self, e: &Exchange) {
        if e.due < self.window.start {
            return;
        }
        self.tally.answered += 1;
        if let Ok(mut shard) = self.shard.lock() {
            shard.record(e, &self.window);
        }
    }

    /// One persistent connection, made before the schedule started, one request in
    /// flight, on schedule.
    fn persistent(mut self, connected: io::Result<TcpStream>) -> Tally {
        let mut stream = match connected {
            Ok(s) => s,
            Err(e) => {
                self.tally.errors.add(Failure::connect(&e));
                return self.tally;
            }
        };
        self.tally.connected = 1;
        let target = Arc::clone(&self.target);
        let mut reader = AnswerReader::with_buffer(&target.exchange, ONE_ANSWER_BYTES);
        let mut ready = self.schedule.due(0);
        let mut i = 0;
        while let Some(due) = self.wait_for(i) {
            let sent = Instant::now();
            if let Err(e) = stream.write_all(&target.exchange.request) {
                self.tally.errors.add(Failure::send(&e));
                break;
            }
            if let Err(e) = reader.read_answer(&mut stream) {
                self.tally.errors.add(Failure::answer(&e));
                break;
            }
            let answered = Instant::now();
            self.answered(&Exchange {
                due,
                ready: ready.max(due),
                sent,
                answered,
            });
            ready = answered;
            i += 1;
        }
        self.tally
    }

    /// A new connection for every scheduled request; a failure uses up its slot in the
    /// schedule, so a refusing server is not hammered faster than the rate.
    fn connect_per_request(mut self) -> Tally {
        let target = Arc::clone(&self.target);
        let mut ready = self.schedule.due(0);
        let mut i = 0;
        while let Some(due) = self.wait_for(i) {
            i += 1;
            let sent = Instant::now();
            let connected = match self.source_addrs {
                0 => target.connect(),
                n => target.connect_from(source::source_addr(self.k + i, n)),
            };
            let mut stream = match connected {
                Ok(s) => s,
                Err(e) => {
                    self.tally.errors.add(Failure::connect(&e));
                    ready = Instant::now();
                    continue;
                }
            };
            self.tally.connected += 1;
            let outcome = stream
                .write_all(&target.exchange.request)
                .map_err(|e| Failure::send(&e))
                .and_then(|()| {
                    AnswerReader::with_buffer(&target.exchange, ONE_ANSWER_BYTES)
                        .read_answer(&mut stream)
                        .map_err(|e| Failure::answer(&e))
                });
            let answered = Instant::now();
            match outcome {
                Ok(()) => self.answered(&Exchange {
                    due,
                    ready: ready.max(due),
                    sent,
                    answered,
                }),
                Err(failure) => self.tally.errors.add(failure),
            }
            ready = answered;
        }
        self.tally
    }
}

/// An open-loop run's report, and with `--hdr-log` its corrected latencies second by
/// second of the window, encoded.
pub struct RateRun {
    /// The report.
    pub report: LoadReport,
    /// The interval lines of the log ([`hdr_log::encode`]): one per second from the
    /// window's start (answers that came after the window's end are in its last second),
    /// or why they could not be encoded.
    pub intervals: Option<io::Result<Vec<u8>>>,
    /// The wall-clock time at the window's start.
    pub window_start: SystemTime,
}

/// Shards to spread connections over: two per core.
fn shard_count() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// Asks the kernel to wake this thread's sleeps on time: the default timer slack lets
/// it wake up to 50 µs late, which would be bench's lag on every request.
fn tighten_timer_slack() {
    // Only a hint; bench measures its lag either way.
    let _ = nix::sys::prctl::set_timerslack(1);
}

/// Runs open-loop load and reports it.
pub fn run(config: &RateConfig, warnings: Vec<String>) -> RateRun {
    let gate = Arc::new(Gate::default());
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let target = Arc::new(config.target.clone());
    let shards: Vec<Arc<Mutex<Shard>>> = (0..shard_count())
        .map(|_| Arc::new(Mutex::new(Shard::new(config.hdr_log))))
        .collect();
    let mut errors = ErrorCounts::default();
    let closed = gate.close();
    let mut handles = Vec::new();
    for k in 0..config.connections {
        let (gate, start, target) = (Arc::clone(&gate), Arc::clone(&start), Arc::clone(&target));
        let shard = Arc::clone(&shards[(k as usize) % shards.len()]);
        let config = config.clone();
        let spawned = thread::Builder::new()
            .name(format!("rate-{k}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                tighten_timer_slack();
                // Persistent connections are made before the schedule starts: the run
                // measures requests, not a crowd of connects (which on a busy machine
                // could use up the whole window).
                let connected = (!config.connect_per_request).then(|| target.connect());
                gate.arrive_and_wait();
                // Set before the gate opened; the fallback is never taken.
                let start = *start.get_or_init(Instant::now);
                let window_start = start + config.warmup;
                let worker = Worker {
                    k,
                    target,
                    source_addrs: config.source_addrs,
                    schedule: Schedule::for_connection(start, config.rate, config.connections, k),
                    window: Window {
                        start: window_start,
                        end: window_start + config.duration,
                    },
                    shard,
                    tally: Tally::default(),
                };
                match connected {
                    Some(connected) => worker.persistent(connected),
                    None => worker.connect_per_request(),
                }
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => errors.add(Failure::new(
                ErrorKind::Spawn,
                format!("could not start worker thread {k}: {e}"),
            )),
        }
    }
    gate.wait_ready(handles.len() as u64);
    let started = Instant::now();
    let _ = start.set(started);
    let window_start = SystemTime::now() + config.warmup;
    drop(closed);

    let intervals = config.hdr_log.then(|| {
        let mut collector = IntervalCollector {
            shards: &shards,
            handles: &handles,
            window_start: started + config.warmup,
            window: config.duration,
            next: 0,
        };
        hdr_log::encode(|| collector.next_interval())
    });
    let mut tally = Tally::default();
    for handle in handles {
        match handle.join() {
            Ok(worker) => {
                tally.answered += worker.answered;
                tally.connected += worker.connected;
                errors.merge(worker.errors);
            }
            Err(_) => errors.add(Failure::new(ErrorKind::Other, "a worker thread panicked")),
        }
    }
    let mut all = Shard::new(false);
    for shard in &shards {
        if let Ok(shard) = shard.lock() {
            all.merge(&shard);
        }
    }
    RateRun {
        report: report(config, &all, tally, errors, warnings),
        intervals,
        window_start,
    }
}

/// The report of a finished run.
fn report(
    config: &RateConfig,
    all: &Shard,
    tally: Tally,
    errors: ErrorCounts,
    warnings: Vec<String>,
) -> LoadReport {
    let window_s = config.duration.as_secs_f64();
    let achieved = if window_s > 0.0 {
        tally.answered as f64 / window_s
    } else {
        0.0
    };
    let lag = Summary::from_histogram_ns(&all.lag);
    let (mode, connections_per_s) = if config.connect_per_request {
        ("open-loop-connect-per-request", achieved)
    } else {
        ("open-loop", 0.0)
    };
    LoadReport {
        mode: mode.into(),
        addr: config.target.addr.to_string(),
        request: config.target.exchange.label.clone(),
        connections: config.connections,
        pipeline: 1,
        duration_s: window_s,
        requests: tally.answered,
        requests_per_s: achieved,
        connections_per_s,
        source_addrs: config.source_addrs,
        connected: tally.connected,
        warmup_s: config.warmup.as_secs_f64(),
        latency: Summary::from_histogram_ns(&all.corrected),
        latency_from_send: Some(Summary::from_histogram_ns(&all.from_send)),
        rate: Some(RateReport {
            offered_per_s: config.rate,
            achieved_per_s: achieved,
            lag: Lag {
                p50_s: lag.p50_s,
                p99_s: lag.p99_s,
                max_s: lag.max_s,
            },
        }),
        errors,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four connections sharing 1,000 requests/s each send every 4 ms, staggered by 1 ms:
    /// together one request every millisecond.
    #[test]
    fn connections_interleave_evenly() {
        let start = Instant::now();
        let mut dues: Vec<Duration> = (0..4)
            .flat_map(|k| {
                let s = Schedule::for_connection(start, 1000.0, 4, k);
                (0..5).map(move |i| s.due(i) - start)
            })
            .collect();
        dues.sort();
        for (n, due) in dues.iter().enumerate() {
            let expected = Duration::from_millis(n as u64);
            let off = due.abs_diff(expected);
            assert!(off < Duration::from_micros(1), "{n}: {due:?}");
        }
    }

    /// The due time of request i is computed from i, not by adding intervals, so it does
    /// not drift: request 1,000,000 at 50,000/s is due at exactly 20 s.
    #[test]
    fn schedule_does_not_drift() {
        let start = Instant::now();
        let s = Schedule::for_connection(start, 50_000.0, 1, 0);
        let off = (s.due(1_000_000) - start).abs_diff(Duration::from_secs(20));
        assert!(off < Duration::from_micros(1), "{off:?}");
    }

    /// An exchange is filed under the second of the window its answer came in (the
    /// last second takes those after the window); lag is measured from when the send
    /// could have left, not from the due time.
    #[test]
    fn shard_records_by_second() {
        let t0 = Instant::now();
        let window = Window {
            start: t0,
            end: t0 + Duration::from_secs(10),
        };
        let mut shard = Shard::new(true);
        // An exchange whose times are milliseconds after t0.
        let exchange = |due, ready, sent, answered| Exchange {
            due: t0 + Duration::from_millis(due),
            ready: t0 + Duration::from_millis(ready),
            sent: t0 + Duration::from_millis(sent),
            answered: t0 + Duration::from_millis(answered),
        };
        shard.record(&exchange(1000, 2000, 2001, 2003), &window);
        let mut second = histogram();
        shard.take_second(0, &mut second);
        assert!(second.is_empty());
        shard.take_second(2, &mut second);
        assert_eq!(second.len(), 1);
        let within = |h: &Histogram<u64>, ns: u64| h.equivalent(h.max(), ns);
        assert!(within(&shard.corrected, 1_003_000_000));
        assert!(within(&shard.from_send, 2_000_000));
        assert!(within(&shard.lag, 1_000_000));
        shard.record(&exchange(9999, 9999, 9999, 12_000), &window);
        let mut last = histogram();
        shard.take_from(9, &mut last);
        assert_eq!(
            last.len(),
            1,
            "the last second takes the answers after the window"
        );
    }
}
