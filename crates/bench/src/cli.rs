//! The command line: which mode, against what, and how a run's report is printed.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use protocol::{Framing, Op};
use serde::Serialize;

use crate::Target;
use crate::burst::{self, BurstConfig};
use crate::hdr_log;
use crate::limits::{self, LimitError};
use crate::load::{self, LoadConfig, LoadMode};
use crate::open_loop::{self, RateConfig};
use crate::report::{BurstReport, ErrorKind, LoadReport};
use crate::source;
use crate::wire::{Exchange, ExchangeError};

/// Load generator for taskserver (and redis-server's inline PING): a burst of clients
/// released together (the default, the tutorial's experiment), or timed load with
/// `--duration`.
#[derive(Debug, Clone, Parser)]
#[command(name = "bench", version, after_help = EXIT_CODES)]
pub struct Args {
    /// Server address to connect to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port.
    #[arg(long, default_value_t = 65432)]
    pub port: u16,
    /// Server address as HOST:PORT; overrides --host and --port.
    #[arg(long)]
    pub addr: Option<String>,
    /// Concurrent clients (burst) or connections (timed load).
    #[arg(long, default_value_t = 10)]
    pub clients: u64,
    /// Requests each client sends in a burst, one after the other.
    #[arg(long, default_value_t = 1)]
    pub requests: u64,
    /// Operation: 1/case, 2/eval, 3/reverse.
    #[arg(long, default_value = "3")]
    pub op: Op,
    /// The request's payload.
    #[arg(long, default_value = "BenchmarkTestString123")]
    pub payload: String,
    /// Wire framing: line or raw (the tutorial's).
    #[arg(long, default_value = "line")]
    pub framing: Framing,
    /// Give up on a connect or an answer after this long (`0s` = never). A sequential
    /// server makes the last of N clients wait N × delay.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Burst: threads driving the clients, each with its share of them on non-blocking
    /// sockets (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub drivers: usize,
    /// Timed load instead of a burst: send back to back for this long (e.g. `10s`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Timed load: requests in flight per connection.
    #[arg(long, default_value_t = 1, requires = "duration")]
    pub pipeline: u64,
    /// Timed load: a new connection for every request; reports connections per second.
    #[arg(long, requires = "duration", conflicts_with = "pipeline")]
    pub connect_per_request: bool,
    /// Connection per request: spread the connections over N loopback source addresses,
    /// 127.0.0.2 and up (at most 254), so that the client's TIME_WAIT tuples are not the
    /// limit; 0 lets the kernel choose (one address). Default: enough for the run's
    /// duration and --rate (or a planned 50k conn/s), for a server on 127.x.x.x.
    #[arg(long, value_name = "N", requires = "connect_per_request")]
    pub source_addrs: Option<u32>,
    /// Connection per request: stop after N connections in all, or when --duration ends
    /// if that comes first (Stevens' experiment: a fixed number of connections)
    #[arg(long, value_name = "N", requires = "connect_per_request",
          conflicts_with_all = ["warmup", "rate"], value_parser = clap::value_parser!(u64).range(1..))]
    pub total_connections: Option<u64>,
    /// Timed load at a fixed rate (open loop, as wrk2): R requests per second in total,
    /// spread over the connections, sent when due whether or not the server keeps up;
    /// latency counts from when each request was due. With --connect-per-request, R new
    /// connections per second.
    #[arg(long, requires = "duration", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Timed load: run the load this long first without recording it (e.g. `2s`).
    #[arg(long, requires = "duration", value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// With --rate: write the corrected latencies (ns) to FILE as an HdrHistogram interval
    /// log, one interval per second, for HdrHistogram's own tools.
    #[arg(long, value_name = "FILE", requires = "rate")]
    pub hdr_log: Option<PathBuf>,
    /// Wait until this wall-clock second (seconds since the Unix epoch, as `date +%s`
    /// prints) and start then, so that generators on several hosts start together; with
    /// `--hdr-log` each writes its intervals on absolute time for `cargo xtask merge`. A
    /// time more than a second past, or more than a day ahead, is refused.
    #[arg(long, value_name = "UNIX_TIME")]
    pub start_at: Option<u64>,
    /// Send redis's inline `PING` and expect `+PONG` instead of a taskserver request, to
    /// measure redis-server with the same load generator.
    #[arg(long, conflicts_with_all = ["op", "payload", "framing"])]
    pub redis_ping: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The exit-code rule, shown at the end of `--help`: the same rule as the client's (2
