//! After the faults: let background work settle (a bounded wait), then check
//! what the design promises, in the database itself (a [`Probe`], no mock)
//! and through the API (the load generator's own check):
//!
//! - every acknowledged order (a 201) exists, once; every Idempotency-Key
//!   maps to at most one order, and to the one its 201 named;
//! - stock adds up: nothing negative or over-reserved, and reservations
//!   equal what the open orders' allocations hold;
//! - one invoice per paid order, numbered without gaps per market;
//! - exactly one delivery row per (webhook, event) subscribed; none left
//!   `pending` without a live job; none `delivered` that the endpoint never
//!   accepted; resent POSTs within what the crashes allow;
//! - no order left `placed` without a live payment job;
//! - no 5xx but 503 (or 507), no refusal of a well-formed order, every
//!   client answered in the end;
//! - every process exits 0 on SIGTERM; `ordo audit verify` exits 0; an
//!   SQLite file passes `PRAGMA integrity_check`.
//!
//! Each check adds its figures to the summary and its violations to a list,
//! so that one run reports everything that is wrong, not just the first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use uuid::Uuid;

use super::deployment::Deployment;
use super::figures::{Summary, clip, tally};
use super::load::{Kind, Record, Shop};
use super::receiver::Receiver;
use super::{Backend, Settings};

/// Statuses of an order that was paid.
const PAID: [&str; 5] = ["paid", "confirmed", "partially_fulfilled", "fulfilled", "completed"];
/// Jobs that move the load's orders and events along.
const WORK: [&str; 4] = ["order.authorize_payment", "invoice.issue", "webhook.fan_out", "webhook.deliver"];
/// How many examples of one violation are listed.
const SHOWN: usize = 5;

/// Direct access to the deployment's database.
#[derive(Debug)]
pub(crate) enum Probe {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub(crate) id: Uuid,
    pub(crate) status: String,
    pub(crate) idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct JobRow {
    pub(crate) name: String,
    pub(crate) state: String,
    pub(crate) payload: Value,
}

/// The rows the checks need, read at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) orders: Vec<OrderRow>,
    /// (order id, number, market).
    pub(crate) invoices: Vec<(Uuid, String, String)>,
    /// (market, year, last number).
    pub(crate) counters: Vec<(String, i64, i64)>,
    /// (id, webhook id, event id, status).
    pub(crate) deliveries: Vec<(Uuid, Uuid, Uuid, String)>,
    /// (id, type).
    pub(crate) events: Vec<(Uuid, String)>,
    pub(crate) jobs: Vec<JobRow>,
}

impl Probe {
    pub(crate) async fn open(deployment: &Deployment) -> Self {
        match deployment.backend {
            Backend::Sqlite => {
                let path = deployment.sqlite_path.as_ref().expect("an SQLite deployment has a file");
                let options = SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(options)
                    .await
                    .expect("open the SQLite database");
                Self::Sqlite(pool)
            }
            Backend::Postgres => {
                // Lazy: it may be opened while PostgreSQL is down.
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_lazy(&deployment.database_url)
                    .expect("a PostgreSQL URL");
                Self::Postgres(pool)
            }
        }
    }

    async fn fetch<T>(&self, sql: &str) -> Result<Vec<T>, sqlx::Error>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        match self {
            Self::Sqlite(pool) => sqlx::query_as::<_, T>(sql).fetch_all(pool).await,
            Self::Postgres(pool) => sqlx::query_as::<_, T>(sql).fetch_all(pool).await,
        }
    }

    pub(crate) async fn snapshot(&self) -> Result<Snapshot, sqlx::Error> {
        let jobs: Vec<(String, String, String)> =
            self.fetch("SELECT name, state, CAST(payload AS TEXT) FROM jobs").await?;
        Ok(Snapshot {
            orders: self.fetch("SELECT id, status, idempotency_key FROM orders").await?,
            invoices: self.fetch("SELECT order_id, number, market FROM invoices").await?,
            counters: self
                .fetch("SELECT market, CAST(year AS BIGINT), CAST(last_number AS BIGINT) FROM invoice_counters")
                .await?,
            deliveries: self.fetch("SELECT id, webhook_id, event_id, status FROM webhook_deliveries").await?,
            events: self.fetch("SELECT id, type FROM domain_events").await?,
            jobs: jobs
                .into_iter()
                .map(|(name, state, payload)| JobRow {
                    name,
                    state,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                })
                .collect(),
        })
    }

    /// `PRAGMA integrity_check`: `ok`, or what it found.
    pub(crate) async fn integrity_check(&self) -> Result<String, sqlx::Error> {
        let rows: Vec<(String,)> = self.fetch("PRAGMA integrity_check").await?;
        Ok(rows.into_iter().map(|(line,)| line).collect::<Vec<_>>().join("; "))
    }

    pub(crate) async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

