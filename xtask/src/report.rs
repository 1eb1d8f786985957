//! `cargo xtask report DIR`: re-renders a finished run's files from its `results.json`,
//! and [`write_all`], which writes every file of a run (the bench task's last step too).

use std::fs;
use std::path::Path;

use anyhow::Context;

use crate::results::{self, Results};
use crate::{markdown, plot};

/// Re-renders `REPORT.md`, `results.csv` and the plots of a finished run from its
/// `results.json`: after xtask's rendering changed, or after editing the JSON by hand.
///
/// # Errors
///
/// When `results.json` cannot be read or parsed, or a file cannot be written.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("results.json");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let results: Results =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    write_all(dir, &results)?;
    eprintln!(
        "rewrote REPORT.md, results.csv and the three plots in {}",
        dir.display()
    );
    Ok(())
}

/// Writes every file of a run into `out`: `results.csv`, `results.json`, `REPORT.md`
/// and the three plots.
///
/// # Errors
///
/// When a file cannot be written.
pub fn write_all(out: &Path, results: &Results) -> anyhow::Result<()> {
    results::write_csv(&out.join("results.csv"), &results.rows)?;
    results::write_json(&out.join("results.json"), results)?;
    fs::write(out.join("REPORT.md"), markdown::render(results))
        .with_context(|| format!("writing {}", out.join("REPORT.md").display()))?;
    plot::execution_time(
        &out.join("plot.svg"),
        &results.rows,
        results.metadata.delay_s,
    )?;
    plot::overhead(&out.join("plot-overhead.svg"), &results.rows)?;
    plot::detail(&out.join("plot-detail.svg"), &results.rows)?;
    Ok(())
}
