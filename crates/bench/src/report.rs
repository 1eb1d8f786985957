//! What a run reports: errors by kind, the burst and load reports (serialised by `--json`
//! and read back by `cargo xtask bench`), and their human-readable tables.

use std::fmt::{self, Write as _};
use std::io;

use serde::{Deserialize, Serialize};

use crate::stats::Summary;
use crate::wire::AnswerError;

/// A connect time at least this long is almost certainly a lost SYN retransmitted by the
/// kernel (after 1 s, then 3 s, …): the server's listen backlog was full.
pub const SYN_RETRY_STALL_S: f64 = 1.0;

/// How a client or a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The connection was refused: no server, or its backlog overflowed with
    /// `tcp_abort_on_overflow`.
    Refused,
    /// The connection was reset or aborted by the peer.
    Reset,
    /// Connecting or waiting for an answer took longer than `--timeout`.
    Timeout,
    /// An answer arrived and was not the expected one.
    WrongAnswer,
    /// The server closed the connection before answering.
    MissingAnswer,
    /// No local port or address was free to connect from (ephemeral ports exhausted).
    NoLocalPort,
    /// bench could not start the client's thread.
    Spawn,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Classifies a socket error.
    pub fn of_io(e: &io::Error) -> ErrorKind {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ErrorKind::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorKind::Reset,
            K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
            K::UnexpectedEof => ErrorKind::MissingAnswer,
            K::AddrNotAvailable | K::AddrInUse => ErrorKind::NoLocalPort,
            _ => ErrorKind::Other,
        }
    }

    /// Classifies a failure to read an answer.
    pub fn of_answer(e: &AnswerError) -> ErrorKind {
        match e {
            AnswerError::Wrong(_) => ErrorKind::WrongAnswer,
            AnswerError::Missing => ErrorKind::MissingAnswer,
            AnswerError::Io(e) => ErrorKind::of_io(e),
        }
    }

    /// The kind's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Reset => "reset",
            ErrorKind::Timeout => "timeout",
            ErrorKind::WrongAnswer => "wrong answer",
            ErrorKind::MissingAnswer => "missing answer",
            ErrorKind::NoLocalPort => "no local port",
            ErrorKind::Spawn => "thread spawn",
            ErrorKind::Other => "other",
        }
    }
}

/// One failure: its kind and a one-line description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, e.g. `connect: Connection refused (os error 111)`.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// A failure while connecting.
    pub fn connect(e: &io::Error) -> Failure {
        Failure::new(ErrorKind::of_io(e), format!("connect: {e}"))
    }

    /// A failure while sending.
    pub fn send(e: &io::Error) -> Failure {
        Failure::new(ErrorKind::of_io(e), format!("send: {e}"))
    }

    /// A failure while waiting for an answer.
    pub fn answer(e: &AnswerError) -> Failure {
        let message = match e {
            AnswerError::Wrong(w) => format!("wrong answer: '{}'", w.excerpt),
            AnswerError::Missing => "the server closed the connection before answering".into(),
            AnswerError::Io(e) => format!("waiting for the answer: {e}"),
        };
        Failure::new(ErrorKind::of_answer(e), message)
    }
}

/// How many failures of each kind, with the first few described.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Connections refused.
    pub refused: u64,
    /// Connections reset or aborted.
    pub reset: u64,
    /// Connects or answers that timed out.
    pub timeout: u64,
    /// Answers that were wrong.
    pub wrong_answer: u64,
    /// Answers that never came because the server closed the connection.
    pub missing_answer: u64,
    /// Connects that found no free local port.
    pub no_local_port: u64,
    /// Clients whose thread could not be started.
    pub spawn: u64,
    /// Other failures.
    pub other: u64,
    /// The first few distinct failures, described, each with how often it was seen.
    pub examples: Vec<Example>,
}

/// A failure described once however often it happened: a thousand refused connects are
/// one line, `connect: Connection refused (os error 111) (x1000)`, not five copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
    /// How many failures had this very message. (Reports written before grouping had
    /// one example per failure: read back as 1.)
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// How many distinct failures [`ErrorCounts`] describes in full.
const MAX_EXAMPLES: usize = 5;

impl ErrorCounts {
    /// Counts one failure.
    pub fn add(&mut self, failure: Failure) {
        *self.slot(failure.kind) += 1;
        self.describe(failure.kind, failure.message, 1);
    }

    /// Adds every count of `other` to this one.
    pub fn merge(&mut self, other: ErrorCounts) {
        for (kind, n) in other.by_kind() {
            *self.slot(kind) += n;
        }
        for example in other.examples {
            self.describe(example.kind, example.message, example.count);
        }
    }

