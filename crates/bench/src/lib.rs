//! `bench`, the taskserver load generator: N clients against a server over TCP, every
//! answer checked, latencies and errors reported as a table or JSON.
//!
//! Modes:
//! - **burst** (default; the tutorial's experiment): `--clients N` connections started
//!   together by a few driver threads (one per core) that connect every client's
//!   pre-made non-blocking socket back to back and serve them with epoll; each sends
//!   `--requests K` requests (`3|BenchmarkTestString123` by default), checks every
//!   answer, and closes. Reports total time (first connect to last answer), real
//!   per-client latencies, connect times (with SYN-retry stalls flagged) and errors by
//!   kind.
//! - **timed load** (`--duration D`): persistent connections sending back to back,
//!   `--pipeline K` requests in flight on each, or `--connect-per-request`; requests
//!   (or connections) per second and HdrHistogram percentiles. Connection per request
//!   spreads its connections over loopback source addresses (`--source-addrs`), so that
//!   the client's TIME_WAIT tuples are not the limit. `--redis-ping` sends
//!   redis's inline `PING` so redis-server can be measured with the same generator.
//!   `--warmup D` runs the load for D first without recording it.
//! - **open loop** (`--duration D --rate R`): requests sent on wrk2's schedule whether or
//!   not the server keeps up, latency measured from when each was due (corrected for
//!   coordinated omission) and from its send, bench's own lag reported, and with
//!   `--hdr-log FILE` an HdrHistogram interval log for HdrHistogram's tools.
//!
//! Before a run bench raises its own open-file limit to the hard limit and refuses,
//! with a message saying what to change, a run that would run out of open files or
//! local ports. A run in which not one client connected measured nothing: it ends with
//! one line saying why (`no client connected: connection refused on …`) and exit 2.
//!
//! # Layout
//!
//! - [`cli`]: the command line, and [`cli::run`], which picks the mode.
//! - [`burst`]: the burst, clients as non-blocking sockets driven by one epoll thread per
//!   core.
//! - [`load`]: timed load: persistent, pipelined, connection per request; one thread per
//!   connection behind a start gate.
//! - [`open_loop`]: load at a fixed rate, wrk2's schedule, corrected latencies and lag.
//! - [`hdr_log`]: the HdrHistogram interval log of `--hdr-log`.
//! - [`wire`]: request bytes, the exact expected answer, and the reader that checks it.
//! - [`stats`]: percentiles (exact, and from HdrHistogram).
//! - [`report`]: errors by kind, the two reports, their tables.
//! - [`limits`]: open files, ephemeral ports, somaxconn.
//! - [`source`]: the loopback source addresses of connection per request.
//!
//! Architecture invariant: bench measures from outside — it speaks the wire protocol
//! and knows nothing of how a server is built; the answer it expects is computed with
//! the engine before the run, never taken from the server.

pub mod burst;
pub mod cli;
pub mod hdr_log;
pub mod limits;
pub mod load;
pub mod open_loop;
pub mod report;
pub mod source;
pub mod stats;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

pub use cli::{Args, BenchError, Report, run};
pub use report::{BurstReport, ErrorCounts, ErrorKind, LoadReport, RateReport};
pub use stats::Summary;
pub use wire::Exchange;

/// Where a run sends what.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The request and its expected answer.
    pub exchange: Exchange,
    /// Limit on a connect and on each wait for an answer; `None` waits for ever.
    pub timeout: Option<Duration>,
}

impl Target {
    /// Connects with the timeout, with `TCP_NODELAY` and the read/write timeouts set.
    ///
    /// # Errors
    ///
    /// When the connection cannot be made or configured.
    pub fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = match self.timeout {
            Some(t) => TcpStream::connect_timeout(&self.addr, t)?,
            None => TcpStream::connect(self.addr)?,
        };
        self.configure(stream)
    }

    /// Connects as [`Target::connect`] does, from `source` (a local address; the port is
    /// chosen by `connect()` for the whole tuple, see [`source`]).
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound, connected or configured.
    pub fn connect_from(&self, source: Ipv4Addr) -> std::io::Result<TcpStream> {
        use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
        use socket2::{Domain, Protocol, Socket, Type};

        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        setsockopt(&socket, IpBindAddressNoPort, &true)?;
        socket.bind(&SocketAddr::from((source, 0)).into())?;
        match self.timeout {
            Some(t) => socket.connect_timeout(&self.addr.into(), t)?,
            None => socket.connect(&self.addr.into())?,
        }
        self.configure(socket.into())
    }

    /// Sets `TCP_NODELAY` and the read/write timeouts.
    fn configure(&self, stream: TcpStream) -> std::io::Result<TcpStream> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(self.timeout)?;
        stream.set_write_timeout(self.timeout)?;
        Ok(stream)
    }
}