impl Snapshot {
    /// Ids named by `field` in the payloads of live (waiting or running)
    /// jobs called `name`.
    pub(crate) fn live_jobs_for(&self, name: &str, field: &str) -> HashSet<Uuid> {
        self.jobs
            .iter()
            .filter(|j| j.name == name && (j.state == "available" || j.state == "running"))
            .filter_map(|j| j.payload[field].as_str().and_then(|id| id.parse().ok()))
            .collect()
    }

    /// Live jobs of the kinds that move orders and events along.
    fn live_work(&self) -> usize {
        self.jobs.iter().filter(|j| WORK.contains(&j.name.as_str()) && j.state != "dead").count()
    }

    pub(crate) fn order_status(&self, id: Uuid) -> Option<&str> {
        self.orders.iter().find(|o| o.id == id).map(|o| o.status.as_str())
    }

    /// What is not finished yet: orders not paid, paid orders without an
    /// invoice, deliveries pending, events not fanned out.
    fn unfinished(&self, shop: &Shop) -> usize {
        let invoiced: HashSet<Uuid> = self.invoices.iter().map(|i| i.0).collect();
        let placed = self.orders.iter().filter(|o| o.status == "placed").count();
        let uninvoiced =
            self.orders.iter().filter(|o| PAID.contains(&o.status.as_str()) && !invoiced.contains(&o.id)).count();
        let pending = self.deliveries.iter().filter(|d| d.3 == "pending").count();
        placed + uninvoiced + pending + self.missing_delivery_rows(shop).len()
    }

    /// (event, webhook) pairs subscribed but without a delivery row.
    fn missing_delivery_rows(&self, shop: &Shop) -> Vec<(Uuid, String, Uuid)> {
        let rows: HashSet<(Uuid, Uuid)> = self.deliveries.iter().map(|d| (d.1, d.2)).collect();
        let mut missing = Vec::new();
        for (event, event_type) in &self.events {
            for (webhook, (_, types)) in &shop.webhooks {
                if types.contains(event_type) && !rows.contains(&(*webhook, *event)) {
                    missing.push((*event, event_type.clone(), *webhook));
                }
            }
        }
        missing
    }
}

