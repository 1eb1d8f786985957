//! The command line of every task: `cargo xtask bench`, `report`, `curve`, `stevens` and `merge`, with
//! the parsers of their values. A bad value is a usage error (clap's, exit status 2) that
//! says what is expected; nothing here runs anything.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::util;

/// Project tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version)]
pub struct Cli {
    /// The task to run.
    #[command(subcommand)]
    pub task: Task,
}

/// One task per subcommand, each run by the module of its name.
#[derive(Subcommand)]
pub enum Task {
    /// Re-run the tutorial's benchmark: N concurrent clients against each server, with a
    /// fixed delay per request; writes CSV, JSON, plots and REPORT.md.
    Bench(BenchArgs),
    /// Re-render a finished run's REPORT.md, results.csv and plots from its results.json.
    Report {
        /// The run's folder (the `--out` of `cargo xtask bench`).
        dir: PathBuf,
    },
    /// Latency against offered load: each server at rising fixed rates (open loop, `bench
    /// --rate`), a fresh server per point, up to its knee; writes curve.csv, curve.json,
    /// plot-latency.svg and CURVE.md.
    Curve(CurveArgs),
    /// Re-run Stevens' UNIX Network Programming chapter 30 experiment: server CPU per
    /// connection and the spread over workers for every design (each accept strategy);
    /// writes stevens.csv, STEVENS.md and plot-stevens.svg.
    Stevens(StevensArgs),
    /// Add the HdrHistogram interval logs of several load generators (`bench --rate
    /// --start-at T --hdr-log FILE` on each host) interval by interval on absolute time;
    /// writes merged.hlog (the same standard format), merged.json and merged.txt, a
    /// per-second table it also prints. Bad input (a file missing, not an interval log,
    /// logs that share no time) exits 2 with the file and line.
    Merge(MergeArgs),
}

/// `cargo xtask merge` options.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The interval logs, one per generator.
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// Output directory (default: `target/merge/<UTC timestamp>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The `--servers` choice: `all`, or the servers named, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerChoice {
    /// Every architecture whose crate is in the workspace.
    All,
    /// These, each of which must exist.
    List(Vec<Architecture>),
}

impl FromStr for ServerChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<ServerChoice, String> {
        if text.trim() == "all" {
            return Ok(ServerChoice::All);
        }
        let mut list = Vec::new();
        for name in text.split(',').map(str::trim) {
            let server: Architecture = name.parse().map_err(|e| format!("{e}, or all"))?;
            if list.contains(&server) {
                return Err(format!("'{name}' is named twice"));
            }
            list.push(server);
        }
        Ok(ServerChoice::List(list))
    }
}

impl ServerChoice {
    /// The servers to run and those left out of `all` because their crate is not in the
    /// workspace. A server named explicitly must have its crate, or (with `--no-build`)
    /// a binary in `bin_dir`.
    ///
    /// # Errors
    ///
    /// When a server named explicitly exists neither as a crate nor as a binary, or when
    /// `all` finds none.
    pub fn resolve(
        &self,
        bin_dir: &Path,
        no_build: bool,
    ) -> anyhow::Result<(Vec<Architecture>, Vec<Architecture>)> {
        self.resolve_in(&util::project_root(), bin_dir, no_build)
    }

    /// [`ServerChoice::resolve`] for the tree at `root`.
    fn resolve_in(
        &self,
        root: &Path,
        bin_dir: &Path,
        no_build: bool,
    ) -> anyhow::Result<(Vec<Architecture>, Vec<Architecture>)> {
        let (exists, skipped): (Vec<Architecture>, Vec<Architecture>) =
            Architecture::ALL.iter().partition(|s| s.in_tree(root));
        let present = || {
            exists
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            ServerChoice::All => {
                if exists.is_empty() {
                    bail!("--servers all: no crates/server-* is in this workspace");
                }
                Ok((exists, skipped))
            }
            ServerChoice::List(list) => {
                for server in list {
                    let prebuilt = no_build && bin_dir.join(server.binary()).is_file();
                    if !exists.contains(server) && !prebuilt {
                        bail!(
                            "--servers: {name} does not exist yet: there is no crates/{binary} \
                             in this workspace (and no {binary} binary to run with --no-build); \
                             the servers that exist are {}",
                            present(),
                            name = server.name(),
                            binary = server.binary()
                        );
                    }
                }
                Ok((list.clone(), Vec::new()))
            }
        }
    }
}

