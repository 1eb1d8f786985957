//! `pass`: the parent accepts, and passes each client's descriptor to an idle worker
//! over a Unix socket pair, with `SCM_RIGHTS` (UNP §30.9).
//!
//! The parent makes a socket pair (`SOCK_SEQPACKET`, so each message stays whole) before
//! each fork and keeps one end per worker. A worker waits on its end; a message is one
//! byte with one descriptor attached, which the kernel installs in the worker as a new
//! descriptor for the same connection. When the worker has served that client it sends
//! one byte back: idle again. The parent accepts only while some worker is idle, so
//! with every worker busy, clients wait in the listen backlog, and it gives each client
//! to the first idle worker in fork order, as UNP's server does (so the first workers
//! serve the most).
//!
//! The parent closes its copy of a descriptor once sent. A worker that dies with one in
//! flight, not yet received, takes it with it: the kernel drops the messages queued on
//! the dead worker's end, which closes the connection, and the client sees it closed,
//! never a hang. A send that fails (the worker has died, the parent not yet reaped it)
//! goes to the next idle worker.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recv,
    recvmsg, send, sendmsg, socketpair,
};
use nix::unistd::Pid;
use server_core::blocking::TICK;
use server_core::listener::{self, ACCEPT_BACKOFF, AcceptLog, Accepted};
use server_core::shutdown::wait_readable;
use server_core::{Client, Log, Server, Who};

use super::{Acceptor, Strategy};

/// The byte a worker sends when it has served its client.
const IDLE: u8 = b'i';

/// The byte a descriptor travels with (a message cannot be empty).
const CLIENT: u8 = b'c';

/// One worker, as the parent sees it.
struct Line {
    pid: Pid,
    /// The parent's end of the socket pair.
    socket: OwnedFd,
    /// Whether the worker has no client: the next one may go to it.
    idle: bool,
}

/// The parent's part: the listener, which only it accepts on, and a line to each worker.
pub struct Dealer {
    listener: Option<TcpListener>,
    accept_log: AcceptLog,
    log: Log,
    /// In fork order: the first idle worker gets the next client.
    lines: Vec<Line>,
    /// The pair made for the worker about to be forked: (the parent's end, its end).
    next: Option<(OwnedFd, OwnedFd)>,
}

impl Dealer {
    /// Takes the listener out of the server: from now on only the parent accepts.
    pub fn new(server: &mut Server) -> io::Result<Dealer> {
        let listener = server
            .take_listener()
            .ok_or_else(|| io::Error::other("the listener is already taken"))?;
        Ok(Dealer {
            listener: Some(listener),
            accept_log: AcceptLog::default(),
            log: server.log(),
            lines: Vec::new(),
            next: None,
        })
    }

