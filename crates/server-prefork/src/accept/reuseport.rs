//! `reuseport`: each worker accepts on a listener of its own, all bound to the same
//! address with `SO_REUSEPORT` (Linux 3.9, after UNP), and the kernel spreads new
//! connections over the listeners by a hash of each connection's addresses.
//!
//! No lock and no shared accept queue: each listener has its own. The price is that the
//! hash does not know who is busy: a connection hashed to a busy worker's listener waits
//! there while another worker may be idle.
//!
//! The parent binds every listener before the first fork — the server's own (bound with
//! `SO_REUSEPORT` too, since every listener on the port must have it) is the first — and
//! keeps them all. Each worker takes one slot's listener and closes the others; a
//! replacement for a dead worker takes the dead one's slot, with the connections still
//! queued on it.

use std::collections::HashMap;
use std::io;
use std::net::TcpListener;

use nix::unistd::Pid;
use server_core::Server;
use server_core::listener::bind_reusing_port;

use super::{Acceptor, Shared, Strategy};

/// The parent's part: a listener per worker slot, and which worker has which slot.
pub struct Listeners {
    /// The listeners of slots 1 and on; slot 0's is the server's own.
    others: Vec<TcpListener>,
    /// The slot of each live worker.
    slots: HashMap<Pid, usize>,
    /// The slot of the worker about to be forked.
    next: usize,
}

impl Listeners {
    /// Binds a listener for each of `workers` slots beside the server's own, on its
    /// address.
    pub fn new(server: &Server, workers: usize) -> io::Result<Listeners> {
        server.share_listener()?;
        let addr = server
            .local_addr()
            .ok_or_else(|| io::Error::other("the server has no listener"))?;
        let backlog = server.config().backlog;
        let others = (1..workers)
            .map(|_| bind_reusing_port(addr, backlog))
            .collect::<io::Result<_>>()?;
        Ok(Listeners {
            others,
            slots: HashMap::new(),
            next: 0,
        })
    }
}

impl Strategy for Listeners {
    fn before_fork(&mut self, _server: &Server) -> io::Result<()> {
        let free = (0..=self.others.len()).find(|slot| !self.slots.values().any(|s| s == slot));
        self.next = free.ok_or_else(|| io::Error::other("every listener has its worker"))?;
        Ok(())
    }

    fn worker(&mut self, server: &mut Server) -> io::Result<Box<dyn Acceptor>> {
        if self.next > 0 {
            let own = self.others.swap_remove(self.next - 1);
            // The server's own listener is slot 0's: closed here.
            drop(server.replace_listener(own));
            server.share_listener()?;
        }
        self.others.clear();
        Ok(Box::new(Shared))
    }

    fn forked(&mut self, pid: Pid) {
        self.slots.insert(pid, self.next);
    }

    fn died(&mut self, pid: Pid) {
        self.slots.remove(&pid);
    }

    fn stop(&mut self, server: &mut Server) {
        for listener in self.others.drain(..) {
            let _ = socket2::SockRef::from(&listener).shutdown(std::net::Shutdown::Read);
        }
        server.shut_listener();
        server.close_listener();
    }
}
