//! Latency summaries: exact percentiles over a few thousand per-client times (burst), and
//! HdrHistogram percentiles over millions of requests (throughput).

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Min, mean, percentiles and max of a set of times, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// How many times were summarised.
    pub count: u64,
    /// The shortest.
    pub min_s: f64,
    /// The arithmetic mean.
    pub mean_s: f64,
    /// The median.
    pub p50_s: f64,
    /// The 90th percentile.
    pub p90_s: f64,
    /// The 99th percentile.
    pub p99_s: f64,
    /// The 99.9th percentile: the tail an open-loop run is about. (Absent from reports
    /// written before it was added, read back as 0.)
    #[serde(default)]
    pub p999_s: f64,
    /// The longest.
    pub max_s: f64,
}

/// The `p`-th percentile (0–100) of sorted `values` by the nearest-rank method: the
/// smallest value that at least `p` % of the values are less than or equal to. It is
/// always one of the values, never an interpolation. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // Nearest rank: ceil(p/100 × n), 1-based, clamped to 1..=n. The product is a small
    // non-negative number, so the cast cannot truncate anything that matters.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

impl Summary {
    /// The exact summary of `times`; all zero when there are none.
    pub fn from_durations(times: &[Duration]) -> Summary {
        let mut secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
        secs.sort_by(f64::total_cmp);
        let Some(&max_s) = secs.last() else {
            return Summary::default();
        };
        let at = |p| percentile(&secs, p).unwrap_or(0.0);
        Summary {
            count: secs.len() as u64,
            min_s: secs[0],
            mean_s: secs.iter().sum::<f64>() / secs.len() as f64,
            p50_s: at(50.0),
            p90_s: at(90.0),
            p99_s: at(99.0),
            p999_s: at(99.9),
            max_s,
        }
    }

    /// The summary of a histogram of times recorded in nanoseconds; HdrHistogram keeps
    /// three significant digits, so percentiles are within 0.1 %.
    pub fn from_histogram_ns(hist: &Histogram<u64>) -> Summary {
        if hist.is_empty() {
            return Summary::default();
        }
        let s = |ns: u64| ns as f64 / 1e9;
        Summary {
            count: hist.len(),
            min_s: s(hist.min()),
            mean_s: hist.mean() / 1e9,
            p50_s: s(hist.value_at_quantile(0.50)),
            p90_s: s(hist.value_at_quantile(0.90)),
            p99_s: s(hist.value_at_quantile(0.99)),
            p999_s: s(hist.value_at_quantile(0.999)),
            max_s: s(hist.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest rank over 1..=100: p50 is 50, p90 is 90, p99 is 99, p100 is 100, p0 the min.
    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 90.0), Some(90.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    /// With few values the percentile is a value that exists, rounded up, not interpolated.
    #[test]
    fn small_sets_round_up() {
        let v = [1.0, 2.0, 3.0];
        assert_eq!(percentile(&v, 50.0), Some(2.0));
        assert_eq!(percentile(&v, 90.0), Some(3.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    }

    /// The summary sorts its input and reports min, mean and max of it.
    #[test]
    fn summary_of_durations() {
        let times: Vec<Duration> = [3, 1, 2, 10].map(Duration::from_secs).to_vec();
        let s = Summary::from_durations(&times);
        assert_eq!(s.count, 4);
        assert_eq!(s.min_s, 1.0);
        assert_eq!(s.max_s, 10.0);
        assert_eq!(s.mean_s, 4.0);
        assert_eq!(s.p50_s, 2.0);
        assert_eq!(s.p99_s, 10.0);
        assert_eq!(s.p999_s, 10.0);
        assert_eq!(Summary::from_durations(&[]), Summary::default());
    }

    /// Histogram percentiles agree with the exact ones to HdrHistogram's precision.
    #[test]
    fn histogram_summary() {
        let mut hist = Histogram::<u64>::new(3).unwrap();
        for ms in 1..=1000u64 {
            hist.record(ms * 1_000_000).unwrap();
        }
        let s = Summary::from_histogram_ns(&hist);
        assert_eq!(s.count, 1000);
        assert!((s.p50_s - 0.5).abs() < 0.001, "{s:?}");
        assert!((s.p99_s - 0.99).abs() < 0.001, "{s:?}");
        assert!((s.p999_s - 0.999).abs() < 0.001, "{s:?}");
        assert!((s.max_s - 1.0).abs() < 0.001, "{s:?}");
    }
}
