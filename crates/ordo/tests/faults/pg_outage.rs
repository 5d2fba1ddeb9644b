//! PostgreSQL stopped hard (`pg_ctl stop -m immediate`, as in a crash of the
//! database server) under load, for a few seconds, then started again.
//!
//! The design's promise: while the database is down, requests fail fast
//! (503 problem+json with `Retry-After`, within about 100 ms, not after a
//! pool timeout), `/readyz` says so just as fast, cached reference data (a
//! product) is still served, and service resumes by itself once the
//! database is back. Then nothing acknowledged is lost.
//!
//! Also: `ordo serve` started while PostgreSQL is down accepts connections
//! at once (`/healthz` answers, `/readyz` says 503) and becomes ready by
//! itself when PostgreSQL comes up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::deployment::{Deployment, Role};
use crate::harness::figures::{Summary, ms, p50_max, quantile, spread, tally};
use crate::harness::invariants::{Finish, finish};
use crate::harness::load::{Attempt, Http, Kind, Load, Shop};
use crate::harness::receiver::Receiver;
use crate::harness::{Settings, conclude, run};

/// The design's "within about 100 ms" for a 503 while the database is down,
/// as the median; no single answer may take as long as a second (the pool's
/// acquire timeout is five).
const FAST_P50: Duration = Duration::from_millis(100);
const FAST_MAX: Duration = Duration::from_secs(1);
/// `/readyz` must tell an orchestrator at once, not after a timeout.
const READY_MAX: Duration = Duration::from_millis(500);
/// Service must resume within this long of PostgreSQL accepting
/// connections again.
const RESUME_MAX: Duration = Duration::from_secs(5);
/// `auth.key_cache_ttl_ms`, the default: for this long a verified API key
/// is trusted without reading it again, so only a shorter outage can be
/// expected to leave cached reads working.
const KEY_CACHE_TTL_S: f64 = 10.0;
/// Requests sent this soon after the stop may have been in flight on a
/// connection when it broke; they are left out of the outage's figures.
const SETTLING_IN: Duration = Duration::from_millis(100);

