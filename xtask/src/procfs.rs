//! Samples a running server's memory, threads and live children from `/proc` while a
//! benchmark point runs, and keeps the peaks. Reading counters the kernel already keeps
//! is not measuring: every time in the results still comes from `bench`.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the server is sampled.
const INTERVAL: Duration = Duration::from_millis(20);

/// The highest values seen while sampling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peaks {
    /// Resident memory in KiB, summed over the server and its children (pages shared
    /// between a forking parent and its children are counted once per process).
    pub rss_kib: u64,
    /// Threads of the server process.
    pub threads: u64,
    /// Live child processes of the server.
    pub children: u64,
}

impl Peaks {
    /// The larger of each value.
    pub fn max(self, other: Peaks) -> Peaks {
        Peaks {
            rss_kib: self.rss_kib.max(other.rss_kib),
            threads: self.threads.max(other.threads),
            children: self.children.max(other.children),
        }
    }
}

/// A `(VmRSS KiB, Threads)` pair from the text of `/proc/<pid>/status`.
fn parse_status(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// The server's children: listed per thread in `/proc/<pid>/task/<tid>/children`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// One sample of `pid` and its children, or `None` when the process is gone.
pub fn sample(pid: u32) -> Option<Peaks> {
    let (rss, threads) = parse_status(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?);
    // Only a server with few threads forks; reading every thread's children list of a
    // threaded server with thousands of threads would cost more than it tells.
    let kids = if threads <= 8 {
        children(pid)
    } else {
        Vec::new()
    };
    let kids_rss: u64 = kids
        .iter()
        .filter_map(|k| fs::read_to_string(format!("/proc/{k}/status")).ok())
        .map(|s| parse_status(&s).0)
        .sum();
    Some(Peaks {
        rss_kib: rss + kids_rss,
        threads,
        children: kids.len() as u64,
    })
}

/// A thread sampling one process until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Peaks>>,
}

impl Sampler {
    /// Starts sampling `pid` every 20 ms.
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("proc-sampler".into())
            .spawn(move || {
                let mut peaks = Peaks::default();
                while !flag.load(Ordering::Relaxed) {
                    if let Some(now) = sample(pid) {
                        peaks = peaks.max(now);
                    }
                    thread::sleep(INTERVAL);
                }
                peaks
            })
            .ok();
        Sampler { stop, handle }
    }

    /// Stops sampling and returns the peaks (zero when the thread could not start).
    pub fn stop(mut self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VmRSS and Threads are read from a status file's text.
    #[test]
    fn status_fields() {
        let text = "Name:\tserver\nVmRSS:\t    2048 kB\nThreads:\t7\n";
        assert_eq!(parse_status(text), (2048, 7));
        assert_eq!(parse_status("Name: x\n"), (0, 0));
    }

    /// This test process can be sampled: it has memory and at least one thread.
    #[test]
    fn samples_self() {
        let peaks = sample(std::process::id()).unwrap();
        assert!(peaks.rss_kib > 0);
        assert!(peaks.threads >= 1);
    }
}
