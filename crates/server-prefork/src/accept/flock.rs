//! `flock`: every worker accepts in turn, holding a file lock around `accept` (UNP §30.7,
//! where it is `fcntl` record locking; `flock(2)` is the BSD call and behaves the same
//! here).
//!
//! The lock is on an anonymous in-memory file (`memfd_create`) that the parent makes
//! once. A `flock` belongs to an open file *description*, which a fork shares: workers
//! locking the descriptor they inherited would all hold the same lock and exclude no
//! one. So each worker opens the file anew through `/proc/self/fd`, which gives it a
//! description, and a lock, of its own. A worker that dies holding the lock releases it
//! with its last descriptor: the kernel closes those of a dead process, SIGKILL included.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::memfd::{MFdFlags, memfd_create};
use server_core::{Client, Server, Who};

use super::{Acceptor, Strategy};

/// The parent's part: the lock file, kept open so that later workers can open it too.
pub struct FileLock {
    file: OwnedFd,
}

impl FileLock {
    /// Makes the lock file and gets the shared listener ready.
    pub fn new(server: &Server) -> io::Result<FileLock> {
        server.share_listener()?;
        let file = memfd_create("taskserver-accept-lock", MFdFlags::MFD_CLOEXEC)?;
        Ok(FileLock { file })
    }
}

impl Strategy for FileLock {
    fn worker(&mut self, _server: &mut Server) -> io::Result<Box<dyn Acceptor>> {
        let path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        Ok(Box::new(Locked {
            file: File::open(path)?,
        }))
    }
}

/// A worker's part: its own open description of the lock file.
struct Locked {
    file: File,
}

impl Acceptor for Locked {
    fn next(&mut self, server: &mut Server, who: &Who) -> Option<Client> {
        // flock(2) is restarted after a signal handler runs: a shutdown is noticed when
        // the lock comes, which the holder gives up within a tick of it.
        if let Err(e) = flock(&self.file, libc::LOCK_EX) {
            server.log().warn(
                who,
                format_args!("cannot take the accept lock: {e}; stopping"),
            );
            return None;
        }
        server
            .log()
            .debug(who, format_args!("Holding the accept lock"));
        // Held until a client comes or the server shuts down: `accept_shared` looks at
        // the shutdown flag at every tick of its wait.
        let client = server.accept_shared(who);
        if let Err(e) = flock(&self.file, libc::LOCK_UN) {
            // Only closing the file would release it now: stop, and let the parent fork
            // a worker that can.
            server.log().warn(
                who,
                format_args!("cannot release the accept lock: {e}; stopping"),
            );
            server.shutdown().request();
        }
        client
    }
}

/// `flock(2)` with `operation` on `file`.
fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    // SAFETY: flock reads only the descriptor number, which `file` keeps open for the
    // call; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
