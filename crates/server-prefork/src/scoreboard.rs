//! [`Scoreboard`]: which workers are serving a client, in memory the parent and every
//! worker share.
//!
//! The parent never sees a connection — the kernel hands each one to a worker — so it
//! cannot tell a busy worker from one waiting in `accept` by itself. At shutdown that is
//! what it must say: how many clients it waits for, and whether a worker it had to kill
//! at the deadline dropped a client or was only idle (stopped, say, and unable to exit).
//! So each worker has a slot, one byte in an anonymous shared mapping made before the
//! first fork, which it marks busy from when `accept` gives it a client until that
//! client is done. Apache's prefork MPM keeps the same kind of table, and calls it the
//! scoreboard.
//!
//! A worker is counted idle for the instant between `accept` returning and its mark, and
//! busy for the instant after its client is done: the count is what the workers said a
//! moment ago, which is all any process can learn of another.

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// One busy flag per worker slot, shared across `fork`.
#[derive(Debug)]
pub struct Scoreboard {
    slots: NonNull<AtomicBool>,
    len: usize,
}

impl Scoreboard {
    /// A scoreboard of `len` slots (at least one), all idle. Make it before forking: a
    /// process forked afterwards shares it.
    ///
    /// # Errors
    ///
    /// When the kernel refuses the mapping.
    pub fn new(len: usize) -> nix::Result<Scoreboard> {
        let len = len.max(1);
        let bytes = NonZeroUsize::new(len * size_of::<AtomicBool>()).unwrap_or(NonZeroUsize::MIN);
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases
        // nothing; the kernel fills it with zeros, which is `false` for every AtomicBool.
        let memory = unsafe {
            mmap_anonymous(
                None,
                bytes,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(Scoreboard {
            slots: memory.cast(),
            len,
        })
    }

    /// The slots, as atomics: every process that shares them writes and reads them
    /// through atomic operations only.
    fn slots(&self) -> &[AtomicBool] {
        // SAFETY: the mapping holds `len` zero-initialised AtomicBools (a byte each, any
        // alignment) and lives as long as `self`; AtomicBool is shared through `&`.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr(), self.len) }
    }

    /// Marks `slot` busy (serving a client) or idle. Out of range: ignored.
    pub fn set(&self, slot: usize, busy: bool) {
        if let Some(flag) = self.slots().get(slot) {
            flag.store(busy, Ordering::Relaxed);
        }
    }

    /// Whether `slot` is marked busy.
    pub fn is_busy(&self, slot: usize) -> bool {
        self.slots()
            .get(slot)
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

impl Drop for Scoreboard {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and is not used after
        // this (every slice of it borrows `self`).
        let _ = unsafe { munmap(self.slots.cast(), self.len * size_of::<AtomicBool>()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mark made in a forked child is seen by the parent: the memory is shared, not
    /// copied on write.
    #[test]
    fn a_childs_mark_is_seen_by_the_parent() {
        use nix::sys::wait::waitpid;
        use nix::unistd::{ForkResult, fork};
        let board = Scoreboard::new(3).expect("a mapping");
        assert!(!board.is_busy(1));
        // SAFETY: the child only stores a byte and `_exit`s; it takes no lock and
        // allocates nothing, so the test harness's other threads do not matter.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                board.set(1, true);
                // SAFETY: ends the child at once, running nothing of the parent's.
                unsafe { nix::libc::_exit(0) }
            }
            ForkResult::Parent { child } => {
                waitpid(child, None).expect("wait for the child");
            }
        }
        assert!(board.is_busy(1));
        assert!(!board.is_busy(0) && !board.is_busy(2));
        board.set(1, false);
        assert!(!board.is_busy(1));
        assert!(!board.is_busy(7), "out of range is idle");
    }
}
