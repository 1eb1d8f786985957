//! `REPORT.md`: the tutorial-style table per server, the details (overhead, p99, connect
//! times, peak memory, server CPU), the model check that flags points off the
//! architecture's model, the server CPU per request of each architecture (Stevens' table),
//! and with `--work` each server's distance from the CPU bound N × work / cores.

use std::fmt::Write as _;

use crate::results::{Results, Row};

/// How far a total may exceed the model before the point is flagged: 1 % of the model
/// (sequential must come within 1 % of N × delay) plus 50 ms for process start-up and
/// scheduling on a busy machine.
pub const TOLERANCE_FRACTION: f64 = 0.01;
/// The fixed part of the tolerance, seconds.
pub const TOLERANCE_FIXED_S: f64 = 0.05;
/// With `--work`, the share of the CPU bound (N × work / cores) added to the tolerance:
/// bench's own threads and the kernel's loopback work run on the same cores, so the
/// server never has all of them.
pub const TOLERANCE_WORK_FRACTION: f64 = 0.25;

/// Workers of prefork and pool when `--workers` is not given: their default.
pub const POOL_DEFAULT_WORKERS: u64 = 16;

/// What a point's model depends on besides the server and the client count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// The delay per request, seconds.
    pub delay_s: f64,
    /// The CPU work per request (`--work`), seconds.
    pub work_s: f64,
    /// `--workers`, when given.
    pub workers: Option<u64>,
    /// Cores the sweep ran on.
    pub cores: u64,
}

/// The workers `server` runs with: prefork and pool `--workers` or 16, evented and async
/// `--workers` or one per core; `None` for the servers that have no workers.
pub fn workers(server: &str, params: &Params) -> Option<u64> {
    match server {
        "prefork" | "pool" => Some(params.workers.unwrap_or(POOL_DEFAULT_WORKERS)),
        "evented" | "async" => Some(params.workers.unwrap_or(params.cores)),
        _ => None,
    }
}

/// A total compared with what the architecture's model predicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCheck {
    /// total − model.
    pub overhead_s: f64,
    /// How much over the model is still on it.
    pub tolerance_s: f64,
    /// Whether the point is on the model: not faster than it (allowing 1 ms of clock
    /// granularity), not slower than the tolerance, and no client failed.
    pub on_model: bool,
}

/// The model's time for `server` at `clients`.
///
/// Clients are served in rounds. Sequential serves one client per round, prefork and
/// pool one per worker (⌈N / workers⌉ rounds: the staircase), the others every client
/// in one round. A round of k clients takes the delay (waits overlap) plus k × work
/// spread over the cores that can compute at once: one for sequential, k at most, and
/// for evented and async at most their loops or runtime threads. With no work this is
/// N × delay, ⌈N / workers⌉ × delay and one delay.
pub fn model_s(server: &str, clients: u64, params: &Params) -> f64 {
    let n = clients.max(1);
    let cores = params.cores.max(1);
    let (batch, parallel) = match server {
        "sequential" => (1, 1),
        "prefork" | "pool" => (workers(server, params).unwrap_or(1).max(1), cores),
        "evented" | "async" => (n, cores.min(workers(server, params).unwrap_or(cores))),
        _ => (n, cores),
    };
    let round = |k: u64| params.delay_s + k as f64 * params.work_s / parallel.min(k).max(1) as f64;
    let (full, rest) = (n / batch, n % batch);
    full as f64 * round(batch) + if rest > 0 { round(rest) } else { 0.0 }
}

/// The least time any server can take for `clients` requests of `work_s` CPU each on
/// `cores` cores: N × work / cores.
pub fn cpu_bound_s(clients: u64, work_s: f64, cores: u64) -> f64 {
    clients as f64 * work_s / cores.max(1) as f64
}

/// Checks `total_s` against the model's `model_s`; `cpu_bound_s` widens the tolerance
/// when requests compute.
pub fn model_check(total_s: f64, model_s: f64, cpu_bound_s: f64, errors: u64) -> ModelCheck {
    let overhead_s = total_s - model_s;
    let tolerance_s =
        model_s * TOLERANCE_FRACTION + TOLERANCE_FIXED_S + cpu_bound_s * TOLERANCE_WORK_FRACTION;
    ModelCheck {
        overhead_s,
        tolerance_s,
        on_model: errors == 0 && overhead_s >= -0.001 && overhead_s <= tolerance_s,
    }
}

