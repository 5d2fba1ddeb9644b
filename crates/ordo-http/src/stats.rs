//! A quick view without Prometheus: per-route request counts, error rates
//! and latency percentiles over a recent window, kept in memory (bounded:
//! the most recent samples only) by this process.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

/// Samples kept at most (about 1 MiB).
const CAPACITY: usize = 20_000;

#[derive(Debug)]
struct Sample {
    at: Instant,
    route: String,
    server_error: bool,
    client_error: bool,
    seconds: f64,
}

/// Recent requests of this process.
#[derive(Debug, Default)]
pub struct RecentRequests {
    samples: Mutex<VecDeque<Sample>>,
}

/// What the measuring middleware feeds: recent requests, and the threshold
/// above which a request is logged as slow.
#[derive(Debug)]
pub struct Observer {
    pub recent: RecentRequests,
    pub slow_request_ms: u64,
}

/// Figures for one route.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RouteStats {
    pub route: String,
    pub count: usize,
    /// Share of requests answered 5xx.
    pub error_rate: f64,
    /// Share answered 4xx.
    pub client_error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl RecentRequests {
    pub(crate) fn record(&self, route: &str, status: u16, seconds: f64) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == CAPACITY {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at: Instant::now(),
            route: route.to_owned(),
            server_error: status >= 500,
            client_error: (400..500).contains(&status),
            seconds,
        });
    }

    /// Per-route figures over the last `window`, busiest route first.
    pub fn summary(&self, window: Duration) -> Vec<RouteStats> {
        let since = Instant::now().checked_sub(window);
        let mut by_route: BTreeMap<&str, Vec<&Sample>> = BTreeMap::new();
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        for sample in samples.iter().filter(|s| since.is_none_or(|since| s.at >= since)) {
            by_route.entry(sample.route.as_str()).or_default().push(sample);
        }
        let mut stats: Vec<RouteStats> = by_route
            .into_iter()
            .map(|(route, samples)| {
                let mut seconds: Vec<f64> = samples.iter().map(|s| s.seconds).collect();
                seconds.sort_by(f64::total_cmp);
                let count = samples.len();
                let rate = |n: usize| n as f64 / count as f64;
                let percentile = |p: f64| seconds[((p * count as f64).ceil() as usize).clamp(1, count) - 1] * 1000.0;
                RouteStats {
                    route: route.to_owned(),
                    count,
                    error_rate: rate(samples.iter().filter(|s| s.server_error).count()),
                    client_error_rate: rate(samples.iter().filter(|s| s.client_error).count()),
                    p50_ms: percentile(0.50),
                    p95_ms: percentile(0.95),
                    p99_ms: percentile(0.99),
                    max_ms: seconds[count - 1] * 1000.0,
                }
            })
            .collect();
        stats.sort_by(|a, b| b.count.cmp(&a.count).then(a.route.cmp(&b.route)));
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates_per_route() {
        let recent = RecentRequests::default();
        for ms in 1..=100 {
            recent.record("/v1/orders", if ms > 98 { 500 } else { 200 }, f64::from(ms) / 1000.0);
        }
        recent.record("/v1/products", 404, 0.002);
        let stats = recent.summary(Duration::from_secs(60));
        let orders = &stats[0];
        assert_eq!((orders.route.as_str(), orders.count), ("/v1/orders", 100));
        assert_eq!((orders.p50_ms, orders.p95_ms, orders.p99_ms, orders.max_ms), (50.0, 95.0, 99.0, 100.0));
        assert!((orders.error_rate - 0.02).abs() < 1e-9);
        assert_eq!(stats[1].client_error_rate, 1.0);
    }
}
