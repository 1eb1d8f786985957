//! `stevens.csv` and `STEVENS.md`: the measured table, UNP's conclusions beside it, and
//! what differs on Linux today.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::{CpuSource, DESIGNS, Measured, StevensArgs};

/// How the run went, for the report's head.
#[derive(Debug, Clone)]
pub struct Run {
    /// The options it ran with.
    pub args: StevensArgs,
    /// Where the server CPU came from.
    pub source: CpuSource,
    /// `/proc/loadavg` before the first design and after the last.
    pub load_before: String,
    /// See `load_before`.
    pub load_after: String,
    /// `uname -r`.
    pub kernel: String,
    /// Cores this process may run on.
    pub cores: usize,
    /// Designs left out, with why.
    pub skipped: Vec<String>,
    /// Why the run stopped early, if it did.
    pub stopped_because: Option<String>,
}

/// The iterative baseline's CPU per connection, µs, if it was measured.
fn baseline(rows: &[Measured]) -> Option<f64> {
    rows.iter()
        .find(|m| m.design == DESIGNS[0].name)
        .map(Measured::cpu_us_per_conn)
}

/// CPU per connection beyond the iterative server's, µs (UNP's "process control").
pub fn process_control_us(row: &Measured, rows: &[Measured]) -> Option<f64> {
    baseline(rows).map(|base| row.cpu_us_per_conn() - base)
}

/// The fewest and the most clients a worker served, when the design counts them.
pub fn spread(row: &Measured) -> Option<(u64, u64)> {
    Some((*row.served.iter().min()?, *row.served.iter().max()?))
}

/// The columns of `stevens.csv` (and, after `round`, of `stevens-rounds.csv`).
const COLUMNS: [&str; 9] = [
    "design",
    "server_cpu_us_per_conn",
    "process_control_us",
    "conn_per_s",
    "workers",
    "served_min",
    "served_max",
    "connections",
    "errors",
];

/// `row`'s values in [`COLUMNS`]' order; its process control is against `rows`' baseline.
fn record(row: &Measured, rows: &[Measured]) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let spread = spread(row);
    vec![
        row.design.to_owned(),
        format!("{:.2}", row.cpu_us_per_conn()),
        opt(process_control_us(row, rows).map(|v| format!("{v:.2}"))),
        format!("{:.0}", row.conn_per_s),
        opt(row.workers.map(|w| w.to_string())),
        opt(spread.map(|s| s.0.to_string())),
        opt(spread.map(|s| s.1.to_string())),
        row.connections.to_string(),
        row.errors.to_string(),
    ]
}

/// Writes `stevens.csv`: one row per design (its median round).
///
/// # Errors
///
/// When the file cannot be written.
pub fn write_csv(path: &Path, rows: &[Measured]) -> anyhow::Result<()> {
    let mut csv =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    csv.write_record(COLUMNS)?;
    for row in rows {
        csv.write_record(record(row, rows))?;
    }
    csv.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes `stevens-rounds.csv`: every design's run in every round, numbered from 1, each
/// round's process control against that round's baseline.
///
/// # Errors
///
/// When the file cannot be written.
pub fn write_rounds_csv(path: &Path, rounds: &[Vec<Measured>]) -> anyhow::Result<()> {
    let mut csv =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    let mut header = vec!["round"];
    header.extend(COLUMNS);
    csv.write_record(header)?;
    for (round, rows) in rounds.iter().enumerate() {
        for row in rows {
            let mut values = vec![(round + 1).to_string()];
            values.extend(record(row, rows));
            csv.write_record(values)?;
        }
    }
    csv.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// A short table for the terminal.
pub fn summary(rows: &[Measured]) -> String {
    let mut out = format!(
        "{:<20}{:>12}{:>12}{:>10}{:>16}\n",
        "design", "CPU µs/conn", "control µs", "conn/s", "served min-max"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<20}{:>12.1}{:>12}{:>10.0}{:>16}",
            row.design,
            row.cpu_us_per_conn(),
            process_control_us(row, rows).map_or("-".into(), |v| format!("{v:.1}")),
            row.conn_per_s,
            spread(row).map_or("-".into(), |(lo, hi)| format!("{lo}-{hi}"))
        );
    }
    out
}

/// The CPU per connection of `design`, if it ran.
fn cpu_of(rows: &[Measured], design: &str) -> Option<f64> {
    rows.iter()
        .find(|m| m.design == design)
        .map(Measured::cpu_us_per_conn)
}

/// `a / b` as `N.N×`, when both ran.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
        _ => "not measured".into(),
    }
}

