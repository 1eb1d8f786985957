//! Reads a running server from `/proc` while a benchmark point runs: its memory (RSS, and
//! PSS from `smaps_rollup`), its thread count, its live children, and the CPU time it and
//! every process it ran have used. Reading counters the kernel already keeps is not
//! measuring: every time in the results still comes from `bench`.
//!
//! Sampling must not disturb what it samples. The thread count comes from the `Threads:`
//! line of `/proc/PID/status`, never from listing `/proc/PID/task` (10,000 entries for a
//! C10K threaded server); with many threads only the main thread's children are listed
//! and samples are taken less often; and `smaps_rollup`, which walks the whole address
//! space under the process's memory-map lock, is read at most 2 % of the time.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How often a server with few threads is sampled.
const INTERVAL: Duration = Duration::from_millis(20);

/// Above this many threads, only a server's main thread's children are listed.
const MANY_THREADS: u64 = 64;

/// The longest sampling interval, for the largest servers.
const MAX_INTERVAL: Duration = Duration::from_millis(250);

/// After a PSS reading that took `t`, the next waits at least `PSS_BACKOFF × t`: the
/// sampler holds the server's memory-map lock at most 1 / `PSS_BACKOFF` of the time.
const PSS_BACKOFF: u32 = 50;

/// The highest values seen while sampling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peaks {
    /// Resident memory in KiB, summed over the server and its children (pages shared
    /// between a forking parent and its children are counted once per process).
    pub rss_kib: u64,
    /// Proportional memory in KiB, summed over the server and its children at the sample
    /// where that sum was highest: each shared page is shared out among its users.
    #[serde(default)]
    pub pss_kib: u64,
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
            pss_kib: self.pss_kib.max(other.pss_kib),
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

/// `(VmRSS KiB, Threads)` of `pid`, or `None` when it is gone.
fn status(pid: u32) -> Option<(u64, u64)> {
    Some(parse_status(
        &fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
    ))
}

/// The `Pss:` line of `/proc/<pid>/smaps_rollup`, KiB.
fn parse_pss(rollup: &str) -> Option<u64> {
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The proportional set size of `pid` in KiB, or `None` when it is gone or unreadable.
pub fn pss_kib(pid: u32) -> Option<u64> {
    parse_pss(&fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?)
}

/// The server's live children. Each thread lists the children it forked in
/// `/proc/<pid>/task/<tid>/children`; a server with many threads (the threaded one) is
/// asked only about its main thread, since reading 10,000 lists would cost more than it
/// tells and servers fork from their main thread.
pub fn children(pid: u32, threads: u64) -> Vec<u32> {
    let lists: Vec<String> = if threads <= MANY_THREADS {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return Vec::new();
        };
        tasks
            .flatten()
            .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
            .collect()
    } else {
        fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .into_iter()
            .collect()
    };
    lists
        .iter()
        .flat_map(|text| text.split_whitespace().filter_map(|p| p.parse().ok()))
        .collect()
}

/// CPU times from `/proc/<pid>/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatTimes {
    /// User time of the process (all its threads).
    pub utime: u64,
    /// System time of the process.
    pub stime: u64,
    /// User time of its children that it has reaped (and of theirs).
    pub cutime: u64,
    /// System time of its reaped children.
    pub cstime: u64,
}

impl StatTimes {
    /// The process's own user and system time.
    pub fn own(self) -> u64 {
        self.utime + self.stime
    }

    /// Its own time and that of the children it has reaped.
    pub fn with_reaped(self) -> u64 {
        self.own() + self.cutime + self.cstime
    }
}

/// The times of a `/proc/<pid>/stat` line: fields 14 to 17, counted after the command
/// name's closing parenthesis (the name itself may hold spaces and parentheses).
fn parse_stat(stat: &str) -> Option<StatTimes> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state), so field 14 is its 12th word.
    let mut fields = rest.split_whitespace().skip(11).map(str::parse::<u64>);
    let mut next = || fields.next()?.ok();
    Some(StatTimes {
        utime: next()?,
        stime: next()?,
        cutime: next()?,
        cstime: next()?,
    })
}

/// The CPU times of `pid`, or `None` when it is gone.
pub fn stat_times(pid: u32) -> Option<StatTimes> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Clock ticks per second of the `/proc` CPU times (`USER_HZ`, 100 on Linux).
pub fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The CPU time, in seconds, that `pid` and every process it ran have used so far: its
/// own user and system time, its reaped children's (the kernel folds a child's time into
/// the parent's `cutime`/`cstime` when the parent reaps it), and its live children's
/// (prefork's workers, forking's children still serving). The difference of two readings
/// is the CPU used between them; a child that was live at the first and reaped by the
/// second moves from the live sum into `cutime` with all its time. `None` when the
/// process is gone.
pub fn cpu_s(pid: u32) -> Option<f64> {
    let own = stat_times(pid)?;
    let (_, threads) = status(pid)?;
    let kids: u64 = children(pid, threads)
        .into_iter()
        .filter_map(stat_times)
        .map(StatTimes::with_reaped)
        .sum();
    let ticks = own.with_reaped() + kids;
    Some(ticks as f64 / ticks_per_second() as f64)
}

