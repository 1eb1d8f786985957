//! The two ways talking to a server fails: before a session starts ([`ConnectError`]) and
//! during one ([`ClientError`]). Every message says what happened and what to do next.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use protocol::codec::{BadResponse, EncodeError};

use crate::client::MAX_REQUEST_BYTES;

/// The command that starts a server, quoted in the hint of a refused connection.
pub const START_SERVER_HINT: &str = "cargo run -p server-threaded";

/// Why no connection to a server could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing listens at the address.
    #[error(
        "could not connect to {addr}: connection refused — is a server running? start one with: {START_SERVER_HINT}"
    )]
    Refused {
        /// The address tried.
        addr: SocketAddr,
    },
    /// The server did not accept within the timeout.
    #[error(
        "could not connect to {addr}: no answer within {} — check the host and port, or raise --timeout",
        humantime::format_duration(*.timeout)
    )]
    TimedOut {
        /// The address tried.
        addr: SocketAddr,
        /// How long the connect was given.
        timeout: Duration,
    },
    /// Any other failure to connect (network unreachable, permission denied, …).
    #[error("could not connect to {addr}: {error}")]
    Io {
        /// The address tried.
        addr: SocketAddr,
        /// What the operating system said.
        error: io::Error,
    },
    /// The host name does not resolve to any address.
    #[error(
        "unknown host '{host}': {reason} — check the name, or give an address such as 127.0.0.1 or ::1"
    )]
    UnknownHost {
        /// The name given.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// No interface of that name has an IPv4 address.
    #[error("no network interface '{name}' with an IPv4 address; the interfaces are: {available}")]
    UnknownInterface {
        /// The name given.
        name: String,
        /// The interfaces that have an IPv4 address, with it: `lo (127.0.0.1), eth0 (…)`.
        available: String,
    },
    /// The list of interfaces could not be read.
    #[error("could not list the network interfaces: {0} — give the server's address with --host")]
    Interfaces(io::Error),
}

// Errors that end in a hint carry their cause in the message rather than as a `source`,
// so that the hint comes last; those that wrap another error of this crate leave it to
// the source chain (printed with `{:#}`), so that nothing is said twice.

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The framing cannot carry this request; nothing was sent and the session goes on.
    #[error("cannot send this request: {0}")]
    Encode(EncodeError),
    /// The request's line is longer than the servers accept ([`MAX_REQUEST_BYTES`]);
    /// nothing was sent and the session goes on.
    #[error("request too long (limit {MAX_REQUEST_BYTES} bytes)")]
    TooLong,
    /// The server closed the connection (or reset it) before answering.
    #[error("the server closed the connection — it may have stopped; start it again and reconnect")]
    Closed,
    /// The server closed the connection after sending part of an answer: what arrived
    /// is a fragment, not a result.
    #[error(
        "the server closed the connection in the middle of an answer — it may have stopped; start it again and reconnect"
    )]
    CutOff,
    /// No response arrived within the timeout.
    #[error(
        "no response from the server within {} — is it overloaded or stuck? raise --timeout to wait longer",
        humantime::format_duration(*.timeout)
    )]
    TimedOut {
        /// How long the response was awaited.
        timeout: Duration,
    },
    /// The server sent something that is not a response.
    #[error(
        "the server's answer is not a response ({0}) — does it speak this framing? try --framing raw or line"
    )]
    Malformed(String),
    /// The connection failed in another way.
    #[error("connection to the server failed: {0}")]
    Io(io::Error),
}

impl ClientError {
    /// Whether the session is over: every error but [`ClientError::Encode`] and
    /// [`ClientError::TooLong`] (refusals before sending) leaves the connection unusable
    /// (a response may still be on its way, so the next one read would belong to another
    /// request).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ClientError::Encode(_) | ClientError::TooLong)
    }

    /// Sorts an I/O error on an established connection into the error it means.
    pub(crate) fn from_io(error: io::Error, timeout: Option<Duration>) -> Self {
        use io::ErrorKind::*;
        match error.kind() {
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => {
                ClientError::Closed
            }
            WouldBlock | TimedOut => ClientError::TimedOut {
                timeout: timeout.unwrap_or_default(),
            },
            _ => ClientError::Io(error),
        }
    }
}

impl From<BadResponse> for ClientError {
    fn from(error: BadResponse) -> Self {
        ClientError::Malformed(error.to_string())
    }
}