/// when nothing could be measured or asked, 1 when answers were wrong or missing).
pub const EXIT_CODES: &str = "Exit codes: 0 every client was answered correctly; 1 the run \
    happened but some clients failed (refused, reset, timed out, wrong or missing answer: the \
    report says which); 2 nothing was measured: a usage error (a bad flag or value), an address \
    that does not resolve, an open-file or port limit that rules the run out, or a report that \
    could not be written.";

/// The longest `--timeout` or `--duration` accepted: far beyond any real run, and far
/// enough below the clock's range that adding it to "now" can never overflow.
/// (100 years of 365.25 days, as `humantime` counts a `y`.)
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// Parses a duration flag (`10s`, `250ms`, `2h`), refusing one longer than
/// [`MAX_DURATION`] with a message instead of panicking later on a deadline that does
/// not fit the clock.
///
/// # Errors
///
/// A message for text that is not a duration, or a duration over 100 years.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration > MAX_DURATION {
        return Err("too long: at most 100y (a --timeout of 0s waits for ever)".into());
    }
    Ok(duration)
}

/// Parses `--rate`: a finite number of requests per second above 0.
///
/// # Errors
///
/// A message for text that is not a number, and for 0, negative, or infinite rates.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.trim().parse().map_err(|_| {
        String::from("not a number: a rate is requests per second, such as 1000 or 2.5")
    })?;
    if rate.is_nan() || rate <= 0.0 {
        return Err("a rate must be more than 0 requests per second".into());
    }
    if rate.is_infinite() {
        return Err("a rate must be a finite number of requests per second".into());
    }
    Ok(rate)
}

/// Why a run cannot start, or measured nothing.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The arguments contradict each other or name nothing.
    #[error("{0}")]
    Usage(String),
    /// The server address does not resolve.
    #[error("cannot resolve {addr}: {source}")]
    Resolve {
        /// What was given.
        addr: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The request cannot be sent in this framing.
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    /// An operating-system limit would be hit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// `--hdr-log`'s file could not be created or written.
    #[error("{path}: {source}")]
    HdrLog {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not one connection was made: nothing was measured.
    #[error("no client connected: {0}")]
    NoConnection(String),
}

/// A run's report, either kind.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    /// A burst's.
    Burst(BurstReport),
    /// Timed load's.
    Load(LoadReport),
}

impl Report {
    /// The human-readable table.
    pub fn to_table(&self) -> String {
        match self {
            Report::Burst(r) => r.to_table(),
            Report::Load(r) => r.to_table(),
        }
    }

    /// Failures counted.
    pub fn error_count(&self) -> u64 {
        match self {
            Report::Burst(r) => r.errors.total(),
            Report::Load(r) => r.errors.total(),
        }
    }

    /// Why nothing was measured, when not one connection was made: the first failure,
    /// said as what it means.
    fn no_connection(&self) -> Option<String> {
        let (connected, errors, addr) = match self {
            Report::Burst(r) => (r.connect.count, &r.errors, &r.addr),
            Report::Load(r) => (r.connected, &r.errors, &r.addr),
        };
        if connected > 0 {
            return None;
        }
        let first = errors.examples.first()?;
        Some(match first.kind {
            ErrorKind::Refused => {
                format!("connection refused on {addr} (is a server running?)")
            }
            _ => format!("{} ({addr})", first.message),
        })
    }
}

