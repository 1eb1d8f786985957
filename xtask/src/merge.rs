//! `cargo xtask merge LOG… [--out DIR]`: the interval logs of several load generators
//! (`bench --rate … --start-at T --hdr-log FILE`, one per host) added into one.
//!
//! Percentiles cannot be averaged: the p99 of two hosts is not the mean of their p99s.
//! Histograms can be added, and HdrHistogram's interval logs keep one per interval, so
//! the merge adds them interval by interval on absolute time (each log's `StartTime` or
//! `BaseTime` plus the interval's offset), as HdrLogProcessing's `UnionHistogramLogs`
//! does. The merged log's intervals are whole seconds from the earliest interval of any
//! log; an input interval goes into the second that holds its middle, so generators that
//! started a few milliseconds apart (one `--start-at`, clocks kept by NTP) share their
//! seconds.
//!
//! Writes, in `--out` (default `target/merge/<UTC timestamp>`):
//! - `merged.hlog`: the sum, in the same standard format (written by
//!   [`bench::hdr_log`], the writer of `bench --hdr-log`);
//! - `merged.json`: the merged latency percentiles, the achieved rate (all answers over
//!   the time the logs span), each input log's own count and span, and every second;
//! - `merged.txt`: the per-second table, also printed.
//!
//! Bad input — a file that cannot be read, one that is not an interval log, logs that
//! share no time — is a usage error ([`Exit::Usage`]) naming the file (and the line), exit status 2.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bench::hdr_log::{self, Interval};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::flags::MergeArgs;
use crate::util::{self, Exit};

/// The first comment line of `merged.hlog`.
const MERGED_ABOUT: &str = "Latencies in nanoseconds, the sum of several interval logs, \
                            written by taskserver's cargo xtask merge";

/// Input that cannot be merged, the user's to fix as a usage error is (exit status 2):
/// the message names the file (and the line).
fn bad_input(message: String) -> Exit {
    Exit::Usage(format!("merge: {message}"))
}

/// One input log, read.
struct Log {
    /// The file, as given.
    file: String,
    /// Its intervals, on absolute time.
    intervals: Vec<Interval>,
}

impl Log {
    /// When its first interval starts.
    fn start(&self) -> Duration {
        self.intervals
            .iter()
            .map(|i| i.start)
            .min()
            .unwrap_or_default()
    }

    /// When its last interval ends.
    fn end(&self) -> Duration {
        self.intervals
            .iter()
            .map(|i| i.start + i.length)
            .max()
            .unwrap_or_default()
    }
}

/// The sum of the logs: one histogram per second from `start`.
pub struct Merged {
    /// The earliest interval start of any log, since the Unix epoch.
    pub start: Duration,
    /// The latest interval end of any log, since the Unix epoch.
    pub end: Duration,
    /// Second by second from `start`: the sum of the intervals whose middle falls in it,
    /// and how many logs had one there.
    pub seconds: Vec<(Histogram<u64>, usize)>,
}

