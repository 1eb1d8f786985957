//! `cargo xtask curve`: latency against offered load, where each architecture breaks.
//!
//! For each server, offered rates rise; each point starts a fresh server on a free
//! loopback port, runs `bench --rate R --json` against it (open loop: requests sent when
//! due whether or not the server keeps up, latency measured from the due time), and stops
//! the server. Once a server is past its *knee* — it achieved less than 90 % of the rate
//! offered — its rate is not raised further: beyond the knee requests only queue. With
//! `redis` among the servers and `redis-server` on PATH, redis-server answers the same
//! load with its inline `PING`, a reference line measured by the same generator.
//!
//! Writes, after every point (so an interrupted run keeps what it measured):
//! `curve.csv` (one row per point), `curve.json` (the same with the run's metadata and
//! each server's summary), `plot-latency.svg` (p50, p99 and p99.9 against offered rate,
//! both axes logarithmic, the knee ringed) and `CURVE.md` (each server's *sustainable
//! throughput*: the highest offered rate achieved to within 1 % with p99 under
//! `--target-p99`, side by side).

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, anyhow, bail};
use bench::LoadReport;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use testkit::ServerProcess;

use crate::architecture::Architecture;
use crate::flags::{CurveArgs, Mode, Subject};
use crate::plot::svg;
use crate::progress::Progress;
use crate::sweep::run_json;
use crate::util;

/// A point achieved under this share of its offered rate is past the knee.
pub const KNEE_SHARE: f64 = 0.9;

/// A point achieved at least this share of its offered rate kept up with it.
pub const SUSTAINED_SHARE: f64 = 0.99;

/// How long a server may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long redis-server may take to accept connections after it starts.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(10);

/// bench's limit on one answer: a server far past its knee is still waited for, but not
/// for ever.
const ANSWER_TIMEOUT: &str = "5s";

/// One point of the curve: a server at an offered rate. The columns of `curve.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The architecture, or `redis`.
    pub server: String,
    /// `persistent` or `cpr`.
    pub mode: String,
    /// Requests (cpr: connections) per second offered.
    pub offered_per_s: f64,
    /// Requests due in the window and answered correctly, per second.
    pub achieved_per_s: f64,
    /// Corrected latency (from the due time), median.
    pub p50_s: f64,
    /// Corrected latency, 90th percentile.
    pub p90_s: f64,
    /// Corrected latency, 99th percentile.
    pub p99_s: f64,
    /// Corrected latency, 99.9th percentile.
    pub p999_s: f64,
    /// Corrected latency, the longest.
    pub max_s: f64,
    /// The p99 measured from the send, as a closed-loop tool would report it.
    pub p99_from_send_s: f64,
    /// bench's own send lag, 99th percentile: above 1 ms the point says more about the
    /// load generator than the server.
    pub lag_p99_s: f64,
    /// Failed requests.
    pub errors: u64,
    /// The 1-minute load average after the point.
    pub load_avg: f64,
}

impl Point {
    /// Achieved under [`KNEE_SHARE`] of offered.
    pub fn past_knee(&self) -> bool {
        self.achieved_per_s < KNEE_SHARE * self.offered_per_s
    }

    /// Achieved within 1 % of offered, with no error and p99 under `target_s`.
    pub fn sustained(&self, target_s: f64) -> bool {
        self.achieved_per_s >= SUSTAINED_SHARE * self.offered_per_s
            && self.errors == 0
            && self.p99_s <= target_s
    }

    fn from_report(subject: Subject, mode: Mode, offered: f64, report: &LoadReport) -> Point {
        let (achieved, lag_p99_s) = report
            .rate
            .map_or((0.0, 0.0), |r| (r.achieved_per_s, r.lag.p99_s));
        Point {
            server: subject.name().into(),
            mode: mode.name().into(),
            offered_per_s: offered,
            achieved_per_s: achieved,
            p50_s: report.latency.p50_s,
            p90_s: report.latency.p90_s,
            p99_s: report.latency.p99_s,
            p999_s: report.latency.p999_s,
            max_s: report.latency.max_s,
            p99_from_send_s: report.latency_from_send.map_or(0.0, |s| s.p99_s),
            lag_p99_s,
            errors: report.errors.total(),
            load_avg: load_average().unwrap_or(0.0),
        }
    }
}

