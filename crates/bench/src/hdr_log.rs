//! HdrHistogram interval logs, written and read: `bench --hdr-log FILE` writes an
//! open-loop run's corrected latencies as one, and `cargo xtask merge` reads several and
//! writes their sum — the file HdrHistogram's own tools read (`HistogramLogProcessor`,
//! the plotter at hdrhistogram.github.io, the Java, Python, Go and C readers).
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
//! legend lines and the date after `StartTime`, which are written here. Reading, the
//! crate parses the lines and [`read`] decodes them and puts each interval on absolute
//! time, by Java's `HistogramLogReader` rules for `StartTime` and `BaseTime`.

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, LogIteratorError,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

/// The log format version Java's writer declares for this layout.
const FORMAT_VERSION: &str = "1.3";

/// What `Interval_Max` is divided by: nanoseconds shown as milliseconds.
const MAX_VALUE_DIVISOR: f64 = 1e6;

/// One interval of a log: its histogram of nanoseconds and the time it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Its start: from the log's `StartTime` when written, since the Unix epoch when read.
    pub start: Duration,
    /// How long it lasted.
    pub length: Duration,
    /// The values recorded in it.
    pub histogram: Histogram<u64>,
}

/// Encodes intervals as the log's interval lines, as `next` hands them over, until
/// `None`. Only the encoded lines are kept, so a long run's log costs memory in
/// proportion to its compressed size.
///
/// # Errors
///
/// When a histogram cannot be encoded.
pub fn encode(mut next: impl FnMut() -> Option<Interval>) -> io::Result<Vec<u8>> {
    let mut lines = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(&mut lines, &mut serializer)?;
    while let Some(interval) = next() {
        log.write_histogram(&interval.histogram, interval.start, interval.length, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(lines)
}

/// Writes the log to `out`: `about` (what the values are, who wrote them) as its first
/// comment, the header lines for a log whose interval starts count from `start`, the
/// legend, then `intervals` from [`encode`].
///
/// # Errors
///
/// When writing fails.
pub fn write(
    out: &mut impl Write,
    about: &str,
    start: SystemTime,
    intervals: &[u8],
) -> io::Result<()> {
    let epoch_s = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    writeln!(out, "#[{about}]")?;
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

/// [`encode`] and [`write`] at once, for intervals already at hand.
///
/// # Errors
///
/// When a histogram cannot be encoded or writing fails.
pub fn write_all(
    out: &mut impl Write,
    about: &str,
    start: SystemTime,
    intervals: &[Interval],
) -> io::Result<()> {
    let mut handed = intervals.iter().cloned();
    let lines = encode(|| handed.next())?;
    write(out, about, start, &lines)
}

/// Why a log could not be read: the line and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ReadError {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

/// Reads an interval log: every interval, on absolute time (since the Unix epoch).
///
/// Times follow Java's `HistogramLogReader`: interval timestamps count from `BaseTime`
/// when the log has one; else from `StartTime` when they are more than a year smaller
/// than it (offsets); else they are Unix times themselves.
///
/// # Errors
///
/// [`ReadError`] naming the line of the first line that is not part of an interval log,
/// or of an interval whose histogram does not decode; and line 1 for a log with no
/// interval at all.
pub fn read(text: &[u8]) -> Result<Vec<Interval>, ReadError> {
    let mut start_time = None;
    let mut base_time = None;
    let mut read = Vec::new();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(text) {
        match entry {
            Err(LogIteratorError::ParseError { offset }) => {
                return Err(ReadError {
                    line: line_at(text, offset),
                    what: "not a line of an HdrHistogram interval log (expected a `#` \
                           comment, the legend, or `start,length,max,histogram`)"
                        .into(),
                });
            }
            Ok(LogEntry::StartTime(t)) => start_time = Some(t),
            Ok(LogEntry::BaseTime(t)) => base_time = Some(t),
            Ok(LogEntry::Interval(i)) => {
                let offset = i.encoded_histogram().as_ptr() as usize - text.as_ptr() as usize;
                let bad = |what: String| ReadError {
                    line: line_at(text, offset),
                    what,
                };
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| bad(format!("the histogram is not base64: {e}")))?;
                let histogram: Histogram<u64> = deserializer
                    .deserialize(&mut &bytes[..])
                    .map_err(|e| bad(format!("the histogram does not decode: {e:?}")))?;
                let base = base_time
                    .or_else(|| start_time.filter(|&s| i.start_timestamp() + ONE_YEAR < s));
                read.push(Interval {
                    start: base.unwrap_or_default() + i.start_timestamp(),
                    length: i.duration(),
                    histogram,
                });
            }
        }
    }
    if read.is_empty() {
        return Err(ReadError {
            line: 1,
            what: "no interval: not an HdrHistogram interval log, or an empty one".into(),
        });
    }
    Ok(read)
}

/// Java's threshold between offset and absolute timestamps.
const ONE_YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The line (from 1) of byte `offset` in `text`.
fn line_at(text: &[u8], offset: usize) -> usize {
    1 + text[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One interval a second from 0, the last `last_ms` long.
    fn per_second(histograms: Vec<Histogram<u64>>, last_ms: u64) -> Vec<Interval> {
        let n = histograms.len() as u64;
        (0u64..)
            .zip(histograms)
            .map(|(second, histogram)| Interval {
                start: Duration::from_secs(second),
                length: Duration::from_millis(if second + 1 == n { last_ms } else { 1000 }),
                histogram,
            })
            .collect()
    }

    fn histogram_of(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// The log has Java's header lines in order, and reading it back gives every
    /// interval, on absolute time, with its exact histogram.
    #[test]
    fn round_trip() {
        let mut histograms: Vec<_> = (0..3u64)
            .map(|second| histogram_of((1..=100 * (second + 1)).map(|v| v * 1_000)))
            .collect();
        histograms.push(Histogram::<u64>::new(3).unwrap());
        let intervals = per_second(histograms, 500);
        assert_eq!(intervals[3].length, Duration::from_millis(500));
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_733_334_444_123);
        let mut out = Vec::new();
        write_all(&mut out, "Latencies in nanoseconds", start, &intervals).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#[Latencies in nanoseconds]");
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
        assert!(lines[7].starts_with("1.000,1.000,0.200,HISTF"), "{text}");
        assert!(lines[9].starts_with("3.000,0.500,0.000,HISTF"), "{text}");

        let read = read(&out).unwrap();
        assert_eq!(read.len(), 4);
        for (second, (got, wrote)) in (0u64..).zip(read.iter().zip(&intervals)) {
            let at = Duration::from_millis(1_733_334_444_123 + 1000 * second);
            assert_eq!(got.start, at);
            assert_eq!(got.length, wrote.length);
            assert_eq!(got.histogram, wrote.histogram);
        }
    }

    /// Without BaseTime, timestamps count from StartTime when they are offsets, and are
    /// Unix times when they are not; without either, they are Unix times.
    #[test]
    fn start_time_rules() {
        let mut out = Vec::new();
        write_all(
            &mut out,
            "x",
            SystemTime::UNIX_EPOCH,
            &per_second(vec![histogram_of([5])], 1000),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = text.lines().last().unwrap().to_owned();
        let histogram = line.splitn(4, ',').last().unwrap();
        let offsets = format!("#[StartTime: 1700000000.000 (s)]\n2.000,1.000,0.0,{histogram}\n");
        assert_eq!(
            read(offsets.as_bytes()).unwrap()[0].start,
            Duration::from_secs(1_700_000_002)
        );
        let absolute =
            format!("#[StartTime: 1700000000.000 (s)]\n1700000003.000,1.000,0.0,{histogram}\n");
        assert_eq!(
            read(absolute.as_bytes()).unwrap()[0].start,
            Duration::from_secs(1_700_000_003)
        );
        let bare = format!("1700000004.000,1.000,0.0,{histogram}\n");
        assert_eq!(
            read(bare.as_bytes()).unwrap()[0].start,
            Duration::from_secs(1_700_000_004)
        );
    }

    /// Text that is not a log, a histogram that does not decode, and a log with no
    /// interval are errors that name the line.
    #[test]
    fn bad_logs_name_the_line() {
        let err = read(b"#[comment]\nhello, world\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(
            err.to_string()
                .contains("not a line of an HdrHistogram interval log")
        );
        let err = read(b"#[c]\n#[c]\n0.000,1.000,0.0,HISTFAAAAnotreally\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        let err = read(b"#[only a comment]\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.to_string().contains("no interval"), "{err}");
        assert!(read(b"").is_err());
    }
}
