//! What a load run measured: latency histograms (HdrHistogram, in
//! microseconds) and outcome counts per scenario, rendered as JSON and as a
//! table.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::verify::VerifyReport;

/// Latencies up to an hour are recorded exactly to three significant digits.
const MAX_MICROS: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// One scenario's (or request kind's) samples.
#[derive(Debug, Clone)]
pub(crate) struct Samples {
    latency: Histogram<u64>,
    ok: u64,
    errors: HashMap<String, u64>,
}

impl Default for Samples {
    fn default() -> Self {
        Self { latency: histogram(), ok: 0, errors: HashMap::new() }
    }
}

impl Samples {
    fn merge(&mut self, other: &Samples) {
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
    }
}

/// Samples by request name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    by_name: HashMap<&'static str, Samples>,
}

impl Recorder {
    /// A successful request and its latency.
    pub(crate) fn ok(&mut self, name: &'static str, latency: Duration) {
        let samples = self.by_name.entry(name).or_default();
        samples.ok += 1;
        let _ = samples.latency.record((latency.as_micros() as u64).clamp(1, MAX_MICROS));
    }

    /// A failed request; `kind` says how (`409 insufficient_stock`, `timeout`, ...).
    pub(crate) fn error(&mut self, name: &'static str, kind: String) {
        *self.by_name.entry(name).or_default().errors.entry(kind).or_default() += 1;
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// One scenario's figures over the measured window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub name: String,
    /// Requests that succeeded.
    pub ok: u64,
    /// Requests that failed, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Successful requests per second.
    pub throughput_per_sec: f64,
    /// Of successful requests; in open-loop runs measured from the intended
    /// send time, so a stalled server shows in the figures.
    pub latency_ms: Latency,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub url: String,
    /// `closed` (a fixed number of clients) or `open` (a fixed arrival rate).
    pub mode: &'static str,
    pub concurrency: usize,
    /// Requests per second asked for, in open-loop runs.
    pub rate: Option<f64>,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Every request together.
    pub total: ScenarioReport,
    pub scenarios: Vec<ScenarioReport>,
    /// The correctness check after the run, unless skipped.
    pub verify: Option<VerifyReport>,
}

pub(crate) fn scenario_reports(recorder: &Recorder, seconds: f64) -> (ScenarioReport, Vec<ScenarioReport>) {
    let report = |name: &str, s: &Samples| ScenarioReport {
        name: name.to_owned(),
        ok: s.ok,
        errors: s.errors.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        throughput_per_sec: if seconds > 0.0 { s.ok as f64 / seconds } else { 0.0 },
        latency_ms: Latency::of(&s.latency),
    };
    let mut total = Samples::default();
    let mut scenarios: Vec<ScenarioReport> = recorder
        .by_name
        .iter()
        .map(|(name, samples)| {
            total.merge(samples);
            report(name, samples)
        })
        .collect();
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    (report("total", &total), scenarios)
}

impl Report {
    /// The figures as a table, for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} loop, {} {}, {:.0} s measured after {:.0} s warm-up, against {}",
            self.mode,
            self.concurrency,
            if self.mode == "open" { "in flight at most" } else { "clients" },
            self.duration_s,
            self.warmup_s,
            self.url
        );
        if let Some(rate) = self.rate {
            let _ = writeln!(out, "arrival rate {rate:.0}/s; latency measured from each request's intended send time");
        }
        let _ = writeln!(
            out,
            "\n{:<14} {:>9} {:>10} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "SCENARIO", "OK", "OK/S", "ERRORS", "P50 ms", "P95 ms", "P99 ms", "P99.9 ms", "MAX ms"
        );
        for s in self.scenarios.iter().chain(std::iter::once(&self.total)) {
            let errors: u64 = s.errors.values().sum();
            let l = &s.latency_ms;
            let _ = writeln!(
                out,
                "{:<14} {:>9} {:>10.1} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                s.name, s.ok, s.throughput_per_sec, errors, l.p50, l.p95, l.p99, l.p999, l.max
            );
        }
        let errors: Vec<String> = self
            .scenarios
            .iter()
            .flat_map(|s| s.errors.iter().map(move |(kind, n)| format!("  {:<14} {kind}: {n}", s.name)))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(out, "\nerrors by kind:\n{}", errors.join("\n"));
        }
        if let Some(verify) = &self.verify {
            let _ = writeln!(out, "\n{}", verify.summary());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let mut recorder = Recorder::default();
        for ms in 1..=100 {
            recorder.ok("place", Duration::from_millis(ms));
        }
        recorder.error("place", "409 insufficient_stock".into());
        recorder.ok("get_order", Duration::from_micros(500));
        let (total, scenarios) = scenario_reports(&recorder, 10.0);
        assert_eq!(scenarios.len(), 2);
        let place = scenarios.iter().find(|s| s.name == "place").unwrap();
        assert_eq!(place.ok, 100);
        assert!((place.throughput_per_sec - 10.0).abs() < 1e-9);
        assert!((place.latency_ms.p50 - 50.0).abs() < 0.1, "{:?}", place.latency_ms);
        assert!((place.latency_ms.p99 - 99.0).abs() < 0.1, "{:?}", place.latency_ms);
        assert!((place.latency_ms.max - 100.0).abs() < 0.1);
        assert_eq!(place.errors.get("409 insufficient_stock"), Some(&1));
        assert_eq!(total.ok, 101);
        assert_eq!(total.errors.values().sum::<u64>(), 1);
    }
}