/// The 1-minute load average.
fn load_average() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What one server did over its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The architecture, or `redis`.
    pub server: String,
    /// The highest offered rate sustained (see [`Point::sustained`]); `None` when none was.
    pub sustainable_per_s: Option<f64>,
    /// The p99 at that rate.
    pub p99_at_sustainable_s: Option<f64>,
    /// The first offered rate past the knee; `None` when the server kept up to the end.
    pub knee_per_s: Option<f64>,
    /// The highest rate achieved at any point, whatever its latency.
    pub most_achieved_per_s: f64,
    /// Points at which bench's own lag p99 exceeded 1 ms.
    pub lagging_points: usize,
}

/// Each server's summary, in the order the servers first appear in `points`.
pub fn summarise(points: &[Point], target_s: f64) -> Vec<Summary> {
    let mut servers: Vec<&str> = Vec::new();
    for p in points {
        if !servers.contains(&p.server.as_str()) {
            servers.push(&p.server);
        }
    }
    servers
        .into_iter()
        .map(|server| {
            let own: Vec<&Point> = points.iter().filter(|p| p.server == server).collect();
            let best = own
                .iter()
                .filter(|p| p.sustained(target_s))
                .max_by(|a, b| a.offered_per_s.total_cmp(&b.offered_per_s));
            Summary {
                server: server.into(),
                sustainable_per_s: best.map(|p| p.offered_per_s),
                p99_at_sustainable_s: best.map(|p| p.p99_s),
                knee_per_s: own.iter().find(|p| p.past_knee()).map(|p| p.offered_per_s),
                most_achieved_per_s: own.iter().map(|p| p.achieved_per_s).fold(0.0, f64::max),
                lagging_points: own
                    .iter()
                    .filter(|p| p.lag_p99_s > bench::report::MAX_TRUSTED_LAG_S)
                    .count(),
            }
        })
        .collect()
}

/// `curve.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// How the run was made.
    pub command: String,
    /// When it started (UTC, RFC 3339).
    pub date: String,
    /// CPUs available.
    pub cores: u64,
    /// The 1-minute load average when the run started.
    pub load_avg_at_start: f64,
    /// `persistent` or `cpr`.
    pub mode: String,
    /// Connections or clients per point.
    pub clients: u64,
    /// Measured seconds per point.
    pub duration_s: f64,
    /// Warm-up seconds per point.
    pub warmup_s: f64,
    /// The p99 target of sustainable throughput.
    pub target_p99_s: f64,
    /// Servers asked for but not run, and why.
    pub skipped: Vec<String>,
    /// Whether every point planned was run (or skipped past a knee).
    pub complete: bool,
    /// Every point, in the order run.
    pub points: Vec<Point>,
    /// Each server's summary.
    pub summaries: Vec<Summary>,
}

