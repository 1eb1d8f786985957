//! [`Client`]: one connection to a server, and one request at a time over it.
//!
//! `--timeout` is a deadline for each whole response, not a limit on each read: a server
//! that trickles a byte at a time, each well within the timeout, would otherwise hold the
//! client for as long as it liked. The socket is wrapped in [`Timed`], which gives every
//! read and write only what is left until the deadline of the response being awaited.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use protocol::{Connection, Framing, Request, Response, ResponseError, WriteRequestError};

use crate::error::{ClientError, ConnectError};

/// The longest response line accepted. Swapping case can make text longer (`ß` becomes
/// `SS`, one character can become three), so this is a few times the servers' request
/// limit.
pub const MAX_RESPONSE_BYTES: usize = 4 * protocol::DEFAULT_MAX_REQUEST_BYTES;

/// The longest request line sent, not counting its newline: the servers' default limit.
/// A longer one is refused here ([`ClientError::TooLong`]) rather than sent to a server
/// that would answer `ERR request too long` and close the connection.
pub const MAX_REQUEST_BYTES: usize = protocol::DEFAULT_MAX_REQUEST_BYTES;

/// A connection to a taskserver: send requests, get typed responses.
///
/// It speaks only the wire protocol (`protocol`), so it works with any of the
/// servers, and in raw framing with the tutorial's own Python server.
#[derive(Debug)]
pub struct Client {
    pub(crate) conn: Connection<Timed>,
    peer: SocketAddr,
    timeout: Option<Duration>,
}

impl Client {
    /// Connects to `addr`. `timeout` bounds the connect and, later, each round trip: the
    /// whole of a response must arrive within it; `None` waits as long as the operating
    /// system does.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Refused`] when nothing listens there, [`ConnectError::TimedOut`]
    /// when nothing answered in time, [`ConnectError::Io`] otherwise.
    pub fn connect(
        addr: SocketAddr,
        framing: Framing,
        timeout: Option<Duration>,
    ) -> Result<Client, ConnectError> {
        let connected = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        let stream = connected.map_err(|error| match error.kind() {
            io::ErrorKind::ConnectionRefused => ConnectError::Refused { addr },
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectError::TimedOut {
                addr,
                timeout: timeout.unwrap_or_default(),
            },
            _ => ConnectError::Io { addr, error },
        })?;
        // Requests are small and a reply is awaited after each: Nagle would only delay them.
        stream
            .set_nodelay(true)
            .map_err(|error| ConnectError::Io { addr, error })?;
        let stream = Timed {
            socket: stream,
            deadline: None,
        };
        Ok(Client {
            conn: Connection::with_limit(stream, framing, MAX_RESPONSE_BYTES),
            peer: addr,
            timeout,
        })
    }

    /// Connects to the first of `addrs` that accepts (a name may resolve to an IPv6 and
    /// an IPv4 address, and a server may listen on only one of them).
    ///
    /// # Errors
    ///
    /// The error of the first address when none accepts, as [`Client::connect`]; an
    /// empty `addrs` is reported as an unknown host.
    pub fn connect_any(
        addrs: &[SocketAddr],
        framing: Framing,
        timeout: Option<Duration>,
    ) -> Result<Client, ConnectError> {
        let mut first_error = None;
        for &addr in addrs {
            match Client::connect(addr, framing, timeout) {
                Ok(client) => return Ok(client),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| ConnectError::UnknownHost {
            host: String::new(),
            reason: "no address to connect to".into(),
        }))
    }

    /// The server's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The framing in use.
    pub fn framing(&self) -> Framing {
        self.conn.framing()
    }

    /// Sends one request and waits for its response; sending and the whole response
    /// share one deadline, the timeout given to [`Client::connect`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] when the framing cannot carry the request and
    /// [`ClientError::TooLong`] when its line is longer than [`MAX_REQUEST_BYTES`]
    /// (nothing is sent and the client stays usable); any other [`ClientError`] ends the
    /// session (see [`ClientError::is_fatal`]).
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        check_length(request, self.framing())?;
        self.start_response_clock();
        self.conn.write_request(request).map_err(|e| match e {
            WriteRequestError::Encode(e) => ClientError::Encode(e),
            WriteRequestError::Io(e) => ClientError::from_io(e, self.timeout),
        })?;
        // Reading flushes the request first.
        self.read_response()
    }

    /// Starts the deadline of the next response: from now on, reads and writes get what
    /// is left of the timeout.
    pub(crate) fn start_response_clock(&mut self) {
        // A timeout too long to add to the clock (`--timeout 580000000000y`) is no limit.
        self.conn.get_mut().deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
    }

    /// Reads the next response, within the deadline last started; the end of the stream
    /// here is the server going away.
    pub(crate) fn read_response(&mut self) -> Result<Response, ClientError> {
        match self.conn.read_response() {
            Ok(Some(response)) => Ok(response),
            Ok(None) => Err(ClientError::Closed),
            Err(ResponseError::Io(e)) => Err(ClientError::from_io(e, self.timeout)),
            Err(ResponseError::TooLong { limit }) => Err(ClientError::Malformed(format!(
                "a line longer than {limit} bytes"
            ))),
            Err(ResponseError::Malformed(e)) => Err(e.into()),
            Err(ResponseError::Truncated { .. }) => Err(ClientError::CutOff),
        }
    }
}

/// Checks, without a connection, that `request` can be sent with `framing`: one-shot use
/// refuses a request the protocol cannot carry as a usage error before it connects, so
/// the error says what is wrong with the request whether or not a server is running.
///
/// # Errors
///
/// [`ClientError::TooLong`] for a line over [`MAX_REQUEST_BYTES`], [`ClientError::Encode`]
/// when the framing cannot carry the payload (a newline in line framing, more than one
/// read in raw framing).
pub fn check_request(request: &Request, framing: Framing) -> Result<(), ClientError> {
    check_length(request, framing)?;
    let mut scratch = Vec::new();
    protocol::codec::encode_request(request, framing, &mut scratch).map_err(ClientError::Encode)
}

/// `N|payload`: the op's one-digit code, the bar, the payload; in line framing at most
/// [`MAX_REQUEST_BYTES`] without the newline.
fn check_length(request: &Request, framing: Framing) -> Result<(), ClientError> {
    if framing == Framing::Line && request.payload.len() + 2 > MAX_REQUEST_BYTES {
        return Err(ClientError::TooLong);
    }
    Ok(())
}

/// The client's socket, with the deadline of the response being awaited.
///
/// Each read or write first sets the socket's timeout to what is left until the deadline,
/// so however the server splits its answer, the whole of it must arrive in time. A
/// deadline already past is a `TimedOut` error without touching the socket. No deadline
/// means no timeout.
#[derive(Debug)]
pub(crate) struct Timed {
    /// The connected socket, for options, clones and shutdown.
    pub(crate) socket: TcpStream,
    /// When the response being awaited is due.
    pub(crate) deadline: Option<Instant>,
}

impl Timed {
    /// What is left until the deadline: `Ok(None)` without one, `TimedOut` once past it.
    fn left(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        // A zero timeout would mean "none" to the socket, so that is an error here.
        match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(io::ErrorKind::TimedOut.into()),
        }
    }
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.set_read_timeout(self.left()?)?;
        self.socket.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.set_write_timeout(self.left()?)?;
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}
