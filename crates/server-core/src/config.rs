//! The command line every server shares: [`ServerArgs`], flattened into each binary's
//! `Cli`, and turned into the [`Config`] the rest of the crate reads.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::{Args, ValueEnum};
use protocol::Framing;

/// The options every server takes, whatever its architecture.
///
/// Bad values are refused by clap with a message naming the flag, and exit status 2.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to bind, IPv4 or IPv6
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Bind to the first IPv4 address of this network interface instead (e.g. eth0, lo)
    #[arg(long, value_name = "NAME", conflicts_with = "host", value_parser = parse_interface)]
    pub interface: Option<InterfaceAddr>,

    /// Port to listen on; 0 picks a free port (the banner shows which)
    #[arg(long, value_name = "N", default_value_t = 65432)]
    pub port: u16,

    /// Hold each request this long before answering (the tutorial's benchmark server: 3s)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub delay: Duration,

    /// Wire framing: `line` (OK/ERR lines) or `raw` (the tutorial's Python wire format)
    #[arg(long, value_name = "FRAMING", default_value = "line")]
    pub framing: Framing,

    /// Longest request line accepted, in bytes, not counting its line ending; a longer one is
    /// refused and the connection closed. With --framing raw each read of at most
    /// min(1024, N) bytes is one request, as the tutorial's recv(1024)
    #[arg(long, value_name = "N", default_value_t = protocol::DEFAULT_MAX_REQUEST_BYTES,
          value_parser = parse_positive)]
    pub max_request_bytes: usize,

    /// Close a connection that sends no request for this long (0 = never)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Clients served at once; more wait in the listen backlog, none is refused (the
    /// sequential server serves one at a time and ignores it; prefork and pool serve at
    /// most their --workers)
    #[arg(long, value_name = "N", default_value_t = 10_000, value_parser = parse_positive)]
    pub max_clients: usize,

    /// Listen backlog: connections the kernel queues before they are accepted
    #[arg(long, value_name = "N", default_value_t = 4096,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub backlog: i32,

    /// On SIGINT/SIGTERM/SIGHUP (all three stop the server gracefully), how long in-flight
    /// requests may take to be answered before exit; at the deadline what was received is
    /// answered undelayed. Exit status 0 if every request received was answered, 3 if some
    /// were left unanswered
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// After the delay, spend this much CPU time computing per request (on the thread's CPU
    /// clock, not the wall clock): --delay models waiting, --work models computing
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub work: Duration,

    /// Log only warnings and errors: no per-connection or per-request lines (same as
    /// --log-level warn)
    #[arg(long, short, conflicts_with = "log_level")]
    pub quiet: bool,

    /// How much to log
    #[arg(long, value_name = "LEVEL", value_enum, default_value_t = Level::Info)]
    pub log_level: Level,
}

/// How much a server logs, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Level {
    /// Failures that stop the server.
    Error,
    /// Trouble the server survives: accept errors, failed forks and spawns.
    Warn,
    /// The banner, and each connection, request, response and disconnect.
    Info,
    /// Also resets, timeouts, reaped children and the open-file limit.
    Debug,
}

/// An interface name given with `--interface`, with the address it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// The interface's name, as given.
    pub name: String,
    /// Its first IPv4 address.
    pub addr: Ipv4Addr,
}

/// What a server runs with, read from [`ServerArgs`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen: `--host` or the `--interface` address, and `--port`.
    pub addr: SocketAddr,
    /// `--delay`.
    pub delay: Duration,
    /// `--framing`.
    pub framing: Framing,
    /// `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// `--idle-timeout`; `None` for 0 (never).
    pub idle_timeout: Option<Duration>,
    /// `--max-clients`.
    pub max_clients: usize,
    /// `--backlog`.
    pub backlog: i32,
    /// `--shutdown-timeout`.
    pub shutdown_timeout: Duration,
    /// `--work`: CPU time spent per request after the delay.
    pub work: Duration,
    /// `--log-level`, or `warn` with `--quiet`.
    pub level: Level,
}

impl From<ServerArgs> for Config {
    fn from(args: ServerArgs) -> Config {
        let ip = match &args.interface {
            Some(interface) => IpAddr::V4(interface.addr),
            None => args.host,
        };
        Config {
            addr: SocketAddr::new(ip, args.port),
            delay: args.delay,
            framing: args.framing,
            max_request_bytes: args.max_request_bytes,
            idle_timeout: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout),
            max_clients: args.max_clients,
            backlog: args.backlog,
            shutdown_timeout: args.shutdown_timeout,
            work: args.work,
            level: if args.quiet {
                Level::Warn
            } else {
                args.log_level
            },
        }
    }
}

