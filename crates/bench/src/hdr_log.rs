//! `--hdr-log FILE`: an open-loop run's corrected latencies as an HdrHistogram interval
//! log, the file HdrHistogram's own tools read (`HistogramLogProcessor`, the plotter at
//! hdrhistogram.github.io, the Java, Python, Go and C readers).
//!
//! The format, as Java's `HistogramLogWriter` writes it: a few `#[…]` header lines (the
//! format version, `StartTime` and `BaseTime` in seconds since the epoch), a legend line,
//! then one line per interval —
//!
//! ```text
//! #[Histogram log format version 1.3]
//! #[StartTime: 1733334444.123 (seconds since epoch), 2024-12-04T17:47:24.123Z]
//! #[BaseTime: 1733334444.123 (seconds since epoch)]
//! "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
//! 0.000,1.000,10.551,HISTFAAAAC54nJNpmSzMwMDAyQABzFCaEUzOmMhgzwIAF0gBkg==
//! ```
//!
//! — its start relative to `BaseTime` and its length in seconds, its largest value
//! divided by 1,000,000 (nanoseconds shown as milliseconds, Java's default), and the
//! interval's histogram: V2-encoded, DEFLATE-compressed, base64. Values are nanoseconds.
//! The `hdrhistogram` crate writes the interval lines; it leaves out the version and
//! legend lines and the date after `StartTime`, which are written here.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;

/// The log format version Java's writer declares for this layout.
const FORMAT_VERSION: &str = "1.3";

/// What `Interval_Max` is divided by: nanoseconds shown as milliseconds.
const MAX_VALUE_DIVISOR: f64 = 1e6;

/// Encodes interval histograms of nanoseconds as the log's interval lines, as `next`
/// hands them over: `(second, histogram)`, the second counted from the log's start,
/// until `None`. Only the encoded lines are kept, so a long run's log costs memory in
/// proportion to its compressed size.
///
/// # Errors
///
/// When a histogram cannot be encoded.
pub fn encode(mut next: impl FnMut() -> Option<(u64, Histogram<u64>)>) -> io::Result<Vec<u8>> {
    let mut lines = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(&mut lines, &mut serializer)?;
    while let Some((second, hist)) = next() {
        log.write_histogram(
            &hist,
            Duration::from_secs(second),
            Duration::from_secs(1),
            None,
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(lines)
}

/// Writes the log to `out`: the header lines for a run whose first interval starts at
/// `start`, the legend, then `intervals` from [`encode`].
///
/// # Errors
///
/// When writing fails.
pub fn write(out: &mut impl Write, start: SystemTime, intervals: &[u8]) -> io::Result<()> {
    let epoch_s = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    writeln!(
        out,
        "#[Latencies in nanoseconds, from when each request was due, written by taskserver's bench]"
    )?;
    writeln!(out, "#[Histogram log format version {FORMAT_VERSION}]")?;
    writeln!(
        out,
        "#[StartTime: {epoch_s:.3} (seconds since epoch), {}]",
        humantime::format_rfc3339_millis(start)
    )?;
    writeln!(out, "#[BaseTime: {epoch_s:.3} (seconds since epoch)]")?;
    writeln!(
        out,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )?;
    out.write_all(intervals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    /// The log has Java's header lines in order, and reading it back with the crate's
    /// own parser gives every interval, its timestamps, and its exact histogram.
    #[test]
    fn round_trip() {
        let mut intervals = Vec::new();
        for second in 0..3u64 {
            let mut h = Histogram::<u64>::new(3).unwrap();
            for v in 1..=100 * (second + 1) {
                h.record(v * 1_000).unwrap();
            }
            intervals.push(h);
        }
        intervals.push(Histogram::<u64>::new(3).unwrap());
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_733_334_444_123);
        let mut handed = (0u64..).zip(intervals.clone());
        let lines = encode(|| handed.next()).unwrap();
        let mut out = Vec::new();
        write(&mut out, start, &lines).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "#[Histogram log format version 1.3]");
        assert_eq!(
            lines[2],
            "#[StartTime: 1733334444.123 (seconds since epoch), 2024-12-04T17:47:24.123Z]"
        );
        assert_eq!(
            lines[3],
            "#[BaseTime: 1733334444.123 (seconds since epoch)]"
        );
        assert!(lines[4].starts_with("\"StartTimestamp\",\"Interval_Length\""));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("1.000,1.000,0.200,HISTF")),
            "{text}"
        );

        let mut deserializer = Deserializer::new();
        let mut read = Vec::new();
        for entry in IntervalLogIterator::new(&out) {
            if let LogEntry::Interval(i) = entry.unwrap() {
                let bytes = base64_decode(i.encoded_histogram());
                let h: Histogram<u64> = deserializer.deserialize(&mut &bytes[..]).unwrap();
                read.push((i.start_timestamp(), h));
            }
        }
        assert_eq!(read.len(), 4);
        for (second, (at, h)) in (0u64..).zip(&read) {
            assert_eq!(*at, Duration::from_secs(second));
            assert_eq!(h, &intervals[second as usize]);
        }
    }

    /// Standard base64, for the test only (the crate keeps its own engine private).
    fn base64_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut held = 0;
        let mut out = Vec::new();
        for c in text.bytes().filter(|&c| c != b'=') {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            held += 6;
            if held >= 8 {
                held -= 8;
                out.push((bits >> held) as u8);
                bits &= (1 << held) - 1;
            }
        }
        out
    }
}