/// Runs `cargo xtask curve`.
///
/// # Errors
///
/// When the arguments are wrong, the build fails, a binary is missing, or a point cannot
/// be run (a server that does not start, a bench that measured nothing); the points done
/// so far are written first.
pub fn run(args: &CurveArgs) -> anyhow::Result<()> {
    let rates = &args.rates.0;
    let started = SystemTime::now();
    let bin_dir = args.files.bin_dir();
    let (subjects, skipped) = available(&args.servers.0);
    for note in &skipped {
        eprintln!("note: {note}");
    }
    if subjects.is_empty() {
        bail!("--servers: nothing to run");
    }
    if !args.files.no_build {
        let mut build = util::cargo();
        build.args(["build", "--release", "-p", "bench"]);
        for subject in &subjects {
            if let Subject::Architecture(server) = subject {
                build.args(["-p", &server.binary()]);
            }
        }
        util::run(build)?;
    }
    let bench = util::built_binary(&bin_dir, "bench")?;
    for subject in &subjects {
        if let Subject::Architecture(server) = subject {
            util::built_binary(&bin_dir, &server.binary())?;
        }
    }
    let out = args.files.out("curve", started);
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut curve = Curve {
        command: std::iter::once("cargo xtask".to_owned())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        date: util::rfc3339(started),
        cores: thread::available_parallelism().map_or(1, |n| n.get() as u64),
        load_avg_at_start: load_average().unwrap_or(0.0),
        mode: args.mode.name().into(),
        clients: args.clients,
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        target_p99_s: args.target_p99.as_secs_f64(),
        skipped,
        complete: false,
        points: Vec::new(),
        summaries: Vec::new(),
    };
    let point_s = (args.warmup + args.duration).as_secs_f64() + 0.5;
    let total_s = point_s * (subjects.len() * rates.len()) as f64;
    eprintln!(
        "curve: {} × rates {:?}/s, {} mode, {} clients, {} + {} warm-up per point; at most \
         about {total_s:.0} s; results in {}",
        subjects
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(","),
        rates,
        args.mode.name(),
        args.clients,
        humantime::format_duration(args.duration),
        humantime::format_duration(args.warmup),
        out.display()
    );
    let mut progress = Progress::new(total_s);
    let outcome = sweep(
        args,
        &subjects,
        rates,
        &bench,
        &bin_dir,
        &out,
        &mut curve,
        &mut progress,
    );
    progress.finish();
    curve.complete = outcome.is_ok();
    write_outputs(&out, &mut curve)?;
    eprintln!("wrote {}", out.display());
    eprint!("{}", sustainable_table(&curve));
    outcome
}

/// The subjects that can run, and a note for each that cannot.
fn available(asked: &[Subject]) -> (Vec<Subject>, Vec<String>) {
    let redis = util::output_of({
        let mut which = Command::new("redis-server");
        which.arg("--version");
        which
    })
    .is_some();
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for &subject in asked {
        if subject == Subject::Redis && !redis {
            skipped.push("redis: skipped, redis-server is not on PATH".to_owned());
        } else {
            run.push(subject);
        }
    }
    (run, skipped)
}

/// Every server at rising rates, a fresh server per point, up to its knee.
#[allow(clippy::too_many_arguments)]
fn sweep(
    args: &CurveArgs,
    subjects: &[Subject],
    rates: &[f64],
    bench: &Path,
    bin_dir: &Path,
    out: &Path,
    curve: &mut Curve,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let point_s = (args.warmup + args.duration).as_secs_f64() + 0.5;
    for &subject in subjects {
        for (i, &rate) in rates.iter().enumerate() {
            let label = format!("{} at {rate}/s", subject.name());
            let report = {
                let server = Running::start(subject, bin_dir)?;
                let report = run_point(
                    args,
                    bench,
                    server.addr(),
                    subject,
                    rate,
                    |elapsed| {
                        progress.during(point_s, elapsed, &label);
                    },
                    progress,
                );
                server.stop()?;
                report?
            };
            let point = Point::from_report(subject, args.mode, rate, &report);
            progress.println(&format!(
                "{label}: achieved {:.0}/s, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms (from \
                 send: p99 {:.3} ms), bench lag p99 {:.3} ms, errors {}",
                point.achieved_per_s,
                point.p50_s * 1e3,
                point.p99_s * 1e3,
                point.p999_s * 1e3,
                point.p99_from_send_s * 1e3,
                point.lag_p99_s * 1e3,
                point.errors
            ));
            let past_knee = point.past_knee();
            curve.points.push(point);
            write_outputs(out, curve)?;
            progress.point_done(point_s);
            let left = rates.len() - i - 1;
            if past_knee && left > 0 {
                progress.println(&format!(
                    "{} is past its knee (achieved under {:.0} % of offered): {left} higher \
                     rate(s) not run",
                    subject.name(),
                    KNEE_SHARE * 100.0
                ));
                progress.point_done(point_s * left as f64);
                break;
            }
        }
    }
    Ok(())
}

