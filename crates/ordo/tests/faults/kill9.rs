//! `kill -9` under load. Clients place paid orders while two webhooks are
//! subscribed; in every round each Ordo process is killed at a random
//! moment of the round's second half and started again at once: `ordo
//! serve` on SQLite (its workers run inside it), `ordo serve` and two `ordo
//! worker` processes on PostgreSQL. Every fourth round the webhook
//! endpoint first answers 503 for a while (a second by default), so
//! deliveries are being retried when the kills come.
//!
//! A process killed between a webhook POST and recording it may POST the
//! event again (at-least-once). Each process runs up to eight deliveries at
//! once, and one kill can catch several of them in that window (runs saw
//! four POSTs accepted within 21 ms before one kill, and seven resends from
//! three kills), so resends are bounded by eight per kill of a process that
//! runs jobs, not by one per kill. Everything else must come out exactly as
//! without the kills.

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::harness::deployment::{Deployment, Role, WORKER_CONCURRENCY};
use crate::harness::figures::{Summary, p50_max};
use crate::harness::invariants::{Finish, finish};
use crate::harness::load::{Http, Load, Shop};
use crate::harness::receiver::Receiver;
use crate::harness::{Settings, conclude, run};

#[test]
fn kill9_under_load_sqlite() {
    run(|| async {
        let deployment = Deployment::sqlite(None).await;
        kill9_under_load(deployment).await;
    });
}

#[test]
fn kill9_under_load_postgres() {
    run(|| async {
        let Some(deployment) = Deployment::postgres("kill9_under_load_postgres", 2, false).await else { return };
        kill9_under_load(deployment).await;
    });
}

async fn kill9_under_load(mut deployment: Deployment) {
    let settings = Settings::get();
    let backend = deployment.backend;
    let mut rng = SmallRng::seed_from_u64(settings.seed);
    deployment.start_all().await;
    let receiver = Receiver::start().await;
    let http = Http::new(&deployment.base_url(), &deployment.key);
    let shop = Shop::set_up(&http, &receiver).await;
    let load = Load::start(&http, &shop, settings.clients, "kill9", settings.seed);

    let round_length = settings.phase();
    let (mut kills, mut delivering_kills) = (0, 0);
    let mut serve_kills = Vec::new();
    for round in 0..settings.rounds {
        let round_start = Instant::now();
        // The endpoint refuses for a while every fourth round, never in the
        // last: deliveries are being retried when kills come, yet settling
        // is not drawn out by backoffs.
        if round % 4 == 0 && round + 1 < settings.rounds {
            tokio::time::sleep(round_length / 10).await;
            receiver.refuse_for(Duration::from_secs_f64(settings.refuse_seconds));
        }
        // Each process dies once, at its own moment in the second half.
        let mut moments: Vec<(Duration, Role)> = deployment
            .roles()
            .into_iter()
            .map(|role| (round_length.mul_f64(rng.random_range(0.4..1.0)), role))
            .collect();
        moments.sort_by_key(|(at, _)| *at);
        for (at, role) in moments {
            tokio::time::sleep_until((round_start + at).into()).await;
            let killed_at = Instant::now();
            deployment.kill9(role);
            kills += 1;
            if deployment.runs_jobs(role) {
                delivering_kills += 1;
            }
            if role == Role::Serve {
                serve_kills.push(killed_at);
            }
            deployment.restart(role).await;
        }
        tokio::time::sleep_until((round_start + round_length).into()).await;
    }
    // A moment of steady load after the last restart.
    tokio::time::sleep(round_length / 2).await;
    let record = load.stop().await;

    let mut summary = Summary::new(format!("kill -9 under load, {}", backend.name()));
    summary.add("seed", settings.seed);
    summary.add("rounds", settings.rounds);
    summary.add("processes killed", kills);
    let recoveries: Vec<Duration> = serve_kills.iter().filter_map(|k| record.first_success_after(*k)).collect();
    summary.add("recovery after kill (to the next 201)", p50_max(&recoveries));
    let mut violations = Vec::new();
    if recoveries.len() < serve_kills.len() {
        violations.push(format!(
            "after {} of {} kills of serve no order was acknowledged again",
            serve_kills.len() - recoveries.len(),
            serve_kills.len()
        ));
    }
    let settle_within = settings.settle;
    let checks = Finish {
        shop: &shop,
        record: &record,
        receiver: &receiver,
        resend_bound: Some(delivering_kills * WORKER_CONCURRENCY),
        settle_within,
    };
    violations.extend(finish(&mut deployment, &checks, &mut summary).await);
    conclude(&summary, &violations);
}
