//! The sweep's results: one [`Row`] per (server, clients), the run's [`Metadata`], and
//! the writers of `results.csv` and `results.json`.

use std::fs;
use std::path::Path;

use anyhow::Context;
use bench::BurstReport;
use serde::{Deserialize, Serialize};

use crate::architecture::Architecture;
use crate::model::{Params, cpu_bound_s, model_check};
use crate::procfs::{Busy, Peaks};

/// One point of the sweep: a server at one client count, over its repeats.
///
/// With several repeats the times and the server's CPU time are those of the repeat with
/// the median total (a whole run's numbers, consistent with each other),
/// `total_min_s`/`total_max_s` give the spread, `errors` counts over every repeat, and
/// the peaks are the highest of any repeat.
///
/// The fields after `peak_children` came with the seven-server sweep; `#[serde(default)]`
/// lets `cargo xtask report` still read runs made before them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The architecture, by name.
    pub server: Architecture,
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
    /// What the architecture's model predicts ([`report::model_s`]): N × delay for
    /// sequential, ⌈N / workers⌉ × delay for prefork and pool, one delay for the others,
    /// plus the work.
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
    /// CPU work per request (`--work`), seconds.
    #[serde(default)]
    pub work_s: f64,
    /// Workers the server ran with (prefork, pool, evented, async); empty for the others.
    #[serde(default)]
    pub workers: Option<u64>,
    /// The least time any server can take for the point's work: N × work / cores.
    #[serde(default)]
    pub cpu_bound_s: f64,
    /// total − cpu_bound: how far the server is from the bound.
    #[serde(default)]
    pub above_cpu_bound_s: f64,
    /// User + system CPU time of the server and every process it ran over the point
    /// (reaped children included), seconds; empty when it could not be read (and in runs
    /// made before it was).
    #[serde(default)]
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s` per request, microseconds.
    #[serde(default)]
    pub cpu_us_per_request: Option<f64>,
    /// Sum of PSS over the server's processes at the sample where it was highest, MiB;
    /// empty when no sample could read it.
    #[serde(default)]
    pub peak_pss_mib: Option<f64>,
    /// The 1-minute load average, the higher of the readings at the point's start and
    /// end; empty where unreadable (and in runs made before it was read).
    #[serde(default)]
    pub load_avg: Option<f64>,
    /// CPU pressure (`/proc/pressure/cpu`, `some avg10`): the percentage of the last 10 s
    /// in which a runnable task waited for a CPU, the higher of the two readings.
    #[serde(default)]
    pub cpu_pressure_pct: Option<f64>,
    /// Mean total over the repeats.
    #[serde(default)]
    pub total_mean_s: f64,
    /// Standard deviation of the totals over the repeats (0 with one).
    #[serde(default)]
    pub total_sd_s: f64,
    /// Repeats whose total is an outlier ([`outliers`]).
    #[serde(default)]
    pub outliers: u64,
}

impl Row {
    /// The row for `runs` (one per repeat, at least one: bench's report and the server's
    /// CPU seconds over it, if read) of `server`, with the sweep's `params`, the
    /// sampled peaks and how busy the machine was.
    pub fn from_reports(
        server: Architecture,
        params: &Params,
        runs: &[(BurstReport, Option<f64>)],
        peaks: Peaks,
        busy: Busy,
    ) -> Option<Row> {
        let mut by_total: Vec<&(BurstReport, Option<f64>)> = runs.iter().collect();
        by_total.sort_by(|a, b| a.0.total_s.total_cmp(&b.0.total_s));
        let &&(ref median, cpu_s) = by_total.get(by_total.len() / 2)?;
        let errors = runs.iter().map(|r| r.0.errors.total()).sum();
        let totals: Vec<f64> = runs.iter().map(|r| r.0.total_s).collect();
        let model_s = server.model().time_s(median.clients, params);
        let cpu_bound_s = cpu_bound_s(median.clients, params.work_s, params.cores);
        let model = model_check(median.total_s, model_s, cpu_bound_s, errors);
        let requests = (median.clients * median.requests_per_client).max(1);
        Some(Row {
            server,
            clients: median.clients,
            delay_s: params.delay_s,
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
            slow_connects: runs.iter().map(|r| r.0.slow_connects).sum(),
            repeats: runs.len() as u64,
            total_min_s: by_total.first().map_or(0.0, |r| r.0.total_s),
            total_max_s: by_total.last().map_or(0.0, |r| r.0.total_s),
            model_s,
            overhead_s: model.overhead_s,
            on_model: model.on_model,
            peak_rss_kib: peaks.rss_kib,
            peak_threads: peaks.threads,
            peak_children: peaks.children,
            work_s: params.work_s,
            workers: server.model().workers(params),
            cpu_bound_s,
            above_cpu_bound_s: median.total_s - cpu_bound_s,
            server_cpu_s: cpu_s,
            cpu_us_per_request: cpu_s.map(|s| s / requests as f64 * 1e6),
            peak_pss_mib: (peaks.pss_kib > 0).then(|| peaks.pss_kib as f64 / 1024.0),
            load_avg: busy.load_avg,
            cpu_pressure_pct: busy.cpu_pressure_pct,
            total_mean_s: mean(&totals),
            total_sd_s: sd(&totals),
            outliers: outliers(&totals),
        })
    }
}

/// The mean of `values` (0 for none).
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// The sample standard deviation of `values` (0 for fewer than two).
fn sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    let square_sum: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    (square_sum / (values.len() - 1) as f64).sqrt()
}

/// How many of `values` are outliers: a modified Z-score (0.6745 × distance from the
/// median / median absolute deviation) above 3.5, Iglewicz and Hoaglin's rule, which one
/// slow repeat cannot hide by inflating the spread as it would a mean ± 3σ rule.
pub fn outliers(values: &[f64]) -> u64 {
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    if values.len() < 3 {
        return 0;
    }
    let center = median(&mut values.to_vec());
    let mad = median(&mut values.iter().map(|v| (v - center).abs()).collect());
    // All but a few equal: anything apart from them is an outlier, at 1 µs of clock.
    let scale = mad.max(1e-6);
    values
        .iter()
        .filter(|v| 0.6745 * (*v - center).abs() / scale > 3.5)
        .count() as u64
}

/// CPU pressure (percent) from which the machine counts as busy: a runnable task waited
/// for a CPU a fifth of the time or more.
pub const BUSY_PRESSURE_PCT: f64 = 20.0;

/// How many of `rows` are off their model and how busy the machine was during them:
/// "3 of 70 points off their model; CPU pressure 64 % during them: the machine was busy";
/// `None` when every point is on its model.
pub fn off_model_summary(rows: &[Row]) -> Option<String> {
    let off: Vec<&Row> = rows.iter().filter(|r| !r.on_model).collect();
    if off.is_empty() {
        return None;
    }
    let pressure = off
        .iter()
        .filter_map(|r| r.cpu_pressure_pct)
        .fold(None, |high: Option<f64>, p| {
            Some(high.map_or(p, |h| h.max(p)))
        });
    let load = off
        .iter()
        .filter_map(|r| r.load_avg)
        .fold(None, |high: Option<f64>, l| {
            Some(high.map_or(l, |h| h.max(l)))
        });
    let failed: u64 = off.iter().map(|r| r.errors).sum();
    let mut summary = format!("{} of {} points off their model", off.len(), rows.len());
    match pressure {
        Some(p) if p >= BUSY_PRESSURE_PCT => {
            summary += &format!("; CPU pressure {p:.0} % during them: the machine was busy");
        }
        Some(p) => {
            summary += &format!("; CPU pressure {p:.0} % during them: the machine was not busy")
        }
        None => summary += "; CPU pressure unknown (no /proc/pressure/cpu)",
    }
    if let Some(load) = load {
        summary += &format!(" (load average up to {load:.1})");
    }
    if failed > 0 {
        summary += &format!("; {failed} client(s) failed");
    }
    Some(summary)
}

/// `rows` grouped by server: the servers in the order they first appear, each with its
/// rows in their order.
pub fn by_server(rows: &[Row]) -> Vec<(Architecture, Vec<&Row>)> {
    let mut groups: Vec<(Architecture, Vec<&Row>)> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|(server, _)| *server == row.server) {
            Some((_, group)) => group.push(row),
            None => groups.push((row.server, vec![row])),
        }
    }
    groups
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
    /// The CPU work per request (`--work`), seconds.
    #[serde(default)]
    pub work_s: f64,
    /// `--workers`, passed to prefork, pool, evented and async, when given.
    #[serde(default)]
    pub workers: Option<u64>,
    /// Servers of `--servers all` left out because their crate is not in the workspace.
    #[serde(default)]
    pub skipped: Vec<Architecture>,
    /// The client counts of the sweep.
    pub clients: Vec<u64>,
    /// The servers of the sweep.
    pub servers: Vec<Architecture>,
    /// Runs per point.
    pub repeat: u64,
    /// The xtask command line.
    pub command: String,
    /// When the run was resumed (`--resume`), each time (RFC 3339, UTC).
    #[serde(default)]
    pub resumed: Vec<String>,
    /// What the servers' CPU times were read with, and its resolution.
    #[serde(default)]
    pub server_cpu_clock: String,
}

/// One bench run: a repeat of a point, with bench's whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The server.
    pub server: Architecture,
    /// Which repeat, from 1.
    pub repeat: u64,
    /// bench's report.
    pub report: BurstReport,
    /// The server's CPU seconds over this run (`None` in runs made before it was read).
    #[serde(default)]
    pub server_cpu_s: Option<f64>,
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

/// The CSV columns in order: the required ones first, then the extras (the order of [`Row`]'s
/// fields, which a test checks).
pub const COLUMNS: [&str; 36] = [
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
    "work_s",
    "workers",
    "cpu_bound_s",
    "above_cpu_bound_s",
    "server_cpu_s",
    "cpu_us_per_request",
    "peak_pss_mib",
    "load_avg",
    "cpu_pressure_pct",
    "total_mean_s",
    "total_sd_s",
    "outliers",
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
    use crate::model::tests::params;

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

    /// Metadata of a small sweep.
    pub(crate) fn metadata() -> Metadata {
        Metadata {
            date: "2025-01-01T00:00:00Z".into(),
            git_revision: "abc".into(),
            kernel: "Linux 6.1".into(),
            cores: 2,
            rlimit_nofile: (1024, 4096),
            somaxconn: Some(4096),
            backlog: 4096,
            ip_local_port_range: Some((32768, 60999)),
            delay_s: 3.0,
            work_s: 0.0,
            workers: None,
            skipped: Vec::new(),
            clients: vec![10],
            servers: vec![Architecture::Threaded],
            repeat: 1,
            command: "cargo xtask bench".into(),
            resumed: Vec::new(),
            server_cpu_clock:
                "/proc/PID/stat (10 ms ticks; no cgroup: no writable cgroup v2 hierarchy)".into(),
        }
    }

    /// One run: a report and no CPU reading.
    fn run(clients: u64, total_s: f64, p99_s: f64) -> (BurstReport, Option<f64>) {
        (report(clients, total_s, p99_s), None)
    }

    /// With three repeats the row takes the median run (its times and its CPU) and the
    /// spread of the totals.
    #[test]
    fn row_takes_the_median_repeat() {
        let runs = [
            (report(10, 3.2, 3.1), Some(0.3)),
            (report(10, 3.0, 2.9), Some(0.1)),
            (report(10, 3.1, 3.05), Some(0.2)),
        ];
        let p = params(0.0, None);
        let row = Row::from_reports(
            Architecture::Threaded,
            &p,
            &runs,
            Peaks::default(),
            Busy::default(),
        )
        .unwrap();
        assert_eq!(row.total_s, 3.1);
        assert_eq!(row.p99_s, 3.05);
        assert_eq!((row.total_min_s, row.total_max_s), (3.0, 3.2));
        assert_eq!(row.repeats, 3);
        assert_eq!(row.server_cpu_s, Some(0.2));
        assert!((row.total_mean_s - 3.1).abs() < 1e-9);
        assert!((row.total_sd_s - 0.1).abs() < 1e-9, "{}", row.total_sd_s);
        assert_eq!(row.outliers, 0);
        assert!(
            Row::from_reports(
                Architecture::Threaded,
                &p,
                &[],
                Peaks::default(),
                Busy::default()
            )
            .is_none()
        );
    }

    /// The new columns: CPU per request, PSS in MiB, the work, the pool's workers, the
    /// CPU bound and the distance from it.
    #[test]
    fn cpu_pss_and_work_columns() {
        let peaks = Peaks {
            pss_kib: 1536,
            rss_kib: 4096,
            ..Peaks::default()
        };
        let p = params(0.02, Some(4));
        let row = Row::from_reports(
            Architecture::Pool,
            &p,
            &[(report(100, 4.0, 3.9), Some(2.5))],
            peaks,
            Busy::default(),
        )
        .unwrap();
        assert_eq!(row.peak_pss_mib, Some(1.5));
        assert_eq!(row.peak_rss_kib, 4096);
        assert_eq!(row.server_cpu_s, Some(2.5));
        assert!(
            row.cpu_us_per_request
                .is_some_and(|c| (c - 25_000.0).abs() < 1e-6)
        );
        assert_eq!(row.work_s, 0.02);
        assert_eq!(row.workers, Some(4));
        assert!((row.cpu_bound_s - 1.0).abs() < 1e-9);
        assert!((row.above_cpu_bound_s - 3.0).abs() < 1e-9);
        // 25 rounds of 4 clients: 3 s of delay and 4 × 20 ms of work on 2 cores each.
        assert!((row.model_s - 25.0 * 3.04).abs() < 1e-9, "{}", row.model_s);
    }

    /// One slow repeat among steady ones is an outlier; an even spread has none.
    #[test]
    fn outlier_rule() {
        assert_eq!(outliers(&[3.01, 3.02, 3.01, 3.03, 3.9]), 1);
        assert_eq!(outliers(&[3.0, 3.1, 3.2, 3.3, 3.4]), 0);
        assert_eq!(outliers(&[3.0, 9.0]), 0, "two runs cannot say which is off");
        assert_eq!(outliers(&[3.0, 3.0, 3.0, 3.5]), 1);
        assert!((sd(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-12);
        assert_eq!(sd(&[4.0]), 0.0);
    }

    /// Off-model points are counted with the highest CPU pressure and load during them,
    /// and the machine called busy from 20 % on; all on the model gives nothing.
    #[test]
    fn off_model_summary_says_how_busy() {
        let p = params(0.0, None);
        let busy = |pressure, load| Busy {
            cpu_pressure_pct: Some(pressure),
            load_avg: Some(load),
        };
        let row = |total, b| {
            Row::from_reports(
                Architecture::Threaded,
                &p,
                &[run(10, total, total)],
                Peaks::default(),
                b,
            )
            .unwrap()
        };
        let mut rows = vec![row(3.01, busy(90.0, 40.0)), row(3.5, busy(64.2, 42.0))];
        assert_eq!(off_model_summary(&rows[..1]), None);
        rows.push(row(3.6, busy(12.0, 3.0)));
        assert_eq!(
            off_model_summary(&rows).as_deref(),
            Some(
                "2 of 3 points off their model; CPU pressure 64 % during them: the machine \
                 was busy (load average up to 42.0)"
            )
        );
        assert!(
            off_model_summary(&rows[2..])
                .is_some_and(|s| s.contains("12 % during them: the machine was not busy"))
        );
    }

    /// The CSV starts with the required columns in their fixed order, then the rest, the new
    /// columns at the end; one line per row.
    #[test]
    fn csv_has_spec_columns() {
        let dir = std::env::temp_dir().join(format!("xtask-csv-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.csv");
        let p = params(0.0, None);
        let rows: Vec<Row> = [(10, 30.01), (20, 60.02)]
            .iter()
            .map(|&(n, t)| {
                let peaks = Peaks {
                    pss_kib: 512,
                    ..Peaks::default()
                };
                Row::from_reports(
                    Architecture::Sequential,
                    &p,
                    &[(report(n, t, t), Some(0.05))],
                    peaks,
                    Busy::default(),
                )
                .unwrap()
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
        assert!(header.ends_with(
            ",work_s,workers,cpu_bound_s,above_cpu_bound_s,server_cpu_s,cpu_us_per_request,\
             peak_pss_mib,load_avg,cpu_pressure_pct,total_mean_s,total_sd_s,outliers"
        ));
        let first = lines.next().unwrap();
        assert!(first.starts_with("sequential,10,3.0,30.01,"), "{first}");
        // No work, no workers (an empty field), 50 ms of CPU over 10 requests, 0.5 MiB.
        assert!(
            first.ends_with(",0.0,,0.0,30.01,0.05,5000.0,0.5,,,30.01,0.0,0"),
            "{first}"
        );
        assert_eq!(lines.count(), 1);
        write_csv(&path, &[]).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), COLUMNS.join(","));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// results.json holds metadata and rows and reads back the same; a results.json
    /// written before the CPU and PSS columns still reads.
    #[test]
    fn json_round_trip() {
        let p = params(0.0, None);
        let results = Results {
            metadata: metadata(),
            complete: false,
            stopped_because: Some("server-threaded crashed".into()),
            rows: vec![
                Row::from_reports(
                    Architecture::Threaded,
                    &p,
                    &[run(10, 3.01, 3.0)],
                    Peaks::default(),
                    Busy::default(),
                )
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
        assert!(text.contains("\"peak_pss_mib\": null"), "{text}");
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back.metadata, results.metadata);
        assert_eq!(back.stopped_because, results.stopped_because);
        assert_eq!(back.rows.len(), 1);
        assert_eq!(back.rows[0].total_s, 3.01);
        // serde_json's default float parsing may differ from the original in the last bit.
        assert!((back.rows[0].overhead_s - results.rows[0].overhead_s).abs() < 1e-12);

        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in ["work_s", "workers", "skipped"] {
            old["metadata"].as_object_mut().unwrap().remove(key);
        }
        for key in ["work_s", "server_cpu_s", "peak_pss_mib", "cpu_bound_s"] {
            old["rows"][0].as_object_mut().unwrap().remove(key);
        }
        let back: Results = serde_json::from_value(old).unwrap();
        assert_eq!(back.rows[0].peak_pss_mib, None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
