//! How `ordo seed` shows each phase's progress and rate: a bar on a
//! terminal, a line every few seconds otherwise (logs, CI).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::seed::SeedPhase;

/// Shows [`crate::seed::seed`]'s progress on stderr; pass
/// `|phase, done, total| display.update(phase, done, total)` as its
/// progress callback.
#[derive(Debug)]
pub struct SeedDisplay {
    current: Mutex<Option<(SeedPhase, ProgressBar, Instant)>>,
    terminal: bool,
}

impl SeedDisplay {
    /// Bars if `terminal`, else lines.
    pub fn new(terminal: bool) -> Self {
        Self { current: Mutex::new(None), terminal }
    }

    #[allow(clippy::print_stderr)] // progress goes to stderr
    pub fn update(&self, phase: SeedPhase, done: u64, total: u64) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_none_or(|(p, _, _)| *p != phase) {
            if let Some((_, bar, _)) = current.take() {
                bar.finish();
            }
            let bar = if self.terminal { ProgressBar::new(total) } else { ProgressBar::hidden() };
            bar.set_style(
                ProgressStyle::with_template("{prefix:>9} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(phase.as_str());
            *current = Some((phase, bar, Instant::now() - Duration::from_secs(60)));
        }
        let Some((_, bar, last_line)) = current.as_mut() else { return };
        bar.set_position(done);
        if !self.terminal && (last_line.elapsed() >= Duration::from_secs(5) || done == total) {
            let rate = done as f64 / bar.elapsed().as_secs_f64().max(1e-3);
            eprintln!("seed: {} {done}/{total} ({rate:.0}/s)", phase.as_str());
            *last_line = Instant::now();
        }
    }

    /// Finishes the last phase's bar.
    pub fn finish(&self) {
        if let Some((_, bar, _)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
}
