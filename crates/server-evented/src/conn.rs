//! A connection of the evented loop: its non-blocking socket, its session, what the loop
//! knows of the socket's readiness, and the pump that moves bytes between the two.
//!
//! Edges say "ready", not "how much", so [`Conn`] remembers a socket is readable or
//! writable until a read or write returns `WouldBlock` or comes back short.
//! [`Conn::pump`] does what the session says until it waits or its turn is used up; the
//! loop (main.rs) decides when to pump and what to do with the answer.

use std::io::{self, Read, Write};
use std::net::Shutdown as Direction;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;
use server_core::session::TURN;
use server_core::{Output, Permit, Session};

/// Reads in a row for one connection before the others get a turn.
pub const READ_BUDGET: usize = 16;

/// A client: its socket, its session, and what the loop knows of the socket's readiness.
pub struct Conn {
    /// Its number on the loop, so a timer entry never fires for a slot's next occupant.
    pub id: u64,
    stream: TcpStream,
    pub session: Session,
    /// The last edge said readable and no read has since found the socket empty.
    readable: bool,
    /// An edge said the peer closed or the connection failed: final, so reads go on until
    /// they say so (0 bytes or the error), however short the reads before.
    hung_up: bool,
    /// The same for writing.
    writable: bool,
    /// The earliest deadline this connection has in the timer heap.
    pub armed: Option<Instant>,
    /// Whether it is in the ready list.
    pub queued: bool,
    /// Its place under `--max-clients`, given back when the connection is dropped.
    _permit: Permit,
}

impl Conn {
    /// A connection just taken in: the socket is assumed ready both ways until a read or
    /// write says otherwise (it may hold the request already, and no edge will say so).
    pub fn new(id: u64, stream: TcpStream, session: Session, permit: Permit) -> Conn {
        Conn {
            id,
            stream,
            session,
            readable: true,
            hung_up: false,
            writable: true,
            armed: None,
            queued: false,
            _permit: permit,
        }
    }

    /// Remembers what a readiness edge says of the socket, until a read or write says
    /// otherwise.
    pub fn note(&mut self, event: &Event) {
        // An error or a hang-up is seen by the next read or write.
        if event.is_read_closed() || event.is_error() {
            self.hung_up = true;
        }
        if event.is_readable() || self.hung_up {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }
}

/// How a [`Conn::pump`] ended.
pub enum Pumped {
    /// The session waits on the socket or a timer, until the moment given at the latest.
    Waiting(Option<Instant>),
    /// The connection used its turn (its [`TURN`] of computing or its [`READ_BUDGET`]) and
    /// has more to do: the others go first.
    Yielded,
    /// The session is over.
    Finished,
}

impl Conn {
    /// Does what the session says — compute, write until the socket is full, read what it
    /// allows until the socket is empty — until it waits on the socket or a timer, or its
    /// turn is used up. A turn that ran out while answers were queued ends once they are
    /// handed to the socket, so they are not held back while the others have their turns.
    pub fn pump(&mut self, buf: &mut [u8], began: Instant) -> Pumped {
        let mut now = began;
        let mut reads = 0;
        let mut used_up = false;
        loop {
            match self.session.poll_output(now) {
                Output::Computed => {
                    now = Instant::now();
                    used_up |= now >= began + TURN;
                    continue;
                }
                Output::Transmit { bytes, until } => {
                    if !self.writable {
                        return Pumped::Waiting(until);
                    }
                    match (&self.stream).write(bytes) {
                        Ok(0) => self
                            .session
                            .handle_error(io::ErrorKind::WriteZero.into(), Instant::now()),
                        Ok(n) => {
                            // A short write filled the socket: wait for the next edge.
                            if n < bytes.len() {
                                self.writable = false;
                            }
                            self.session.handle_transmitted(n, Instant::now());
                            if used_up {
                                return Pumped::Yielded;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => self.session.handle_error(e, Instant::now()),
                    }
                }
                Output::CloseWrite => {
                    let _ = self.stream.shutdown(Direction::Write);
                }
                Output::Receive { max, until } => {
                    if !self.readable {
                        return Pumped::Waiting(until);
                    }
                    if used_up || reads == READ_BUDGET {
                        return Pumped::Yielded;
                    }
                    reads += 1;
                    let want = max.min(buf.len());
                    match (&self.stream).read(&mut buf[..want]) {
                        Ok(0) => self.session.handle_eof(Instant::now()),
                        Ok(n) => {
                            // A read shorter than asked emptied the socket: the next byte
                            // to arrive brings a new edge, so the read that would only say
                            // `WouldBlock` is saved (one syscall per request; tokio does
                            // the same).
                            if n < want && !self.hung_up {
                                self.readable = false;
                            }
                            self.session.handle_input(&buf[..n], Instant::now());
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => self.session.handle_error(e, Instant::now()),
                    }
                }
                Output::Wait(until) => return Pumped::Waiting(until),
                Output::Finished => return Pumped::Finished,
            }
            now = Instant::now();
        }
    }
}
