//! The banner a server prints when it starts, as the tutorial did: what it is, its PID, where
//! it listens, and how it serves clients.
//!
//! ```text
//! Threaded Server (Main PID: 1234)
//! Listening on 127.0.0.1:65432
//! -- New thread for each client (at most 10000 at once) --
//! ```
//!
//! The banner goes to standard output in one write, so a script (or
//! the test harness `testkit`) reading the `Listening on` line sees the whole of
//! it at once and learns the real port when `--port 0` was given.

use std::net::SocketAddr;

use crate::config::Config;

/// The words before the address on the banner's second line, which scripts and test
/// harnesses read to learn the address.
pub const LISTENING_ON: &str = "Listening on ";

/// How an architecture names and describes itself in the banner.
#[derive(Debug, Clone, Copy)]
pub struct Architecture {
    /// The title, e.g. `Threaded Server`.
    pub title: &'static str,
    /// What its PID is called: `PID` for a one-process server, `Main PID` otherwise.
    pub pid_label: &'static str,
    /// How many workers it starts once — processes, threads, event loops — or 0 for an
    /// architecture that has none (it serves alone, or starts one per client).
    pub workers: usize,
    /// One line on how clients are served, given the configuration and `workers`.
    pub describe: fn(&Config, usize) -> String,
}

/// The banner's text for `architecture` listening on `addr`, newline-terminated.
pub fn text(architecture: &Architecture, config: &Config, addr: SocketAddr) -> String {
    format!(
        "{} ({}: {})\n{LISTENING_ON}{addr}\n{}\n",
        architecture.title,
        architecture.pid_label,
        std::process::id(),
        (architecture.describe)(config, architecture.workers),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Architecture = Architecture {
        title: "Test Server",
        pid_label: "PID",
        workers: 0,
        describe: |config, _| format!("-- at most {} --", config.max_clients),
    };

    /// The banner's second line gives the bound address back, IPv6 in brackets.
    #[test]
    fn banner_lines() {
        let addr: SocketAddr = "[::1]:4242".parse().unwrap();
        let text = text(&TEST, &crate::config::parse(&[]).unwrap(), addr);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("Test Server (PID: {})", std::process::id())
        );
        assert_eq!(lines[1], "Listening on [::1]:4242");
        assert_eq!(lines[2], "-- at most 10000 --");
    }
}