/// How busy the machine is: the 1-minute load average (`/proc/loadavg`) and the share
/// of the last 10 s in which some runnable task waited for a CPU (`/proc/pressure/cpu`,
/// `some avg10`, percent). Either is `None` where the kernel does not provide it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Busy {
    /// The 1-minute load average.
    pub load_avg: Option<f64>,
    /// CPU pressure, percent of the last 10 s.
    pub cpu_pressure_pct: Option<f64>,
}

impl Busy {
    /// This machine, now.
    pub fn read() -> Busy {
        let read = |path: &str| fs::read_to_string(path).ok();
        Busy {
            load_avg: read("/proc/loadavg").as_deref().and_then(parse_loadavg),
            cpu_pressure_pct: read("/proc/pressure/cpu")
                .as_deref()
                .and_then(parse_pressure),
        }
    }

    /// The higher of each reading: a point is as busy as its busiest moment.
    pub fn max(self, other: Busy) -> Busy {
        let higher = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Busy {
            load_avg: higher(self.load_avg, other.load_avg),
            cpu_pressure_pct: higher(self.cpu_pressure_pct, other.cpu_pressure_pct),
        }
    }
}

/// The 1-minute load average, the first field of `/proc/loadavg`.
fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// `avg10` of the `some` line of `/proc/pressure/cpu`.
fn parse_pressure(text: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix("some "))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))?
        .parse()
        .ok()
}

/// One sample of `pid` and its children (PSS only when `with_pss`), or `None` when the
/// process is gone.
pub fn sample(pid: u32, with_pss: bool) -> Option<Peaks> {
    let (rss, threads) = status(pid)?;
    let kids = children(pid, threads);
    let kids_rss: u64 = kids.iter().filter_map(|&k| status(k)).map(|s| s.0).sum();
    let pss = if with_pss {
        pss_kib(pid).unwrap_or(0) + kids.iter().filter_map(|&k| pss_kib(k)).sum::<u64>()
    } else {
        0
    };
    Some(Peaks {
        rss_kib: rss + kids_rss,
        pss_kib: pss,
        threads,
        children: kids.len() as u64,
    })
}

/// How long to wait after a sample of a server with `tasks` threads and children: 20 ms,
/// growing in proportion from 400 up to 250 ms (5,000 and more).
fn interval(tasks: u64) -> Duration {
    let scaled = INTERVAL.as_secs_f64() * tasks as f64 / 400.0;
    Duration::from_secs_f64(scaled).clamp(INTERVAL, MAX_INTERVAL)
}

/// A thread sampling one process until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Peaks>>,
}