/// Runs the task.
///
/// # Errors
///
/// [`Exit::Usage`] for a log that cannot be read or merged; other errors when the outputs
/// cannot be written.
pub fn run(args: &MergeArgs) -> anyhow::Result<()> {
    let logs = args
        .logs
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>, _>>()?;
    check_overlap(&logs)?;
    let merged = merge(&logs);
    let out = args.out.clone().unwrap_or_else(|| {
        util::target_dir()
            .join("merge")
            .join(util::stamp(SystemTime::now()))
    });
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_outputs(&out, &logs, &merged)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Reads one log.
fn read(path: &Path) -> Result<Log, Exit> {
    let file = path.display().to_string();
    let text = fs::read(path).map_err(|e| bad_input(format!("{file}: {e}")))?;
    let intervals = hdr_log::read(&text).map_err(|e| bad_input(format!("{file}: {e}")))?;
    Ok(Log { file, intervals })
}

/// Refuses logs that do not all share some time: adding a run of Monday to one of
/// Tuesday gives a histogram of nothing that happened.
fn check_overlap(logs: &[Log]) -> Result<(), Exit> {
    let (Some(latest), Some(earliest)) = (
        logs.iter().max_by_key(|l| l.start()),
        logs.iter().min_by_key(|l| l.end()),
    ) else {
        return Err(bad_input("no log given".into()));
    };
    if latest.start() >= earliest.end() {
        return Err(bad_input(format!(
            "{} ({}) and {} ({}) share no time: start the generators with one \
             --start-at, and merge logs of one run",
            earliest.file,
            span(earliest),
            latest.file,
            span(latest),
        )));
    }
    Ok(())
}

/// A log's time span, as UTC.
fn span(log: &Log) -> String {
    format!(
        "{} to {}",
        util::rfc3339(UNIX_EPOCH + log.start()),
        util::rfc3339(UNIX_EPOCH + log.end())
    )
}

/// Adds the logs second by second, from the earliest interval of any.
pub fn merge_intervals(logs: &[&[Interval]]) -> Merged {
    let all = || logs.iter().flat_map(|l| l.iter());
    let start = all().map(|i| i.start).min().unwrap_or_default();
    let end = all().map(|i| i.start + i.length).max().unwrap_or_default();
    let mut seconds: Vec<(Histogram<u64>, usize)> = Vec::new();
    for log in logs {
        let mut seen = Vec::new();
        for interval in log.iter() {
            let middle = interval.start + interval.length / 2;
            let second = usize::try_from(middle.saturating_sub(start).as_secs()).unwrap_or(0);
            if seconds.len() <= second {
                seconds.resize_with(second + 1, || (empty(), 0));
            }
            // Histograms auto-resize, so adding cannot run out of range.
            let _ = seconds[second].0.add(&interval.histogram);
            if !seen.contains(&second) {
                seen.push(second);
                seconds[second].1 += 1;
            }
        }
    }
    Merged {
        start,
        end,
        seconds,
    }
}

fn merge(logs: &[Log]) -> Merged {
    let intervals: Vec<&[Interval]> = logs.iter().map(|l| &l.intervals[..]).collect();
    merge_intervals(&intervals)
}

/// An empty histogram of nanoseconds that grows as needed.
fn empty() -> Histogram<u64> {
    let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
    h.auto(true);
    h
}

impl Merged {
    /// Every value of every second.
    pub fn total(&self) -> Histogram<u64> {
        let mut total = empty();
        for (h, _) in &self.seconds {
            let _ = total.add(h);
        }
        total
    }

    /// The merged seconds as a log's intervals, the last cut at the latest end.
    fn intervals(&self) -> Vec<Interval> {
        (0u64..)
            .zip(&self.seconds)
            .map(|(second, (histogram, _))| {
                let start = Duration::from_secs(second);
                let left = (self.end.saturating_sub(self.start)).saturating_sub(start);
                Interval {
                    start,
                    length: left.clamp(Duration::from_millis(1), Duration::from_secs(1)),
                    histogram: histogram.clone(),
                }
            })
            .collect()
    }
}

/// Percentiles of a histogram of nanoseconds, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Values.
    pub count: u64,
    /// Median.
    pub p50_s: f64,
    /// 90th percentile.
    pub p90_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// 99.9th percentile.
    pub p999_s: f64,
    /// Largest.
    pub max_s: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let s = |ns: u64| ns as f64 / 1e9;
        Latency {
            count: h.len(),
            p50_s: s(h.value_at_quantile(0.50)),
            p90_s: s(h.value_at_quantile(0.90)),
            p99_s: s(h.value_at_quantile(0.99)),
            p999_s: s(h.value_at_quantile(0.999)),
            max_s: s(h.max()),
        }
    }
}

/// `merged.json`.
#[derive(Debug, Serialize)]
struct Report {
    /// The merged log's StartTime, seconds since the epoch.
    start_unix_s: f64,
    latency: Latency,
    rate: Rate,
    logs: Vec<LogSummary>,
    intervals: Vec<Second>,
}

/// The achieved rate of all the logs together.
#[derive(Debug, Serialize)]
struct Rate {
    /// Values (answers) over `period_s`.
    achieved_per_s: f64,
    /// From the earliest interval start to the latest end of any log.
    period_s: f64,
}

/// One input log.
#[derive(Debug, Serialize)]
struct LogSummary {
    file: String,
    start_unix_s: f64,
    end_unix_s: f64,
    latency: Latency,
}

/// One second of the merged log.
#[derive(Debug, Serialize)]
struct Second {
    /// From the merged log's start.
    start_s: f64,
    /// How many input logs had an interval in it.
    logs: usize,
    latency: Latency,
}

