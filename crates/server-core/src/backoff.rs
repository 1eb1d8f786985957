//! [`Backoff`]: when to try again after starting a worker failed.
//!
//! The architectures that start their workers once — prefork's processes, pool's threads
//! — start the missing ones again when `fork` or a thread spawn fails (`EAGAIN`: too many
//! processes for the user, `ENOMEM`). Trying again at once would spin, and a fixed pause
//! would either spin too under a limit that stays, or leave the pool short for long after
//! it lifts. So each failure in a row doubles the wait, from [`FIRST`] up to [`MAX`]; a
//! success starts over.

use std::time::{Duration, Instant};

/// The first wait after a failure.
pub const FIRST: Duration = Duration::from_millis(50);

/// The longest wait between tries.
pub const MAX: Duration = Duration::from_secs(5);

/// Failures in a row, and when the next try may be made.
#[derive(Debug, Clone)]
pub struct Backoff {
    strikes: u32,
    retry_at: Instant,
}

impl Backoff {
    /// No failure yet: a try may be made at once.
    pub fn new(now: Instant) -> Backoff {
        Backoff {
            strikes: 0,
            retry_at: now,
        }
    }

    /// Counts a failure at `now`; returns how long to wait before the next try.
    pub fn failed(&mut self, now: Instant) -> Duration {
        self.strikes = self.strikes.saturating_add(1);
        let wait = FIRST
            .saturating_mul(1 << (self.strikes - 1).min(16))
            .min(MAX);
        self.retry_at = now + wait;
        wait
    }

    /// Things went well: the next failure waits [`FIRST`] again.
    pub fn reset(&mut self) {
        self.strikes = 0;
    }

    /// When the next try may be made.
    pub fn retry_at(&self) -> Instant {
        self.retry_at
    }

    /// Whether a try may be made at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.retry_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits double from 50 ms to at most 5 s; a reset starts over; a try is due at once
    /// before any failure and only after the wait after one.
    #[test]
    fn doubles_up_to_the_cap() {
        let now = Instant::now();
        let mut backoff = Backoff::new(now);
        assert!(backoff.is_due(now));
        let waits: Vec<u64> = (0..10)
            .map(|_| backoff.failed(now).as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]
        );
        assert!(!backoff.is_due(now));
        assert_eq!(backoff.retry_at(), now + MAX);
        backoff.reset();
        assert_eq!(backoff.failed(now), FIRST);
        assert!(backoff.is_due(now + FIRST));
    }
}
