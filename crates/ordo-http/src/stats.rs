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
    /// An order placed (`POST /v1/orders` answered 201).
    placement: bool,
    seconds: f64,
}

/// Recent requests of this process.
#[derive(Debug, Default)]
pub struct RecentRequests {
    samples: Mutex<VecDeque<Sample>>,
}

/// What the measuring middleware feeds: recent requests, the Prometheus
/// histograms, and the threshold above which a request is logged as slow.
#[derive(Debug)]
pub struct Observer {
    pub recent: RecentRequests,
    pub metrics: crate::metrics::RouteHistograms,
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

/// One minute of this process's requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteFigures {
    pub requests: usize,
    pub server_errors: usize,
    pub orders_placed: usize,
    pub p99_ms: f64,
}

impl RecentRequests {
    pub(crate) fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == CAPACITY {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at: Instant::now(),
            route: route.to_owned(),
            server_error: status >= 500,
            client_error: (400..500).contains(&status),
            placement: status == 201 && method == "POST" && route == "/v1/orders",
            seconds,
        });
    }

    /// Figures per minute over the last `minutes` minutes, oldest first
    /// (the current, partial minute last).
    pub fn per_minute(&self, minutes: usize) -> Vec<MinuteFigures> {
        let now = Instant::now();
        let mut buckets: Vec<(usize, usize, usize, Vec<f64>)> = vec![(0, 0, 0, Vec::new()); minutes];
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        for sample in samples.iter() {
            let age = now.saturating_duration_since(sample.at).as_secs() as usize / 60;
            if age >= minutes {
                continue;
            }
            let bucket = &mut buckets[minutes - 1 - age];
            bucket.0 += 1;
            bucket.1 += usize::from(sample.server_error);
            bucket.2 += usize::from(sample.placement);
            bucket.3.push(sample.seconds);
        }
        drop(samples);
        buckets
            .into_iter()
            .map(|(requests, errors, placements, mut seconds)| {
                seconds.sort_by(f64::total_cmp);
                let p99_ms = if seconds.is_empty() {
                    0.0
                } else {
                    seconds[((0.99 * seconds.len() as f64).ceil() as usize).clamp(1, seconds.len()) - 1] * 1000.0
                };
                MinuteFigures { requests, server_errors: errors, orders_placed: placements, p99_ms }
            })
            .collect()
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
            recent.record("GET", "/v1/orders", if ms > 98 { 500 } else { 200 }, f64::from(ms) / 1000.0);
        }
        recent.record("GET", "/v1/products", 404, 0.002);
        let stats = recent.summary(Duration::from_secs(60));
        let orders = &stats[0];
        assert_eq!((orders.route.as_str(), orders.count), ("/v1/orders", 100));
        assert_eq!((orders.p50_ms, orders.p95_ms, orders.p99_ms, orders.max_ms), (50.0, 95.0, 99.0, 100.0));
        assert!((orders.error_rate - 0.02).abs() < 1e-9);
        assert_eq!(stats[1].client_error_rate, 1.0);
    }

    #[test]
    fn minutes_count_requests_errors_and_placements() {
        let recent = RecentRequests::default();
        recent.record("POST", "/v1/orders", 201, 0.010);
        recent.record("POST", "/v1/orders", 409, 0.005);
        recent.record("GET", "/v1/orders", 200, 0.002);
        recent.record("GET", "/v1/products", 500, 0.020);
        let minutes = recent.per_minute(5);
        assert_eq!(minutes.len(), 5);
        let now = minutes[4];
        assert_eq!((now.requests, now.server_errors, now.orders_placed, now.p99_ms), (4, 1, 1, 20.0));
        assert!(minutes[..4].iter().all(|m| m.requests == 0));
    }
}