/// The model check of a row in words.
fn verdict(row: &Row) -> String {
    let check = model_check(row.total_s, row.model_s, row.cpu_bound_s, row.errors);
    if row.errors > 0 {
        format!("**OFF**: {} client(s) failed", row.errors)
    } else if check.on_model {
        "ok".into()
    } else if check.overhead_s < 0.0 {
        format!(
            "**OFF**: {:.1} ms faster than the model (is the delay applied?)",
            -check.overhead_s * 1e3
        )
    } else {
        format!(
            "**OFF**: {:.1} ms over the model (tolerance {:.1} ms)",
            check.overhead_s * 1e3,
            check.tolerance_s * 1e3
        )
    }
}

/// The heading the tutorial used for each architecture.
fn title(server: &str) -> String {
    match server {
        "sequential" => "Sequential server (the tutorial's Single-Process)".into(),
        "forking" => "Forking server (the tutorial's Multi-Process)".into(),
        "threaded" => "Threaded server (the tutorial's Multi-Threaded)".into(),
        "prefork" => "Pre-forked server (worker processes)".into(),
        "pool" => "Thread-pool server (worker threads)".into(),
        "evented" => "Event-loop server (mio)".into(),
        "async" => "Async server (tokio)".into(),
        other => format!("{other} server"),
    }
}

/// What each architecture does per client, for the CPU table (as Stevens describes each
/// row of UNP Figure 30.1).
fn design(server: &str) -> &'static str {
    match server {
        "sequential" => "one client at a time, in the one process",
        "forking" => "fork per client",
        "threaded" => "thread per client",
        "prefork" => "pre-forked processes, each accepting",
        "pool" => "pre-spawned threads, main thread accepts",
        "evented" => "event loops, no thread per client",
        "async" => "tokio task per client",
        _ => "",
    }
}

/// `rows` grouped by server: the servers in the order they first appear, each with its
/// rows in their order.
pub fn by_server(rows: &[Row]) -> Vec<(&str, Vec<&Row>)> {
    let mut groups: Vec<(&str, Vec<&Row>)> = Vec::new();
    for row in rows {
        match groups.iter_mut().find(|(server, _)| *server == row.server) {
            Some((_, group)) => group.push(row),
            None => groups.push((&row.server, vec![row])),
        }
    }
    groups
}

