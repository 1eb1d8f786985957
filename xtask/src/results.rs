//! The sweep's results: one [`Row`] per (server, clients), the run's [`Metadata`], and
//! the writers of `results.csv` and `results.json`.

use std::fs;
use std::path::Path;

use anyhow::Context;
use bench::BurstReport;
use serde::{Deserialize, Serialize};

use crate::procfs::Peaks;
use crate::report::model_check;

/// One point of the sweep: a server at one client count, over its repeats.
///
/// With several repeats the times are those of the repeat with the median total (a
/// whole run's numbers, consistent with each other), `total_min_s`/`total_max_s` give
/// the spread, and `errors` counts over every repeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `sequential`, `forking` or `threaded`.
    pub server: String,
    /// Clients released together.
    pub clients: u64,
    /// The server's delay per request.
    pub delay_s: f64,
    /// First connect to last answer.
    pub total_s: f64,
    /// Mean per-client time (connect to answer).
    pub mean_s: f64,
    /// Median per-client time.
    pub p50_s: f64,
    /// 90th percentile per-client time.
    pub p90_s: f64,
    /// 99th percentile per-client time.
    pub p99_s: f64,
    /// Longest per-client time.
    pub max_s: f64,
    /// 99th percentile connect time.
    pub connect_p99_s: f64,
    /// Failed clients over every repeat.
    pub errors: u64,
    /// Shortest per-client time.
    pub min_s: f64,
    /// Median connect time.
    pub connect_p50_s: f64,
    /// Longest connect time.
    pub connect_max_s: f64,
    /// Connects of a second or more (likely SYN retries), over every repeat.
    pub slow_connects: u64,
    /// How many times the point was run.
    pub repeats: u64,
    /// Shortest total over the repeats.
    pub total_min_s: f64,
    /// Longest total over the repeats.
    pub total_max_s: f64,
    /// What the architecture's model predicts: N × delay for sequential, delay otherwise.
    pub model_s: f64,
    /// total − model.
    pub overhead_s: f64,
    /// Whether the total is within the model's tolerance and no client failed.
    pub on_model: bool,
    /// Peak RSS of the server and its children, KiB.
    pub peak_rss_kib: u64,
    /// Peak thread count of the server process.
    pub peak_threads: u64,
    /// Peak number of live children of the server.
    pub peak_children: u64,
}

impl Row {
    /// The row for `reports` (one per repeat, at least one) of `server` at `clients`.
    pub fn from_reports(
        server: &str,
        delay_s: f64,
        reports: &[BurstReport],
        peaks: Peaks,
    ) -> Option<Row> {
        let mut by_total: Vec<&BurstReport> = reports.iter().collect();
        by_total.sort_by(|a, b| a.total_s.total_cmp(&b.total_s));
        let median = by_total.get(by_total.len() / 2)?;
        let errors = reports.iter().map(|r| r.errors.total()).sum();
        let model = model_check(server, median.clients, delay_s, median.total_s, errors);
        Some(Row {
            server: server.to_owned(),
            clients: median.clients,
            delay_s,
            total_s: median.total_s,
            mean_s: median.latency.mean_s,
            p50_s: median.latency.p50_s,
            p90_s: median.latency.p90_s,
            p99_s: median.latency.p99_s,
            max_s: median.latency.max_s,
            connect_p99_s: median.connect.p99_s,
            errors,
            min_s: median.latency.min_s,
            connect_p50_s: median.connect.p50_s,
            connect_max_s: median.connect.max_s,
            slow_connects: reports.iter().map(|r| r.slow_connects).sum(),
            repeats: reports.len() as u64,
            total_min_s: by_total.first().map_or(0.0, |r| r.total_s),
            total_max_s: by_total.last().map_or(0.0, |r| r.total_s),
            model_s: model.expected_s,
            overhead_s: model.overhead_s,
            on_model: model.on_model,
            peak_rss_kib: peaks.rss_kib,
            peak_threads: peaks.threads,
            peak_children: peaks.children,
        })
    }
}

/// Where and how the sweep ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// When the sweep started (RFC 3339, UTC).
    pub date: String,
    /// `git rev-parse HEAD`, with `-dirty` when the tree had changes.
    pub git_revision: String,
    /// Kernel name and release, as `uname -sr` prints them.
    pub kernel: String,
    /// CPUs available to the sweep.
    pub cores: u64,
    /// The soft and hard RLIMIT_NOFILE of xtask (bench raises its own soft limit to hard).
    pub rlimit_nofile: (u64, u64),
    /// `/proc/sys/net/core/somaxconn`.
    pub somaxconn: Option<u64>,
    /// The listen backlog the servers were started with.
    pub backlog: u64,
    /// `/proc/sys/net/ipv4/ip_local_port_range`.
    pub ip_local_port_range: Option<(u32, u32)>,
    /// The server delay per request, seconds.
    pub delay_s: f64,
    /// The client counts of the sweep.
    pub clients: Vec<u64>,
    /// The servers of the sweep.
    pub servers: Vec<String>,
    /// Runs per point.
    pub repeat: u64,
    /// The xtask command line.
    pub command: String,
}

/// One bench run: a repeat of a point, with bench's whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The server.
    pub server: String,
    /// Which repeat, from 1.
    pub repeat: u64,
    /// bench's report.
    pub report: BurstReport,
}

