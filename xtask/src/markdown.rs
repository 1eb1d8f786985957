//! `REPORT.md`: the tutorial-style table per server, the details (overhead, p99, connect
//! times, peak memory, server CPU), the model check that flags points off the
//! architecture's model, the server CPU per request of each architecture (Stevens' table),
//! and with `--work` each server's distance from the CPU bound N × work / cores.

use std::fmt::Write as _;

use crate::architecture::Architecture;
use crate::model::{
    Model, POOL_DEFAULT_WORKERS, TOLERANCE_FIXED_S, TOLERANCE_FRACTION, TOLERANCE_WORK_FRACTION,
    model_check,
};
use crate::results::{BUSY_PRESSURE_PCT, Results, Row, by_server, off_model_summary};

/// The model check of a row in words, with the CPU pressure when it is off.
fn verdict(row: &Row) -> String {
    let verdict = model_verdict(row);
    match row.cpu_pressure_pct {
        Some(pressure) if !row.on_model => format!("{verdict} (CPU pressure {pressure:.0} %)"),
        _ => verdict,
    }
}

/// The model check of a row in words.
fn model_verdict(row: &Row) -> String {
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

/// How busy the machine was over the points of `rows`: the highest load average and CPU
/// pressure any point saw, and whether that counts as busy.
fn how_busy(rows: &[Row]) -> String {
    let highest = |values: Vec<f64>| values.into_iter().reduce(f64::max);
    let load = highest(rows.iter().filter_map(|r| r.load_avg).collect());
    let pressure = highest(rows.iter().filter_map(|r| r.cpu_pressure_pct).collect());
    let load = load.map_or("load average unread".into(), |l| {
        format!("load average up to {l:.1}")
    });
    match pressure {
        Some(p) if p >= BUSY_PRESSURE_PCT => format!(
            "Machine: {load}, CPU pressure up to {p:.0} % (tasks waited for a CPU that share \
             of the time): **the machine was busy**, and points run then may be late."
        ),
        Some(p) => format!("Machine: {load}, CPU pressure up to {p:.0} %: quiet enough."),
        None => format!("Machine: {load}; CPU pressure unread (no /proc/pressure/cpu)."),
    }
}

/// The architectures that follow one of `models`, by name: "forking, threaded and async".
fn following(models: &[Model]) -> String {
    let names: Vec<&str> = Architecture::ALL
        .iter()
        .filter(|a| models.contains(&a.model()))
        .map(|a| a.name())
        .collect();
    match names.split_last() {
        None => "no server".into(),
        Some((last, [])) => (*last).into(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
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
    let _ = writeln!(out, "{}\n", how_busy(&results.rows));
    if !m.resumed.is_empty() {
        let _ = writeln!(
            out,
            "Resumed (`--resume`) at {}: the points missing then were run then.\n",
            m.resumed.join(", ")
        );
    }
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
            Architecture::names(&m.skipped, ", ")
        );
    }
    let _ = writeln!(
        out,
        "Each point: `bench` releases N clients together; each connects, sends \
         `3|BenchmarkTestString123`, checks the answer and closes. Execution time is from \
         the first connect to the last answer.\n"
    );
    for (server, rows) in by_server(&results.rows) {
        let _ = writeln!(out, "## {}\n", server.title());
        let _ = writeln!(out, "| Clients | Execution Time (s) |\n| ---: | ---: |");
        for row in rows {
            let _ = writeln!(out, "| {} | {:.6} |", row.clients, row.total_s);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "## Details and model check\n");
    let _ = writeln!(
        out,
        "Model: clients are served in rounds, each taking one delay: one client per round \
         for {} (N × delay); one per worker for {} (⌈N / workers⌉ × delay, \
         {POOL_DEFAULT_WORKERS} workers unless --workers says otherwise: the staircase is the \
         design, not an error); every client in one round for {} (one delay). With --work each round adds its clients' \
         work spread over the cores that can compute at once. Overhead = total − model. A \
         point is on the model when it is no faster than the model and at most {:.0} % + \
         {:.0} ms (+ {:.0} % of the CPU bound, with --work) slower, with no failed client.\n",
        following(&[Model::OneAtATime]),
        following(&[Model::Workers]),
        following(&[Model::PerClient, Model::Loops]),
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
    if m.repeat > 1 {
        render_repeats(&mut out, &results.rows);
    }
    if let Some(summary) = off_model_summary(&results.rows) {
        let _ = writeln!(out, "\n**{summary}.**");
    }
    render_cpu_table(&mut out, &results.rows, &m.server_cpu_clock);
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

/// With `--repeat`: each point's totals as mean ± σ and min … max, with the outliers.
fn render_repeats(out: &mut String, rows: &[Row]) {
    let _ = writeln!(
        out,
        "\n## Repeats\n\nThe tables above give the run with the median total; here are all \
         of each point's runs. An outlier is a run whose modified Z-score (0.6745 × distance \
         from the median / median absolute deviation) is above 3.5: usually another program \
         took the CPU then.\n\n| Server | Clients | Runs | Mean ± σ (s) | Min … max (s) | \
         Outliers |\n| --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.6} ± {:.6} | {:.6} … {:.6} | {} |",
            row.server,
            row.clients,
            row.repeats,
            row.total_mean_s,
            row.total_sd_s,
            row.total_min_s,
            row.total_max_s,
            if row.outliers > 0 {
                format!("**{}**", row.outliers)
            } else {
                "0".into()
            }
        );
    }
}

/// The server CPU per request of each architecture at each client count: Stevens'
/// "timing comparisons of the various servers" (UNIX Network Programming vol. 1,
/// Figure 30.1), which gave the CPU time of each design for the same clients.
fn render_cpu_table(out: &mut String, rows: &[Row], clock: &str) {
    let mut counts: Vec<u64> = rows.iter().map(|r| r.clients).collect();
    counts.sort_unstable();
    counts.dedup();
    let _ = writeln!(out, "\n## Server CPU time per request (µs)\n");
    let _ = writeln!(
        out,
        "User + system CPU time of the server and every process it ran (reaped children \
         included), over the point, divided by the requests served; as in Stevens' \
         comparison of server designs (UNP vol. 1, Figure 30.1). Read with: {clock}.\n",
        clock = if clock.is_empty() {
            "/proc/PID/stat (10 ms ticks, so small points read coarsely)"
        } else {
            clock
        }
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
        let _ = writeln!(out, "| {server} | {} |{cells}", server.design());
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
mod tests {
    use super::*;
    use crate::model::tests::params;
    use crate::procfs::{Busy, Peaks};
    use crate::results::tests::{metadata, report};

    /// The report has the tutorial's table per server, flags an off-model point, names the
    /// servers not run, has the CPU table with one column per client count, and the CPU
    /// bound section only with work.
    #[test]
    fn renders_tables_and_flags() {
        let p = params(0.0, None);
        let row = |server: &str, n, total, cpu_s| {
            let peaks = Peaks {
                pss_kib: 3 * 1024,
                ..Peaks::default()
            };
            let server = server.parse().unwrap();
            Row::from_reports(
                server,
                &p,
                &[(report(n, total, total), Some(cpu_s))],
                peaks,
                Busy::default(),
            )
            .unwrap()
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
                Architecture::Async,
                &p,
                &[(report(10, 3.001, 3.0), None)],
                Peaks::default(),
                Busy::default(),
            )
            .unwrap(),
        );
        results.metadata.skipped = vec![Architecture::Evented];
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
        assert!(md.contains("**1 of 5 points off their model; CPU pressure unknown"));
        assert!(md.contains("Machine: load average unread; CPU pressure unread"));
        assert!(md.contains("| Server | Design | 10 | 20 |"), "{md}");
        assert!(
            md.contains("| threaded | thread per client | 200 | 200 |"),
            "{md}"
        );
        assert!(md.contains("| pool | pre-spawned threads, main thread accepts | — | 150 |"));
        assert!(md.contains("| 3.00 |"), "PSS column: {md}");
        assert!(!md.contains("distance from the CPU bound"));
        assert!(
            md.contains("one client per round for sequential (N"),
            "{md}"
        );
        assert!(md.contains("one per worker for prefork and pool ("), "{md}");
        assert!(
            md.contains("every client in one round for forking, threaded, evented"),
            "{md}"
        );
        assert!(!md.contains("## Repeats"));
        results.metadata.repeat = 3;
        assert!(render(&results).contains("| threaded | 20 | 1 | 3.500000 ± 0.000000 |"));
        results.metadata.work_s = 0.02;
        assert!(render(&results).contains("distance from the CPU bound"));
    }
}