/// `value` with `decimals` decimals, or `—` when it was not measured.
fn or_dash(value: Option<f64>, decimals: usize) -> String {
    value.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

/// The whole of `REPORT.md`.
pub fn render(results: &Results) -> String {
    let m = &results.metadata;
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark: clients vs execution time\n");
    let _ = writeln!(
        out,
        "{} · git `{}` · {} · {} cores · delay {} s · work {} s · workers {} · {} repeat(s) \
         per point · somaxconn {} · backlog {}\n",
        m.date,
        m.git_revision,
        m.kernel,
        m.cores,
        m.delay_s,
        m.work_s,
        m.workers
            .map_or("each server's default".into(), |w| w.to_string()),
        m.repeat,
        m.somaxconn.map_or("?".into(), |v| v.to_string()),
        m.backlog
    );
    let _ = writeln!(out, "Command: `{}`\n", m.command);
    if let Some(reason) = &results.stopped_because {
        let _ = writeln!(
            out,
            "**Incomplete: the sweep stopped early.** {reason}\n\nThe points below are those \
             gathered before it stopped.\n"
        );
    }
    if !m.skipped.is_empty() {
        let _ = writeln!(
            out,
            "Not run: {} (their crates are not in the workspace at this revision).\n",
            m.skipped.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Each point: `bench` releases N clients together; each connects, sends \
         `3|BenchmarkTestString123`, checks the answer and closes. Execution time is from \
         the first connect to the last answer.\n"
    );
    for (server, rows) in by_server(&results.rows) {
        let _ = writeln!(out, "## {}\n", title(server));
        let _ = writeln!(out, "| Clients | Execution Time (s) |\n| ---: | ---: |");
        for row in rows {
            let _ = writeln!(out, "| {} | {:.6} |", row.clients, row.total_s);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Details and model check\n");
    let _ = writeln!(
        out,
        "Model: clients are served in rounds, each taking one delay. Sequential serves one \
         client per round (N × delay); prefork and pool one per worker (⌈N / workers⌉ × \
         delay, {POOL_DEFAULT_WORKERS} workers unless --workers says otherwise: the staircase \
         is the design, not an error); forking, threaded, evented and async every client in \
         one round (one delay). With --work each round adds its clients' work spread over the \
         cores that can compute at once. Overhead = total − model. A point is on the model \
         when it is no faster than the model and at most {:.0} % + {:.0} ms (+ {:.0} % of the \
         CPU bound, with --work) slower, with no failed client.\n",
        TOLERANCE_FRACTION * 100.0,
        TOLERANCE_FIXED_S * 1e3,
        TOLERANCE_WORK_FRACTION * 100.0
    );
    let _ = writeln!(
        out,
        "| Server | Clients | Total (s) | Model (s) | Overhead (ms) | p50 (s) | p99 (s) | \
         Connect p99 (ms) | Server CPU (ms) | Peak PSS (MiB) | Peak RSS (MiB) | Threads | \
         Children | Errors | Model check |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | \
         ---: | ---: | --- |"
    );
    for row in &results.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.6} | {:.3} | {:.3} | {:.6} | {:.6} | {:.3} | {} | {} | {:.1} | \
             {} | {} | {} | {} |",
            row.server,
            row.clients,
            row.total_s,
            row.model_s,
            row.overhead_s * 1e3,
            row.p50_s,
            row.p99_s,
            row.connect_p99_s * 1e3,
            or_dash(row.server_cpu_s.map(|s| s * 1e3), 1),
            or_dash(row.peak_pss_mib, 2),
            row.peak_rss_kib as f64 / 1024.0,
            row.peak_threads,
            row.peak_children,
            row.errors,
            verdict(row)
        );
    }
    let stalls: u64 = results.rows.iter().map(|r| r.slow_connects).sum();
    if stalls > 0 {
        let _ = writeln!(
            out,
            "\n{stalls} connect(s) took a second or more: SYN retries after a listen backlog \
             overflowed."
        );
    }
    render_cpu_table(&mut out, &results.rows);
    if m.work_s > 0.0 {
        render_cpu_bound(&mut out, results);
    }
    let _ = writeln!(
        out,
        "\nMemory: PSS (proportional set size, from `/proc/PID/smaps_rollup`) shares each page \
         out among the processes that map it, so a forked child that shares its parent's \
         pages counts only its share; RSS, also given, counts shared pages once per process. \
         Both are summed over the server and its live children at the highest sample.\n\n\
         The tutorial's figures (Python, 3 s delay, 100 clients): sequential 300.16 s, forking \
         3.23 s, threaded 3.20 s.\n\nPlots: [plot.svg](plot.svg) (execution time), \
         [plot-overhead.svg](plot-overhead.svg) (overhead over the model, log scale), \
         [plot-detail.svg](plot-detail.svg) (p99 latency, peak PSS, server CPU per request)."
    );
    out
}

/// The server CPU per request of each architecture at each client count: Stevens'
/// "timing comparisons of the various servers" (UNIX Network Programming vol. 1,
/// Figure 30.1), which gave the CPU time of each design for the same clients.
fn render_cpu_table(out: &mut String, rows: &[Row]) {
    let mut counts: Vec<u64> = rows.iter().map(|r| r.clients).collect();
    counts.sort_unstable();
    counts.dedup();
    let _ = writeln!(out, "\n## Server CPU time per request (µs)\n");
    let _ = writeln!(
        out,
        "User + system CPU time of the server and every process it ran (reaped children \
         included, from `/proc/PID/stat`), over the point, divided by the requests served; \
         as in Stevens' comparison of server designs (UNP vol. 1, Figure 30.1). The \
         kernel counts CPU time in ticks of 10 ms, so small points read coarsely.\n"
    );
    let header: String = counts.iter().map(|n| format!(" {n} |")).collect();
    let align: String = counts.iter().map(|_| " ---: |").collect();
    let _ = writeln!(out, "| Server | Design |{header}\n| --- | --- |{align}");
    for (server, rows) in by_server(rows) {
        let cells: String = counts
            .iter()
            .map(|&n| {
                let row = rows.iter().find(|r| r.clients == n);
                format!(" {} |", or_dash(row.and_then(|r| r.cpu_us_per_request), 0))
            })
            .collect();
        let _ = writeln!(out, "| {server} | {} |{cells}", design(server));
    }
}

/// With `--work`: the least time any server can take, N × work / cores, and how far
/// each point is from it.
fn render_cpu_bound(out: &mut String, results: &Results) {
    let m = &results.metadata;
    let _ = writeln!(
        out,
        "\n## Computing requests: distance from the CPU bound\n"
    );
    let _ = writeln!(
        out,
        "Each request computes for {} ms of CPU after its delay. With {} cores no server can \
         finish N such requests in less than N × work / cores; the delay hides this (waits \
         overlap, computing does not). An event loop that computes holds every connection \
         on it; threads beyond the cores only take turns.\n",
        m.work_s * 1e3,
        m.cores
    );
    let _ = writeln!(
        out,
        "| Server | Clients | Total (s) | CPU bound (s) | Above the bound (s) | × the bound | \
         Server CPU (s) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in &results.rows {
        let ratio = or_dash(
            (row.cpu_bound_s > 0.0).then(|| row.total_s / row.cpu_bound_s),
            2,
        );
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {ratio} | {} |",
            row.server,
            row.clients,
            row.total_s,
            row.cpu_bound_s,
            row.above_cpu_bound_s,
            or_dash(row.server_cpu_s, 3)
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::procfs::Peaks;
    use crate::results::tests::{metadata, report};
    use crate::results::{Results, Row};

    /// A 3 s delay on two cores, with `work_s` and `workers`.
    pub(crate) fn params(work_s: f64, workers: Option<u64>) -> Params {
        Params {
            delay_s: 3.0,
            work_s,
            workers,
            cores: 2,
        }
    }

    /// Without work: sequential N × delay, prefork and pool ⌈N / workers⌉ × delay (16
    /// workers unless told), the other four one delay.
    #[test]
    fn models_of_the_seven() {
        let p = params(0.0, None);
        assert_eq!(model_s("sequential", 10, &p), 30.0);
        for server in ["forking", "threaded", "evented", "async"] {
            assert_eq!(model_s(server, 100, &p), 3.0, "{server}");
        }
        for server in ["prefork", "pool"] {
            assert_eq!(model_s(server, 16, &p), 3.0);
            assert_eq!(model_s(server, 17, &p), 6.0);
            assert_eq!(model_s(server, 100, &p), 21.0, "⌈100 / 16⌉ = 7 rounds");
            assert_eq!(model_s(server, 5, &params(0.0, Some(2))), 9.0);
            assert_eq!(model_s(server, 4, &params(0.0, Some(2))), 6.0);
        }
        assert_eq!(workers("pool", &p), Some(16));
        assert_eq!(workers("evented", &p), Some(2));
        assert_eq!(workers("async", &params(0.0, Some(8))), Some(8));
        assert_eq!(workers("threaded", &params(0.0, Some(8))), None);
    }

    /// With work: each round adds its clients' work over the cores that can compute at
    /// once; the CPU bound is N × work / cores.
    #[test]
    fn models_with_work() {
        let p = Params {
            delay_s: 0.0,
            work_s: 0.02,
            workers: None,
            cores: 2,
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(model_s("sequential", 100, &p), 2.0));
        assert!(close(model_s("threaded", 100, &p), 1.0));
        assert!(close(model_s("threaded", 1, &p), 0.02));
        assert!(
            close(model_s("pool", 100, &p), 1.0),
            "{}",
            model_s("pool", 100, &p)
        );
        let one_loop = Params {
            workers: Some(1),
            ..p
        };
        assert!(close(model_s("evented", 100, &one_loop), 2.0));
        assert!(close(model_s("evented", 100, &p), 1.0));
        assert!(close(cpu_bound_s(100, 0.02, 2), 1.0));
        let with_delay = Params { delay_s: 1.0, ..p };
        assert!(close(
            model_s("pool", 32, &with_delay),
            2.0 + 32.0 * 0.02 / 2.0
        ));
    }

    /// A point is on its model when it is not faster and not slower than the tolerance,
    /// with no failed client; work widens the tolerance.
    #[test]
    fn model_check_tolerance() {
        assert!(model_check(30.02, 30.0, 0.0, 0).on_model);
        assert!(!model_check(31.0, 30.0, 0.0, 0).on_model);
        assert!(!model_check(3.01, 30.0, 0.0, 0).on_model);
        assert!(model_check(3.005, 3.0, 0.0, 0).on_model);
        assert!(!model_check(3.23, 3.0, 0.0, 0).on_model);
        assert!(!model_check(2.5, 3.0, 0.0, 0).on_model);
        assert!(!model_check(3.005, 3.0, 0.0, 1).on_model);
        assert!(model_check(3.23, 3.0, 1.0, 0).on_model);
        let check = model_check(300.5, 300.0, 0.0, 0);
        assert!((check.overhead_s - 0.5).abs() < 1e-9);
        assert!((check.tolerance_s - (300.0 * 0.01 + 0.05)).abs() < 1e-9);
    }

    /// The report has the tutorial's table per server, flags an off-model point, names the
    /// servers not run, has the CPU table with one column per client count, and the CPU
    /// bound section only with work.
    #[test]
    fn renders_tables_and_flags() {
        let p = params(0.0, None);
        let row = |server, n, total, cpu_s| {
            let peaks = Peaks {
                pss_kib: 3 * 1024,
                ..Peaks::default()
            };
            Row::from_reports(server, &p, &[(report(n, total, total), Some(cpu_s))], peaks).unwrap()
        };
        let mut results = Results {
            metadata: metadata(),
            complete: false,
            stopped_because: Some("server-threaded exited".into()),
            rows: vec![
                row("sequential", 10, 30.01, 0.001),
                row("threaded", 10, 3.004, 0.002),
                row("threaded", 20, 3.5, 0.004),
                row("pool", 20, 6.01, 0.003),
            ],
            runs: Vec::new(),
        };
        // A point whose CPU and PSS were not read (a run made before they were) shows a dash.
        results.rows.push(
            Row::from_reports(
                "async",
                &p,
                &[(report(10, 3.001, 3.0), None)],
                Peaks::default(),
            )
            .unwrap(),
        );
        results.metadata.skipped = vec!["evented".into()];
        let md = render(&results);
        assert!(md.contains("## Sequential server"), "{md}");
        assert!(md.contains("## Thread-pool server"), "{md}");
        assert!(md.contains("| Clients | Execution Time (s) |"));
        assert!(md.contains("| 10 | 30.010000 |"));
        assert!(md.contains("| 20 | 3.500000 |"));
        assert!(md.contains("**Incomplete"));
        assert!(md.contains("Not run: evented"), "{md}");
        assert!(
            md.contains("| async | tokio task per client | — | — |"),
            "{md}"
        );
        assert!(
            md.contains(" | — | — | 0.0 | "),
            "CPU and PSS of async: {md}"
        );
        assert_eq!(md.matches("**OFF**").count(), 1, "{md}");
        assert!(md.contains("500.0 ms over the model"), "{md}");
        assert!(md.contains("| Server | Design | 10 | 20 |"), "{md}");
        assert!(
            md.contains("| threaded | thread per client | 200 | 200 |"),
            "{md}"
        );
        assert!(md.contains("| pool | pre-spawned threads, main thread accepts | — | 150 |"));
        assert!(md.contains("| 3.00 |"), "PSS column: {md}");
        assert!(!md.contains("distance from the CPU bound"));
        results.metadata.work_s = 0.02;
        assert!(render(&results).contains("distance from the CPU bound"));
    }
}