/// One point's bench run.
fn run_point(
    args: &CurveArgs,
    bench: &Path,
    addr: SocketAddr,
    subject: Subject,
    rate: f64,
    tick: impl Fn(f64),
    progress: &Progress,
) -> anyhow::Result<LoadReport> {
    let mut cmd = Command::new(bench);
    cmd.args(["--addr", &addr.to_string(), "--json"])
        .args(["--rate", &rate.to_string()])
        .args(["--clients", &args.clients.to_string()])
        .args([
            "--duration",
            &humantime::format_duration(args.duration).to_string(),
        ])
        .args([
            "--warmup",
            &humantime::format_duration(args.warmup).to_string(),
        ])
        .args(["--timeout", ANSWER_TIMEOUT]);
    if args.mode == Mode::Cpr {
        cmd.arg("--connect-per-request");
    }
    if subject == Subject::Redis {
        cmd.arg("--redis-ping");
    }
    run_json(cmd, tick, progress)
}

/// A server started for one point.
enum Running {
    Architecture(ServerProcess),
    Redis { child: Child, addr: SocketAddr },
}

impl Running {
    /// Starts `subject` on a free loopback port.
    fn start(subject: Subject, bin_dir: &Path) -> anyhow::Result<Running> {
        match subject {
            Subject::Architecture(server) => {
                let binary = bin_dir.join(server.binary());
                let process = ServerProcess::start(&binary, ["--port", "0", "--quiet"])
                    .with_context(|| format!("starting {}", server.binary()))?;
                Ok(Running::Architecture(process))
            }
            Subject::Redis => start_redis(),
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Running::Architecture(process) => process.addr(),
            Running::Redis { addr, .. } => *addr,
        }
    }

    /// Stops the server with SIGTERM and checks that it exited cleanly.
    fn stop(self) -> anyhow::Result<()> {
        match self {
            Running::Architecture(process) => {
                let status = process.stop(STOP_TIMEOUT).context("stopping the server")?;
                if !status.success() {
                    bail!("the server did not exit cleanly after SIGTERM: {status}");
                }
                Ok(())
            }
            Running::Redis { mut child, .. } => {
                let pid = Pid::from_raw(i32::try_from(child.id())?);
                kill(pid, Signal::SIGTERM)?;
                let deadline = Instant::now() + STOP_TIMEOUT;
                while child.try_wait()?.is_none() {
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        bail!("redis-server did not stop within {STOP_TIMEOUT:?} of SIGTERM");
                    }
                    thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            }
        }
    }
}

