//! Spreading connection-per-request load over several loopback source addresses.
//!
//! Every closed connection leaves its (source address, source port, server address,
//! server port) in TIME_WAIT for a minute. With one source address the ephemeral range
//! (about 28,000 ports) fills within seconds at ten thousand connections a second, and
//! from then on `connect()` spends its time searching for a free port: every server,
//! redis-server included, stalls near the same rate, which measures the client's kernel,
//! not the server. The whole of 127.0.0.0/8 is the loopback interface on Linux, so each
//! connection here binds to one of 127.0.0.2, 127.0.0.3, … in turn before it connects,
//! multiplying the tuples available; with `IP_BIND_ADDRESS_NO_PORT` the port is still
//! chosen by `connect()`, for the whole tuple, rather than reserved by `bind()`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The first source address used; 127.0.0.1 is left to ordinary clients.
pub const FIRST_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The most source addresses: 127.0.0.2 to 127.0.0.255.
pub const MAX_SOURCE_ADDRS: u32 = 254;

/// The connection rate the default plans for without `--rate`: well above what any
/// server reaches over loopback on a small machine, so the default is never the limit.
pub const PLANNED_CONNECTIONS_PER_S: f64 = 50_000.0;

/// How long a closed connection's tuple stays in TIME_WAIT on Linux.
const TIME_WAIT: Duration = Duration::from_secs(60);

/// The `i`-th of `count` source addresses, cycling: 127.0.0.2, 127.0.0.3, …
pub fn source_addr(i: u64, count: u32) -> Ipv4Addr {
    let offset = u8::try_from(i % u64::from(count.clamp(1, MAX_SOURCE_ADDRS))).unwrap_or(0);
    let [a, b, c, d] = FIRST_SOURCE.octets();
    Ipv4Addr::new(a, b, c, d + offset)
}

/// Why `--source-addrs` cannot be used as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceAddrsError {
    /// More addresses than 127.0.0.2–127.0.0.255 holds.
    #[error(
        "--source-addrs {0} is too many: at most {MAX_SOURCE_ADDRS} (127.0.0.2 to 127.0.0.255)"
    )]
    TooMany(u32),
    /// The server is not on IPv4 loopback, where the other source addresses are.
    #[error(
        "--source-addrs {count} needs a server on an IPv4 loopback address (127.x.x.x), \
         not {server}; use --source-addrs 0 to let the kernel choose"
    )]
    NotLoopback {
        /// What was asked for.
        count: u32,
        /// The server's address.
        server: SocketAddr,
    },
}

/// How many source addresses a connection-per-request run against `server` uses:
/// `asked` when given (0: the kernel's choice, one address), checked; otherwise enough
/// that the tuples one address offers in the ephemeral port range (`ports`, counted at
/// half to leave headroom) cover the connections a run of `duration` makes within one
/// TIME_WAIT period at `rate` (`--rate`), or at [`PLANNED_CONNECTIONS_PER_S`] without
/// one. A server that is not on IPv4 loopback gets 0 by default.
///
/// # Errors
///
/// [`SourceAddrsError`] for more than [`MAX_SOURCE_ADDRS`], or a non-zero count for a
/// server that is not on IPv4 loopback.
pub fn plan(
    asked: Option<u32>,
    server: SocketAddr,
    duration: Duration,
    rate: Option<f64>,
    ports: u64,
) -> Result<u32, SourceAddrsError> {
    let loopback = matches!(server.ip(), IpAddr::V4(ip) if ip.is_loopback());
    match asked {
        Some(count) if count > MAX_SOURCE_ADDRS => Err(SourceAddrsError::TooMany(count)),
        Some(count) if count > 0 && !loopback => {
            Err(SourceAddrsError::NotLoopback { count, server })
        }
        Some(count) => Ok(count),
        None if !loopback => Ok(0),
        None => {
            let rate = rate.unwrap_or(PLANNED_CONNECTIONS_PER_S);
            let connections = duration.min(TIME_WAIT).as_secs_f64() * rate;
            let per_addr = (ports / 2).max(1) as f64;
            let needed = (connections / per_addr).ceil() as u32;
            Ok(needed.clamp(1, MAX_SOURCE_ADDRS))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:7".parse().unwrap()
    }

    /// Addresses start at 127.0.0.2 and cycle through the count.
    #[test]
    fn addresses_cycle() {
        assert_eq!(source_addr(0, 3), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_addr(2, 3), Ipv4Addr::new(127, 0, 0, 4));
        assert_eq!(source_addr(3, 3), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_addr(253, 254), Ipv4Addr::new(127, 0, 0, 255));
    }

    /// The default grows with the run up to one TIME_WAIT period, and stays in range.
    #[test]
    fn default_covers_the_run() {
        let ports = 28_232;
        let secs = Duration::from_secs;
        // 8 s at 50k conn/s = 400k connections over 14,116 tuples per address.
        assert_eq!(plan(None, loopback(), secs(8), None, ports), Ok(29));
        assert_eq!(
            plan(None, loopback(), Duration::from_millis(100), None, ports),
            Ok(1)
        );
        assert_eq!(plan(None, loopback(), secs(60), None, ports), Ok(213));
        assert_eq!(plan(None, loopback(), secs(3600), None, ports), Ok(213));
        assert_eq!(
            plan(None, loopback(), secs(60), None, 1_000),
            Ok(MAX_SOURCE_ADDRS)
        );
        // At a known rate: 20 s of 2,000 conn/s is 40k connections, 3 addresses.
        assert_eq!(
            plan(None, loopback(), secs(20), Some(2_000.0), ports),
            Ok(3)
        );
        let remote = "192.0.2.1:7".parse().unwrap();
        assert_eq!(plan(None, remote, secs(8), None, ports), Ok(0));
    }

    /// What is asked for is used when it can be, and refused with a reason when not.
    #[test]
    fn asked_counts_are_checked() {
        let secs = Duration::from_secs(8);
        assert_eq!(plan(Some(4), loopback(), secs, None, 100), Ok(4));
        assert_eq!(plan(Some(0), loopback(), secs, None, 100), Ok(0));
        let err = plan(Some(255), loopback(), secs, None, 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--source-addrs 255 is too many: at most 254 (127.0.0.2 to 127.0.0.255)"
        );
        let v6 = "[::1]:7".parse().unwrap();
        let err = plan(Some(2), v6, secs, None, 100).unwrap_err().to_string();
        assert!(
            err.contains("needs a server on an IPv4 loopback address"),
            "{err}"
        );
        assert_eq!(plan(Some(0), v6, secs, None, 100), Ok(0));
    }
}
