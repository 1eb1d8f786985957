//! A sweep's progress on stderr: a bar with an ETA on a terminal, plain lines otherwise
//! (a log file, CI). The ETA counts each point's expected time, not points, since a
//! sequential point at 100 clients is a hundred times a threaded one. A sweep whose
//! points run one after another moves the bar point by point ([`Progress::during`],
//! [`Progress::point_done`]); one whose points run at the same time follows the wall
//! clock against the schedule's expected length ([`Progress::tick`]).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress: a bar with ETA on a terminal, plain lines otherwise. Shared by the threads
/// that run points at the same time.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// The schedule's expected length, milliseconds.
    total_ms: u64,
    /// Expected seconds of the points already done, one after another.
    done_s: f64,
}

impl Progress {
    /// A progress report for a schedule expected to take `total_s` seconds.
    pub fn new(total_s: f64) -> Progress {
        let total_ms = (total_s * 1000.0) as u64;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total_ms);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40.cyan/blue}] {percent:>3}% ETA {eta_precise} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            total_ms,
            done_s: 0.0,
        }
    }

    /// Prints a line above the bar, or on stderr.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Moves the bar to the time elapsed (short of the end until [`Progress::finish`]:
    /// a late point is not done) and shows what runs now.
    pub fn tick(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_owned());
            let elapsed = bar.elapsed().as_millis() as u64;
            bar.set_position(elapsed.min(self.total_ms.saturating_sub(1)));
        }
    }

    /// Shows that the current point, expected to take `expected_s`, has run `elapsed_s`.
    pub fn during(&self, expected_s: f64, elapsed_s: f64, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_owned());
            bar.set_position(((self.done_s + elapsed_s.min(expected_s)) * 1000.0) as u64);
        }
    }

    /// Marks a point of `expected_s` done.
    pub fn point_done(&mut self, expected_s: f64) {
        self.done_s += expected_s;
        if let Some(bar) = &self.bar {
            bar.set_position((self.done_s * 1000.0) as u64);
        }
    }

    /// Clears the bar at the end of the sweep.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
