//! The listening socket (bound with socket2 for `SO_REUSEADDR` and a chosen backlog),
//! accepting with errors sorted into "go on" and "back off", and the open-file limit.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use socket2::{Domain, Protocol, Socket, Type};

use crate::log::{Log, Who};

/// How long an accept loop rests after accept failed for want of descriptors or memory:
/// the connection stays in the backlog, so trying again at once would fail again and
/// spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What an accept loop says about accept's failures: one warning when a run of failures
/// for want of resources begins, one when accepting works again, not one per try. Every
/// accept loop keeps one (server-core's own, and server-async's tokio loop).
#[derive(Debug, Default)]
pub struct AcceptLog {
    /// Whether the last accept failed for want of resources.
    failing: bool,
}

impl AcceptLog {
    /// A client was accepted: says so if a run of failures came before.
    pub fn accepted(&mut self, log: &Log, who: &Who) {
        if std::mem::take(&mut self.failing) {
            log.warn(who, format_args!("accepting clients again"));
        }
    }

    /// Accept failed with `e`, sorted by [`classify`] as [`Accepted::Exhausted`] or
    /// [`Accepted::Failed`]: warns at the start of a run of failures. The caller then
    /// backs off [`ACCEPT_BACKOFF`].
    pub fn failed(&mut self, e: &io::Error, log: &Log, who: &Who) {
        if !std::mem::replace(&mut self.failing, true) {
            log.warn(
                who,
                format_args!(
                    "accept failed: {e}; clients wait in the backlog, retrying every {}ms",
                    ACCEPT_BACKOFF.as_millis()
                ),
            );
        }
    }

    /// Accept failed with `e`, sorted as [`Accepted::Retry`]: worth a debug line only.
    pub fn retried(&self, e: &io::Error, log: &Log, who: &Who) {
        log.debug(who, format_args!("accept: {e}; going on"));
    }
}

/// An accepted connection and who is at the other end.
#[derive(Debug)]
pub struct Client {
    /// The connection, blocking, with `TCP_NODELAY` set.
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
}

/// What one `accept` gave.
#[derive(Debug)]
pub enum Accepted {
    /// A client.
    Client(Client),
    /// A failure about that one connection, or an interruption (`ECONNABORTED`, `EINTR`,
    /// `EPROTO`, the network errors `accept(2)` passes on, or nothing left to accept):
    /// accept again.
    Retry(io::Error),
    /// The process or the system ran out of something (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`): the connection stays in the backlog, and accepting at once would fail
    /// again, so back off before the next try.
    Exhausted(io::Error),
    /// Anything else; unexpected, so also back off rather than spin.
    Failed(io::Error),
}

/// A failed `accept`, sorted by what the accept loop should do about it ([`classify`]):
/// [`Accepted`] without the client, for the loops that accept for themselves.
#[derive(Debug)]
pub enum AcceptFailure {
    /// As [`Accepted::Retry`]: accept again.
    Retry(io::Error),
    /// As [`Accepted::Exhausted`]: back off before the next try.
    Exhausted(io::Error),
    /// As [`Accepted::Failed`]: back off rather than spin.
    Failed(io::Error),
}

impl From<AcceptFailure> for Accepted {
    fn from(failure: AcceptFailure) -> Accepted {
        match failure {
            AcceptFailure::Retry(e) => Accepted::Retry(e),
            AcceptFailure::Exhausted(e) => Accepted::Exhausted(e),
            AcceptFailure::Failed(e) => Accepted::Failed(e),
        }
    }
}

/// Binds a listening TCP socket on `addr` (IPv4 or IPv6) with `SO_REUSEADDR`, so a
/// restarted server can bind while old connections sit in TIME_WAIT, and a listen
/// backlog of `backlog` (the kernel caps it at `net.core.somaxconn`).
///
/// The listener is non-blocking: the accept loop waits in `poll` (with the signal pipe)
/// and then accepts until the backlog is empty. Accepted sockets are blocking all the
/// same (Linux does not pass `O_NONBLOCK` on through `accept`).
///
/// # Errors
///
/// When the socket cannot be made, bound (address in use, not an address of this
/// machine, a privileged port) or put into the listening state.
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    bind_with(addr, backlog, false)
}

/// [`bind`], with `SO_REUSEPORT` as well: several such listeners (of the same user) may
/// bind the same address, and the kernel spreads new connections over them by a hash of
/// each connection's addresses — a listener per worker instead of one they share.
///
/// # Errors
///
/// As [`bind`]'s; also when the address is held by a listener without `SO_REUSEPORT`.
pub fn bind_reusing_port(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    bind_with(addr, backlog, true)
}

