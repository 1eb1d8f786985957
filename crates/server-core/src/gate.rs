//! [`Gate`]: a counting gate that caps how many clients are served at once.
//!
//! The threaded server takes a [`Permit`] before it accepts, so when `--max-clients`
//! threads are busy it stops accepting and the next clients wait in the listen backlog:
//! delayed, never refused. The permit travels into the client's thread and is given back
//! when that thread's work is done, even if it panics. The pool takes one the same way
//! for each connection it hands over, and widens its gate as worker threads that could
//! not be started at first are started.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::blocking::TICK;
use crate::shutdown::Shutdown;

/// Up to a limit of permits, handed out one at a time.
#[derive(Debug)]
pub struct Gate {
    places: Mutex<Places>,
    changed: Condvar,
}

/// How many permits are out, and how many may be.
#[derive(Debug)]
struct Places {
    in_use: usize,
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
            places: Mutex::new(Places {
                in_use: 0,
                limit: limit.max(1),
            }),
            changed: Condvar::new(),
        })
    }

    /// Waits for a free place; `None` once `shutdown` is requested.
    pub fn acquire(self: &Arc<Self>, shutdown: &Shutdown) -> Option<Permit> {
        self.acquire_before(shutdown, None)
    }

    /// [`Gate::acquire`], giving up at `until` as well (`None`: no time limit); the caller
    /// tells the two apart by `shutdown`.
    pub fn acquire_before(
        self: &Arc<Self>,
        shutdown: &Shutdown,
        until: Option<Instant>,
    ) -> Option<Permit> {
        let mut places = self.lock();
        loop {
            if shutdown.requested() {
                return None;
            }
            if places.in_use < places.limit {
                places.in_use += 1;
                return Some(Permit {
                    gate: Arc::clone(self),
                });
            }
            // The tick bounds how long a shutdown goes unnoticed while at the cap.
            let wait = match until {
                None => TICK,
                Some(until) => match until.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(TICK),
                    _ => return None,
                },
            };
            places = self
                .changed
                .wait_timeout(places, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A free place if there is one now, without waiting.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut places = self.lock();
        (places.in_use < places.limit).then(|| {
            places.in_use += 1;
            Permit {
                gate: Arc::clone(self),
            }
        })
    }

    /// One more place, and a waiter let in on it.
    pub fn widen(&self) {
        self.lock().limit += 1;
        self.changed.notify_all();
    }

    /// How many permits are out.
    pub fn in_use(&self) -> usize {
        self.lock().in_use
    }

    /// Waits until every permit is back or `deadline` passes; returns how many are out.
    pub fn wait_idle(&self, deadline: Instant) -> usize {
        let mut places = self.lock();
        while places.in_use > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            places = self
                .changed
                .wait_timeout(places, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        places.in_use
    }

    /// The counts survive a panic elsewhere: plain numbers, always consistent.
    fn lock(&self) -> MutexGuard<'_, Places> {
        self.places.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.lock().in_use -= 1;
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

    /// A waiter at the cap gets the place a widening adds; a wait with a time limit gives
    /// up at it.
    #[test]
    fn widen_and_acquire_before() {
        let gate = Gate::new(1);
        let shutdown = Shutdown::new(Duration::from_secs(1));
        let _held = gate.acquire(&shutdown).unwrap();
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(gate.acquire_before(&shutdown, Some(soon)).is_none());
        assert!(Instant::now() >= soon);
        let waiter = {
            let gate = Arc::clone(&gate);
            let shutdown = shutdown.clone();
            thread::spawn(move || gate.acquire(&shutdown).is_some())
        };
        gate.widen();
        assert!(waiter.join().unwrap());
        assert_eq!(
            gate.in_use(),
            1,
            "the waiter's permit went back when it ended"
        );
    }
}
