//! The correctness check after a load run, through the API alone: every
//! acknowledged order exists, no stock level is negative or reserves more
//! than is on hand, and each level's reservations equal what the open
//! orders' allocations still hold.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::client::{Api, ApiError};

/// Statuses whose orders hold reservations.
const OPEN: [&str; 4] = ["placed", "paid", "confirmed", "partially_fulfilled"];

/// A stock level: SKU and location id.
type Level = (String, String);

/// How many discrepancies of each kind are listed.
const SHOWN: usize = 10;

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// Orders the run was told were placed (201).
    pub acknowledged_orders: usize,
    /// Of those, orders the server does not know.
    pub missing_orders: Vec<Uuid>,
    pub stock_levels: usize,
    /// Levels with on-hand or reserved below zero, or more reserved than on hand.
    pub negative_stock: Vec<String>,
    pub open_orders: usize,
    /// Levels whose reservations differ from the open orders' allocations.
    pub reservation_mismatches: Vec<String>,
}

impl VerifyReport {
    pub fn summary(&self) -> String {
        let verdict = if self.ok { "ok" } else { "FAILED" };
        let mut text = format!(
            "verify {verdict}: {} acknowledged order(s), {} missing; {} stock level(s), {} negative or over-reserved; \
             {} open order(s), {} reservation mismatch(es)",
            self.acknowledged_orders,
            self.missing_orders.len(),
            self.stock_levels,
            self.negative_stock.len(),
            self.open_orders,
            self.reservation_mismatches.len()
        );
        for id in self.missing_orders.iter().take(SHOWN) {
            text.push_str(&format!("\n  missing order {id}"));
        }
        for line in self.negative_stock.iter().chain(&self.reservation_mismatches).take(2 * SHOWN) {
            text.push_str(&format!("\n  {line}"));
        }
        text
    }
}

fn int(value: &Value, field: &str) -> Result<i64, ApiError> {
    value[field].as_i64().ok_or_else(|| ApiError::Unexpected(format!("`{field}` is not an integer: {value}")))
}

fn text<'a>(value: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    value[field].as_str().ok_or_else(|| ApiError::Unexpected(format!("`{field}` is not a string: {value}")))
}

/// Waits until `queue` has no job waiting or running, so the check reads
/// settled state: the payment jobs of paid orders move them from `placed`
/// to `paid` while the check would be reading them. Jobs that died stay
/// dead and do not hold the wait up. Returns how long it waited.
pub(crate) async fn drain(api: &Api, queue: &str, limit: Duration) -> Result<Duration, ApiError> {
    let started = Instant::now();
    loop {
        let stats = api.get_json_patiently("/v1/jobs/stats").await?;
        let pending: i64 = stats["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|depth| depth["queue"] == queue && depth["state"] != "dead")
            .map(|depth| depth["count"].as_i64().unwrap_or(0))
            .sum();
        if pending == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= limit {
            return Err(ApiError::Unexpected(format!(
                "{pending} job(s) of queue `{queue}` still pending after {} s",
                limit.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the check against the server `api` talks to.
pub async fn verify(api: &Api, acknowledged: &[Uuid]) -> Result<VerifyReport, ApiError> {
    let mut report = VerifyReport { acknowledged_orders: acknowledged.len(), ..VerifyReport::default() };

    // Every acknowledged order, 16 at a time.
    let mut lookups = futures::stream::iter(acknowledged.iter().map(|id| async move {
        let found = api.get_json_patiently(&format!("/v1/orders/{id}")).await;
        (*id, found)
    }))
    .buffer_unordered(16);
    while let Some((id, found)) = lookups.next().await {
        match found {
            Ok(_) => {}
            Err(ApiError::Status { status: 404, .. }) => report.missing_orders.push(id),
            Err(e) => return Err(e),
        }
    }

    // Stock levels, and what they reserve.
    let mut reserved: HashMap<(String, String), i64> = HashMap::new();
    for sku in api.all_pages("/v1/stock").await? {
        let code = text(&sku, "sku")?.to_owned();
        for level in sku["locations"].as_array().into_iter().flatten() {
            report.stock_levels += 1;
            let (on_hand, held) = (int(level, "on_hand")?, int(level, "reserved")?);
            let location = text(level, "location_id")?.to_owned();
            if on_hand < 0 || held < 0 || held > on_hand {
                report.negative_stock.push(format!("{code} at {location}: on hand {on_hand}, reserved {held}"));
            }
            reserved.insert((code.clone(), location), held);
        }
    }

    // What the open orders' allocations still hold: a pass per open status,
    // so that only open orders are read (one pass over every order held all
    // of them in memory: 22 GB at 10 million orders). The passes go in
    // lifecycle order, and an order only moves forward, so one that moves
    // on between two passes is met again in a later pass, never missed; it
    // is kept once, by id, as last met.
    let mut open_orders: HashMap<String, Vec<(Level, i64)>> = HashMap::new();
    for status in OPEN {
        for order in api.all_pages(&format!("/v1/orders?status={status}")).await? {
            let mut held = Vec::new();
            for line in order["lines"].as_array().into_iter().flatten() {
                let sku = text(line, "sku")?;
                for allocation in line["allocations"].as_array().into_iter().flatten() {
                    let open = int(allocation, "quantity")? - int(allocation, "shipped")?;
                    held.push(((sku.to_owned(), text(allocation, "location_id")?.to_owned()), open));
                }
            }
            open_orders.insert(text(&order, "id")?.to_owned(), held);
        }
    }
    report.open_orders = open_orders.len();
    let mut held_by_orders: HashMap<(String, String), i64> = HashMap::new();
    for (key, open) in open_orders.into_values().flatten() {
        *held_by_orders.entry(key).or_default() += open;
    }
    let mut keys: Vec<&(String, String)> = reserved.keys().chain(held_by_orders.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (stored, expected) =
            (reserved.get(key).copied().unwrap_or(0), held_by_orders.get(key).copied().unwrap_or(0));
        if stored != expected {
            report
                .reservation_mismatches
                .push(format!("{} at {}: {stored} reserved, open orders hold {expected}", key.0, key.1));
        }
    }
    report.ok = report.missing_orders.is_empty()
        && report.negative_stock.is_empty()
        && report.reservation_mismatches.is_empty();
    Ok(report)
}