/// Resolves the address the arguments name.
fn resolve(args: &Args) -> Result<SocketAddr, BenchError> {
    let text = args
        .addr
        .clone()
        .unwrap_or_else(|| match args.host.contains(':') {
            // An IPv6 literal needs brackets before the port.
            true if !args.host.starts_with('[') => format!("[{}]:{}", args.host, args.port),
            _ => format!("{}:{}", args.host, args.port),
        });
    let resolved = text
        .to_socket_addrs()
        .map_err(|source| BenchError::Resolve {
            addr: text.clone(),
            source,
        })?;
    resolved
        .into_iter()
        .next()
        .ok_or_else(|| BenchError::Resolve {
            addr: text.clone(),
            source: std::io::Error::other("no address found"),
        })
}

/// Runs what the arguments ask for.
///
/// # Errors
///
/// [`BenchError`] when the arguments are contradictory, the address does not resolve,
/// the request cannot be encoded, or a limit (open files, local ports) rules the run out.
/// Failures of clients during the run are not errors: they are counted in the report.
pub fn run(args: &Args) -> Result<Report, BenchError> {
    if args.clients == 0 {
        return Err(BenchError::Usage("--clients must be at least 1".into()));
    }
    if args.requests == 0 {
        return Err(BenchError::Usage("--requests must be at least 1".into()));
    }
    if args.pipeline == 0 {
        return Err(BenchError::Usage("--pipeline must be at least 1".into()));
    }
    if args.pipeline > 1 && args.rate.is_some() {
        return Err(BenchError::Usage(
            "--rate keeps one request in flight per connection, as wrk2 does (a request \
             due while the previous answer is out is sent when it comes, and its wait \
             counts): use --clients for more at once, not --pipeline"
                .into(),
        ));
    }
    if args.pipeline > 1 && args.framing == Framing::Raw {
        return Err(BenchError::Usage(
            "--pipeline needs line framing: raw framing has no request boundaries".into(),
        ));
    }
    let exchange = if args.redis_ping {
        Exchange::redis_ping()
    } else {
        Exchange::task(args.op, &args.payload, args.framing)?
    };
    let target = Target {
        addr: resolve(args)?,
        exchange,
        timeout: (!args.timeout.is_zero()).then_some(args.timeout),
    };
    let source_addrs = match args.duration {
        Some(duration) if args.connect_per_request => {
            let ports = limits::ephemeral_ports()
                .map_or(0, |(low, high)| u64::from(high.saturating_sub(low)) + 1);
            source::plan(args.source_addrs, target.addr, duration, args.rate, ports)
                .map_err(|e| BenchError::Usage(e.to_string()))?
        }
        _ => 0,
    };
    let start_at = args.start_at.map(start_time).transpose()?;
    let hdr_log = args.hdr_log.as_deref().map(create).transpose()?;
    let mut warnings = limits::prepare(args.clients, args.duration.is_none())?;
    if let Some(at) = start_at {
        wait_until(at);
    }
    let report = match (args.duration, args.rate) {
        (None, _) => Report::Burst(burst::run(
            &BurstConfig {
                target,
                clients: args.clients,
                requests: args.requests,
                drivers: args.drivers,
            },
            warnings,
        )),
        (Some(duration), None) => Report::Load(load::run(
            &LoadConfig {
                target,
                connections: args.clients,
                warmup: args.warmup.unwrap_or_default(),
                duration,
                mode: if args.connect_per_request {
                    LoadMode::ConnectPerRequest
                } else {
                    LoadMode::Persistent {
                        pipeline: args.pipeline,
                    }
                },
                source_addrs,
                total: args.total_connections,
            },
            warnings,
        )),
        (Some(duration), Some(rate)) => {
            if args.connect_per_request {
                warnings.extend(limits::check_connection_rate(
                    rate,
                    args.clients,
                    target.addr,
                    source_addrs,
                )?);
            }
            let run = open_loop::run(
                &RateConfig {
                    target,
                    connections: args.clients,
                    rate,
                    warmup: args.warmup.unwrap_or_default(),
                    duration,
                    connect_per_request: args.connect_per_request,
                    source_addrs,
                    hdr_log: hdr_log.is_some(),
                },
                warnings,
            );
            if let Some((path, file)) = hdr_log {
                write_hdr_log(&path, file, run.window_start, run.intervals)?;
            }
            Report::Load(run.report)
        }
    };
    match report.no_connection() {
        Some(why) => Err(BenchError::NoConnection(why)),
        None => Ok(report),
    }
}

