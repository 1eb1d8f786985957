//! [`Gate`]: a counting gate that caps how many clients are served at once.
//!
//! The threaded server takes a [`Permit`] before it accepts, so when `--max-clients`
//! threads are busy it stops accepting and the next clients wait in the listen backlog:
//! delayed, never refused. The permit travels into the client's thread and is given back
//! when that thread's work is done, even if it panics.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::blocking::TICK;
use crate::shutdown::Shutdown;

/// Up to `limit` permits, handed out one at a time.
#[derive(Debug)]
pub struct Gate {
    in_use: Mutex<usize>,
    changed: Condvar,
    limit: usize,
}

/// One of a gate's places; dropping it gives the place back.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
}

impl Gate {
    /// A gate with `limit` places (at least one).
    pub fn new(limit: usize) -> Arc<Gate> {
        Arc::new(Gate {
            in_use: Mutex::new(0),
            changed: Condvar::new(),
            limit: limit.max(1),
        })
    }

    /// Waits for a free place; `None` once `shutdown` is requested.
    pub fn acquire(self: &Arc<Self>, shutdown: &Shutdown) -> Option<Permit> {
        let mut in_use = self.lock();
        loop {
            if shutdown.requested() {
                return None;
            }
            if *in_use < self.limit {
                *in_use += 1;
                return Some(Permit {
                    gate: Arc::clone(self),
                });
            }
            // The tick bounds how long a shutdown goes unnoticed while at the cap.
            in_use = self
                .changed
                .wait_timeout(in_use, TICK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A free place if there is one now, without waiting.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut in_use = self.lock();
        (*in_use < self.limit).then(|| {
            *in_use += 1;
            Permit {
                gate: Arc::clone(self),
            }
        })
    }

    /// How many permits are out.
    pub fn in_use(&self) -> usize {
        *self.lock()
    }

    /// Waits until every permit is back or `deadline` passes; returns how many are out.
    pub fn wait_idle(&self, deadline: Instant) -> usize {
        let mut in_use = self.lock();
        while *in_use > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            in_use = self
                .changed
                .wait_timeout(in_use, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *in_use
    }

    /// The count survives a panic elsewhere: it is a plain number, always consistent.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.in_use.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        *self.gate.lock() -= 1;
        self.gate.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    /// No more than the limit are out at once; a returned permit lets the next one in.
    #[test]
    fn caps_and_releases() {
        let gate = Gate::new(2);
        let shutdown = Shutdown::new(Duration::from_secs(1));
        let a = gate.acquire(&shutdown).unwrap();
        let _b = gate.acquire(&shutdown).unwrap();
        assert_eq!(gate.in_use(), 2);
        assert!(
            gate.try_acquire().is_none(),
            "try_acquire went past the cap"
        );
        let waiter = {
            let gate = Arc::clone(&gate);
            let shutdown = shutdown.clone();
            thread::spawn(move || gate.acquire(&shutdown).is_some())
        };
        thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "a third permit was handed out");
        drop(a);
        assert!(waiter.join().unwrap());
    }

    /// A waiter at the cap gives up on shutdown; wait_idle reports what is still out.
    #[test]
    fn shutdown_and_wait_idle() {
        let gate = Gate::new(1);
        let shutdown = Shutdown::new(Duration::from_secs(1));
        let permit = gate.acquire(&shutdown).unwrap();
        shutdown.request();
        assert!(gate.acquire(&shutdown).is_none());
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(gate.wait_idle(soon), 1);
        let releaser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(permit);
        });
        assert_eq!(gate.wait_idle(Instant::now() + Duration::from_secs(5)), 0);
        releaser.join().unwrap();
    }
}