impl Sampler {
    /// Starts sampling `pid`: RSS, threads and children every 20 ms (less often for a
    /// server with many threads), PSS as often as keeps its reading under 2 % of the time.
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("proc-sampler".into())
            .spawn(move || {
                let mut peaks = Peaks::default();
                let mut next_pss = Instant::now();
                while !flag.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let with_pss = started >= next_pss;
                    let Some(now) = sample(pid, with_pss) else {
                        thread::sleep(INTERVAL);
                        continue;
                    };
                    if with_pss {
                        next_pss = Instant::now() + started.elapsed() * PSS_BACKOFF;
                    }
                    peaks = peaks.max(now);
                    // A forking server's children cost a read each, as threads do.
                    thread::sleep(interval(now.threads + now.children));
                }
                // One last reading, so that a point shorter than the PSS back-off still
                // has one.
                if peaks.pss_kib == 0
                    && let Some(now) = sample(pid, true)
                {
                    peaks = peaks.max(now);
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
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A child of this test process that kills itself when dropped.
    struct Kid(Child);

    impl Kid {
        fn start(script: &str) -> Kid {
            Kid(Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .spawn()
                .unwrap())
        }

        fn pid(&self) -> u32 {
            self.0.id()
        }
    }

    impl Drop for Kid {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// VmRSS and Threads are read from a status file's text.
    #[test]
    fn status_fields() {
        let text = "Name:\tserver\nVmRSS:\t    2048 kB\nThreads:\t7\n";
        assert_eq!(parse_status(text), (2048, 7));
        assert_eq!(parse_status("Name: x\n"), (0, 0));
    }

    /// The Pss line of smaps_rollup is found among its neighbours (Pss_Anon and such).
    #[test]
    fn pss_field() {
        let text = "55d0-7ffe ---p 00000000 00:00 0  [rollup]\nRss:  4096 kB\n\
                    Pss:  1234 kB\nPss_Anon:  1000 kB\n";
        assert_eq!(parse_pss(text), Some(1234));
        assert_eq!(parse_pss("Rss: 1 kB\n"), None);
    }

    /// utime, stime, cutime and cstime are fields 14 to 17, even when the command name
    /// holds spaces and parentheses.
    #[test]
    fn stat_fields() {
        let text = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    11 22 33 44 20 0 1 0 5 0 0";
        assert_eq!(
            parse_stat(text),
            Some(StatTimes {
                utime: 11,
                stime: 22,
                cutime: 33,
                cstime: 44
            })
        );
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    /// This test process can be sampled: it has memory, proportional memory no larger
    /// than its resident memory, at least one thread, and some CPU time.
    #[test]
    fn samples_self() {
        let me = std::process::id();
        let peaks = sample(me, true).unwrap();
        assert!(peaks.rss_kib > 0);
        assert!(peaks.threads >= 1);
        let pss = pss_kib(me).unwrap();
        assert!(pss > 0 && pss <= status(me).unwrap().0 + 1024, "{pss}");
        let before = cpu_s(me).unwrap();
        // Spin for 20 ticks of CPU time (on the thread's clock, so a busy machine only
        // makes it take longer); the reading must grow by at least most of it.
        let spin_until = stat_times(me).unwrap();
        let target = spin_until.own() + 20;
        let mut x = 0u64;
        while stat_times(me).is_some_and(|t| t.own() < target) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        let after = cpu_s(me).unwrap();
        let tick = 1.0 / ticks_per_second() as f64;
        assert!(after - before >= 19.0 * tick, "{before} → {after}");
        assert!(cpu_s(u32::MAX).is_none());
    }

    /// A child's memory is summed in, and its CPU time is counted while it runs (as a
    /// live child) and still counted after it has been reaped (in cutime/cstime).
    #[test]
    fn children_are_counted_live_and_reaped() {
        let me = std::process::id();
        let sleeper = Kid::start("exec sleep 30");
        let kids = children(me, status(me).unwrap().1);
        assert!(kids.contains(&sleeper.pid()), "{kids:?}");
        assert!(pss_kib(sleeper.pid()).is_some_and(|p| p > 0));
        let with_kid = sample(me, true).unwrap();
        assert!(with_kid.children >= 1);
        drop(sleeper);

        let before = cpu_s(me).unwrap();
        let mut spinner = Kid::start("while :; do :; done");
        // Wait (bounded) until the spinner has used 10 ticks of its own.
        let deadline = Instant::now() + Duration::from_secs(20);
        let spent = loop {
            let t = stat_times(spinner.pid()).unwrap_or_default();
            if t.own() >= 10 || Instant::now() > deadline {
                break t.own();
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert!(spent >= 10, "the spinner got no CPU in 20 s");
        let tick = 1.0 / ticks_per_second() as f64;
        let live = cpu_s(me).unwrap();
        assert!(live - before >= spent as f64 * tick, "{before} → {live}");
        let _ = spinner.0.kill();
        let _ = spinner.0.wait();
        let reaped = cpu_s(me).unwrap();
        assert!(
            reaped - before >= spent as f64 * tick,
            "{before} → {reaped}"
        );
        assert!(!children(me, 1).contains(&spinner.pid()));
    }

    /// The load average and the CPU pressure are read from their files' text; the higher
    /// of two readings is kept, a missing one does not hide the other.
    #[test]
    fn busy_readings() {
        assert_eq!(
            parse_loadavg("13.31 22.40 30.27 15/181 10473\n"),
            Some(13.31)
        );
        let psi = "some avg10=64.08 avg60=95.72 avg300=91.37 total=2626667730\n\
                   full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(64.08));
        assert_eq!(parse_pressure("full avg10=1.00\n"), None);
        let a = Busy {
            load_avg: Some(3.0),
            cpu_pressure_pct: None,
        };
        let b = Busy {
            load_avg: Some(2.0),
            cpu_pressure_pct: Some(40.0),
        };
        assert_eq!(
            a.max(b),
            Busy {
                load_avg: Some(3.0),
                cpu_pressure_pct: Some(40.0)
            }
        );
        assert!(Busy::read().load_avg.is_some());
    }

    /// The sampling interval grows with the thread count and stays within its bounds.
    #[test]
    fn fewer_samples_for_many_threads() {
        assert_eq!(interval(1), INTERVAL);
        assert_eq!(interval(MANY_THREADS), INTERVAL);
        assert!(interval(2_000) > INTERVAL);
        assert_eq!(interval(10_000), MAX_INTERVAL);
        assert_eq!(interval(u64::MAX), MAX_INTERVAL);
    }
}
