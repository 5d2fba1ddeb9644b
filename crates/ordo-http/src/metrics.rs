//! Prometheus metrics: the recorder, the HTTP middleware that measures every
//! request, and the `/metrics` handler. Labels are bounded: the matched
//! route template (never the raw path), the method and the status class.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use ordo_service::Services;

use crate::layers::Inner;
use crate::stats::Observer;

/// Latency buckets from 0.5 ms to 10 s, so p50, p95 and p99 are meaningful
/// across that range.
const LATENCY_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const SIZE_BUCKETS: [f64; 8] = [128.0, 512.0, 2048.0, 8192.0, 32768.0, 131072.0, 524288.0, 2097152.0];

/// The process's recorder; installed on first use (one per process, shared
/// by every server in it).
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), &SIZE_BUCKETS))
                .expect("bucket lists are not empty");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (a test harness): render an
                // unconnected one rather than fail.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// Measures a request as the rest of the stack answers it: duration by
/// method × route × status class, requests in flight, response sizes; and
/// feeds the recent-requests view and the slow-request log.
pub(crate) async fn measure<S: Inner>(observer: &Observer, request: Request, inner: S) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let in_flight = InFlight::enter();
    let started = Instant::now();
    let response = crate::layers::run(inner, request).await;
    drop(in_flight);
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    // The body's exact size where known (every JSON and problem response);
    // streamed bodies are not measured.
    let size = http_body::Body::size_hint(response.body()).exact();
    observer.metrics.record(&method, route, status, seconds, size);
    observer.recent.record(method.as_str(), route, status, seconds);
    if observer.slow_request_ms > 0 && seconds * 1000.0 >= observer.slow_request_ms as f64 {
        let elapsed_ms = (seconds * 1000.0) as u64;
        tracing::warn!(method = %method, route, status, elapsed_ms, "slow request");
    }
    response
}

/// One request counted in `http_server_requests_in_flight` until dropped:
/// also when its future is, as when the client goes away before the answer.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter() -> Self {
        let gauge = metrics::gauge!("http_server_requests_in_flight");
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The labelled histograms of each method × route × status class met so
/// far, so that a request records into handles rather than building and
/// hashing a labelled key (three `String`s) for each histogram. Bounded as
/// the labels are: route templates, the standard methods ([`method_label`])
/// and five status classes.
#[derive(Debug, Default)]
pub struct RouteHistograms {
    seen: RwLock<HashMap<(&'static str, u16), ByRoute>>,
}

/// One method × status class's histograms, by route template.
type ByRoute = HashMap<Arc<str>, Histograms>;

#[derive(Debug, Clone)]
struct Histograms {
    duration: metrics::Histogram,
    size: metrics::Histogram,
}

impl RouteHistograms {
    fn record(&self, method: &Method, route: &str, status: u16, seconds: f64, size: Option<u64>) {
        let method = method_label(method);
        let class = status / 100;
        let known = {
            let seen = self.seen.read().unwrap_or_else(|e| e.into_inner());
            seen.get(&(method, class)).and_then(|routes| routes.get(route)).cloned()
        };
        let histograms = known.unwrap_or_else(|| {
            let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", format!("{class}xx"))];
            let histograms = Histograms {
                duration: metrics::histogram!("http_server_request_duration_seconds", &labels),
                size: metrics::histogram!("http_server_response_size_bytes", &labels),
            };
            let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
            seen.entry((method, class)).or_default().insert(Arc::from(route), histograms.clone());
            histograms
        });
        histograms.duration.record(seconds);
        if let Some(size) = size {
            histograms.size.record(size as f64);
        }
    }
}

/// The method as a label: a standard method by its name, any other as
/// `other`, so that a client inventing methods cannot add series (each
/// reaches a route, answered 405, or the fallback, answered 404).
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// The standard process metrics (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, open file descriptors, threads, ...).
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector = metrics_process::Collector::default();
        collector.describe();
        collector
    })
}

/// `GET /metrics`: the Prometheus text format. Queue depths, pool state and
/// process figures are read now (queue depth from the small live table).
pub(crate) async fn render(State(services): State<Services>) -> impl IntoResponse {
    process_collector().collect();
    if let Ok(stats) = services.jobs.stats().await {
        let now = chrono::Utc::now();
        for s in stats {
            let labels = [("queue", s.queue.clone()), ("state", s.state.as_str().to_owned())];
            metrics::gauge!("ordo_jobs", &labels).set(s.count as f64);
            if let Some(oldest) = s.oldest_run_at {
                let age = (now - oldest).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::gauge!("ordo_jobs_oldest_age_seconds", "queue" => s.queue).set(age);
            }
        }
    }
    let pool = services.db.pool_stats();
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("db_pool_connections_max").set(f64::from(pool.max));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}