    /// Counts `count` more failures described by `message` in its example, or starts a
    /// new example while there is room for one.
    fn describe(&mut self, kind: ErrorKind, message: String, count: u64) {
        if let Some(same) = self
            .examples
            .iter_mut()
            .find(|e| e.kind == kind && e.message == message)
        {
            same.count += count;
        } else if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(Example {
                kind,
                message,
                count,
            });
        }
    }

    /// Every failure counted.
    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, n)| n).sum()
    }

    /// The non-zero counts, by kind.
    pub fn by_kind(&self) -> Vec<(ErrorKind, u64)> {
        [
            (ErrorKind::Refused, self.refused),
            (ErrorKind::Reset, self.reset),
            (ErrorKind::Timeout, self.timeout),
            (ErrorKind::WrongAnswer, self.wrong_answer),
            (ErrorKind::MissingAnswer, self.missing_answer),
            (ErrorKind::NoLocalPort, self.no_local_port),
            (ErrorKind::Spawn, self.spawn),
            (ErrorKind::Other, self.other),
        ]
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .collect()
    }

    fn slot(&mut self, kind: ErrorKind) -> &mut u64 {
        match kind {
            ErrorKind::Refused => &mut self.refused,
            ErrorKind::Reset => &mut self.reset,
            ErrorKind::Timeout => &mut self.timeout,
            ErrorKind::WrongAnswer => &mut self.wrong_answer,
            ErrorKind::MissingAnswer => &mut self.missing_answer,
            ErrorKind::NoLocalPort => &mut self.no_local_port,
            ErrorKind::Spawn => &mut self.spawn,
            ErrorKind::Other => &mut self.other,
        }
    }
}

impl fmt::Display for ErrorCounts {
    /// `none`, or `refused 3, timeout 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.by_kind();
        if counts.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(kind, n)| format!("{} {n}", kind.name()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

/// The result of a burst: N clients released together, each doing its requests once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstReport {
    /// Always `burst`.
    pub mode: String,
    /// The server's address.
    pub addr: String,
    /// What each request was, e.g. `3|BenchmarkTestString123`.
    pub request: String,
    /// Clients started.
    pub clients: u64,
    /// Requests per client.
    pub requests_per_client: u64,
    /// Clients that got every answer, all correct.
    pub clients_ok: u64,
    /// From the first client's connect to the last client's last answer (or failure).
    pub total_s: f64,
    /// From the first client's start to the last client's start: how long releasing the
    /// burst took on bench's side (large values mean bench, not the server, is slow).
    #[serde(default)]
    pub start_spread_s: f64,
    /// Per-client time from the start of its connect to its last answer, over the
    /// clients that succeeded.
    pub latency: Summary,
    /// Per-client connect time, over the clients that connected.
    pub connect: Summary,
    /// Connects that took at least [`SYN_RETRY_STALL_S`]: likely SYN retries after a
    /// listen backlog overflow.
    pub slow_connects: u64,
    /// Failures by kind.
    pub errors: ErrorCounts,
    /// Limits and conditions worth knowing, said before the run.
    pub warnings: Vec<String>,
}

/// The result of a timed run: persistent, pipelined or connection-per-request load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// `throughput`, `pipelined` or `connect-per-request`.
    pub mode: String,
    /// The server's address.
    pub addr: String,
    /// What each request was.
    pub request: String,
    /// Concurrent connections (or, connection per request, concurrent clients).
    pub connections: u64,
    /// Requests in flight per connection.
    pub pipeline: u64,
    /// How long requests were sent for, measured.
    pub duration_s: f64,
    /// Correct answers received.
    pub requests: u64,
    /// Correct answers per second.
    pub requests_per_s: f64,
    /// Connections opened and closed per second (connection-per-request mode; else 0).
    pub connections_per_s: f64,
    /// Loopback source addresses the connections were spread over (0: one, the kernel's
    /// choice).
    pub source_addrs: u32,
    /// Connections that were established (persistent: at most one per connection; per
    /// request: one per request that got as far). 0 means nothing was measured.
    #[serde(default)]
    pub connected: u64,
    /// The warm-up before the measured window: load ran, nothing was recorded.
    #[serde(default)]
    pub warmup_s: f64,
    /// Per-request time to its answer (with connect, in connection-per-request mode):
    /// from when the request was sent (closed loop), or from when it was due (open
    /// loop, `--rate`: corrected for coordinated omission).
    pub latency: Summary,
    /// Open loop only: per-request time from the send to its answer, the figure a
    /// closed-loop tool would show. Beside `latency`, it shows what waiting for the
    /// server to take the request hid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_from_send: Option<Summary>,
    /// Open loop only: the schedule and how well bench kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateReport>,
    /// Failures by kind.
    pub errors: ErrorCounts,
    /// Limits and conditions worth knowing, said before the run.
    pub warnings: Vec<String>,
}

