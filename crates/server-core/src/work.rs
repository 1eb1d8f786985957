//! `--work`: a request that computes, not one that waits.
//!
//! `--delay` holds a request without using the CPU, as a server waiting on a disk or
//! another service would; `--work D` makes each request also burn D of CPU time, as a
//! server that computes would. The time is measured on the calling thread's own CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`), not the wall clock, so that under contention — more busy
//! threads than cores — a request still costs D of real work and takes longer to finish,
//! which is what the benchmark's `--work` column sets out to show.

use std::hint::black_box;
use std::time::Duration;

/// The calling thread's CPU time so far, or `None` if the clock cannot be read.
pub fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid, exclusive pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

/// Computes until the calling thread has used `work` more CPU time. Returns at once for
/// zero, or if the thread's CPU clock cannot be read (never on Linux).
pub fn compute_for(work: Duration) {
    if work.is_zero() {
        return;
    }
    let Some(start) = thread_cpu_time() else {
        return;
    };
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        // A few thousand multiply-xorshift rounds between clock reads: real arithmetic the
        // optimiser cannot remove, and a clock read every few microseconds.
        for _ in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        }
        black_box(x);
        match thread_cpu_time() {
            Some(now) if now.saturating_sub(start) < work => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// compute_for burns at least the CPU time it was asked for, on this thread's clock.
    #[test]
    fn burns_thread_cpu_time() {
        let before = thread_cpu_time().unwrap();
        compute_for(Duration::from_millis(30));
        let used = thread_cpu_time().unwrap() - before;
        assert!(used >= Duration::from_millis(30), "{used:?}");
        compute_for(Duration::ZERO);
    }
}