fn report(logs: &[Log], merged: &Merged) -> Report {
    let total = merged.total();
    let period_s = (merged.end.saturating_sub(merged.start)).as_secs_f64();
    Report {
        start_unix_s: merged.start.as_secs_f64(),
        latency: Latency::of(&total),
        rate: Rate {
            achieved_per_s: if period_s > 0.0 {
                total.len() as f64 / period_s
            } else {
                0.0
            },
            period_s,
        },
        logs: logs
            .iter()
            .map(|log| {
                let mut all = empty();
                for i in &log.intervals {
                    let _ = all.add(&i.histogram);
                }
                LogSummary {
                    file: log.file.clone(),
                    start_unix_s: log.start().as_secs_f64(),
                    end_unix_s: log.end().as_secs_f64(),
                    latency: Latency::of(&all),
                }
            })
            .collect(),
        intervals: (0u32..)
            .zip(&merged.seconds)
            .map(|(second, (h, logs))| Second {
                start_s: f64::from(second),
                logs: *logs,
                latency: Latency::of(h),
            })
            .collect(),
    }
}

/// The per-second table of `merged.txt`, with the whole run as its last row.
fn table(report: &Report) -> String {
    let ms = |s: f64| s * 1e3;
    let mut out = format!(
        "{:>6} {:>4} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "second", "logs", "count", "p50 ms", "p99 ms", "p99.9 ms", "max ms"
    );
    let mut row = |label: &str, logs: String, l: &Latency| {
        let _ = writeln!(
            out,
            "{label:>6} {logs:>4} {:>10} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
            l.count,
            ms(l.p50_s),
            ms(l.p99_s),
            ms(l.p999_s),
            ms(l.max_s)
        );
    };
    for s in &report.intervals {
        row(&format!("{}", s.start_s), s.logs.to_string(), &s.latency);
    }
    row("all", report.logs.len().to_string(), &report.latency);
    let _ = writeln!(
        out,
        "{} values from {} logs over {:.3} s: {:.1} per second",
        report.latency.count,
        report.logs.len(),
        report.rate.period_s,
        report.rate.achieved_per_s
    );
    out
}

/// Writes merged.hlog, merged.json and merged.txt into `out`, and prints the table.
fn write_outputs(out: &Path, logs: &[Log], merged: &Merged) -> anyhow::Result<()> {
    let mut hlog = Vec::new();
    hdr_log::write_all(
        &mut hlog,
        MERGED_ABOUT,
        UNIX_EPOCH + merged.start,
        &merged.intervals(),
    )
    .context("encoding merged.hlog")?;
    fs::write(out.join("merged.hlog"), hlog).context("writing merged.hlog")?;
    let report = report(logs, merged);
    let json = serde_json::to_string_pretty(&report).context("encoding merged.json")? + "\n";
    fs::write(out.join("merged.json"), json).context("writing merged.json")?;
    let table = table(&report);
    fs::write(out.join("merged.txt"), &table).context("writing merged.txt")?;
    print!("{table}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram_of(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = empty();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn interval(start_ms: u64, values: impl IntoIterator<Item = u64>) -> Interval {
        Interval {
            start: Duration::from_millis(start_ms),
            length: Duration::from_secs(1),
            histogram: histogram_of(values),
        }
    }

    /// Two logs a few milliseconds apart share their seconds; the sum holds every
    /// value, and its median lies between the two logs' medians.
    #[test]
    fn adds_on_absolute_time() {
        let t = 1_700_000_000_000;
        let a = [interval(t + 3, 1..=100), interval(t + 1003, 1..=100)];
        let b = [
            interval(t + 9, 1001..=1100),
            interval(t + 1009, 1001..=1100),
            interval(t + 2009, [7]),
        ];
        let merged = merge_intervals(&[&a, &b]);
        assert_eq!(merged.start, Duration::from_millis(t + 3));
        assert_eq!(merged.end, Duration::from_millis(t + 3009));
        assert_eq!(merged.seconds.len(), 3);
        assert_eq!(merged.seconds[0].0.len(), 200);
        assert_eq!(merged.seconds[0].1, 2);
        assert_eq!(merged.seconds[2].1, 1);
        let total = merged.total();
        assert_eq!(total.len(), 401);
        let p50 = total.value_at_quantile(0.5);
        assert!((100..=1001).contains(&p50), "{p50}");
        let intervals = merged.intervals();
        assert_eq!(intervals[2].start, Duration::from_secs(2));
        assert_eq!(intervals[2].length, Duration::from_secs(1));
        assert_eq!(intervals.len(), 3);
    }

    /// An interval goes into the second that holds its middle.
    #[test]
    fn an_interval_goes_where_its_middle_is() {
        let a = [interval(0, [1])];
        let b = [interval(600, [2])];
        let merged = merge_intervals(&[&a, &b]);
        assert_eq!(merged.seconds.len(), 2);
        assert_eq!(merged.seconds[1].0.len(), 1);
    }
}
