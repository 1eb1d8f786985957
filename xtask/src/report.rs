//! `REPORT.md`: the seed-style table per server, the details (overhead, p99, connect
//! times, peak memory) and the model check that flags points off the architecture's model.

use std::fmt::Write as _;

use crate::results::{Results, Row};

/// How far a total may exceed the model before the point is flagged: 1 % of the model
/// (SPEC §8 holds sequential to 1 % of N × delay) plus 50 ms for process start-up and
/// scheduling on a busy machine.
pub const TOLERANCE_FRACTION: f64 = 0.01;
/// The fixed part of the tolerance, seconds.
pub const TOLERANCE_FIXED_S: f64 = 0.05;

/// A total compared with what the architecture's model predicts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelCheck {
    /// The model's time, [`model_s`].
    pub expected_s: f64,
    /// total − expected.
    pub overhead_s: f64,
    /// How much over the model is still on it.
    pub tolerance_s: f64,
    /// Whether the point is on the model: not faster than it (allowing 1 ms of clock
    /// granularity), not slower than the tolerance, and no client failed.
    pub on_model: bool,
}

/// The model's time for `server` at `clients`: N × delay for sequential (one client
/// after another), the delay for forking and threaded (all clients served at once).
pub fn model_s(server: &str, clients: u64, delay_s: f64) -> f64 {
    if server == "sequential" {
        clients as f64 * delay_s
    } else {
        delay_s
    }
}

/// Checks `total_s` of `server` at `clients` against the model.
pub fn model_check(
    server: &str,
    clients: u64,
    delay_s: f64,
    total_s: f64,
    errors: u64,
) -> ModelCheck {
    let expected_s = model_s(server, clients, delay_s);
    let overhead_s = total_s - expected_s;
    let tolerance_s = expected_s * TOLERANCE_FRACTION + TOLERANCE_FIXED_S;
    ModelCheck {
        expected_s,
        overhead_s,
        tolerance_s,
        on_model: errors == 0 && overhead_s >= -0.001 && overhead_s <= tolerance_s,
    }
}

/// The model check of a row in words.
fn verdict(row: &Row) -> String {
    let check = model_check(
        &row.server,
        row.clients,
        row.delay_s,
        row.total_s,
        row.errors,
    );
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

/// The heading the seed used for each architecture.
fn title(server: &str) -> String {
    match server {
        "sequential" => "Sequential server (the seed's Single-Process)".into(),
        "forking" => "Forking server (the seed's Multi-Process)".into(),
        "threaded" => "Threaded server (the seed's Multi-Threaded)".into(),
        other => format!("{other} server"),
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

/// The whole of `REPORT.md`.
pub fn render(results: &Results) -> String {
    let m = &results.metadata;
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmark: clients vs execution time\n");
    let _ = writeln!(
        out,
        "{} · git `{}` · {} · {} cores · delay {} s · {} repeat(s) per point · \
         somaxconn {} · backlog {}\n",
        m.date,
        m.git_revision,
        m.kernel,
        m.cores,
        m.delay_s,
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
        "Model: sequential serves one client after another, so N clients take N × delay; \
         forking and threaded serve them all at once, so N clients take one delay. \
         Overhead = total − model. A point is on the model when it is no faster than the \
         model and at most {:.0} % + {:.0} ms slower, with no failed client.\n",
        TOLERANCE_FRACTION * 100.0,
        TOLERANCE_FIXED_S * 1e3
    );
    let _ = writeln!(
        out,
        "| Server | Clients | Total (s) | Model (s) | Overhead (ms) | p50 (s) | p99 (s) | \
         Connect p99 (ms) | Peak RSS (MiB) | Threads | Children | Errors | Model check |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for row in &results.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.6} | {:.3} | {:.3} | {:.6} | {:.6} | {:.3} | {:.1} | {} | {} | {} | {} |",
            row.server,
            row.clients,
            row.total_s,
            row.model_s,
            row.overhead_s * 1e3,
            row.p50_s,
            row.p99_s,
            row.connect_p99_s * 1e3,
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
    let _ = writeln!(
        out,
        "\nPeak RSS sums the server and its live children; pages a forked child shares with \
         its parent are counted in both.\n\nThe seed's figures (Python, 3 s delay, 100 \
         clients): sequential 300.16 s, forking 3.23 s, threaded 3.20 s.\n\nPlots: \
         [plot.svg](plot.svg) (execution time), [plot-detail.svg](plot-detail.svg) (p99 \
         latency and peak memory)."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::Peaks;
    use crate::results::tests::report;
    use crate::results::{Metadata, Results};

    /// Sequential is held to N × delay, the others to one delay, each with its tolerance.
    #[test]
    fn model() {
        assert!(model_check("sequential", 10, 3.0, 30.02, 0).on_model);
        assert!(!model_check("sequential", 10, 3.0, 31.0, 0).on_model);
        assert!(!model_check("sequential", 10, 3.0, 3.01, 0).on_model);
        assert!(model_check("threaded", 100, 3.0, 3.005, 0).on_model);
        assert!(!model_check("forking", 100, 3.0, 3.23, 0).on_model);
        assert!(!model_check("forking", 100, 3.0, 2.5, 0).on_model);
        assert!(!model_check("forking", 100, 3.0, 3.005, 1).on_model);
        let check = model_check("sequential", 100, 3.0, 300.5, 0);
        assert_eq!(check.expected_s, 300.0);
        assert!((check.overhead_s - 0.5).abs() < 1e-9);
    }

    /// The report has the seed's table per server and flags an off-model point.
    #[test]
    fn renders_tables_and_flags() {
        let row = |server, n, total| {
            crate::results::Row::from_reports(
                server,
                3.0,
                &[report(n, total, total)],
                Peaks::default(),
            )
            .unwrap()
        };
        let results = Results {
            metadata: Metadata {
                date: "2025-01-01T00:00:00Z".into(),
                git_revision: "abc".into(),
                kernel: "Linux".into(),
                cores: 2,
                rlimit_nofile: (1024, 1024),
                somaxconn: None,
                backlog: 4096,
                ip_local_port_range: None,
                delay_s: 3.0,
                clients: vec![10, 20],
                servers: vec!["sequential".into(), "threaded".into()],
                repeat: 1,
                command: "cargo xtask bench".into(),
            },
            complete: false,
            stopped_because: Some("server-threaded exited".into()),
            rows: vec![
                row("sequential", 10, 30.01),
                row("threaded", 10, 3.004),
                row("threaded", 20, 3.5),
            ],
            runs: Vec::new(),
        };
        let md = render(&results);
        assert!(md.contains("## Sequential server"), "{md}");
        assert!(md.contains("| Clients | Execution Time (s) |"));
        assert!(md.contains("| 10 | 30.010000 |"));
        assert!(md.contains("| 20 | 3.500000 |"));
        assert!(md.contains("**Incomplete"));
        assert_eq!(md.matches("**OFF**").count(), 1, "{md}");
        assert!(md.contains("500.0 ms over the model"), "{md}");
    }
}