/// `cargo xtask bench` options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Client counts: a range `10..=100` (or exclusive `10..100`) stepped by --step, a
    /// list `10,50,100`, or one number.
    #[arg(long, default_value = "10..=100")]
    pub clients: String,
    /// Step of a --clients range.
    #[arg(long, default_value_t = 10)]
    pub step: u64,
    /// The servers' delay per request (`3s`, `250ms`).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub delay: Duration,
    /// A first look in about a minute: `--clients 10..=50 --step 10 --delay 1s`.
    #[arg(long, conflicts_with_all = ["clients", "step", "delay"])]
    pub quick: bool,
    /// The old schedule: one point at a time, one server per architecture for all its
    /// points. By default the points whose server only waits (sequential's, and prefork's
    /// and pool's when requests do no work) run at the same time as the others, each on
    /// a server of its own.
    #[arg(long)]
    pub serial: bool,
    /// Run only the points missing from the unfinished run in DIR (its `results.json`),
    /// with that run's settings, and write the files there.
    #[arg(long, value_name = "DIR", conflicts_with_all = [
        "clients", "step", "delay", "quick", "work", "workers", "servers", "repeat", "out",
        "backlog",
    ])]
    pub resume: Option<PathBuf>,
    /// CPU time each request computes after its delay, passed to every server as
    /// `--work D` (measured on the serving thread's CPU clock); `0s` computes nothing.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub work: Duration,
    /// Workers of prefork and pool (their default: 16) and loops or runtime threads of
    /// evented and async (their default: one per core), passed to those four as
    /// `--workers N`; the model of prefork and pool uses it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub workers: Option<u64>,
    /// Servers to run, in order: a comma-separated list of architectures (the usage error
    /// of an unknown name lists them), or `all`, every one in the documented order (those
    /// whose crate is not in the workspace yet are left out, and the report says so).
    #[arg(long, default_value = "all")]
    pub servers: ServerChoice,
    /// Runs per point; the row reports the run with the median total.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub repeat: u64,
    /// Output directory (default: `target/bench/<UTC timestamp>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Listen backlog the servers are started with.
    #[arg(long, default_value_t = 4096)]
    pub backlog: u64,
    /// Directory holding the server and bench binaries [default: target/release].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Do not build: use the binaries already in --bin-dir.
    #[arg(long)]
    pub no_build: bool,
}

/// A duration flag (`3s`, `250ms`), at most a day: a sweep is made of many points, each
/// a few delays long, and bench's timeout is derived from them.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration > Duration::from_secs(24 * 3600) {
        return Err("too long for a benchmark point: at most 24h".into());
    }
    Ok(duration)
}

/// Expands a `--clients` spec with `step` into the client counts, in order.
///
/// # Errors
///
/// A message for a spec that is empty, not numbers, zero, backwards, or a range with
/// step 0.
pub fn parse_clients(spec: &str, step: u64) -> Result<Vec<u64>, String> {
    let number = |s: &str| -> Result<u64, String> {
        match s.trim().parse::<u64>() {
            Ok(0) => Err("client counts must be at least 1".into()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!(
                "'{}' is not a client count: expected e.g. 10..=100, 10..100, 10,50,100 or 10",
                s.trim()
            )),
        }
    };
    let spec = spec.trim();
    if let Some((start, end)) = spec.split_once("..") {
        let (end, inclusive) = match end.strip_prefix('=') {
            Some(end) => (end, true),
            None => (end, false),
        };
        let (start, end) = (number(start)?, number(end)?);
        if step == 0 {
            return Err("--step must be at least 1".into());
        }
        let last = if inclusive { end } else { end - 1 };
        if start > last {
            return Err(format!("the range {spec} holds no client count"));
        }
        let counts: Vec<u64> = (start..=last)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .collect();
        return Ok(counts);
    }
    spec.split(',').map(number).collect()
}

/// How connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `--clients` persistent connections share the rate (requests/s).
    Persistent,
    /// A new connection for every request: the rate is connections/s.
    Cpr,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Persistent => "persistent",
            Mode::Cpr => "cpr",
        }
    }
}