fn bind_with(addr: SocketAddr, backlog: i32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Accepts one connection and sets `TCP_NODELAY` on it: answers are written whole, one
/// write per batch (the protocol's writing rule), so Nagle's algorithm would only hold them back.
pub fn accept(listener: &TcpListener) -> Accepted {
    match listener.accept() {
        Ok((stream, peer)) => {
            // Blocking, whatever the platform passes on from the listener: sessions
            // block in read with a timeout. Failing that, the first read says so.
            let _ = stream.set_nonblocking(false);
            // Without NODELAY the server still works, only slower: not worth a failure.
            let _ = stream.set_nodelay(true);
            Accepted::Client(Client { stream, peer })
        }
        Err(e) => classify(e).into(),
    }
}

/// Sorts an `accept` error by what the accept loop should do about it (public for the
/// accept loops that call `accept` themselves, as server-async's tokio listener does).
pub fn classify(e: io::Error) -> AcceptFailure {
    let Some(code) = e.raw_os_error() else {
        return AcceptFailure::Failed(e);
    };
    match Errno::from_raw(code) {
        // The peer gave up before we accepted, a signal arrived, or (as accept(2) on
        // Linux says) a network error already pending on the new connection: all are
        // about that one connection, not the listener.
        Errno::ECONNABORTED
        | Errno::EINTR
        | Errno::EAGAIN
        | Errno::EPROTO
        | Errno::EPERM
        | Errno::ENETDOWN
        | Errno::ENOPROTOOPT
        | Errno::EHOSTDOWN
        | Errno::ENONET
        | Errno::EHOSTUNREACH
        | Errno::EOPNOTSUPP
        | Errno::ENETUNREACH => AcceptFailure::Retry(e),
        Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM => {
            AcceptFailure::Exhausted(e)
        }
        _ => AcceptFailure::Failed(e),
    }
}

/// Raises this process's soft limit on open files to its hard limit, so that thousands
/// of clients (one descriptor each) fit. Returns the limit before and after.
///
/// # Errors
///
/// When the limit cannot be read or set.
pub fn raise_open_file_limit() -> io::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok((soft, hard.max(soft)))
}

/// Stops `listener` listening for every descriptor of it, at once: from now on
/// connections are refused, and whoever waits in `accept` on it wakes
/// (`shutdown(SHUT_RD)` on a listening socket stops it listening, on Linux).
pub fn stop_listening(listener: &TcpListener) {
    let _ = socket2::SockRef::from(listener).shutdown(std::net::Shutdown::Read);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Running out of descriptors backs off; an aborted connection is retried; the
    /// unexpected fails.
    #[test]
    fn accept_errors_are_classified() {
        for (errno, want) in [
            (Errno::EMFILE, "Exhausted"),
            (Errno::ENFILE, "Exhausted"),
            (Errno::ENOBUFS, "Exhausted"),
            (Errno::ECONNABORTED, "Retry"),
            (Errno::EINTR, "Retry"),
            (Errno::EBADF, "Failed"),
        ] {
            let got = match classify(io::Error::from_raw_os_error(errno as i32)) {
                AcceptFailure::Exhausted(_) => "Exhausted",
                AcceptFailure::Retry(_) => "Retry",
                AcceptFailure::Failed(_) => "Failed",
            };
            assert_eq!(got, want, "{errno:?}");
        }
        assert!(matches!(
            classify(io::Error::other("no code")),
            AcceptFailure::Failed(_)
        ));
    }

    /// Binding port 0 gives a real port, on IPv4 and (where the host has it) IPv6, and
    /// accepted sockets have TCP_NODELAY.
    #[test]
    fn binds_and_accepts() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        // Nothing queued yet: the non-blocking listener says so instead of waiting.
        assert!(
            matches!(accept(&listener), Accepted::Retry(e) if e.kind() == io::ErrorKind::WouldBlock)
        );
        let _client = TcpStream::connect(addr).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        match accept(&listener) {
            Accepted::Client(client) => {
                assert!(client.stream.nodelay().unwrap());
                // Blocking: a read with nothing to read times out rather than failing at once.
                client
                    .stream
                    .set_read_timeout(Some(std::time::Duration::from_millis(10)))
                    .unwrap();
                let mut buf = [0u8; 1];
                let err = std::io::Read::read(&mut &client.stream, &mut buf).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
            }
            other => panic!("{other:?}"),
        }
        if let Ok(v6) = bind("[::1]:0".parse().unwrap(), 16) {
            assert!(v6.local_addr().unwrap().is_ipv6());
        }
    }

    /// The soft limit ends up at the hard limit.
    #[test]
    fn open_file_limit_is_raised() {
        let (_, after) = raise_open_file_limit().unwrap();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
        assert_eq!(after, hard);
    }
}