/// Starts redis-server on a free loopback port, without persistence, and waits until
/// it accepts connections.
fn start_redis() -> anyhow::Result<Running> {
    // redis-server cannot be asked for port 0, so a free port is found first; the
    // moment between closing it and redis binding it is short, and a clash fails loudly.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server")?;
    let deadline = Instant::now() + REDIS_START_TIMEOUT;
    loop {
        if TcpStream::connect(addr).is_ok() {
            return Ok(Running::Redis { child, addr });
        }
        if let Some(status) = child.try_wait()? {
            bail!("redis-server exited ({status}) before accepting connections on {addr}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "redis-server did not accept connections on {addr} within {REDIS_START_TIMEOUT:?}"
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Writes curve.csv, curve.json, plot-latency.svg and CURVE.md.
fn write_outputs(out: &Path, curve: &mut Curve) -> anyhow::Result<()> {
    curve.summaries = summarise(&curve.points, curve.target_p99_s);
    let csv_path = out.join("curve.csv");
    let mut csv = csv::Writer::from_path(&csv_path)
        .with_context(|| format!("writing {}", csv_path.display()))?;
    for point in &curve.points {
        csv.serialize(point)?;
    }
    csv.flush()?;
    let json = serde_json::to_string_pretty(curve)? + "\n";
    fs::write(out.join("curve.json"), json).context("writing curve.json")?;
    plot_latency(&out.join("plot-latency.svg"), curve)?;
    fs::write(out.join("CURVE.md"), render(curve)).context("writing CURVE.md")?;
    Ok(())
}

/// A server's colour in the plot: its architecture's, and grey for redis-server.
fn colour(server: &str) -> RGBColor {
    let (red, green, blue) = server
        .parse::<Architecture>()
        .map_or((90, 90, 90), Architecture::colour);
    RGBColor(red, green, blue)
}

/// The smallest latency drawn, seconds: the log axis has no zero.
const LATENCY_FLOOR_S: f64 = 1e-6;

/// Writes `plot-latency.svg`: p50 (thin), p99 (thick, dotted) and p99.9 (crosses) against the
/// offered rate, both axes logarithmic, one colour per server, the first point past the
/// knee ringed, and the p99 target as a grey line.
fn plot_latency(path: &Path, curve: &Curve) -> anyhow::Result<()> {
    let points = &curve.points;
    let ms = |s: f64| s.max(LATENCY_FLOOR_S) * 1e3;
    let x_min = points
        .iter()
        .map(|p| p.offered_per_s)
        .fold(f64::MAX, f64::min);
    let x_max = points.iter().map(|p| p.offered_per_s).fold(1.0, f64::max);
    let y_max = points
        .iter()
        .map(|p| ms(p.p999_s))
        .fold(ms(curve.target_p99_s), f64::max);
    let y_min = points
        .iter()
        .map(|p| ms(p.p50_s))
        .fold(ms(curve.target_p99_s), f64::min);
    let x_min = if x_min == f64::MAX { 1.0 } else { x_min };
    let caption = format!(
        "Corrected latency against offered load ({} mode, {} clients)",
        curve.mode, curve.clients
    );
    let unit = if curve.mode == "cpr" {
        "connections/s"
    } else {
        "requests/s"
    };
    svg(path, (1000, 650), |root| {
        let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
        let mut chart = ChartBuilder::on(root)
            .caption(&caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(
                (x_min / 1.5..x_max * 1.5).log_scale(),
                (y_min / 2.0..y_max * 2.0).log_scale(),
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(format!("Offered rate ({unit}, log scale)"))
            .y_desc("Latency from due time (ms, log scale)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y}"))
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .draw()
            .map_err(|e| err(&e))?;
        let target = ms(curve.target_p99_s);
        chart
            .draw_series(LineSeries::new(
                [(x_min / 1.5, target), (x_max * 1.5, target)],
                RGBColor(160, 160, 160).stroke_width(1),
            ))
            .map_err(|e| err(&e))?
            .label(format!("p99 target {} ms", target))
            .legend(|(x, y)| {
                PathElement::new(
                    [(x, y), (x + 20, y)],
                    RGBColor(160, 160, 160).stroke_width(1),
                )
            });
        for summary in &curve.summaries {
            let colour = colour(&summary.server);
            let own: Vec<&Point> = points
                .iter()
                .filter(|p| p.server == summary.server)
                .collect();
            let line = |f: &dyn Fn(&Point) -> f64| -> Vec<(f64, f64)> {
                own.iter().map(|p| (p.offered_per_s, ms(f(p)))).collect()
            };
            chart
                .draw_series(LineSeries::new(line(&|p| p.p99_s), colour.stroke_width(3)))
                .map_err(|e| err(&e))?
                .label(format!("{} (thin p50, thick p99, × p99.9)", summary.server))
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3))
                });
            // Dots too: a server past its knee at the first rate has a single point.
            chart
                .draw_series(
                    line(&|p| p.p99_s)
                        .into_iter()
                        .map(|p| Circle::new(p, 3, colour.filled())),
                )
                .map_err(|e| err(&e))?;
            chart
                .draw_series(LineSeries::new(line(&|p| p.p50_s), colour.stroke_width(1)))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(LineSeries::new(
                    line(&|p| p.p999_s),
                    colour.mix(0.5).stroke_width(1),
                ))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    line(&|p| p.p999_s)
                        .into_iter()
                        .map(|p| Cross::new(p, 4, colour.stroke_width(1))),
                )
                .map_err(|e| err(&e))?;
            if let Some(knee) = own.iter().find(|p| p.past_knee()) {
                let at = (knee.offered_per_s, ms(knee.p99_s));
                chart
                    .draw_series([Circle::new(at, 9, colour.stroke_width(2))])
                    .map_err(|e| err(&e))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| err(&e))?;
        Ok(())
    })
}

/// A rate for a table: `12000/s`, or `—`.
fn rate_cell(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".into(), |r| format!("{r:.0}/s"))
}

/// The sustainable-throughput table, as Markdown.
fn sustainable_table(curve: &Curve) -> String {
    let mut out = format!(
        "| server | sustainable throughput | p99 there | knee (first rate achieved < {:.0} %) \
         | most achieved | points where bench lagged |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
        KNEE_SHARE * 100.0
    );
    for s in &curve.summaries {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            s.server,
            rate_cell(s.sustainable_per_s),
            s.p99_at_sustainable_s
                .map_or_else(|| "—".into(), |p| format!("{:.3} ms", p * 1e3)),
            s.knee_per_s
                .map_or_else(|| "not reached".into(), |r| format!("{r:.0}/s")),
            rate_cell(Some(s.most_achieved_per_s)),
            s.lagging_points,
        );
    }
    out
}

