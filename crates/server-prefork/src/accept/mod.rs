//! How the workers get their clients: the five accept strategies of `--accept`.
//!
//! Stevens (UNIX Network Programming vol. 1, chapter 30) compares ways for pre-forked
//! workers to share one listening port; Linux added a fifth since. Each is a small type
//! with two faces: a [`Strategy`], the parent's part (made before the first fork, told
//! of every fork and death), and an [`Acceptor`], a worker's part (made in the worker
//! right after its fork), which gives the worker its next client.
//!
//! | `--accept` | the worker's next client comes from | UNP |
//! | --- | --- | --- |
//! | `shared` | `accept` on the one listener every worker shares | §30.6 |
//! | `flock` | the same, one worker at a time, under a file lock | §30.7 |
//! | `mutex` | the same, under a process-shared mutex | §30.8 |
//! | `pass` | the parent, which accepts and passes the descriptor | §30.9 |
//! | `reuseport` | `accept` on a `SO_REUSEPORT` listener of its own | (Linux 3.9) |
//!
//! The locks exist because some kernels woke every process blocked in `accept` on a
//! connection (the thundering herd) or did not allow `accept` from several processes
//! at all; Linux wakes one, so the lock is pure cost here — which is what `cargo xtask
//! stevens` measures.

mod flock;
mod mutex;
mod pass;
mod reuseport;

use std::io;
use std::time::Duration;

use clap::ValueEnum;
use nix::unistd::Pid;
use server_core::{Client, Server, Who};

/// The `--accept` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Choice {
    /// Every worker waits in accept on the one shared listener; the kernel wakes one
    Shared,
    /// Every worker accepts in turn, holding a file lock (flock) around accept
    Flock,
    /// Every worker accepts in turn, holding a process-shared mutex in shared memory
    Mutex,
    /// The parent accepts and passes each client's descriptor to an idle worker
    Pass,
    /// Each worker accepts on a SO_REUSEPORT listener of its own; the kernel hashes
    /// connections over them
    Reuseport,
}

/// The parent's part of an accept strategy.
pub trait Strategy {
    /// Just before a fork: gets ready for the next worker (a socket pair, a listener).
    fn before_fork(&mut self, _server: &Server) -> io::Result<()> {
        Ok(())
    }

    /// In the new worker, just after the fork: its way to its clients. What belongs to
    /// the parent or to other workers is dropped here.
    fn worker(&mut self, server: &mut Server) -> io::Result<Box<dyn Acceptor>>;

    /// In the parent, after the fork: `pid` is the worker just got ready for.
    fn forked(&mut self, _pid: Pid) {}

    /// In the parent: worker `pid` has died and been reaped.
    fn died(&mut self, _pid: Pid) {}

    /// In the parent: waits up to `timeout` for a signal (the parent's whole job,
    /// except with `pass`, which also hands out clients meanwhile).
    fn wait(&mut self, server: &mut Server, timeout: Duration) {
        server.wait_for_signal(timeout);
    }

    /// In the parent, at shutdown: stops every listener, so that new connections are
    /// refused and workers waiting for one wake.
    fn stop(&mut self, server: &mut Server) {
        server.shut_listener();
        server.close_listener();
    }
}

/// A lock around `accept` (`flock`, `mutex`), taken by one worker at a time.
pub trait AcceptLock {
    /// Waits for the lock. Never interrupted by a signal: a shutdown is noticed once the
    /// lock comes, which its holder gives up within a tick of the shutdown.
    fn lock(&mut self, server: &Server, who: &Who) -> io::Result<()>;

    /// Gives the lock up.
    fn unlock(&mut self) -> io::Result<()>;
}

/// A worker's part of a locked strategy: accept on the shared listener holding `L`.
pub struct Locked<L>(pub L);

impl<L: AcceptLock> Acceptor for Locked<L> {
    fn next(&mut self, server: &mut Server, who: &Who) -> Option<Client> {
        let log = server.log();
        if let Err(e) = self.0.lock(server, who) {
            log.warn(
                who,
                format_args!("cannot take the accept lock: {e}; stopping"),
            );
            return None;
        }
        log.debug(who, format_args!("Holding the accept lock"));
        // Held until a client comes or the server shuts down: `accept_shared` looks at
        // the shutdown flag at every tick of its wait.
        let client = server.accept_shared(who);
        if let Err(e) = self.0.unlock() {
            // Only this worker's exit would release it now: stop, and let the parent fork
            // a worker that can.
            log.warn(
                who,
                format_args!("cannot release the accept lock: {e}; stopping"),
            );
            server.shutdown().request();
        }
        client
    }
}

/// A worker's part: where its next client comes from.
pub trait Acceptor {
    /// Waits for the next client; `None` once the server shuts down.
    fn next(&mut self, server: &mut Server, who: &Who) -> Option<Client>;

    /// The client [`Acceptor::next`] gave has been served.
    fn done(&mut self) {}
}

/// The parent's part of `choice`, made before any worker is forked. `server` has just
/// started (with `SO_REUSEPORT` for `reuseport`, see [`Choice::reuses_port`]);
/// `workers` is how many will run at once.
///
/// # Errors
///
/// When what the strategy needs (a lock, shared memory, listeners) cannot be made.
pub fn strategy(
    choice: Choice,
    server: &mut Server,
    workers: usize,
) -> io::Result<Box<dyn Strategy>> {
    Ok(match choice {
        Choice::Shared => {
            server.share_listener()?;
            Box::new(Shared)
        }
        Choice::Flock => Box::new(flock::FileLock::new(server)?),
        Choice::Mutex => Box::new(mutex::SharedMutex::new(server)?),
        Choice::Pass => Box::new(pass::Dealer::new(server)?),
        Choice::Reuseport => Box::new(reuseport::Listeners::new(server, workers)?),
    })
}

impl Choice {
    /// Whether the server's own listener must be bound with `SO_REUSEPORT`: the others
    /// can bind the same port only if every one there has it.
    pub fn reuses_port(self) -> bool {
        self == Choice::Reuseport
    }
}

/// `shared`: every worker waits in `accept(2)` on the listener they all inherited.
struct Shared;

impl Strategy for Shared {
    fn worker(&mut self, _server: &mut Server) -> io::Result<Box<dyn Acceptor>> {
        Ok(Box::new(Shared))
    }
}

impl Acceptor for Shared {
    fn next(&mut self, server: &mut Server, who: &Who) -> Option<Client> {
        server.accept_shared(who)
    }
}
