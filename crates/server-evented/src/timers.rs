//! The loop's timers: a binary heap of (deadline, slot, connection id) with lazy deletion.
//!
//! A connection arms a deadline by pushing an entry; nothing is ever removed from the
//! middle of the heap. An entry that no longer matches (the connection is gone, or a
//! newer deadline replaced it) is only recognised — by the loop, which knows its
//! connections — when it comes up, and dropped then; [`Timers::compact`] rebuilds the
//! heap when stale entries outnumber live ones, so a connection re-arming over and over
//! cannot grow it without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Stale entries tolerated beyond twice the live connections before the heap is rebuilt.
const SLACK: usize = 1024;

/// One armed deadline: the connection in `slot`, if it is still the one numbered `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub deadline: Instant,
    pub slot: usize,
    pub id: u64,
}

/// The timer heap, earliest deadline first.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Timers {
    /// Arms `timer`; an earlier entry for the same connection stays until it comes up.
    pub fn arm(&mut self, timer: Timer) {
        self.heap
            .push(Reverse((timer.deadline, timer.slot, timer.id)));
    }

    /// The nearest deadline, stale or not (a stale one only wakes the loop early).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((deadline, _, _))| *deadline)
    }

    /// Takes the earliest entry if it is due at `now`; the caller drops it if stale.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let &Reverse((deadline, slot, id)) = self.heap.peek()?;
        if deadline > now {
            return None;
        }
        self.heap.pop();
        Some(Timer { deadline, slot, id })
    }

    /// Keeps only the entries `is_live` accepts, once the heap holds more than twice
    /// `live` (the connections) plus some slack: rebuilding costs a pass over the heap,
    /// so it is done only when stale entries outnumber the live ones.
    pub fn compact(&mut self, live: usize, mut is_live: impl FnMut(Timer) -> bool) {
        if self.heap.len() > 2 * live + SLACK {
            self.heap
                .retain(|&Reverse((deadline, slot, id))| is_live(Timer { deadline, slot, id }));
        }
    }

    /// How many entries the heap holds, stale ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(base: Instant, millis: u64, slot: usize, id: u64) -> Timer {
        Timer {
            deadline: base + Duration::from_millis(millis),
            slot,
            id,
        }
    }

    #[test]
    fn due_timers_come_earliest_first_and_later_ones_stay() {
        let base = Instant::now();
        let mut timers = Timers::default();
        timers.arm(at(base, 30, 3, 3));
        timers.arm(at(base, 10, 1, 1));
        timers.arm(at(base, 20, 2, 2));
        assert_eq!(
            timers.next_deadline(),
            Some(base + Duration::from_millis(10))
        );
        let now = base + Duration::from_millis(20);
        assert_eq!(timers.pop_due(now), Some(at(base, 10, 1, 1)));
        assert_eq!(timers.pop_due(now), Some(at(base, 20, 2, 2)));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(
            timers.next_deadline(),
            Some(base + Duration::from_millis(30))
        );
    }

    #[test]
    fn compact_drops_stale_entries_only_when_they_outnumber_the_live() {
        let base = Instant::now();
        let mut timers = Timers::default();
        // One live connection (slot 0, id 7) re-armed over and over: only its last
        // deadline, 2000 ms, is live.
        for millis in 1..=2000 {
            timers.arm(at(base, millis, 0, 7));
        }
        let live = |t: Timer| t == at(base, 2000, 0, 7);
        // Few enough stale entries: left for `pop_due` to drop.
        let mut few = Timers::default();
        few.arm(at(base, 1, 0, 7));
        few.arm(at(base, 2000, 0, 7));
        few.compact(1, live);
        assert_eq!(few.len(), 2);
        // Many more than the live ones: rebuilt with the live entry alone.
        timers.compact(1, live);
        assert_eq!(timers.len(), 1);
        assert_eq!(
            timers.pop_due(base + Duration::from_secs(2)),
            Some(at(base, 2000, 0, 7))
        );
    }
}