/// The longest duration any flag holds: a century, which is "forever" for a server. Longer
/// values are cut to it when parsed, so that no deadline computed from a flag (now + the
/// duration) can overflow.
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Reads a duration as people write it (`250ms`, `3s`, `1.5s`, `5m`); values beyond
/// [`FOREVER`] mean forever and are cut to it.
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map(|d| d.min(FOREVER))
        .map_err(|e| format!("{e}: expected a duration such as 250ms, 3s, 1.5s or 5m"))
}

fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}: expected a whole number")),
    }
}

/// Resolves `--interface NAME` to its first IPv4 address.
fn parse_interface(name: &str) -> Result<InterfaceAddr, String> {
    let interfaces =
        if_addrs::get_if_addrs().map_err(|e| format!("cannot list network interfaces: {e}"))?;
    let ipv4 = interfaces.iter().find_map(|i| match i.addr {
        if_addrs::IfAddr::V4(ref v4) if i.name == name => Some(v4.ip),
        _ => None,
    });
    if let Some(addr) = ipv4 {
        return Ok(InterfaceAddr {
            name: name.to_owned(),
            addr,
        });
    }
    let mut names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let listed = if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    };
    if names.contains(&name) {
        Err(format!(
            "interface '{name}' has no IPv4 address (interfaces here: {listed}); use --host for IPv6"
        ))
    } else {
        Err(format!(
            "no network interface named '{}' (interfaces here: {listed})",
            name.escape_debug()
        ))
    }
}

/// The [`Config`] a server binary would run with, given `args` (the unit tests' way in).
#[cfg(test)]
pub(crate) fn parse(args: &[&str]) -> Result<Config, clap::Error> {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }
    let argv = std::iter::once("server").chain(args.iter().copied());
    Cli::try_parse_from(argv).map(|cli| Config::from(cli.server))
}

/// `--workers` as given, or one per core: the default of the servers whose workers are
/// loops, runtime threads or rings (evented, async, uring).
pub fn workers_or_cores(workers: Option<u16>) -> usize {
    workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no flags every value is its documented default.
    #[test]
    fn defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.addr, "127.0.0.1:65432".parse().unwrap());
        assert_eq!(config.delay, Duration::ZERO);
        assert_eq!(config.framing, Framing::Line);
        assert_eq!(config.max_request_bytes, 65536);
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(config.max_clients, 10_000);
        assert_eq!(config.backlog, 4096);
        assert_eq!(config.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(config.level, Level::Info);
    }

    /// Durations are read as people write them; 0 turns the idle timeout off.
    #[test]
    fn durations_and_flags() {
        let config = parse(&[
            "--delay",
            "1.5s",
            "--idle-timeout",
            "0",
            "--framing",
            "raw",
            "--host",
            "::1",
            "--port",
            "0",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(config.delay, Duration::from_millis(1500));
        assert_eq!(config.idle_timeout, None);
        assert_eq!(config.framing, Framing::Raw);
        assert_eq!(config.addr, "[::1]:0".parse().unwrap());
        assert_eq!(config.level, Level::Warn);
        assert_eq!(
            parse(&["--delay", "250ms"]).unwrap().delay,
            Duration::from_millis(250)
        );
    }

    /// Durations beyond a century (which would overflow a deadline) mean forever.
    #[test]
    fn huge_durations_saturate() {
        for flag in ["--delay", "--idle-timeout", "--shutdown-timeout", "--work"] {
            let config = parse(&[flag, "580000000000y"]).unwrap();
            let held = [
                config.delay,
                config.idle_timeout.unwrap_or_default(),
                config.shutdown_timeout,
                config.work,
            ];
            assert!(held.contains(&FOREVER), "{flag}: {config:?}");
            assert!(std::time::Instant::now().checked_add(FOREVER).is_some());
        }
    }

    /// Bad values are clap errors that name the flag, and --host/--interface exclude each other.
    #[test]
    fn bad_values() {
        for args in [
            &["--delay", "soon"][..],
            &["--framing", "tcp"],
            &["--max-clients", "0"],
            &["--port", "70000"],
            &["--host", "localhost"],
            &["--host", "127.0.0.1", "--interface", "lo"],
            &["--quiet", "--log-level", "debug"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was accepted");
        }
        let err = parse(&["--framing", "tcp"]).err().unwrap().to_string();
        assert!(err.contains("expected line or raw"), "{err}");
    }

    /// An unknown interface is refused with the list of those that exist.
    #[test]
    fn unknown_interface_lists_the_others() {
        let err = parse_interface("no-such-if0").unwrap_err();
        assert!(
            err.contains("no network interface named 'no-such-if0'"),
            "{err}"
        );
        assert!(err.contains("lo"), "{err}");
    }
}
