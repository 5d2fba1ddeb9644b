//! SIGTERM under load, as an orchestrator stops a process for a deploy: every
//! Ordo process (serve; on PostgreSQL also a worker) gets `kill -TERM`
//! mid-load. Each must exit 0 within its shutdown timeout, requests in
//! flight must be answered, not dropped, and nothing acknowledged may be
//! lost. Nothing dies here, so the webhook endpoint must not get any event
//! it accepted twice.
//!
//! Requests that are surely in flight: two orders whose bodies are half
//! sent when the signal comes, and finished after it.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::harness::deployment::{Deployment, SHUTDOWN_TIMEOUT};
use crate::harness::figures::{Summary, ms, p50_max};
use crate::harness::invariants::{Finish, finish};
use crate::harness::load::{Http, Kind, Load, Shop};
use crate::harness::receiver::Receiver;
use crate::harness::{Settings, conclude, run};

/// A request sent this long before the signal was surely read by the
/// server; one sent just before may meet a connection the server was
/// closing as idle, which a client retries (and ours do).
const SURELY_READ: Duration = Duration::from_millis(20);

#[test]
fn sigterm_under_load_sqlite() {
    run(|| async {
        let deployment = Deployment::sqlite(None).await;
        sigterm_under_load(deployment).await;
    });
}

#[test]
fn sigterm_under_load_postgres() {
    run(|| async {
        let Some(deployment) = Deployment::postgres("sigterm_under_load_postgres", 1, true).await else { return };
        sigterm_under_load(deployment).await;
    });
}

async fn sigterm_under_load(mut deployment: Deployment) {
    let settings = Settings::get();
    let backend = deployment.backend;
    deployment.start_all().await;
    let receiver = Receiver::start().await;
    let http = Http::new(&deployment.base_url(), &deployment.key);
    let shop = Shop::set_up(&http, &receiver).await;
    let load = Load::start(&http, &shop, settings.clients, "sigterm", settings.seed);
    let mut rng = SmallRng::seed_from_u64(settings.seed);

    let mut violations = Vec::new();
    let (mut signals, mut exits, mut held) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..settings.sigterms {
        tokio::time::sleep(settings.phase()).await;
        let mut releases = Vec::new();
        let mut answers = Vec::new();
        for n in 0..2 {
            let (release, released) = tokio::sync::oneshot::channel();
            let (http, body, key) = (http.clone(), shop.order_body(&mut rng), format!("sigterm-held-{round}-{n}"));
            answers.push((
                key.clone(),
                tokio::spawn(async move { http.post_in_two_halves("/v1/orders", &body, &key, released).await }),
            ));
            releases.push(release);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let signalled = Instant::now();
        let roles = deployment.roles();
        for role in &roles {
            deployment.send_term(*role);
        }
        signals.push(signalled);
        tokio::time::sleep(Duration::from_millis(300)).await;
        for release in releases {
            let _ = release.send(());
        }
        for (key, answer) in answers {
            let answer = answer.await.expect("the held request's task");
            match &answer {
                Ok(a) if a.status == 201 => {
                    let id = a.body["id"].as_str().and_then(|id| id.parse().ok()).unwrap_or_default();
                    held.push((key, id));
                }
                other => violations.push(format!(
                    "round {round}: an order whose body was half sent at SIGTERM was answered {:?}",
                    other.as_ref().map(|a| a.describe())
                )),
            }
        }
        for role in &roles {
            let (status, took) = deployment.wait_exit(*role, signalled).await;
            exits.push(took);
            match status {
                Some(status) if status.success() && took <= SHUTDOWN_TIMEOUT => {}
                Some(status) if status.success() => violations.push(format!(
                    "round {round}: {role:?} exited {} after SIGTERM, beyond its shutdown timeout ({})",
                    ms(took),
                    ms(SHUTDOWN_TIMEOUT)
                )),
                Some(status) => violations.push(format!("round {round}: {role:?} exited with {status} after SIGTERM")),
                None => violations.push(format!(
                    "round {round}: {role:?} still ran {} after SIGTERM (shutdown timeout {})",
                    ms(took),
                    ms(SHUTDOWN_TIMEOUT)
                )),
            }
        }
        deployment.start_all().await;
    }
    tokio::time::sleep(settings.phase()).await;
    let mut record = load.stop().await;
    for (key, id) in &held {
        record.acknowledged.entry(key.clone()).or_default().push(*id);
    }

    // Requests the server had surely read before the signal must be answered.
    let mut in_flight = 0;
    for signalled in &signals {
        for attempt in record.attempts.iter().filter(|a| a.kind == Kind::Place) {
            if attempt.sent + SURELY_READ <= *signalled && attempt.done() > *signalled {
                in_flight += 1;
                if let Err(e) = &attempt.answer {
                    violations.push(format!(
                        "a placement in flight at SIGTERM (sent {} before) got no answer: {e}",
                        ms(*signalled - attempt.sent)
                    ));
                }
            }
        }
    }

    let mut summary = Summary::new(format!("SIGTERM under load, {}", backend.name()));
    summary.add("seed", settings.seed);
    summary.add("SIGTERM rounds", signals.len());
    summary.add("exit after SIGTERM", p50_max(&exits));
    summary.add("placements in flight at SIGTERM", in_flight);
    summary.add("half-sent orders answered 201", format!("{} of {}", held.len(), 2 * signals.len()));
    let recoveries: Vec<Duration> = signals.iter().filter_map(|s| record.first_success_after(*s)).collect();
    summary.add("SIGTERM to the next 201", p50_max(&recoveries));
    let checks = Finish {
        shop: &shop,
        record: &record,
        receiver: &receiver,
        // Nothing dies: nothing may be resent.
        resend_bound: Some(0),
        settle_within: settings.settle,
    };
    violations.extend(finish(&mut deployment, &checks, &mut summary).await);
    conclude(&summary, &violations);
}