#[test]
fn postgres_stopped_hard_under_load() {
    run(|| async {
        let settings = Settings::get();
        let Some(mut deployment) = Deployment::postgres("postgres_stopped_hard_under_load", 1, true).await else {
            return;
        };
        deployment.start_all().await;
        let receiver = Receiver::start().await;
        let http = Http::new(&deployment.base_url(), &deployment.key);
        let shop = Shop::set_up(&http, &receiver).await;
        let load = Load::start(&http, &shop, settings.clients, "outage", settings.seed);
        tokio::time::sleep(settings.phase()).await;

        // (stopped, starting again, accepting connections again)
        let mut outages = Vec::new();
        let mut cached_reads = Vec::new();
        for _ in 0..settings.outages {
            // Cached reads with a key verified just now, so that its own
            // cache (10 s) outlasts the outage: what is measured is the
            // product cache.
            let reader = CachedReader::start(&deployment, &shop).await;
            let cluster = deployment.cluster.as_ref().expect("a PostgreSQL deployment has its cluster");
            let stopped = Instant::now();
            cluster.stop_immediate();
            tokio::time::sleep(Duration::from_secs_f64(settings.outage_seconds)).await;
            let starting = Instant::now();
            cluster.start();
            outages.push((stopped, starting, Instant::now()));
            cached_reads.push(reader.stop().await);
            tokio::time::sleep(settings.phase()).await;
        }
        let record = load.stop().await;

        let mut summary = Summary::new("PostgreSQL stopped hard under load");
        let mut violations = Vec::new();
        summary.add("seed", settings.seed);
        summary.add("outages", format!("{} of {:.1} s", outages.len(), settings.outage_seconds));
        let (mut placing, mut readiness, mut reads, mut resumed, mut ready_again) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut cached = Vec::new();
        for (n, (stopped, starting, back)) in outages.iter().enumerate() {
            let during = |kind| record.sent_between(kind, *stopped + SETTLING_IN, *starting);
            let places = during(Kind::Place);
            check_fast_failures(n, &places, &mut violations);
            placing.extend(places.iter().map(|a| a.latency));
            let probes = during(Kind::Ready);
            let wrong: Vec<_> = probes.iter().filter(|p| p.status() != Some(503) || p.latency > READY_MAX).collect();
            if let Some(slowest) = wrong.iter().max_by_key(|p| p.latency) {
                violations.push(format!(
                    "outage {n}: {} of {} /readyz probes were not a 503 within {} (e.g. {:?} after {})",
                    wrong.len(),
                    probes.len(),
                    ms(READY_MAX),
                    slowest.status(),
                    ms(slowest.latency)
                ));
            }
            readiness.extend(probes.iter().map(|a| a.latency));
            reads.extend(
                during(Kind::Read).into_iter().map(|a| a.status().map_or("error".to_owned(), |s| s.to_string())),
            );
            // The design: cached reference data is still served.
            let during_outage: Vec<&(Instant, Result<u16, String>)> = cached_reads[n]
                .iter()
                .filter(|(sent, _)| *sent >= *stopped + SETTLING_IN && *sent < *starting)
                .collect();
            let unserved: Vec<_> = during_outage.iter().filter(|(_, answer)| *answer != Ok(200)).collect();
            if settings.outage_seconds < KEY_CACHE_TTL_S - 1.0 && !unserved.is_empty() {
                violations.push(format!(
                    "outage {n}: {} of {} reads of a cached product were not answered 200 (e.g. {:?})",
                    unserved.len(),
                    during_outage.len(),
                    unserved[0].1
                ));
            }
            cached.extend(during_outage.iter().map(|(_, answer)| match answer {
                Ok(status) => status.to_string(),
                Err(_) => "no answer".to_owned(),
            }));
            match record.first_success_after(*back) {
                Some(after) if after <= RESUME_MAX => resumed.push(after),
                Some(after) => {
                    resumed.push(after);
                    violations.push(format!(
                        "outage {n}: the first order after PostgreSQL was back was acknowledged after {} (within {} expected)",
                        ms(after),
                        ms(RESUME_MAX)
                    ));
                }
                None => violations.push(format!("outage {n}: no order was acknowledged after PostgreSQL was back")),
            }
            let ready = record
                .attempts
                .iter()
                .filter(|a| a.kind == Kind::Ready && a.succeeded() && a.done() > *back)
                .map(|a| a.done() - *back)
                .min();
            ready_again.extend(ready);
        }
        summary.add("placement latency during outage", spread(&placing));
        summary.add(
            "placement answers during outage",
            tally(
                outages
                    .iter()
                    .flat_map(|(s, st, _)| record.sent_between(Kind::Place, *s + SETTLING_IN, *st))
                    .map(outcome),
            ),
        );
        summary.add("/readyz latency during outage", spread(&readiness));
        summary.add("stock reads during outage", tally(reads.iter().map(String::as_str)));
        summary.add("cached product reads during outage", tally(cached.iter().map(String::as_str)));
        summary.add("recovery after PostgreSQL is back (to the next 201)", p50_max(&resumed));
        summary.add("/readyz ready again after", p50_max(&ready_again));
        if let Some(p50) = quantile(&placing, 0.5)
            && p50 > FAST_P50
        {
            violations.push(format!(
                "during the outage the median placement answer took {} ({} expected)",
                ms(p50),
                ms(FAST_P50)
            ));
        }
        let checks = Finish {
            shop: &shop,
            record: &record,
            receiver: &receiver,
            // An outage can interrupt any number of deliveries between
            // their POST and recording it: no bound applies.
            resend_bound: None,
            settle_within: settings.settle,
        };
        violations.extend(finish(&mut deployment, &checks, &mut summary).await);
        conclude(&summary, &violations);
    });
}

/// Reads one product every 100 ms with a key of its own.
struct CachedReader {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<(Instant, Result<u16, String>)>>,
}

impl CachedReader {
    /// Makes a key and reads the product once (the key is verified, the
    /// product cached), then keeps reading it.
    async fn start(deployment: &Deployment, shop: &Shop) -> Self {
        let http = Http::new(&deployment.base_url(), &deployment.new_key("cached-reads").await);
        let path = format!("/v1/products/{}", shop.product_ids[0]);
        let first = http.get(&path).await;
        assert!(first.as_ref().is_ok_and(|a| a.status == 200), "GET {path}: {:?}", first.map(|a| a.describe()));
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut reads = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let answer = http.get(&path).await.map(|a| a.status);
                reads.push((sent, answer));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            reads
        });
        Self { stop, task }
    }

    async fn stop(self) -> Vec<(Instant, Result<u16, String>)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the cached reader")
    }
}

fn outcome(attempt: &Attempt) -> &'static str {
    match attempt.status() {
        Some(201) => "201",
        Some(503) => "503",
        Some(500) => "500",
        Some(_) => "other",
        None => "no answer",
    }
}