/// Waits until the background work is done, or can make no more progress
/// (no live job left that could finish it), or `within` passes. Returns the
/// last snapshot and how long it took.
pub(crate) async fn settle(probe: &Probe, shop: &Shop, within: Duration) -> (Snapshot, Duration) {
    let started = Instant::now();
    let mut last = Snapshot::default();
    // The tables are read one after another, not in one transaction: "no
    // work left, yet unfinished" must be seen twice in a row to be believed.
    let mut stuck_seen = 0;
    loop {
        match probe.snapshot().await {
            Ok(snapshot) => {
                let finished = snapshot.unfinished(shop) == 0;
                stuck_seen = if !finished && snapshot.live_work() == 0 { stuck_seen + 1 } else { 0 };
                last = snapshot;
                if finished || stuck_seen >= 2 {
                    return (last, started.elapsed());
                }
            }
            Err(e) => eprintln!("faults: cannot read the database while settling: {e}"),
        }
        if started.elapsed() > within {
            return (last, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What the end-of-scenario checks need.
#[derive(Debug)]
pub(crate) struct Finish<'a> {
    pub(crate) shop: &'a Shop,
    pub(crate) record: &'a Record,
    pub(crate) receiver: &'a Receiver,
    /// The most POSTs of an event the endpoint had already accepted, of
    /// the same delivery row, that crashes can explain (`None`: no bound
    /// applies). A delivery is resent only if its process died between the
    /// POST and recording it; each process runs up to
    /// [`WORKER_CONCURRENCY`](super::deployment::WORKER_CONCURRENCY)
    /// deliveries at once, so a kill can cause that many resends.
    pub(crate) resend_bound: Option<usize>,
    pub(crate) settle_within: Duration,
}

/// Settles, checks through the API, stops every process with SIGTERM,
/// checks the database and the audit trail. Adds figures to `summary` and
/// returns the violations.
pub(crate) async fn finish(deployment: &mut Deployment, finish: &Finish<'_>, summary: &mut Summary) -> Vec<String> {
    let mut violations = Vec::new();
    let probe = Probe::open(deployment).await;
    let (settled, settle_time) = settle(&probe, finish.shop, finish.settle_within).await;
    summary.add(
        "settled after",
        format!("{:.1} s ({} item(s) unfinished)", settle_time.as_secs_f64(), settled.unfinished(finish.shop)),
    );

    // Through the API, while it runs: the load generator's check.
    check_through_api(&deployment.base_url(), &deployment.key, finish.record, &mut violations).await;

    for failure in deployment.stop_all().await {
        violations.push(format!("clean stop: {failure}"));
    }
    // The state at rest, after a clean stop.
    let snapshot = match probe.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            violations.push(format!("cannot read the database after stopping: {e}"));
            settled
        }
    };
    check_orders(&snapshot, finish.record, summary, &mut violations);
    check_invoices(&snapshot, summary, &mut violations);
    check_deliveries(&snapshot, finish, summary, &mut violations);
    check_answers(finish.record, summary, &mut violations);
    let dead = tally(snapshot.jobs.iter().filter(|j| j.state == "dead").map(|j| j.name.as_str()));
    summary.add("dead jobs", dead);
    probe.close().await;
    // SQLite: the file as the stopped server left it, opened afresh.
    if deployment.backend == Backend::Sqlite {
        let reopened = Probe::open(deployment).await;
        match reopened.integrity_check().await {
            Ok(integrity) if integrity == "ok" => summary.add("PRAGMA integrity_check", "ok"),
            Ok(integrity) => violations.push(format!("PRAGMA integrity_check: {integrity}")),
            Err(e) => violations.push(format!("PRAGMA integrity_check could not run: {e}")),
        }
        reopened.close().await;
    }

    // What the processes said went wrong, for the report (internal errors
    // are logged once where they are mapped to a 5xx, outages once by the
    // store).
    let errors = deployment.logged("ERROR");
    summary.add("ERROR events in Ordo's logs", errors.len().to_string());
    for (event, count) in most_frequent(&errors, 3) {
        summary.add("  most frequent", format!("{count}× {}", clip(event, 400)));
    }

    let kept = if Settings::get().keep { "kept" } else { "removed; ORDO_FAULTS_KEEP=1 keeps it" };
    summary.add("logs", format!("{} ({kept})", deployment.dir.path().display()));

    let (intact, printed) = deployment.audit_verify().await;
    summary.add("audit verify", if intact { "ok" } else { "FAILED" });
    if !intact {
        violations.push(format!("`ordo audit verify` failed: {printed}"));
    }
    violations
}

async fn check_through_api(base: &str, key: &str, record: &Record, violations: &mut Vec<String>) {
    let api = ordo_tools::loadgen::Api::new(base, Some(key), 4, Duration::from_secs(20))
        .expect("the load generator's client");
    match ordo_tools::loadgen::verify(&api, &record.acknowledged_ids()).await {
        Ok(report) => {
            for id in report.missing_orders.iter().take(SHOWN) {
                violations.push(format!(
                    "acknowledged order {id} is not found through the API (of {})",
                    report.missing_orders.len()
                ));
            }
            for line in report.negative_stock.iter().take(SHOWN) {
                violations.push(format!("stock negative or over-reserved: {line}"));
            }
            for line in report.reservation_mismatches.iter().take(SHOWN) {
                violations.push(format!("reservations do not match the open orders: {line}"));
            }
        }
        Err(e) => violations.push(format!("the API check could not run: {e}")),
    }
}

fn check_orders(snapshot: &Snapshot, record: &Record, summary: &mut Summary, violations: &mut Vec<String>) {
    let ids: HashSet<Uuid> = snapshot.orders.iter().map(|o| o.id).collect();
    let mut by_key: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for order in &snapshot.orders {
        if let Some(key) = &order.idempotency_key {
            by_key.entry(key).or_default().push(order.id);
        }
    }
    let acknowledged = record.acknowledged_ids();
    let lost: Vec<&Uuid> = acknowledged.iter().filter(|id| !ids.contains(id)).collect();
    let mut duplicated = 0;
    for (key, orders) in &by_key {
        if orders.len() > 1 {
            duplicated += orders.len() - 1;
            violations.push(format!("Idempotency-Key {key} has {} orders: {orders:?}", orders.len()));
        }
    }
    for (key, answered) in &record.acknowledged {
        let mut distinct = answered.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() > 1 {
            duplicated += distinct.len() - 1;
            violations.push(format!("Idempotency-Key {key} was acknowledged as different orders: {distinct:?}"));
        }
        if let Some(stored) = by_key.get(key.as_str())
            && stored.iter().any(|s| !distinct.contains(s))
        {
            violations
                .push(format!("Idempotency-Key {key} was acknowledged as {distinct:?}; the database holds {stored:?}"));
        }
    }
    for id in lost.iter().take(SHOWN) {
        violations.push(format!("acknowledged order {id} is not in the database ({} lost)", lost.len()));
    }
    // An order nobody was told about exists only if its client gave up.
    let gave_up: HashSet<&str> = record.gave_up.iter().map(String::as_str).collect();
    let unacknowledged: Vec<&str> =
        by_key.keys().copied().filter(|key| !record.acknowledged.contains_key(*key)).collect();
    for key in unacknowledged.iter().filter(|k| !gave_up.contains(**k)).take(SHOWN) {
        let answer = record.refused.iter().find(|(k, _)| k == key).map_or("nothing", |(_, a)| a.as_str());
        violations.push(format!("an order exists for Idempotency-Key {key}, whose request was answered {answer}"));
    }
    // Orders the payment workflow should have moved on.
    let paying = snapshot.live_jobs_for("order.authorize_payment", "order_id");
    let placed: Vec<&OrderRow> = snapshot.orders.iter().filter(|o| o.status == "placed").collect();
    let stuck: Vec<&&OrderRow> = placed.iter().filter(|o| !paying.contains(&o.id)).collect();
    for order in stuck.iter().take(SHOWN) {
        violations.push(format!(
            "order {} is still `placed` with no live order.authorize_payment job ({} stuck)",
            order.id,
            stuck.len()
        ));
    }
    summary.add("orders acknowledged", acknowledged.len());
    summary.add("orders in the database", snapshot.orders.len());
    summary.add("lost (acknowledged, not stored)", lost.len());
    summary.add("duplicated", duplicated);
    summary.add(
        "stored but never acknowledged",
        format!("{} (clients gave up on {})", unacknowledged.len(), gave_up.len()),
    );
    summary.add("orders by status", tally(snapshot.orders.iter().map(|o| o.status.as_str())));
    summary.add("stuck `placed` (no live payment job)", stuck.len());
    summary.add("still `placed` (payment job alive)", placed.len() - stuck.len());
}

fn check_invoices(snapshot: &Snapshot, summary: &mut Summary, violations: &mut Vec<String>) {
    let mut per_order: HashMap<Uuid, usize> = HashMap::new();
    for (order, _, _) in &snapshot.invoices {
        *per_order.entry(*order).or_default() += 1;
    }
    let issuing = snapshot.live_jobs_for("invoice.issue", "order_id");
    let mut uninvoiced = 0;
    for order in snapshot.orders.iter().filter(|o| PAID.contains(&o.status.as_str())) {
        match per_order.get(&order.id).copied().unwrap_or(0) {
            1 => {}
            0 if issuing.contains(&order.id) => {}
            0 => {
                uninvoiced += 1;
                if uninvoiced <= SHOWN {
                    violations.push(format!("paid order {} has no invoice and no live invoice.issue job", order.id));
                }
            }
            n => violations.push(format!("order {} has {n} invoices", order.id)),
        }
    }
    for (order, number, _) in &snapshot.invoices {
        match snapshot.order_status(*order) {
            Some(status) if PAID.contains(&status) => {}
            status => violations.push(format!("invoice {number} is for order {order}, which is {status:?}")),
        }
    }
    // Gap-free per market and year: INV-<market>-<year>-<sequence>.
    let mut sequences: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for (_, number, market) in &snapshot.invoices {
        let parsed = number.rsplitn(3, '-').collect::<Vec<_>>();
        match (parsed.first().and_then(|s| s.parse().ok()), parsed.get(1).and_then(|y| y.parse().ok())) {
            (Some(sequence), Some(year)) => sequences.entry((market.clone(), year)).or_default().push(sequence),
            _ => violations.push(format!("invoice number {number} is not INV-<market>-<year>-<n>")),
        }
    }
    for ((market, year), numbers) in &mut sequences {
        numbers.sort_unstable();
        let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
        if *numbers != expected {
            let gaps: Vec<i64> = expected.iter().filter(|n| !numbers.contains(n)).take(SHOWN).copied().collect();
            violations.push(format!(
                "invoice numbers of {market} {year} are not 1..{}: missing {gaps:?}, {} duplicate(s)",
                numbers.len(),
                numbers.windows(2).filter(|w| w[0] == w[1]).count()
            ));
        }
        let counter = snapshot.counters.iter().find(|c| &c.0 == market && c.1 == *year).map(|c| c.2);
        if counter != Some(numbers.len() as i64) {
            violations.push(format!(
                "the invoice counter of {market} {year} is at {counter:?}, with {} invoice(s)",
                numbers.len()
            ));
        }
    }
    let waiting = snapshot
        .orders
        .iter()
        .filter(|o| PAID.contains(&o.status.as_str()) && !per_order.contains_key(&o.id) && issuing.contains(&o.id))
        .count();
    summary.add(
        "invoices",
        format!(
            "{} ({uninvoiced} paid order(s) without one, {waiting} waiting on a live invoice.issue job)",
            snapshot.invoices.len()
        ),
    );
}

fn check_deliveries(snapshot: &Snapshot, finish: &Finish<'_>, summary: &mut Summary, violations: &mut Vec<String>) {
    let shop = finish.shop;
    let mut rows: HashMap<(Uuid, Uuid), usize> = HashMap::new();
    for (_, webhook, event, _) in &snapshot.deliveries {
        *rows.entry((*webhook, *event)).or_default() += 1;
    }
    let duplicate_rows: usize = rows.values().map(|n| n - 1).sum();
    for ((webhook, event), n) in rows.iter().filter(|(_, n)| **n > 1).take(SHOWN) {
        violations.push(format!("{n} delivery rows for webhook {webhook} and event {event} (one expected)"));
    }
    // Every subscribed event has its row, unless its fan-out is still to run.
    let fanning_out = snapshot.live_jobs_for("webhook.fan_out", "event_id");
    let missing: Vec<_> =
        snapshot.missing_delivery_rows(shop).into_iter().filter(|(event, _, _)| !fanning_out.contains(event)).collect();
    for (event, event_type, webhook) in missing.iter().take(SHOWN) {
        violations.push(format!(
            "event {event} ({event_type}) has no delivery row for webhook {webhook} and no live fan-out job ({} missing)",
            missing.len()
        ));
    }
    let types: HashMap<Uuid, &str> = snapshot.events.iter().map(|(id, t)| (*id, t.as_str())).collect();
    for (id, webhook, event, _) in &snapshot.deliveries {
        let subscribed =
            shop.webhooks.get(webhook).zip(types.get(event)).is_some_and(|((_, t), e)| t.iter().any(|t| t == e));
        if !subscribed {
            violations
                .push(format!("delivery {id} of event {event} to webhook {webhook}, which does not subscribe to it"));
        }
    }
    // Pending deliveries need a live job to ever be delivered.
    let delivering = snapshot.live_jobs_for("webhook.deliver", "delivery_id");
    let pending: Vec<_> = snapshot.deliveries.iter().filter(|d| d.3 == "pending").collect();
    let orphaned: Vec<_> = pending.iter().filter(|d| !delivering.contains(&d.0)).collect();
    for (id, _, event, _) in orphaned.iter().take(SHOWN) {
        violations.push(format!(
            "delivery {id} (event {event}) is `pending` but its webhook.deliver job is gone or dead ({} such)",
            orphaned.len()
        ));
    }
    // `delivered` means the endpoint accepted it.
    let accepted = finish.receiver.accepted();
    let unseen: Vec<_> = snapshot
        .deliveries
        .iter()
        .filter(|d| d.3 == "delivered")
        .filter(|(_, webhook, event, _)| {
            let hook = shop.webhooks.get(webhook).map(|(name, _)| name.clone()).unwrap_or_default();
            !accepted.contains_key(&(hook, *event))
        })
        .collect();
    for (id, _, event, _) in unseen.iter().take(SHOWN) {
        violations.push(format!("delivery {id} (event {event}) is `delivered` but the endpoint never accepted it"));
    }
    let without_id = finish.receiver.posts_without_event_id();
    if without_id > 0 {
        violations.push(format!("{without_id} webhook POST(s) without an Ordo-Event-Id"));
    }
    let posts = finish.receiver.posts();
    summary.add("delivery rows", format!("{} for {} event(s)", snapshot.deliveries.len(), snapshot.events.len()));
    summary.add("delivery rows by status", tally(snapshot.deliveries.iter().map(|d| d.3.as_str())));
    summary.add("duplicate delivery rows", duplicate_rows);
    summary.add("missing delivery rows", missing.len());
    summary.add("pending deliveries without a live job", orphaned.len());
    summary.add("pending deliveries, job alive", pending.len() - orphaned.len());
    summary.add(
        "webhook POSTs received",
        format!(
            "{} ({} answered 503), {} distinct (hook, event)",
            posts.len(),
            posts.iter().filter(|p| p.status == 503).count(),
            finish.receiver.events_seen()
        ),
    );
    // POSTs of an accepted event again: of a second delivery row (counted
    // above as duplicate rows), or resends of one row.
    let duplicate_posts = finish.receiver.duplicate_posts();
    let resends: usize = accepted
        .iter()
        .map(|((hook, event), times)| {
            let webhook = shop.webhooks.iter().find(|(_, (name, _))| name == hook).map(|(id, _)| *id);
            let rows = webhook.and_then(|w| rows.get(&(w, *event))).copied().unwrap_or(0);
            times.saturating_sub(rows.max(1))
        })
        .sum();
    if let Some(bound) = finish.resend_bound
        && resends > bound
    {
        violations.push(format!(
            "the endpoint got {resends} resent POST(s) of events it had already accepted; the crashes explain at most {bound}"
        ));
    }
    let bound = finish.resend_bound.map_or_else(|| "not bounded here".to_owned(), |b| format!("at most {b} allowed"));
    summary.add(
        "duplicate POSTs received",
        format!(
            "{duplicate_posts}: {resends} resent of one row ({bound}), {} of duplicate rows",
            duplicate_posts - resends
        ),
    );
}

fn check_answers(record: &Record, summary: &mut Summary, violations: &mut Vec<String>) {
    // A 5xx other than 503/507 is a bug, whatever the fault.
    let errors: Vec<_> =
        record.attempts.iter().filter(|a| a.status().is_some_and(|s| s >= 500 && s != 503 && s != 507)).collect();
    for attempt in errors.iter().take(SHOWN) {
        if let Ok(answer) = &attempt.answer {
            violations.push(format!(
                "{:?} answered {} ({} such answer(s))",
                attempt.kind,
                answer.describe(),
                errors.len()
            ));
        }
    }
    for (key, answer) in record.refused.iter().take(SHOWN) {
        violations.push(format!("a well-formed order (key {key}) was refused: {answer}"));
    }
    if !record.gave_up.is_empty() {
        violations.push(format!(
            "{} client(s) got no answer to their last order within 15 s after the load stopped: {:?}",
            record.gave_up.len(),
            record.gave_up.iter().take(SHOWN).collect::<Vec<_>>()
        ));
    }
    let places: Vec<_> = record.attempts.iter().filter(|a| a.kind == Kind::Place).collect();
    let outcomes = places.iter().map(|a| match &a.answer {
        Ok(answer) => answer.status.to_string(),
        Err(e) => e.split(':').next().unwrap_or("error").to_owned(),
    });
    let outcomes: Vec<String> = outcomes.collect();
    summary.add("placement attempts", format!("{} ({})", places.len(), tally(outcomes.iter().map(String::as_str))));
}

/// The `most` most frequent of `items`, with their counts.
fn most_frequent(items: &[String], most: usize) -> Vec<(&str, usize)> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for item in items {
        *counts.entry(item.as_str()).or_default() += 1;
    }
    let mut counted: Vec<(&str, usize)> = counts.into_iter().collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counted.truncate(most);
    counted
}