/// How far past `--start-at` may be and still be started at once: a generator launched
/// by a script in the same second as the others (or a little after) joins them.
const START_AT_GRACE: Duration = Duration::from_secs(1);

/// How far ahead `--start-at` may be: further is a mistake (milliseconds given for
/// seconds, say), not a wait.
const START_AT_HORIZON: Duration = Duration::from_secs(24 * 60 * 60);

/// `--start-at`'s second as a wall-clock time, checked against the clock now.
fn start_time(unix_s: u64) -> Result<SystemTime, BenchError> {
    let now = SystemTime::now();
    // A second beyond the clock's range is far more than a day ahead.
    let at = UNIX_EPOCH
        .checked_add(Duration::from_secs(unix_s))
        .unwrap_or(now + START_AT_HORIZON * 2);
    if let Ok(past) = now.duration_since(at)
        && past > START_AT_GRACE
    {
        return Err(BenchError::Usage(format!(
            "--start-at {unix_s} passed {:.1} s ago (now {:.1}): give a second still to \
             come, e.g. --start-at $(( $(date +%s) + 5 ))",
            past.as_secs_f64(),
            seconds_since_epoch(now)
        )));
    }
    if let Ok(ahead) = at.duration_since(now)
        && ahead > START_AT_HORIZON
    {
        return Err(BenchError::Usage(format!(
            "--start-at {unix_s} is {:.0} s ahead (now {:.0}), more than a day: it takes \
             seconds since the epoch, as `date +%s` prints, not milliseconds",
            ahead.as_secs_f64(),
            seconds_since_epoch(now)
        )));
    }
    Ok(at)
}

