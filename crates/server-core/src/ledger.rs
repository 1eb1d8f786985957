//! [`Ledger`]: how many requests the server has received and not yet answered, counted
//! across threads *and* forked processes.
//!
//! The last line of a server's shutdown says whether anything was left unanswered at the
//! deadline (`Shut down cleanly`, or `Shut down with N request(s) left unanswered at the
//! deadline`), and its exit status follows. Every [`crate::Session`] keeps its share of
//! the count up to date as requests arrive and answers are handed to the socket (no
//! driver has to); a session that ends with everything answered, or whose client went
//! away, takes its share back; one abandoned at the deadline — or killed with its
//! process, or stuck computing when the server stops waiting — leaves it there. So when
//! the server stops waiting, the count is what was left, however each session ended. It
//! changes once per read and once per write that completes answers, not per request.
//!
//! The counter lives in one page mapped `MAP_SHARED | MAP_ANONYMOUS` before any fork, so
//! the forking server's children and the prefork workers add to the very counter their
//! parent reads: a child killed at the deadline still counts.

use std::io;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The shared count of requests left unanswered by sessions that are shutting down.
/// Clones (and forked copies) share one counter.
#[derive(Debug, Clone)]
pub struct Ledger {
    page: Arc<SharedPage>,
}

/// One anonymous shared page holding the counter; unmapped when the last clone goes.
#[derive(Debug)]
struct SharedPage {
    counter: NonNull<AtomicIsize>,
}

// SAFETY: the page holds one atomic and is only ever reached through `&AtomicIsize`.
unsafe impl Send for SharedPage {}
// SAFETY: as above: every access is an atomic operation.
unsafe impl Sync for SharedPage {}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `Ledger::new` with this size and is not used
        // after this (the last reference is going).
        unsafe {
            libc::munmap(
                self.counter.as_ptr().cast(),
                std::mem::size_of::<AtomicIsize>(),
            );
        }
    }
}

impl Ledger {
    /// A counter at zero, shared with every process forked after this.
    ///
    /// # Errors
    ///
    /// When the page cannot be mapped (no memory).
    pub fn new() -> io::Result<Ledger> {
        let size = std::mem::size_of::<AtomicIsize>();
        // SAFETY: an anonymous mapping, no address asked for; the result is checked.
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mapped == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let counter = NonNull::new(mapped.cast::<AtomicIsize>())
            .ok_or_else(|| io::Error::other("mmap gave a null page"))?;
        // The page is zeroed, which is an AtomicIsize of 0, and aligned to a page.
        Ok(Ledger {
            page: Arc::new(SharedPage { counter }),
        })
    }

    fn counter(&self) -> &AtomicIsize {
        // SAFETY: the page is mapped for as long as `self.page` lives.
        unsafe { self.page.counter.as_ref() }
    }

    /// Changes the count by `delta` (a session's share grew or shrank).
    pub fn add(&self, delta: isize) {
        if delta != 0 {
            self.counter().fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// How many requests are unanswered now (never below zero).
    pub fn unanswered(&self) -> usize {
        usize::try_from(self.counter().load(Ordering::Relaxed)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forked child's additions reach the parent's counter.
    #[test]
    fn a_forked_child_counts_in_the_parent() {
        let ledger = Ledger::new().unwrap();
        ledger.add(2);
        // SAFETY: the child only touches the shared counter and leaves with _exit.
        match unsafe { libc::fork() } {
            0 => {
                ledger.add(3);
                // SAFETY: ends the child at once, without running the test harness.
                unsafe { libc::_exit(0) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waits for the child just forked.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(ledger.unanswered(), 5);
                ledger.add(-5);
                assert_eq!(ledger.unanswered(), 0);
            }
            _ => panic!("fork failed"),
        }
    }
}