/// `CURVE.md`: how the run was made, the table, and what the curve shows.
fn render(curve: &Curve) -> String {
    let unit = if curve.mode == "cpr" {
        "new connections per second"
    } else {
        "requests per second"
    };
    let mut out = format!(
        "# Latency against offered load\n\n\
         `{}` — {}, {} cores, load average {:.1} at the start.\n\n\
         Mode {} ({} clients); rates in {unit}. Each point starts a fresh server, runs \
         `bench --rate` for {} s after a {} s warm-up, and measures latency from when each \
         request was due (corrected for coordinated omission). Sustainable throughput is the \
         highest offered rate achieved to within {:.0} % with no error and p99 under {:.3} ms.\n\n",
        curve.command,
        curve.date,
        curve.cores,
        curve.load_avg_at_start,
        curve.mode,
        curve.clients,
        curve.duration_s,
        curve.warmup_s,
        (1.0 - SUSTAINED_SHARE) * 100.0,
        curve.target_p99_s * 1e3,
    );
    out += &sustainable_table(curve);
    out += "\n![latency against offered rate](plot-latency.svg)\n\n";
    out += &what_it_shows(curve);
    for note in &curve.skipped {
        out += &format!("\n- {note}");
    }
    if !curve.complete {
        out += "\n\n**The run stopped early**: the points above are those measured.";
    }
    out + "\n"
}