/// Seconds since the Unix epoch.
fn seconds_since_epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Sleeps until the wall clock reads `at` (at once if it already does).
fn wait_until(at: SystemTime) {
    // A sleep never ends early, so one is enough; the clock is read again in case
    // the checks before took a while.
    if let Ok(left) = at.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

/// Creates `--hdr-log`'s file before the run, so that a path that cannot be written is
/// said before the load, not after it.
fn create(path: &std::path::Path) -> Result<(String, File), BenchError> {
    let name = path.display().to_string();
    File::create(path)
        .map(|file| (name.clone(), file))
        .map_err(|source| BenchError::HdrLog { path: name, source })
}

/// What `--hdr-log`'s values are, said in its first line.
const HDR_LOG_ABOUT: &str =
    "Latencies in nanoseconds, from when each request was due, written by taskserver's bench";

/// Writes an open-loop run's interval log to `file`.
fn write_hdr_log(
    path: &str,
    file: File,
    window_start: SystemTime,
    intervals: Option<std::io::Result<Vec<u8>>>,
) -> Result<(), BenchError> {
    let mut out = BufWriter::new(file);
    intervals
        .unwrap_or_else(|| Err(std::io::Error::other("no interval was recorded")))
        .and_then(|lines| hdr_log::write(&mut out, HDR_LOG_ABOUT, window_start, &lines))
        .and_then(|()| out.flush())
        .map_err(|source| BenchError::HdrLog {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
    }

    /// The defaults are the tutorial's experiment: 10 clients, `3|BenchmarkTestString123`.
    #[test]
    fn defaults_are_the_tutorials() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.clients, 10);
        assert_eq!(args.op, Op::Reverse);
        assert_eq!(args.payload, "BenchmarkTestString123");
        assert_eq!(args.port, 65432);
        assert!(args.duration.is_none());
    }

    /// Timed-load options need --duration; --redis-ping excludes a taskserver request.
    #[test]
    fn option_rules() {
        assert!(parse(&["--pipeline", "16"]).is_err());
        assert!(parse(&["--connect-per-request"]).is_err());
        assert!(parse(&["--duration", "2s", "--pipeline", "16"]).is_ok());
        assert!(parse(&["--redis-ping", "--op", "1"]).is_err());
        assert!(parse(&["--timeout", "soon"]).is_err());
    }

    /// Durations too long for the clock are refused at parse time with a message (they
    /// used to panic when added to the start instant); 100 years is still accepted.
    #[test]
    fn huge_durations_are_refused() {
        for flag in ["--timeout", "--duration"] {
            let err = parse(&[flag, "580000000000y"]).unwrap_err().to_string();
            assert!(err.contains("'580000000000y'"), "{err}");
            assert!(err.contains("too long: at most 100y"), "{err}");
            assert!(parse(&[flag, "100y"]).is_ok());
            assert!(parse(&[flag, "101y"]).is_err());
        }
        let err = parse(&["--timeout", "99999999999999999999y"]).unwrap_err();
        assert!(err.to_string().contains("99999999999999999999y"), "{err}");
    }

    /// Zero clients and pipelined raw framing are refused before anything connects.
    #[test]
    fn refused_before_connecting() {
        let err = run(&parse(&["--clients", "0"]).unwrap()).unwrap_err();
        assert!(err.to_string().contains("--clients"), "{err}");
        let args = parse(&["--duration", "1s", "--pipeline", "4", "--framing", "raw"]).unwrap();
        assert!(run(&args).unwrap_err().to_string().contains("line framing"));
    }

    /// --source-addrs belongs to connection per request, takes a number, and bad
    /// counts are usage errors that say why.
    #[test]
    fn source_addrs_rules() {
        assert!(parse(&["--duration", "1s", "--source-addrs", "4"]).is_err());
        let per_request = [
            "--duration",
            "1s",
            "--connect-per-request",
            "--source-addrs",
        ];
        assert!(parse(&[&per_request[..], &["four"]].concat()).is_err());
        let args = parse(&[&per_request[..], &["300"]].concat()).unwrap();
        let err = run(&args).unwrap_err();
        assert!(matches!(err, BenchError::Usage(_)), "{err}");
        assert!(err.to_string().contains("at most 254"), "{err}");
        let args = parse(&[&per_request[..], &["2", "--host", "::1"]].concat()).unwrap();
        let err = run(&args).unwrap_err().to_string();
        assert!(err.contains("IPv4 loopback"), "{err}");
    }

    /// --start-at refuses a second more than one past, or more than a day ahead, with
    /// a usage error that says the time now; the current second is accepted.
    #[test]
    fn start_at_rules() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(start_time(now).is_ok());
        assert!(start_time(now + 60).is_ok());
        let err = start_time(now - 5).unwrap_err();
        assert!(matches!(err, BenchError::Usage(_)), "{err}");
        assert!(err.to_string().contains("passed"), "{err}");
        let err = start_time(now * 1000).unwrap_err().to_string();
        assert!(err.contains("not milliseconds"), "{err}");
        assert!(parse(&["--start-at", "soon"]).is_err());
        let args = parse(&["--start-at", "12", "--clients", "1"]).unwrap();
        assert!(
            run(&args)
                .unwrap_err()
                .to_string()
                .contains("--start-at 12 passed")
        );
    }

    /// --addr wins over --host/--port, and IPv6 hosts get brackets.
    #[test]
    fn addresses() {
        let args = parse(&["--addr", "127.0.0.1:9", "--port", "1"]).unwrap();
        assert_eq!(resolve(&args).unwrap(), "127.0.0.1:9".parse().unwrap());
        let args = parse(&["--host", "::1", "--port", "7"]).unwrap();
        assert_eq!(resolve(&args).unwrap(), "[::1]:7".parse().unwrap());
    }
}