/// During the outage every placement is answered (not dropped), fast, and
/// either succeeds or says 503 problem+json with `Retry-After`.
fn check_fast_failures(outage: usize, places: &[&Attempt], violations: &mut Vec<String>) {
    if places.is_empty() {
        violations.push(format!("outage {outage}: no placement was sent while PostgreSQL was down"));
    }
    let slow: Vec<_> = places.iter().filter(|a| a.latency > FAST_MAX).collect();
    if let Some(slowest) = slow.iter().map(|a| a.latency).max() {
        violations.push(format!(
            "outage {outage}: {} of {} placements took longer than {} to be answered (slowest {}, {:?})",
            slow.len(),
            places.len(),
            ms(FAST_MAX),
            ms(slowest),
            slow.iter().max_by_key(|a| a.latency).and_then(|a| a.status())
        ));
    }
    for attempt in places.iter().filter(|a| !a.succeeded()).take(3) {
        match &attempt.answer {
            Ok(answer) if answer.is_retry_later_problem() => {}
            Ok(answer) => violations.push(format!(
                "outage {outage}: a placement was answered {} (503 problem+json with Retry-After expected)",
                answer.describe()
            )),
            Err(e) => violations.push(format!("outage {outage}: a placement got no answer: {e}")),
        }
    }
}

#[test]
fn serve_started_while_postgres_is_down_becomes_ready_by_itself() {
    run(|| async {
        let Some(mut deployment) =
            Deployment::postgres("serve_started_while_postgres_is_down_becomes_ready_by_itself", 0, true).await
        else {
            return;
        };
        let http = Http::new(&deployment.base_url(), &deployment.key);
        let mut summary = Summary::new("ordo serve started while PostgreSQL is down");
        let mut violations = Vec::new();

        // How long a start takes with the database up: the yardstick.
        deployment.spawn_serve();
        let Some(baseline) = answers_healthz(&http, Duration::from_secs(60)).await else {
            panic!("serve never answered /healthz with PostgreSQL up")
        };
        let (status, _) = deployment.terminate(Role::Serve).await;
        assert!(status.is_some_and(|s| s.success()), "serve stops cleanly: {status:?}");

        deployment.cluster.as_ref().expect("a cluster").stop_immediate();
        deployment.spawn_serve();
        let allowed = baseline + Duration::from_millis(500);
        let started = answers_healthz(&http, Duration::from_secs(30)).await;
        summary.add("/healthz answers after start, PostgreSQL up", ms(baseline));
        summary.add("/healthz answers after start, PostgreSQL down", started.map_or("never (30 s)".to_owned(), ms));
        match started {
            Some(took) if took <= allowed => {}
            other => violations.push(format!(
                "with PostgreSQL down, serve answered /healthz only after {} ({} with it up; at most {} expected)",
                other.map_or("more than 30 s".to_owned(), ms),
                ms(baseline),
                ms(allowed)
            )),
        }
        let asked = Instant::now();
        let ready = http.get("/readyz").await;
        let took = asked.elapsed();
        summary.add("/readyz while down", format!("{:?} after {}", ready.as_ref().map(|a| a.status), ms(took)));
        match &ready {
            Ok(answer) if answer.status == 503 && answer.is_retry_later_problem() && took <= READY_MAX => {}
            other => violations.push(format!(
                "with PostgreSQL down, /readyz answered {:?} after {} (503 problem+json within {} expected)",
                other.as_ref().map(|a| a.describe()),
                ms(took),
                ms(READY_MAX)
            )),
        }

        deployment.cluster.as_ref().expect("a cluster").start();
        let back = Instant::now();
        let mut ready_after = None;
        while back.elapsed() < Duration::from_secs(30) {
            if http.get("/readyz").await.is_ok_and(|a| a.status == 200) {
                ready_after = Some(back.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        summary.add("/readyz ready after PostgreSQL is back", ready_after.map_or("never (30 s)".to_owned(), ms));
        if ready_after.is_none_or(|d| d > RESUME_MAX) {
            violations.push(format!(
                "serve became ready {} after PostgreSQL was back (within {} expected)",
                ready_after.map_or("never (30 s)".to_owned(), ms),
                ms(RESUME_MAX)
            ));
        }
        if ready_after.is_some() {
            // Authenticated work, which reads the key from the database.
            let listed = http.get("/v1/products").await;
            if !listed.as_ref().is_ok_and(|a| a.status == 200) {
                violations
                    .push(format!("once ready, GET /v1/products answered {:?}", listed.as_ref().map(|a| a.describe())));
            }
        }
        for failure in deployment.stop_all().await {
            violations.push(format!("clean stop: {failure}"));
        }
        conclude(&summary, &violations);
    });
}

/// How long until `/healthz` answers 200, polling every 10 ms.
async fn answers_healthz(http: &Http, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if http.get("/healthz").await.is_ok_and(|a| a.status == 200) {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}