/// `STEVENS.md`: the table beside the book's conclusions.
pub fn markdown(run: &Run, rows: &[Measured]) -> String {
    let args = &run.args;
    let mut md = String::from("# UNP chapter 30, re-run\n\n");
    let _ = writeln!(
        md,
        "Stevens, Fenner and Rudoff, *UNIX Network Programming* vol. 1 (3rd ed.), chapter 30: \
         {} client loops connect one after the other, {} connections in all per design, each \
         asking for a {}-byte answer (`3|` of that size) and closing; a fresh server per design, \
         {} workers where a design has them. Server CPU is {}, per connection; \"process \
         control\" is that less the iterative server's, as in the book's Figure 30.1.\n",
        args.clients,
        args.connections,
        args.bytes,
        args.workers,
        match run.source {
            CpuSource::Cgroup => "a cgroup v2's `usage_usec` (every process the server ran)",
            CpuSource::Proc => "from `/proc` (the server, its reaped and its live children)",
        }
    );
    let _ = writeln!(
        md,
        "Command: `cargo xtask stevens --connections {} --clients {} --bytes {} --workers {} --rounds {}` \
         (each row: the median of the rounds by CPU per connection). \
         Kernel {}, {} core(s); load average {} before, {} after (the machine may be shared: \
         CPU per connection is less disturbed by other load than connections per second).\n",
        args.connections,
        args.clients,
        args.bytes,
        args.workers,
        args.rounds,
        run.kernel.trim(),
        run.cores,
        run.load_before,
        run.load_after
    );
    if let Some(why) = &run.stopped_because {
        let _ = writeln!(md, "**The run stopped early:** {why}\n");
    }
    for skipped in &run.skipped {
        let _ = writeln!(md, "- Left out: {skipped}");
    }
    if !run.skipped.is_empty() {
        md.push('\n');
    }
    md.push_str(
        "| design | UNP Figure 30.1 row | server CPU µs/conn | process control µs | conn/s | workers | served min–max | max/min |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        let unp = DESIGNS
            .iter()
            .find(|d| d.name == row.design)
            .map_or("", |d| d.unp);
        let spread = spread(row);
        let _ = writeln!(
            md,
            "| {} | {unp} | {:.1} | {} | {:.0} | {} | {} | {} |",
            row.design,
            row.cpu_us_per_conn(),
            process_control_us(row, rows).map_or("–".into(), |v| format!("{v:.1}")),
            row.conn_per_s,
            row.workers.map_or("–".into(), |w| w.to_string()),
            spread.map_or("–".into(), |(lo, hi)| format!("{lo}–{hi}")),
            spread.map_or("–".into(), |(lo, hi)| if lo == 0 {
                "∞".into()
            } else {
                format!("{:.2}", hi as f64 / lo as f64)
            }),
        );
    }
    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    if errors > 0 {
        let _ = writeln!(md, "\n{errors} connection(s) failed (see `stevens.csv`).");
    }
    let cheapest_prefork = rows
        .iter()
        .filter(|r| r.design.starts_with("prefork-"))
        .min_by(|a, b| a.cpu_us_per_conn().total_cmp(&b.cpu_us_per_conn()));
    md.push_str("\n## Beside the book's conclusions\n\n");
    let _ = writeln!(
        md,
        "- *Preforking or prethreading cuts process-control CPU by a factor of 10 or more \
         against a fork per client.* Here forking spends {} the CPU per connection of the \
         cheapest prefork variant ({}), and {} its process-control time.",
        ratio(
            cpu_of(rows, "forking"),
            cheapest_prefork.map(Measured::cpu_us_per_conn)
        ),
        cheapest_prefork.map_or("none ran", |r| r.design),
        ratio(
            rows.iter()
                .find(|r| r.design == "forking")
                .and_then(|r| process_control_us(r, rows)),
            cheapest_prefork.and_then(|r| process_control_us(r, rows))
        ),
    );
    let _ = writeln!(
        md,
        "- *Letting every child call `accept` is simpler and faster than passing descriptors.* \
         Passing costs {} the CPU per connection of a shared `accept` here.",
        ratio(cpu_of(rows, "prefork-pass"), cpu_of(rows, "prefork-shared"))
    );
    let _ = writeln!(
        md,
        "- *Locking around `accept`: a mutex is cheaper than a file lock.* flock against the \
         robust mutex: {}; and Linux needs neither (a blocking `accept` wakes one waiter), so \
         each only adds its cost to the shared `accept` ({} and {} of it).",
        ratio(cpu_of(rows, "prefork-flock"), cpu_of(rows, "prefork-mutex")),
        ratio(
            cpu_of(rows, "prefork-flock"),
            cpu_of(rows, "prefork-shared")
        ),
        ratio(
            cpu_of(rows, "prefork-mutex"),
            cpu_of(rows, "prefork-shared")
        )
    );
    let _ = writeln!(
        md,
        "- *A thread per client is cheaper than a fork per client.* Forking against threaded: {}.",
        ratio(cpu_of(rows, "forking"), cpu_of(rows, "threaded"))
    );
    let _ = writeln!(
        md,
        "- *Prethreaded: each thread calling `accept` under a mutex beats the main thread \
         accepting and handing over.* pool-main against pool-each: {}.",
        ratio(cpu_of(rows, "pool-main"), cpu_of(rows, "pool-each"))
    );
    md.push_str(
        "- *How the connections spread over the children (Figure 30.13).* The `served` columns \
         are each worker's own count, logged as it stopped. With few client loops and many \
         workers an uneven spread costs nothing here: idle workers are plentiful.\n",
    );
    md.push_str(LINUX_TODAY);
    md
}

/// What differs on Linux today.
const LINUX_TODAY: &str = "
## Linux today

The book measured kernels where many processes blocked in `accept` on one socket were all
woken by each connection (the thundering herd), or where `accept` from several processes
was not even allowed, hence the locks of §30.7–30.8. Linux wakes one: a blocking `accept`
waits as an exclusive waiter, added at the tail of the socket's wait queue and woken from
its head, so the worker that has waited longest takes the next connection, and the file
lock or the mutex only serialises what the kernel already serialises. An event loop is
different: `epoll_wait` on a shared listener woke every loop until `EPOLLEXCLUSIVE` (Linux
4.5), and its exclusive waiters are woken most-recent first, which is why one busy nginx
worker can take most connections. `SO_REUSEPORT` (Linux 3.9) gives each worker a listener
and a queue of its own, and the kernel picks the listener by a hash of the connection's
addresses: no lock and no shared queue, but no knowledge of who is busy either, so a
connection may wait behind a busy worker while another idles, and the spread is only as
even as the hash. Passing descriptors (§30.9) costs a `sendmsg`, a `recvmsg` and one more
wake-up per connection, and the parent's choice of worker decides the spread.
";
