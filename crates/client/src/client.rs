//! [`Client`]: one connection to a server, and one request at a time over it.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use protocol::{Connection, Framing, Request, Response, ResponseError, WriteRequestError};

use crate::error::{ClientError, ConnectError};

/// The longest response line accepted. Swapping case can make text longer (`ß` becomes
/// `SS`, one character can become three), so this is a few times the servers' request
/// limit.
pub const MAX_RESPONSE_BYTES: usize = 4 * protocol::DEFAULT_MAX_REQUEST_BYTES;

/// A connection to a taskserver: send requests, get typed responses.
///
/// It speaks only the wire protocol (`protocol`), so it works with any of the three
/// servers, and in raw framing with the seed's own Python server.
#[derive(Debug)]
pub struct Client {
    pub(crate) conn: Connection<TcpStream>,
    peer: SocketAddr,
    timeout: Option<Duration>,
}

impl Client {
    /// Connects to `addr`. `timeout` bounds the connect and, later, the wait for each
    /// response; `None` waits as long as the operating system does.
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
        let configure = || -> io::Result<()> {
            // Requests are small and a reply is awaited after each: Nagle would only delay them.
            stream.set_nodelay(true)?;
            stream.set_read_timeout(timeout)?;
            stream.set_write_timeout(timeout)
        };
        configure().map_err(|error| ConnectError::Io { addr, error })?;
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

    /// Sends one request and waits for its response.
    ///
    /// # Errors
    ///
    /// [`ClientError::Encode`] when the framing cannot carry the request (nothing is sent
    /// and the client stays usable); any other [`ClientError`] ends the session (see
    /// [`ClientError::is_fatal`]).
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.conn.write_request(request).map_err(|e| match e {
            WriteRequestError::Encode(e) => ClientError::Encode(e),
            WriteRequestError::Io(e) => ClientError::from_io(e, self.timeout),
        })?;
        // Reading flushes the request first.
        self.read_response()
    }

    /// Reads the next response; the end of the stream here is the server going away.
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
