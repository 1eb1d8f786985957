//! The operating system's limits a large burst runs into, checked before it starts: open
//! files (raised to the hard limit), local ports, and the listen backlog cap; and the
//! ports a rate of new connections ties up in TIME_WAIT.

use std::fs;
use std::net::SocketAddr;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// File descriptors bench keeps for itself beyond one per connection (stdio, the
/// allocator, thread bookkeeping) — generous, so the check errs on the safe side.
pub const SPARE_FDS: u64 = 64;

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// More connections than open files allowed.
    #[error(
        "{needed} open files are needed ({connections} connections + {SPARE_FDS} spare) but the \
         hard limit is {hard}; raise it (e.g. `ulimit -Hn {needed}` as root, or in \
         /etc/security/limits.conf) or use fewer clients"
    )]
    Files {
        /// Connections the run would open at once.
        connections: u64,
        /// Descriptors needed.
        needed: u64,
        /// The hard RLIMIT_NOFILE.
        hard: u64,
    },
    /// More connections at once than local ports.
    #[error(
        "{connections} connections at once need {connections} local ports but \
         net.ipv4.ip_local_port_range ({low}-{high}) has {ports}; widen it or use fewer clients"
    )]
    Ports {
        /// Connections the run would open at once.
        connections: u64,
        /// The low end of the range.
        low: u32,
        /// The high end of the range.
        high: u32,
        /// How many ports the range holds.
        ports: u64,
    },
    /// More new connections per second than TIME_WAIT leaves local ports for.
    #[error(
        "{rate} new connections/s need about {needed} local ports: bench closes each \
         connection, and its port stays in TIME_WAIT for {hold_s} s{why}, but \
         net.ipv4.ip_local_port_range ({low}-{high}) has {ports} for each of {sources} \
         source address(es); lower --rate (at most about {most:.0}/s here), widen the \
         range, or use more --source-addrs"
    )]
    PortRate {
        /// The rate asked for.
        rate: f64,
        /// Ports in use at once at that rate: TIME_WAIT's plus the open connections.
        needed: u64,
        /// How long TIME_WAIT holds a port before it can be used again, in seconds.
        hold_s: f64,
        /// Why that long.
        why: &'static str,
        /// The low end of the range.
        low: u32,
        /// The high end of the range.
        high: u32,
        /// How many ports the range holds.
        ports: u64,
        /// Source addresses the connections are spread over, each with the whole range.
        sources: u32,
        /// The highest rate the range carries.
        most: f64,
    },
}

/// How long TIME_WAIT holds a local port, and why that long.
#[derive(Debug, Clone, Copy)]
struct PortHold {
    hold_s: f64,
    why: &'static str,
}

/// How long a closed connection's local port stays in TIME_WAIT (Linux's TCP_TIMEWAIT_LEN).
const TIME_WAIT_S: f64 = 60.0;

/// How long the kernel holds a port in TIME_WAIT before reusing it for a new outgoing
/// connection to `addr`, and why: with `net.ipv4.tcp_tw_reuse` on (1, or 2, the default,
/// for loopback addresses) after `tcp_tw_reuse_delay` (1 s unless set), else after the
/// whole 60 s.
fn port_hold(addr: SocketAddr) -> (f64, &'static str) {
    let reuse = read_number("/proc/sys/net/ipv4/tcp_tw_reuse").unwrap_or(0);
    let delay_ms = read_number("/proc/sys/net/ipv4/tcp_tw_reuse_delay").unwrap_or(1000);
    match reuse {
        1 => (
            delay_ms as f64 / 1e3,
            " (tcp_tw_reuse reuses it after that)",
        ),
        2 if addr.ip().is_loopback() => (
            delay_ms as f64 / 1e3,
            " (tcp_tw_reuse reuses it after that on loopback)",
        ),
        _ => (TIME_WAIT_S, " (tcp_tw_reuse is off for this address)"),
    }
}

/// Checks that `rate` new connections per second, at most `clients` open at once, spread
/// over `source_addrs` source addresses (0: one, the kernel's choice), find free local
/// ports to `addr`.
///
/// # Errors
///
/// [`LimitError::PortRate`] when TIME_WAIT would hold more ports than the range has.
pub fn check_connection_rate(
    rate: f64,
    clients: u64,
    addr: SocketAddr,
    source_addrs: u32,
) -> Result<Vec<String>, LimitError> {
    let (hold_s, why) = port_hold(addr);
    let hold = PortHold { hold_s, why };
    match ephemeral_ports() {
        Some(range) => {
            check_rate(rate, clients, hold, source_addrs.max(1), range).map(|()| Vec::new())
        }
        None => Ok(Vec::new()),
    }
}