/// An open-loop run's schedule: what was offered, what the server took, and how late
/// bench's own sends left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateReport {
    /// Requests (or, connection per request, new connections) due per second.
    pub offered_per_s: f64,
    /// Requests due in the measured window and answered correctly, per second of it.
    pub achieved_per_s: f64,
    /// How late bench's sends left after the moment they could have: their due time, or
    /// the previous answer on the connection, whichever came later. A late answer is the
    /// server's; this lateness is bench's own (sleeping, scheduling).
    pub lag: Lag,
}

/// Percentiles of bench's own send lag, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Lag {
    /// The median.
    pub p50_s: f64,
    /// The 99th percentile.
    pub p99_s: f64,
    /// The longest.
    pub max_s: f64,
}

/// A lag p99 above this means bench could not keep its schedule: its latencies then
/// include its own lateness and say less about the server.
pub const MAX_TRUSTED_LAG_S: f64 = 0.001;

impl RateReport {
    /// The warning to print when bench fell behind its own schedule.
    pub fn lag_warning(&self) -> Option<String> {
        (self.lag.p99_s > MAX_TRUSTED_LAG_S).then(|| {
            format!(
                "bench could not keep its schedule: its sends left up to {} ms late \
                 (p99 {} ms > {} ms), so the latencies include bench's own lateness; \
                 use a less busy machine, fewer connections or a lower rate",
                ms(self.lag.max_s),
                ms(self.lag.p99_s),
                ms(MAX_TRUSTED_LAG_S)
            )
        })
    }
}

/// Seconds as milliseconds with three decimals.
fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

/// A `min mean p50 p90 p99 p99.9 max` row in milliseconds.
fn summary_row(out: &mut String, name: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "{name:<14}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}",
        ms(s.min_s),
        ms(s.mean_s),
        ms(s.p50_s),
        ms(s.p90_s),
        ms(s.p99_s),
        ms(s.p999_s),
        ms(s.max_s)
    );
}

fn summary_header(out: &mut String) {
    let _ = writeln!(
        out,
        "{:<14}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}",
        "(ms)", "min", "mean", "p50", "p90", "p99", "p99.9", "max"
    );
}

fn errors_and_warnings(out: &mut String, errors: &ErrorCounts, warnings: &[String]) {
    let _ = writeln!(out, "errors        {errors}");
    for example in &errors.examples {
        match example.count {
            1 => writeln!(out, "  e.g. {}", example.message),
            n => writeln!(out, "  e.g. {} (x{n})", example.message),
        }
        .unwrap_or_default();
    }
    for warning in warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
}

impl BurstReport {
    /// The human-readable table bench prints by default.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "burst: {} clients x {} request(s) '{}' -> {}",
            self.clients, self.requests_per_client, self.request, self.addr
        );
        let _ = writeln!(
            out,
            "total         {:.6} s (first connect to last answer)",
            self.total_s
        );
        let _ = writeln!(
            out,
            "answered      {}/{} clients",
            self.clients_ok, self.clients
        );
        let _ = writeln!(
            out,
            "start spread  {} ms (first to last client start: bench's own release time)",
            ms(self.start_spread_s)
        );
        summary_header(&mut out);
        summary_row(&mut out, "per client", &self.latency);
        summary_row(&mut out, "connect", &self.connect);
        if self.slow_connects > 0 {
            let _ = writeln!(
                out,
                "slow connects {} took >= {SYN_RETRY_STALL_S} s: likely SYN retries after the \
                 server's listen backlog overflowed",
                self.slow_connects
            );
        }
        errors_and_warnings(&mut out, &self.errors, &self.warnings);
        out
    }
}

impl LoadReport {
    /// The human-readable table bench prints by default.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} connections x {} in flight '{}' -> {}",
            self.mode, self.connections, self.pipeline, self.request, self.addr
        );
        let _ = writeln!(
            out,
            "requests      {} in {:.3} s = {:.0} req/s",
            self.requests, self.duration_s, self.requests_per_s
        );
        if self.connections_per_s > 0.0 {
            let _ = write!(out, "connections   {:.0} conn/s", self.connections_per_s);
            let _ = match self.source_addrs {
                0 => writeln!(out),
                n => writeln!(out, " from {n} source addresses (127.0.0.2 on)"),
            };
        }
        if self.warmup_s > 0.0 {
            let _ = writeln!(
                out,
                "warm-up       {:.3} s before the window, not counted",
                self.warmup_s
            );
        }
        let mut warnings = self.warnings.clone();
        if let Some(rate) = &self.rate {
            rate_lines(&mut out, rate, self.connections_per_s > 0.0);
            warnings.extend(rate.lag_warning());
        }
        summary_header(&mut out);
        match &self.latency_from_send {
            Some(from_send) => {
                summary_row(&mut out, "from due time", &self.latency);
                summary_row(&mut out, "from send", from_send);
                let _ = writeln!(
                    out,
                    "              (from due time: corrected for coordinated omission, what a \
                     user arriving on schedule waits; from send: what a closed-loop tool shows)"
                );
            }
            None => summary_row(&mut out, "per request", &self.latency),
        }
        errors_and_warnings(&mut out, &self.errors, &warnings);
        out
    }
}