/// The paragraph under the table, from the numbers.
fn what_it_shows(curve: &Curve) -> String {
    let mut text = String::from(
        "Below its knee a server answers every request on time: the achieved rate equals the \
         offered one and p50 stays near the cost of one exchange. At the knee requests start \
         arriving faster than they are served; they queue, so the corrected latency climbs by \
         orders of magnitude within one doubling of the rate while the achieved rate flattens. \
         A closed-loop benchmark would not show that climb: it only sends when the previous \
         answer came.",
    );
    let best = curve
        .summaries
        .iter()
        .filter(|s| s.server != "redis")
        .filter_map(|s| Some((s, s.sustainable_per_s?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((best, rate)) = best {
        text += &format!(" Here {} sustained the most, {rate:.0}/s", best.server);
        match curve.summaries.iter().find(|s| s.server == "redis") {
            Some(redis) => {
                text += &format!(
                    "; redis-server, on the same generator, {}.",
                    rate_cell(redis.sustainable_per_s)
                );
            }
            None => text += ".",
        }
    }
    let lagging: usize = curve.summaries.iter().map(|s| s.lagging_points).sum();
    if lagging > 0 {
        text += &format!(
            " At {lagging} point(s) bench's own send lag p99 exceeded 1 ms: there the \
             generator, not only the server, was late (a busy machine, or a rate beyond what \
             bench's threads keep on it), and the latency says less about the server."
        );
    }
    text + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(server: &str, offered: f64, achieved: f64, p99_ms: f64) -> Point {
        Point {
            server: server.into(),
            mode: "persistent".into(),
            offered_per_s: offered,
            achieved_per_s: achieved,
            p50_s: p99_ms / 4e3,
            p90_s: p99_ms / 2e3,
            p99_s: p99_ms / 1e3,
            p999_s: p99_ms / 5e2,
            max_s: p99_ms / 1e2,
            p99_from_send_s: p99_ms / 1e4,
            lag_p99_s: 0.0001,
            errors: 0,
            load_avg: 1.0,
        }
    }

    /// Sustainable: the highest rate achieved within 1 % with p99 under target; the knee:
    /// the first rate achieved under 90 %; a point over the p99 target is not sustained
    /// even when it kept up.
    #[test]
    fn summaries() {
        let points = [
            point("evented", 1000.0, 1000.0, 0.2),
            point("evented", 2000.0, 1995.0, 0.4),
            point("evented", 4000.0, 3990.0, 3.0),
            point("evented", 8000.0, 5000.0, 900.0),
            point("redis", 1000.0, 1000.0, 0.3),
        ];
        let s = summarise(&points, 0.001);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].server, "evented");
        assert_eq!(s[0].sustainable_per_s, Some(2000.0));
        assert_eq!(s[0].knee_per_s, Some(8000.0));
        assert_eq!(s[1].sustainable_per_s, Some(1000.0));
        assert_eq!(s[1].knee_per_s, None);
    }

    /// The outputs are written from points alone: the CSV has the columns, the
    /// plot its axes and servers, CURVE.md the table and the paragraph.
    #[test]
    fn outputs() {
        let dir = std::env::temp_dir().join(format!("xtask-curve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut curve = Curve {
            command: "cargo xtask curve".into(),
            date: "2026-12-04T18:00:00Z".into(),
            cores: 2,
            load_avg_at_start: 1.0,
            mode: "persistent".into(),
            clients: 10,
            duration_s: 3.0,
            warmup_s: 1.0,
            target_p99_s: 0.001,
            skipped: vec!["redis: skipped, redis-server is not on PATH".into()],
            complete: true,
            points: vec![
                point("evented", 1000.0, 1000.0, 0.2),
                point("evented", 2000.0, 1500.0, 300.0),
                point("threaded", 1000.0, 1000.0, 0.5),
            ],
            summaries: Vec::new(),
        };
        write_outputs(&dir, &mut curve).unwrap();
        let csv = std::fs::read_to_string(dir.join("curve.csv")).unwrap();
        assert!(
            csv.starts_with(
                "server,mode,offered_per_s,achieved_per_s,p50_s,p90_s,p99_s,p999_s,max_s,"
            ),
            "{csv}"
        );
        assert!(csv.lines().next().unwrap().contains("lag_p99_s,errors"));
        assert_eq!(csv.lines().count(), 4);
        let svg = std::fs::read_to_string(dir.join("plot-latency.svg")).unwrap();
        assert!(svg.contains("log scale") && svg.contains("evented") && svg.contains("threaded"));
        let md = std::fs::read_to_string(dir.join("CURVE.md")).unwrap();
        assert!(
            md.contains("| evented | 1000/s | 0.200 ms | 2000/s | 1500/s | 0 |"),
            "{md}"
        );
        assert!(
            md.contains("| threaded | 1000/s | 0.500 ms | not reached | 1000/s | 0 |"),
            "{md}"
        );
        assert!(md.contains("redis: skipped"), "{md}");
        let json: Curve =
            serde_json::from_str(&std::fs::read_to_string(dir.join("curve.json")).unwrap())
                .unwrap();
        assert_eq!(json, curve);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