/// One line of the curve: an architecture, or redis-server for reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// One of the taskserver architectures.
    Architecture(Architecture),
    /// redis-server answering inline `PING`.
    Redis,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::Architecture(server) => server.name(),
            Subject::Redis => "redis",
        }
    }
}

/// `--servers`: `all` (every architecture whose crate is in the workspace, then redis),
/// or a list of architectures and `redis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subjects(pub Vec<Subject>);

impl FromStr for Subjects {
    type Err = String;

    fn from_str(text: &str) -> Result<Subjects, String> {
        if text.trim() == "all" {
            let root = util::project_root();
            let mut all: Vec<Subject> = Architecture::ALL
                .iter()
                .filter(|a| a.in_tree(&root))
                .map(|&a| Subject::Architecture(a))
                .collect();
            all.push(Subject::Redis);
            return Ok(Subjects(all));
        }
        let mut list = Vec::new();
        for name in text.split(',').map(str::trim) {
            let subject = if name == "redis" {
                Subject::Redis
            } else {
                Subject::Architecture(name.parse().map_err(|e| format!("{e}, redis, or all"))?)
            };
            if list.contains(&subject) {
                return Err(format!("'{name}' is named twice"));
            }
            list.push(subject);
        }
        Ok(Subjects(list))
    }
}

/// `cargo xtask stevens` options.
#[derive(Debug, Clone, Args)]
pub struct StevensArgs {
    /// Connections per design, in all
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub connections: u64,
    /// Client loops, each connecting one after the other
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub clients: u64,
    /// Bytes of each answer: a `3|` (reverse) request of that many bytes
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub bytes: u64,
    /// Workers (processes, threads or loops) of the designs that have them (UNP used 15)
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub workers: u64,
    /// Rounds: each runs every design once, in order (so each design's runs are spread
    /// over the whole time, under the same load as the others'); a design's row is its
    /// round with the median CPU per connection
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub rounds: u64,
    #[command(flatten)]
    pub files: RunFiles,
}

/// `cargo xtask curve` options.
#[derive(Debug, Clone, Args)]
pub struct CurveArgs {
    /// Servers, in order: architectures (sequential, forking, threaded, prefork, pool,
    /// evented, async) and `redis` (redis-server's inline PING, when it is on PATH), or
    /// `all`: every architecture, then redis.
    #[arg(long, default_value = "all")]
    pub servers: Subjects,
    /// Offered rates per second, rising: a list `1000,5000,20000`, or a range `A..=B`,
    /// which doubles from A and ends with B.
    #[arg(long, default_value = "1000..=128000")]
    pub rates: Rates,
    /// persistent: --clients connections share the rate; cpr: a new connection per
    /// request, the rate in connections per second.
    #[arg(long, value_enum, default_value = "persistent")]
    pub mode: Mode,
    /// Connections (persistent), or clients each opening one connection at a time (cpr).
    /// The default, 10, is fewer than the pools' 16 workers, so that every architecture
    /// but the sequential one can serve every connection at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub clients: u64,
    /// How long each point is measured.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before each point's measurement, not counted.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// The p99 a rate must stay under to count as sustainable.
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub target_p99: Duration,
    #[command(flatten)]
    pub files: RunFiles,
}

/// Where a measuring command (`curve`, `stevens`) finds its binaries and writes its
/// results: the options they share.
#[derive(Debug, Clone, Args)]
pub struct RunFiles {
    /// Output directory (default: `target/<command>/<UTC timestamp>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory holding the server and bench binaries [default: target/release].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Do not build: use the binaries already in --bin-dir.
    #[arg(long)]
    pub no_build: bool,
}

impl RunFiles {
    /// `--bin-dir`, else `target/release`.
    pub fn bin_dir(&self) -> PathBuf {
        self.bin_dir
            .clone()
            .unwrap_or_else(|| util::target_dir().join("release"))
    }

    /// `--out`, else `target/<command>/<the start's UTC timestamp>`.
    pub fn out(&self, command: &str, started: SystemTime) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| util::target_dir().join(command).join(util::stamp(started)))
    }
}

/// `--rates`, rising offered rates per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates(pub Vec<f64>);

impl FromStr for Rates {
    type Err = String;

    fn from_str(spec: &str) -> Result<Rates, String> {
        parse_rates(spec).map(Rates)
    }
}

