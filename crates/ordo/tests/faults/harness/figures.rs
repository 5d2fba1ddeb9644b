//! Figures: percentiles, and the summary every scenario prints to stderr
//! before it asserts, so a failing run still reports what it measured.

use std::fmt::Write;
use std::time::Duration;

/// A scenario's figures, in the order they were added.
#[derive(Debug)]
pub(crate) struct Summary {
    title: String,
    rows: Vec<(String, String)>,
}

impl Summary {
    pub(crate) fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), rows: Vec::new() }
    }

    pub(crate) fn title(&self) -> &str {
        &self.title
    }

    pub(crate) fn add(&mut self, name: &str, value: impl std::fmt::Display) {
        self.rows.push((name.to_owned(), value.to_string()));
    }

    pub(crate) fn print(&self) {
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut text = format!("\n=== faults: {} ===\n", self.title);
        for (name, value) in &self.rows {
            let _ = writeln!(text, "  {name:<width$}  {value}");
        }
        eprint!("{text}");
    }
}

/// The `q` quantile (0.0 to 1.0) of `samples`, nearest rank.
pub(crate) fn quantile(samples: &[Duration], q: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// `n=…, p50 …, p99 …, max …`.
pub(crate) fn spread(samples: &[Duration]) -> String {
    match (quantile(samples, 0.5), quantile(samples, 0.99), quantile(samples, 1.0)) {
        (Some(p50), Some(p99), Some(max)) => {
            format!("n={}, p50 {}, p99 {}, max {}", samples.len(), ms(p50), ms(p99), ms(max))
        }
        _ => "none".to_owned(),
    }
}

/// `n=…, p50 …, max …` (for a handful of samples).
pub(crate) fn p50_max(samples: &[Duration]) -> String {
    match (quantile(samples, 0.5), quantile(samples, 1.0)) {
        (Some(p50), Some(max)) => format!("n={}, p50 {}, max {}", samples.len(), ms(p50), ms(max)),
        _ => "none".to_owned(),
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Counts by a label, as `label×n, ...`.
pub(crate) fn tally<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_default() += 1;
    }
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts.iter().map(|(label, n)| format!("{label}×{n}")).collect::<Vec<_>>().join(", ")
}

/// `text`, cut to at most `chars` characters.
pub(crate) fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
