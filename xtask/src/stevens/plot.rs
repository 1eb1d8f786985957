//! `plot-stevens.svg`: server CPU per connection for each design (bars), and the spread of
//! connections over each design's workers (the fewest and the most one worker served).

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::Measured;
use super::report::spread;

/// The bars' colours: CPU, the fewest a worker served, the most.
const CPU: RGBColor = RGBColor(148, 103, 189);
const FEWEST: RGBColor = RGBColor(31, 119, 180);
const MOST: RGBColor = RGBColor(174, 199, 232);

/// Writes `plot-stevens.svg`.
///
/// # Errors
///
/// When the file cannot be drawn or written.
pub fn stevens(path: &Path, rows: &[Measured]) -> anyhow::Result<()> {
    crate::plot::svg(path, (1100, 900), |root| {
        let (top, bottom) = root.split_vertically(480);
        let cpu: Vec<(&str, Vec<(f64, RGBColor)>)> = rows
            .iter()
            .map(|r| (r.design, vec![(r.cpu_us_per_conn(), CPU)]))
            .collect();
        bars(
            &top,
            "Server CPU per connection (UNP Figure 30.1)",
            "µs of server CPU per connection",
            &cpu,
        )?;
        // The most first, so that the fewest is drawn over it.
        let served: Vec<(&str, Vec<(f64, RGBColor)>)> = rows
            .iter()
            .filter_map(|r| {
                let (lo, hi) = spread(r)?;
                Some((r.design, vec![(hi as f64, MOST), (lo as f64, FEWEST)]))
            })
            .collect();
        bars(
            &bottom,
            "Connections per worker: fewest (dark) and most (light) (UNP Figure 30.13)",
            "connections one worker served",
            &served,
        )
    })
}

/// A bar chart on `area`: one slot per design, its bars drawn from zero in the order
/// given (each over the ones before), labelled under the slot.
fn bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    caption: &str,
    y_desc: &str,
    slots: &[(&str, Vec<(f64, RGBColor)>)],
) -> anyhow::Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {caption}: {e}");
    let y_max = slots
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.0))
        .fold(1.0, f64::max)
        * 1.1;
    let n = slots.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(110)
        .y_label_area_size(64)
        .build_cartesian_2d((0..n).into_segmented(), 0.0..y_max)
        .map_err(|e| err(&e))?;
    let label = |x: &SegmentValue<usize>| match x {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            slots.get(*i).map_or(String::new(), |s| s.0.to_owned())
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&label)
        .x_label_style(
            ("sans-serif", 12)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc(y_desc)
        .draw()
        .map_err(|e| err(&e))?;
    let rectangles = slots.iter().enumerate().flat_map(|(i, (_, bars))| {
        bars.iter().map(move |&(top, colour)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), top),
                ],
                colour.filled(),
            )
        })
    });
    chart.draw_series(rectangles).map_err(|e| err(&e))?;
    Ok(())
}
