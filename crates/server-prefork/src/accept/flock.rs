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
use server_core::{Server, Who};

use super::{AcceptLock, Acceptor, Locked, Strategy};

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
        Ok(Box::new(Locked(OwnFile {
            file: File::open(path)?,
        })))
    }
}

/// A worker's own open description of the lock file.
struct OwnFile {
    file: File,
}

impl AcceptLock for OwnFile {
    fn lock(&mut self, _server: &Server, _who: &Who) -> io::Result<()> {
        flock(&self.file, libc::LOCK_EX)
    }

    fn unlock(&mut self) -> io::Result<()> {
        flock(&self.file, libc::LOCK_UN)
    }
}

/// `flock(2)` with `operation` on `file` (restarted after a signal handler runs).
fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    // SAFETY: flock reads only the descriptor number, which `file` keeps open for the
    // call; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