/// The check of [`check_connection_rate`], with the limits passed in.
fn check_rate(
    rate: f64,
    clients: u64,
    PortHold { hold_s, why }: PortHold,
    sources: u32,
    (low, high): (u32, u32),
) -> Result<(), LimitError> {
    let ports = u64::from(high - low) + 1;
    let all_ports = ports * u64::from(sources);
    // Saturating float-to-int: a huge rate needs "more than any range".
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let in_time_wait = (rate * hold_s).ceil() as u64;
    let needed = in_time_wait.saturating_add(clients);
    if needed > all_ports {
        return Err(LimitError::PortRate {
            rate,
            needed,
            hold_s,
            why,
            low,
            high,
            ports,
            sources,
            most: all_ports.saturating_sub(clients) as f64 / hold_s,
        });
    }
    Ok(())
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns `(soft, hard)` after it.
/// When the limit cannot be read or set, returns what it could read (or a conventional
/// 1024) and the later check reports the shortfall.
pub fn raise_open_files() -> (u64, u64) {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return (1024, 1024);
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return (hard, hard);
    }
    (soft, hard)
}

/// The ephemeral port range, from `/proc/sys/net/ipv4/ip_local_port_range`.
pub fn ephemeral_ports() -> Option<(u32, u32)> {
    parse_port_range(&fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?)
}

/// `32768\t60999` → `(32768, 60999)`.
fn parse_port_range(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some((low, high)),
        _ => None,
    }
}

/// `/proc/sys/net/core/somaxconn`: the kernel's cap on any listen backlog.
pub fn somaxconn() -> Option<u64> {
    read_number("/proc/sys/net/core/somaxconn")
}

/// A number from a `/proc` or `/sys` file; `None` when the file cannot be read or holds
/// something else (such as cgroups' `max`).
pub fn read_number(path: &str) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Raises the open-file limit and checks that `connections` connections can be open at
/// once; returns warnings worth printing before the run.
///
/// `burst` says the connections arrive together, so the server's backlog matters.
///
/// # Errors
///
/// [`LimitError`] when open files or local ports cannot cover the connections.
pub fn prepare(connections: u64, burst: bool) -> Result<Vec<String>, LimitError> {
    let (soft, hard) = raise_open_files();
    check(
        connections,
        burst,
        soft,
        hard,
        ephemeral_ports(),
        somaxconn(),
    )
}

/// The check of [`prepare`], with the limits passed in.
fn check(
    connections: u64,
    burst: bool,
    soft: u64,
    hard: u64,
    ports: Option<(u32, u32)>,
    somaxconn: Option<u64>,
) -> Result<Vec<String>, LimitError> {
    let needed = connections + SPARE_FDS;
    if needed > soft {
        return Err(LimitError::Files {
            connections,
            needed,
            hard,
        });
    }
    if let Some((low, high)) = ports {
        let count = u64::from(high - low) + 1;
        if connections > count {
            return Err(LimitError::Ports {
                connections,
                low,
                high,
                ports: count,
            });
        }
    }
    let mut warnings = Vec::new();
    if let Some(cap) = somaxconn
        && burst
        && connections > cap
    {
        warnings.push(format!(
            "{connections} clients connect at once but net.core.somaxconn caps any listen \
             backlog at {cap}: a server that accepts slower than they arrive will overflow \
             its backlog and clients will see 1 s SYN-retry stalls"
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel's port range format parses; nonsense does not.
    #[test]
    fn port_range() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("x"), None);
    }

    /// Too few open files or ports stop the run with a message that says what to change.
    #[test]
    fn limits_refuse_what_cannot_work() {
        let err = check(5000, true, 1024, 1024, None, None).unwrap_err();
        assert!(err.to_string().contains("5064 open files"), "{err}");
        let err = check(5000, true, 20000, 20000, Some((60000, 60999)), None).unwrap_err();
        assert!(err.to_string().contains("has 1000"), "{err}");
        assert!(check(100, true, 1024, 1024, Some((32768, 60999)), Some(4096)).is_ok());
    }

    /// A rate of new connections is refused when TIME_WAIT would hold more ports than the
    /// range has, with the highest rate that fits; within the range it passes.
    #[test]
    fn connection_rate_within_the_port_range() {
        let range = (32768, 60999);
        let second = PortHold {
            hold_s: 1.0,
            why: "",
        };
        let minute = PortHold {
            hold_s: 60.0,
            why: "",
        };
        assert!(check_rate(20_000.0, 10, second, 1, range).is_ok());
        let err = check_rate(50_000.0, 10, second, 1, range)
            .unwrap_err()
            .to_string();
        assert!(err.contains("need about 50010 local ports"), "{err}");
        assert!(err.contains("has 28232 for each of 1 source"), "{err}");
        assert!(err.contains("at most about 28222/s"), "{err}");
        // Two source addresses carry it.
        assert!(check_rate(50_000.0, 10, second, 2, range).is_ok());
        let err = check_rate(1_000.0, 10, minute, 1, range)
            .unwrap_err()
            .to_string();
        assert!(err.contains("TIME_WAIT for 60 s"), "{err}");
    }

    /// A burst larger than somaxconn is allowed, with a warning about backlog stalls.
    #[test]
    fn somaxconn_warning() {
        let warnings = check(5000, true, 20000, 20000, None, Some(4096)).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("somaxconn"));
        assert!(
            check(5000, false, 20000, 20000, None, Some(4096))
                .unwrap()
                .is_empty()
        );
    }
}