/// Everything `results.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Where and how.
    pub metadata: Metadata,
    /// Whether every point ran.
    pub complete: bool,
    /// Why the sweep stopped early.
    pub stopped_because: Option<String>,
    /// One per (server, clients).
    pub rows: Vec<Row>,
    /// Every bench run.
    pub runs: Vec<Run>,
}

/// Writes `rows` as CSV with a header line.
///
/// # Errors
///
/// When the file cannot be written.
pub fn write_csv(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    if rows.is_empty() {
        // serde writes the header with the first row; an empty sweep still gets one.
        writer.write_record(COLUMNS)?;
    }
    for row in rows {
        writer.serialize(row)?;
    }
    writer
        .flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// The CSV columns in order: the SPEC's first, then the extras (the order of [`Row`]'s
/// fields, which a test checks).
pub const COLUMNS: [&str; 24] = [
    "server",
    "clients",
    "delay_s",
    "total_s",
    "mean_s",
    "p50_s",
    "p90_s",
    "p99_s",
    "max_s",
    "connect_p99_s",
    "errors",
    "min_s",
    "connect_p50_s",
    "connect_max_s",
    "slow_connects",
    "repeats",
    "total_min_s",
    "total_max_s",
    "model_s",
    "overhead_s",
    "on_model",
    "peak_rss_kib",
    "peak_threads",
    "peak_children",
];

/// Writes `results` as pretty JSON.
///
/// # Errors
///
/// When the file cannot be written.
pub fn write_json(path: &Path, results: &Results) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(results)?;
    fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use bench::{ErrorCounts, Summary};

    use super::*;

    /// A burst report with the given total and per-client p99.
    pub(crate) fn report(clients: u64, total_s: f64, p99_s: f64) -> BurstReport {
        BurstReport {
            mode: "burst".into(),
            addr: "127.0.0.1:1".into(),
            request: "3|x".into(),
            clients,
            requests_per_client: 1,
            clients_ok: clients,
            total_s,
            start_spread_s: 0.0,
            latency: Summary {
                count: clients,
                p99_s,
                ..Summary::default()
            },
            connect: Summary::default(),
            slow_connects: 0,
            errors: ErrorCounts::default(),
            warnings: Vec::new(),
        }
    }

    /// With three repeats the row takes the median run and the spread of the totals.
    #[test]
    fn row_takes_the_median_repeat() {
        let reports = [
            report(10, 3.2, 3.1),
            report(10, 3.0, 2.9),
            report(10, 3.1, 3.05),
        ];
        let row = Row::from_reports("threaded", 3.0, &reports, Peaks::default()).unwrap();
        assert_eq!(row.total_s, 3.1);
        assert_eq!(row.p99_s, 3.05);
        assert_eq!((row.total_min_s, row.total_max_s), (3.0, 3.2));
        assert_eq!(row.repeats, 3);
        assert!(Row::from_reports("threaded", 3.0, &[], Peaks::default()).is_none());
    }

    /// The CSV starts with the SPEC's columns in the SPEC's order, then one line per row.
    #[test]
    fn csv_has_spec_columns() {
        let dir = std::env::temp_dir().join(format!("xtask-csv-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.csv");
        let rows: Vec<Row> = [(10, 30.01), (20, 60.02)]
            .iter()
            .map(|&(n, t)| {
                Row::from_reports("sequential", 3.0, &[report(n, t, t)], Peaks::default()).unwrap()
            })
            .collect();
        write_csv(&path, &rows).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with(
                "server,clients,delay_s,total_s,mean_s,p50_s,p90_s,p99_s,max_s,connect_p99_s,errors,"
            ),
            "{text}"
        );
        assert_eq!(header, COLUMNS.join(","));
        assert!(
            lines
                .next()
                .unwrap()
                .starts_with("sequential,10,3.0,30.01,")
        );
        assert_eq!(lines.count(), 1);
        write_csv(&path, &[]).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), COLUMNS.join(","));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// results.json holds metadata and rows and reads back the same.
    #[test]
    fn json_round_trip() {
        let results = Results {
            metadata: Metadata {
                date: "2025-01-01T00:00:00Z".into(),
                git_revision: "abc".into(),
                kernel: "Linux 6.1".into(),
                cores: 2,
                rlimit_nofile: (1024, 4096),
                somaxconn: Some(4096),
                backlog: 4096,
                ip_local_port_range: Some((32768, 60999)),
                delay_s: 3.0,
                clients: vec![10],
                servers: vec!["threaded".into()],
                repeat: 1,
                command: "cargo xtask bench".into(),
            },
            complete: false,
            stopped_because: Some("server-threaded crashed".into()),
            rows: vec![
                Row::from_reports("threaded", 3.0, &[report(10, 3.01, 3.0)], Peaks::default())
                    .unwrap(),
            ],
            runs: Vec::new(),
        };
        let dir = std::env::temp_dir().join(format!("xtask-json-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.json");
        write_json(&path, &results).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"somaxconn\": 4096"), "{text}");
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back.metadata, results.metadata);
        assert_eq!(back.stopped_because, results.stopped_because);
        assert_eq!(back.rows.len(), 1);
        assert_eq!(back.rows[0].total_s, 3.01);
        // serde_json's default float parsing may differ from the original in the last bit.
        assert!((back.rows[0].overhead_s - results.rows[0].overhead_s).abs() < 1e-12);
        fs::remove_dir_all(&dir).unwrap();
    }
}
