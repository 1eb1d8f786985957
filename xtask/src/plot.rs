//! `plot.svg` (clients vs execution time, one line per architecture, as the tutorial's plot),
//! `plot-overhead.svg` (total − model in ms on a log scale, which shows what the tutorial
//! plot's N × delay axis flattens) and `plot-detail.svg` (p99 per-client latency, peak
//! PSS and server CPU per request vs clients).

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::architecture::Architecture;
use crate::results::{Row, by_server};

/// A line's colour per architecture, the same in every panel.
fn colour(server: Architecture) -> RGBColor {
    let (red, green, blue) = server.colour();
    RGBColor(red, green, blue)
}

/// One panel: `value(row)` against clients, one line with points per server, on a
/// linear axis from zero.
fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[Row],
    caption: &str,
    y_desc: &str,
    value: impl Fn(&Row) -> Option<f64>,
) -> anyhow::Result<()> {
    let y_max = rows.iter().filter_map(&value).fold(0.0, f64::max).max(1e-3) * 1.08;
    let axis = YAxis {
        desc: y_desc,
        label_area: 64,
        format: None,
    };
    chart(area, rows, caption, axis, 0.0..y_max, value)
}

/// How a chart's y axis is labelled.
struct YAxis<'a> {
    /// The axis description.
    desc: &'a str,
    /// Width of the label area, pixels.
    label_area: u32,
    /// The label format; plotters' own when `None`.
    format: Option<&'a dyn Fn(&f64) -> String>,
}

/// A chart on `area`: the caption, clients on the x axis, `y_spec` (linear or log) on the
/// y axis labelled as `y_axis` says, the mesh, and `value(row)` drawn by [`lines`]: the
/// frame every plot shares.
fn chart<Y>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    rows: &[Row],
    caption: &str,
    y_axis: YAxis<'_>,
    y_spec: Y,
    value: impl Fn(&Row) -> Option<f64>,
) -> anyhow::Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {caption}: {e}");
    let x_max = rows.iter().map(|r| r.clients).max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_axis.label_area)
        .build_cartesian_2d(0.0..x_max * 1.05, y_spec)
        .map_err(|e| err(&e))?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("Concurrent clients")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_axis.desc)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15));
    if let Some(format) = y_axis.format {
        mesh.y_label_formatter(format);
    }
    mesh.draw().map_err(|e| err(&e))?;
    lines(&mut chart, rows, value, &err)
}

/// Draws `value(row)` against clients on `chart`, one line with points per server, and
/// the legend in the upper left: the same on a linear axis and on a log scale. A row
/// whose value is `None` (a run made before PSS or CPU were read) is left out.
fn lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    rows: &[Row],
    value: impl Fn(&Row) -> Option<f64>,
    err: &dyn Fn(&dyn std::fmt::Display) -> anyhow::Error,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    for (server, rows) in by_server(rows) {
        let colour = colour(server);
        let points: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| Some((r.clients as f64, value(r)?)))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(server.name())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}

/// Writes `plot.svg`: clients vs execution time, one line per architecture.
///
/// # Errors
///
/// When the file cannot be drawn or written.
pub fn execution_time(path: &Path, rows: &[Row], delay_s: f64) -> anyhow::Result<()> {
    let caption = format!("Concurrent clients vs execution time ({delay_s} s per request)");
    svg(path, (900, 600), |root| {
        panel(root, rows, &caption, "Execution time (s)", |r| {
            Some(r.total_s)
        })
    })
}

/// Draws `draw` on a white SVG of `size` pixels and writes it to `path`: the frame of
/// every plot file (`cargo xtask curve`'s too).
pub fn svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    draw(&root)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// The smallest overhead drawn, ms: a log scale has no zero, so overheads at or below it
/// (a point exactly on its model, or faster) sit on the bottom line.
pub const OVERHEAD_FLOOR_MS: f64 = 0.01;

/// Writes `plot-overhead.svg`: overhead (total − model) in ms against clients, one line
/// per server, on a log scale, so that one server's 1 ms and another's 100 ms both show.
///
/// # Errors
///
/// When the file cannot be drawn or written.
pub fn overhead(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let caption = "Overhead over each architecture's model (total − model)";
    let value = |r: &Row| (r.overhead_s * 1e3).max(OVERHEAD_FLOOR_MS);
    let y_max = rows.iter().map(value).fold(1.0, f64::max) * 2.0;
    let y_min = rows.iter().map(value).fold(y_max, f64::min).min(1.0) / 2.0;
    let axis = YAxis {
        desc: "Overhead (ms, log scale)",
        label_area: 72,
        format: Some(&|y| format!("{y}")),
    };
    svg(path, (900, 600), |root| {
        chart(root, rows, caption, axis, (y_min..y_max).log_scale(), |r| {
            Some(value(r))
        })
    })
}

/// Writes `plot-detail.svg`: p99 per-client latency, peak PSS of the server's processes
/// and server CPU per request, side by side.
///
/// # Errors
///
/// When the file cannot be drawn or written.
pub fn detail(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    svg(path, (1500, 500), |root| {
        let areas = root.split_evenly((1, 3));
        let [p99, pss, cpu] = areas.as_slice() else {
            return Err(anyhow!("drawing {}: expected three panels", path.display()));
        };
        panel(
            p99,
            rows,
            "p99 per-client latency",
            "p99 latency (s)",
            |r| Some(r.p99_s),
        )?;
        panel(
            pss,
            rows,
            "Peak server memory (PSS, with children)",
            "Peak PSS (MiB)",
            |r| r.peak_pss_mib,
        )?;
        panel(
            cpu,
            rows,
            "Server CPU per request (user + system)",
            "CPU per request (µs)",
            |r| r.cpu_us_per_request,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::{Busy, Peaks};
    use crate::results::tests::report;

    /// The three plots are written as SVG with one line per server and the axis names;
    /// the overhead plot's log axis takes overheads of zero and below.
    #[test]
    fn writes_svgs() {
        let params = crate::model::Params {
            delay_s: 0.1,
            work_s: 0.0,
            workers: Some(2),
            cores: 2,
        };
        let rows: Vec<Row> = [
            (Architecture::Sequential, 2, 0.2),
            (Architecture::Sequential, 4, 0.4005),
            (Architecture::Threaded, 2, 0.1),
            (Architecture::Pool, 4, 0.25),
        ]
        .iter()
        .map(|&(s, n, t)| {
            let peaks = Peaks {
                pss_kib: 2048,
                ..Peaks::default()
            };
            Row::from_reports(
                s,
                &params,
                &[(report(n, t, t), Some(0.002))],
                peaks,
                Busy::default(),
            )
            .unwrap()
        })
        .collect();
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        execution_time(&dir.join("plot.svg"), &rows, 0.1).unwrap();
        detail(&dir.join("plot-detail.svg"), &rows).unwrap();
        overhead(&dir.join("plot-overhead.svg"), &rows).unwrap();
        let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
        assert!(svg.contains("Execution time (s)"));
        assert!(svg.contains("sequential") && svg.contains("threaded"));
        let detail = std::fs::read_to_string(dir.join("plot-detail.svg")).unwrap();
        for axis in ["p99 latency (s)", "Peak PSS (MiB)", "CPU per request (µs)"] {
            assert!(detail.contains(axis), "{axis}");
        }
        let overhead = std::fs::read_to_string(dir.join("plot-overhead.svg")).unwrap();
        assert!(overhead.contains("Overhead (ms, log scale)"));
        assert!(overhead.contains("pool") && overhead.contains("threaded"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
