//! `plot-stevens.svg`: server CPU per connection for each design (bars), and the spread of
//! connections over each design's workers (the fewest and the most one worker served).

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use super::Measured;
use super::report::spread;

/// Writes `plot-stevens.svg`.
///
/// # Errors
///
/// When the file cannot be drawn or written.
pub fn stevens(path: &Path, rows: &[Measured]) -> anyhow::Result<()> {
    crate::plot::svg(path, (1100, 900), |root| {
        let (top, bottom) = root.split_vertically(480);
        cpu_bars(&top, rows)?;
        spread_bars(&bottom, rows)
    })
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn cpu_bars(area: &Area<'_>, rows: &[Measured]) -> anyhow::Result<()> {
    let caption = "Server CPU per connection (UNP Figure 30.1)";
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {caption}: {e}");
    let y_max = rows
        .iter()
        .map(Measured::cpu_us_per_conn)
        .fold(1.0, f64::max)
        * 1.1;
    let n = rows.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(110)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| label(rows, x))
        .x_label_style(
            ("sans-serif", 12)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc("µs of server CPU per connection")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(rows.iter().enumerate().map(|(i, row)| {
            let colour = if row.design.starts_with("prefork") {
                RGBColor(148, 103, 189)
            } else {
                RGBColor(31, 119, 180)
            };
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), row.cpu_us_per_conn()),
                ],
                colour.filled(),
            )
        }))
        .map_err(|e| err(&e))?;
    Ok(())
}

fn spread_bars(area: &Area<'_>, rows: &[Measured]) -> anyhow::Result<()> {
    let caption = "Connections per worker: fewest (dark) and most (light) (UNP Figure 30.13)";
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {caption}: {e}");
    let counted: Vec<&Measured> = rows.iter().filter(|r| spread(r).is_some()).collect();
    let y_max = counted
        .iter()
        .filter_map(|r| spread(r))
        .map(|(_, hi)| hi as f64)
        .fold(1.0, f64::max)
        * 1.1;
    let n = counted.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(110)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..y_max)
        .map_err(|e| err(&e))?;
    let names: Vec<Measured> = counted.iter().map(|r| (*r).clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| label(&names, x))
        .x_label_style(
            ("sans-serif", 12)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc("connections one worker served")
        .draw()
        .map_err(|e| err(&e))?;
    for (i, row) in counted.iter().enumerate() {
        let Some((lo, hi)) = spread(row) else {
            continue;
        };
        let bar = |top: u64, colour: RGBColor| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), top as f64),
                ],
                colour.filled(),
            )
        };
        chart
            .draw_series([
                bar(hi, RGBColor(174, 199, 232)),
                bar(lo, RGBColor(31, 119, 180)),
            ])
            .map_err(|e| err(&e))?;
    }
    Ok(())
}

/// The design under a segment's label.
fn label(rows: &[Measured], x: &SegmentValue<usize>) -> String {
    match x {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            rows.get(*i).map_or(String::new(), |r| r.design.to_owned())
        }
        SegmentValue::Last => String::new(),
    }
}