    /// Reads what worker `line` has reported: idle, or gone (end of file).
    fn read_reports(line: &mut Line) {
        let mut bytes = [0u8; 16];
        loop {
            match recv(line.socket.as_raw_fd(), &mut bytes, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    line.idle = false;
                    return;
                }
                // One client at a time: any report means the worker is idle now.
                Ok(_) => line.idle = true,
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => {}
                Err(_) => {
                    line.idle = false;
                    return;
                }
            }
        }
    }

    /// Accepts clients while some worker is idle, and passes each on.
    fn deal(&mut self) {
        while self.lines.iter().any(|l| l.idle) {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener::accept(listener) {
                Accepted::Client(client) => {
                    self.accept_log.accepted(&self.log, &Who::Main);
                    self.pass(client);
                }
                Accepted::Retry(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Accepted::Retry(e) => self.accept_log.retried(&e, &self.log, &Who::Main),
                Accepted::Exhausted(e) | Accepted::Failed(e) => {
                    self.accept_log.failed(&e, &self.log, &Who::Main);
                    std::thread::sleep(ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Passes `client` to the first idle worker that takes it, then closes the parent's
    /// copy of its descriptor.
    fn pass(&mut self, client: Client) {
        let fds = [client.stream.as_raw_fd()];
        for line in self.lines.iter_mut().filter(|l| l.idle) {
            let sent = sendmsg::<()>(
                line.socket.as_raw_fd(),
                &[IoSlice::new(&[CLIENT])],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                None,
            );
            line.idle = false;
            match sent {
                Ok(_) => {
                    self.log.info(
                        &Who::Main,
                        format_args!("Passed {} to worker {}", client.peer, line.pid),
                    );
                    return;
                }
                // The worker is gone (reaped at the next turn): try the next one.
                Err(e) => self.log.debug(
                    &Who::Main,
                    format_args!("cannot pass a client to worker {}: {e}", line.pid),
                ),
            }
        }
        self.log.warn(
            &Who::Main,
            format_args!(
                "No worker could take {}; closing its connection",
                client.peer
            ),
        );
    }
}

impl Strategy for Dealer {
    fn before_fork(&mut self, _server: &Server) -> io::Result<()> {
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        self.next = Some(socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            flags,
        )?);
        Ok(())
    }

    fn worker(&mut self, server: &mut Server) -> io::Result<Box<dyn Acceptor>> {
        // The listener and the other workers' lines are the parent's: closed here, so
        // that when the parent closes them at shutdown they are closed for good.
        self.listener = None;
        self.lines.clear();
        server.close_listener();
        let (_parent, socket) = self
            .next
            .take()
            .ok_or_else(|| io::Error::other("no socket pair for this worker"))?;
        Ok(Box::new(Taker { socket }))
    }

    fn forked(&mut self, pid: Pid) {
        if let Some((socket, _worker)) = self.next.take() {
            self.lines.push(Line {
                pid,
                socket,
                idle: true,
            });
        }
    }

    fn died(&mut self, pid: Pid) {
        self.lines.retain(|line| line.pid != pid);
    }

    fn wait(&mut self, server: &mut Server, timeout: Duration) {
        let accepting = self.lines.iter().any(|l| l.idle);
        let listener = self.listener.as_ref().filter(|_| accepting);
        let mut fds: Vec<BorrowedFd<'_>> = self.lines.iter().map(|l| l.socket.as_fd()).collect();
        fds.extend(listener.map(AsFd::as_fd));
        let ready = server.wait_for_signal_or(&fds, timeout);
        for (line, ready) in self.lines.iter_mut().zip(&ready) {
            if *ready {
                Dealer::read_reports(line);
            }
        }
        if accepting || self.lines.iter().any(|l| l.idle) {
            self.deal();
        }
    }

    fn stop(&mut self, _server: &mut Server) {
        // New connections are refused; each worker reads the clients already passed to
        // it, then the end of its line, and stops.
        self.listener = None;
        self.lines.clear();
    }
}

/// A worker's part: its end of the socket pair.
struct Taker {
    socket: OwnedFd,
}

/// What one read of a worker's line gave.
enum Message {
    Client(TcpStream),
    /// The parent closed its end: stopping, or gone.
    Closed,
    /// A message without a descriptor (never sent): read the next.
    Nothing,
}

impl Taker {
    fn receive(&self) -> nix::Result<Message> {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!(RawFd);
        let msg = recvmsg::<()>(
            self.socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        )?;
        if msg.bytes == 0 {
            return Ok(Message::Closed);
        }
        let mut stream = None;
        for cmsg in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                for fd in fds {
                    // SAFETY: the kernel has just installed `fd` in this process for
                    // this message; nothing else owns it.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    stream.get_or_insert(TcpStream::from(owned));
                }
            }
        }
        Ok(stream.map_or(Message::Nothing, Message::Client))
    }
}

impl Acceptor for Taker {
    fn next(&mut self, server: &mut Server, who: &Who) -> Option<Client> {
        loop {
            // Once shutting down, only what the parent has already passed is taken.
            let draining = server.shutdown().requested();
            if !draining {
                // A signal or a tick ends the wait: the loop looks at the flag again.
                let _ = wait_readable(&[self.socket.as_fd()], TICK);
            }
            match self.receive() {
                Ok(Message::Client(stream)) => match stream.peer_addr() {
                    Ok(peer) => return Some(Client { stream, peer }),
                    // The client is gone already: nothing to serve.
                    Err(_) => self.done(),
                },
                Ok(Message::Nothing) => {}
                Ok(Message::Closed) => return None,
                Err(Errno::EAGAIN | Errno::EINTR) if !draining => {}
                Err(Errno::EAGAIN) => return None,
                Err(e) => {
                    server.log().warn(
                        who,
                        format_args!("cannot read from the parent: {e}; stopping"),
                    );
                    return None;
                }
            }
        }
    }

    fn done(&mut self) {
        // The parent reads it at once; should this fail, the parent has gone.
        let _ = send(
            self.socket.as_raw_fd(),
            &[IDLE],
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        );
    }
}
