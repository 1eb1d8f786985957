//! The operating system's limits a large burst runs into, checked before it starts: open
//! files (raised to the hard limit), local ports, and the listen backlog cap.

use std::fs;

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