/// The open-loop lines of the table: offered against achieved, and bench's own lag.
fn rate_lines(out: &mut String, rate: &RateReport, per_connection: bool) {
    let unit = if per_connection { "conn/s" } else { "req/s" };
    let share = if rate.offered_per_s > 0.0 {
        100.0 * rate.achieved_per_s / rate.offered_per_s
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "rate          offered {:.0} {unit}, achieved {:.1} {unit} ({share:.1} % of offered)",
        rate.offered_per_s, rate.achieved_per_s
    );
    let _ = writeln!(
        out,
        "send lag      p50 {} ms, p99 {} ms, max {} ms (how late bench's own sends left)",
        ms(rate.lag.p50_s),
        ms(rate.lag.p99_s),
        ms(rate.lag.max_s)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Socket errors map to the kinds a report counts.
    #[test]
    fn io_errors_are_classified() {
        let kind = |k| ErrorKind::of_io(&io::Error::from(k));
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), ErrorKind::Refused);
        assert_eq!(kind(io::ErrorKind::ConnectionReset), ErrorKind::Reset);
        assert_eq!(kind(io::ErrorKind::WouldBlock), ErrorKind::Timeout);
        assert_eq!(
            kind(io::ErrorKind::AddrNotAvailable),
            ErrorKind::NoLocalPort
        );
        assert_eq!(kind(io::ErrorKind::PermissionDenied), ErrorKind::Other);
    }

    /// Counts add up by kind, merge, and print compactly; repeated failures are one
    /// example with a count (also across a merge), and at most five distinct ones are kept.
    #[test]
    fn error_counts() {
        let mut a = ErrorCounts::default();
        assert_eq!(a.to_string(), "none");
        for _ in 0..4 {
            a.add(Failure::new(ErrorKind::Refused, "connect: refused"));
        }
        let mut b = ErrorCounts::default();
        b.add(Failure::new(ErrorKind::WrongAnswer, "wrong answer: 'x'"));
        b.add(Failure::new(ErrorKind::Timeout, "timed out"));
        b.add(Failure::new(ErrorKind::Refused, "connect: refused"));
        a.merge(b);
        assert_eq!(a.total(), 7);
        assert_eq!(a.to_string(), "refused 5, timeout 1, wrong answer 1");
        let counts: Vec<(&str, u64)> = a
            .examples
            .iter()
            .map(|e| (e.message.as_str(), e.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("connect: refused", 5),
                ("wrong answer: 'x'", 1),
                ("timed out", 1)
            ]
        );
        for i in 0..10 {
            a.add(Failure::new(ErrorKind::Other, format!("failure {i}")));
        }
        assert_eq!(a.examples.len(), 5);
        assert_eq!(a.other, 10);
        let mut out = String::new();
        errors_and_warnings(&mut out, &a, &[]);
        assert!(out.contains("  e.g. connect: refused (x5)\n"), "{out}");
        assert!(out.contains("  e.g. timed out\n"), "{out}");
    }

    /// A burst report survives JSON and its table shows totals, counts and stalls.
    #[test]
    fn burst_report_json_and_table() {
        let mut errors = ErrorCounts::default();
        errors.add(Failure::new(
            ErrorKind::Timeout,
            "waiting for the answer: timed out",
        ));
        let report = BurstReport {
            mode: "burst".into(),
            addr: "127.0.0.1:1".into(),
            request: "3|x".into(),
            clients: 10,
            requests_per_client: 1,
            clients_ok: 9,
            total_s: 3.5,
            start_spread_s: 0.001,
            latency: Summary {
                count: 9,
                p99_s: 3.25,
                ..Summary::default()
            },
            connect: Summary::default(),
            slow_connects: 2,
            errors,
            warnings: vec!["a limit".into()],
        };
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"timeout\":1"), "{json}");
        let back: BurstReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        let table = report.to_table();
        assert!(table.contains("total         3.500000 s"), "{table}");
        assert!(table.contains("answered      9/10"), "{table}");
        assert!(table.contains("3250.000"), "{table}");
        assert!(table.contains("slow connects 2"), "{table}");
        assert!(table.contains("errors        timeout 1"), "{table}");
        assert!(table.contains("warning: a limit"), "{table}");
    }
}