/// `--rates`: `1000,5000` as given, or `A..=B` doubling from A and ending with B.
///
/// # Errors
///
/// A message for anything that is not rising positive numbers.
pub fn parse_rates(spec: &str) -> Result<Vec<f64>, String> {
    let number = |s: &str| -> Result<f64, String> {
        let rate: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a rate"))?;
        if rate.is_finite() && rate > 0.0 {
            Ok(rate)
        } else {
            Err(format!("'{s}': a rate must be a finite number above 0"))
        }
    };
    let rates = match spec.split_once("..=") {
        Some((low, high)) => {
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(format!("{spec}: the range is empty"));
            }
            let mut rates: Vec<f64> = std::iter::successors(Some(low), |r| Some(r * 2.0))
                .take_while(|&r| r < high)
                .collect();
            rates.push(high);
            rates
        }
        None => spec.split(',').map(number).collect::<Result<_, _>>()?,
    };
    if rates.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!("{spec}: rates must rise"));
    }
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// Inclusive and exclusive ranges step; lists and single numbers are taken as given.
    #[test]
    fn client_specs() {
        assert_eq!(
            parse_clients("10..=100", 10).unwrap(),
            vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        );
        assert_eq!(parse_clients("10..100", 10).unwrap().last(), Some(&90));
        assert_eq!(parse_clients("2..=4", 2).unwrap(), vec![2, 4]);
        assert_eq!(parse_clients("1..=10", 4).unwrap(), vec![1, 5, 9]);
        assert_eq!(parse_clients("10,50,100", 10).unwrap(), vec![10, 50, 100]);
        assert_eq!(parse_clients(" 10 ", 10).unwrap(), vec![10]);
    }

    /// Bad specs are refused with a message saying what is expected.
    #[test]
    fn bad_client_specs() {
        assert!(parse_clients("", 10).unwrap_err().contains("expected e.g."));
        assert!(parse_clients("ten", 10).unwrap_err().contains("'ten'"));
        assert!(parse_clients("0", 10).unwrap_err().contains("at least 1"));
        assert!(parse_clients("10..=100", 0).unwrap_err().contains("--step"));
        assert!(
            parse_clients("50..=10", 10)
                .unwrap_err()
                .contains("no client count")
        );
        assert!(parse_clients("10..10", 1).is_err());
        assert!(parse_clients("10,,20", 10).is_err());
    }

    /// A `cargo xtask bench` command line.
    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    /// The defaults reproduce the tutorial (10..=100 by 10, 3 s) over every server, with
    /// no work and the servers' own worker counts.
    #[test]
    fn defaults_are_the_tutorials() {
        let args = parse(&[]).unwrap();
        assert_eq!(parse_clients(&args.clients, args.step).unwrap().len(), 10);
        assert_eq!(args.delay, Duration::from_secs(3));
        assert_eq!(args.servers, ServerChoice::All);
        assert_eq!(args.work, Duration::ZERO);
        assert_eq!(args.workers, None);
        let args = parse(&["--servers", "forking,threaded", "--delay", "250ms"]).unwrap();
        assert_eq!(
            args.servers,
            ServerChoice::List(vec![Architecture::Forking, Architecture::Threaded])
        );
        assert_eq!(args.delay, Duration::from_millis(250));
        let args = parse(&[
            "--servers",
            "async, pool",
            "--work",
            "20ms",
            "--workers",
            "4",
        ])
        .unwrap();
        assert_eq!(
            args.servers,
            ServerChoice::List(vec![Architecture::Async, Architecture::Pool])
        );
        assert_eq!(args.work, Duration::from_millis(20));
        assert_eq!(args.workers, Some(4));
    }

    /// Unknown, repeated or missing server names, zero workers and absurd durations are
    /// refused with a message that says what is expected.
    #[test]
    fn bad_arguments() {
        let err = parse(&["--servers", "threaded,nginx"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'nginx' is not a server"), "{err}");
        assert!(
            err.contains("name some of sequential, forking, threaded"),
            "{err}"
        );
        assert!(err.contains(", or all"), "{err}");
        let err = parse(&["--servers", "pool,pool"]).unwrap_err().to_string();
        assert!(err.contains("named twice"), "{err}");
        assert!(parse(&["--servers", ""]).is_err());
        assert!(parse(&["--workers", "0"]).is_err());
        let err = parse(&["--delay", "580000000000y"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 24h"), "{err}");
        assert!(parse(&["--work", "soon"]).is_err());
    }

    /// `all` runs the servers whose crate exists, in the documented order, and names the rest;
    /// a server named explicitly that does not exist is a clear error.
    #[test]
    fn server_resolution() {
        let nowhere = Path::new("/nonexistent");
        let (run, skipped) = ServerChoice::All.resolve(nowhere, false).unwrap();
        assert!(run.starts_with(&[
            Architecture::Sequential,
            Architecture::Forking,
            Architecture::Threaded
        ]));
        assert_eq!(run.len() + skipped.len(), Architecture::ALL.len());
        assert!(run.iter().all(|s| s.in_tree(&util::project_root())));
        assert!(skipped.iter().all(|s| !s.in_tree(&util::project_root())));

        // A tree where only threaded and pool exist yet.
        let tree = std::env::temp_dir().join(format!("xtask-tree-{}", std::process::id()));
        for name in ["server-threaded", "server-pool"] {
            fs::create_dir_all(tree.join("crates").join(name)).unwrap();
            fs::write(tree.join("crates").join(name).join("Cargo.toml"), "").unwrap();
        }
        let (run, skipped) = ServerChoice::All.resolve_in(&tree, nowhere, false).unwrap();
        assert_eq!(run, vec![Architecture::Threaded, Architecture::Pool]);
        assert_eq!(skipped.len(), Architecture::ALL.len() - 2);
        let err = ServerChoice::List(vec![Architecture::Threaded, Architecture::Evented])
            .resolve_in(&tree, nowhere, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("evented does not exist yet"), "{err}");
        assert!(err.contains("no crates/server-evented"), "{err}");
        assert!(
            err.contains("the servers that exist are threaded,pool"),
            "{err}"
        );
        // With --no-build, a binary in --bin-dir is enough.
        let bins = tree.join("bin");
        fs::create_dir_all(&bins).unwrap();
        fs::write(bins.join("server-evented"), "").unwrap();
        assert!(
            ServerChoice::List(vec![Architecture::Evented])
                .resolve_in(&tree, &bins, true)
                .is_ok()
        );
        let empty = tree.join("empty");
        fs::create_dir_all(&empty).unwrap();
        assert!(
            ServerChoice::All
                .resolve_in(&empty, nowhere, false)
                .is_err()
        );
        fs::remove_dir_all(&tree).unwrap();
        let (run, skipped) = ServerChoice::List(vec![Architecture::Threaded])
            .resolve(nowhere, false)
            .unwrap();
        assert_eq!((run, skipped), (vec![Architecture::Threaded], vec![]));
    }

    /// A range doubles and ends with its upper bound; lists must rise; nonsense is
    /// refused with a message.
    #[test]
    fn rates() {
        assert_eq!(
            parse_rates("1000..=5000").unwrap(),
            [1000.0, 2000.0, 4000.0, 5000.0]
        );
        assert_eq!(
            parse_rates("1000..=4000").unwrap(),
            [1000.0, 2000.0, 4000.0]
        );
        assert_eq!(parse_rates("500").unwrap(), [500.0]);
        assert_eq!(parse_rates("10, 20,40").unwrap(), [10.0, 20.0, 40.0]);
        assert!(parse_rates("20,10").unwrap_err().contains("rise"));
        assert!(parse_rates("0,10").unwrap_err().contains("above 0"));
        assert!(parse_rates("5000..=1000").unwrap_err().contains("empty"));
        assert!(parse_rates("fast").unwrap_err().contains("not a rate"));
    }

    /// Servers: names and redis in order, no repeats, unknown names refused.
    #[test]
    fn subjects() {
        let Subjects(list) = "evented,redis".parse().unwrap();
        assert_eq!(
            list,
            [Subject::Architecture(Architecture::Evented), Subject::Redis]
        );
        assert!("evented,evented".parse::<Subjects>().is_err());
        assert!("nginx".parse::<Subjects>().unwrap_err().contains("nginx"));
        let Subjects(all) = "all".parse().unwrap();
        assert_eq!(all.last(), Some(&Subject::Redis));
    }
}
