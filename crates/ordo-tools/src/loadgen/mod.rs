//! `ordo loadgen`: drives a running Ordo over HTTP with a weighted mix of
//! scenarios and measures it.
//!
//! - Closed loop (`concurrency` clients, each sending its next request when
//!   the last is answered) or open loop (requests sent at a fixed `rate`,
//!   at most `concurrency` in flight, latency measured from each request's
//!   intended send time, so a server that stalls cannot hide it by slowing
//!   the client down: no coordinated omission).
//! - A warm-up whose requests are not counted, then a measured window.
//! - Orders are shaped like `ordo seed`'s ([`crate::seed::OrderShape`]),
//!   so a seeded database has stock for them, and hot SKUs are hot.
//! - Afterwards, unless told not to, [`verify`] checks what was acknowledged.
//!
//! Latencies go into HdrHistograms; no well-kept load-testing crate runs
//! stateful scenarios (an order placed, then confirmed, then shipped) with
//! both loop kinds as simply as reqwest does.

mod client;
pub mod report;
mod verify;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::seed::OrderShape;
use anyhow::{Context, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

pub use client::{Api, ApiError};
pub use report::Report;
pub use verify::{VerifyReport, verify};

use report::Recorder;

/// What one request of the mix does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `GET /` of `ordo bench hello`: the HTTP stack's limit.
    Hello,
    /// `POST /v1/orders` with one to four lines shaped like the seed's.
    Place,
    /// `GET /v1/products/{id}` of a product chosen by popularity.
    GetProduct,
    /// `GET /v1/orders?limit=50`: the first page of orders.
    ListOrders,
    /// `GET /v1/orders/{id}` of an order placed by this run or listed at the start.
    GetOrder,
    /// Confirms (recorded as `confirm`) and ships all of an order this run placed.
    Fulfil,
    /// Cancels an order this run placed.
    Cancel,
}

impl Scenario {
    pub const ALL: [Scenario; 7] =
        [Self::Hello, Self::Place, Self::GetProduct, Self::ListOrders, Self::GetOrder, Self::Fulfil, Self::Cancel];

    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "hello",
            Self::Place => "place",
            Self::GetProduct => "get_product",
            Self::ListOrders => "list_orders",
            Self::GetOrder => "get_order",
            Self::Fulfil => "fulfil",
            Self::Cancel => "cancel",
        }
    }
}

/// Parses a mix such as `place=60,get_product=30,list_orders=10`.
pub fn parse_mix(text: &str) -> Result<Vec<(Scenario, u32)>, String> {
    let mut mix = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part.split_once('=').unwrap_or((part, "1"));
        let scenario = Scenario::ALL.into_iter().find(|s| s.name() == name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario `{name}`; the scenarios are {}", names.join(", "))
        })?;
        let weight: u32 = weight.trim().parse().map_err(|_| format!("`{part}`: the weight is not a whole number"))?;
        if weight > 0 {
            mix.push((scenario, weight));
        }
    }
    if mix.is_empty() {
        return Err("the mix names no scenario with a positive weight".into());
    }
    Ok(mix)
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub key: Option<String>,
    pub mix: Vec<(Scenario, u32)>,
    /// Clients (closed loop), or the most requests in flight (open loop).
    pub concurrency: usize,
    /// Requests per second: an open loop. `None`: a closed loop.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// The market orders are placed in (default: `DE` if there is one, else the first).
    pub market: Option<String>,
    /// Send an `Idempotency-Key` with every order, as careful clients do.
    pub idempotency_keys: bool,
    pub timeout: Duration,
    /// Print a line a second to stderr.
    pub progress: bool,
    pub verify: bool,
    pub random_seed: u64,
    /// Sent with every order placed, so it is paid in the background (an
    /// authorisation and a capture: the ledger posts the capture).
    pub payment_token: Option<String>,
}

/// An order this run placed and may move along.
#[derive(Debug, Clone)]
struct Placed {
    id: Uuid,
    version: i64,
    lines: Vec<(i64, i64)>,
}

/// What the scenarios work with: the shop's data, read at the start, and
/// what the run has placed.
struct Shop {
    api: Api,
    market: String,
    /// Products by popularity (SKU order), as (id, SKU).
    products: Vec<(String, String)>,
    shape: OrderShape,
    customers: Vec<String>,
    /// Orders placed by this run and not yet moved, for fulfil and cancel.
    placed: Mutex<VecDeque<Placed>>,
    /// Ids to read back: listed at the start, then placed by the run.
    known: Mutex<VecDeque<Uuid>>,
    /// Every order acknowledged (201), for the check.
    acknowledged: Mutex<Vec<Uuid>>,
    idempotency_keys: bool,
    payment_token: Option<String>,
}

/// Ids kept for `get_order` and for fulfil/cancel.
const KEPT: usize = 50_000;

impl Shop {
    async fn open(options: &Options, api: Api) -> anyhow::Result<Self> {
        let needs_data = options.mix.iter().any(|(s, _)| *s != Scenario::Hello);
        let mut shop = Shop {
            api,
            market: String::new(),
            products: Vec::new(),
            shape: OrderShape::new(1),
            customers: Vec::new(),
            placed: Mutex::default(),
            known: Mutex::default(),
            acknowledged: Mutex::default(),
            payment_token: options.payment_token.clone(),
            idempotency_keys: options.idempotency_keys,
        };
        if !needs_data {
            return Ok(shop);
        }
        let fail = |what: &str, e: ApiError| anyhow::anyhow!("cannot read {what} from {}: {e}", options.url);
        let markets = shop.api.get_json_patiently("/v1/markets").await.map_err(|e| fail("the markets", e))?;
        let markets = markets["items"].as_array().cloned().unwrap_or_default();
        let wanted = options.market.as_deref();
        let market = markets
            .iter()
            .find(|m| wanted.is_none_or(|w| m["code"] == w) && (wanted.is_some() || m["code"] == "DE"))
            .or_else(|| if wanted.is_none() { markets.first() } else { None })
            .with_context(|| format!("no market {}: create one first (or run `ordo seed`)", wanted.unwrap_or("")))?;
        shop.market = market["code"].as_str().unwrap_or_default().to_owned();
        let currency = market["currency"].as_str().unwrap_or_default().to_owned();
        let products = shop.api.all_pages("/v1/products?active=true").await.map_err(|e| fail("the products", e))?;
        shop.products = products
            .iter()
            .filter(|p| p["prices"].as_array().is_some_and(|prices| prices.iter().any(|m| m["currency"] == currency)))
            .filter_map(|p| Some((p["id"].as_str()?.to_owned(), p["sku"].as_str()?.to_owned())))
            .collect();
        shop.products.sort_by(|a, b| a.1.cmp(&b.1));
        shop.shape = OrderShape::new(shop.products.len());
        let customers = shop.api.pages("/v1/customers", 2_000).await.map_err(|e| fail("the customers", e))?;
        shop.customers = customers.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect();
        let orders = shop.api.get_json_patiently("/v1/orders?limit=500").await.map_err(|e| fail("the orders", e))?;
        shop.known.lock().unwrap_or_else(|e| e.into_inner()).extend(
            orders["items"].as_array().into_iter().flatten().filter_map(|o| o["id"].as_str()?.parse::<Uuid>().ok()),
        );
        let places =
            options.mix.iter().any(|(s, _)| matches!(s, Scenario::Place | Scenario::Fulfil | Scenario::Cancel));
        if places && (shop.products.is_empty() || shop.customers.is_empty()) {
            bail!(
                "placing orders needs active products priced in {currency} and customers: run `ordo seed` or create them"
            );
        }
        if options.mix.iter().any(|(s, _)| *s == Scenario::GetProduct) && shop.products.is_empty() {
            bail!("get_product needs products: run `ordo seed` or create some");
        }
        Ok(shop)
    }

    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn order_body(&self, rng: &mut SmallRng) -> Value {
        let customer = &self.customers[rng.random_range(0..self.customers.len())];
        let lines: Vec<Value> = self
            .shape
            .sample(rng)
            .into_iter()
            .map(|(rank, quantity)| json!({"sku": self.products[rank].1, "quantity": quantity}))
            .collect();
        let mut body = json!({
            "customer_id": customer,
            "market": self.market,
            "lines": lines,
            "shipping_address": {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        });
        if let Some(token) = &self.payment_token {
            body["payment_token"] = json!(token);
        }
        body
    }

    /// Places an order, recording it as `place`; returns it on success.
    async fn place(
        &self,
        rng: &mut SmallRng,
        started: Instant,
        recorder: &Mutex<Recorder>,
        record: bool,
    ) -> Option<Placed> {
        let body = self.order_body(rng);
        let key = self.idempotency_keys.then(|| Uuid::now_v7().to_string());
        let answer = self.api.post_json("/v1/orders", &body, key.as_deref()).await;
        let order = match answer {
            Ok(order) => order,
            Err(e) => {
                if record {
                    Self::lock(recorder).error("place", e.kind());
                }
                return None;
            }
        };
        if record {
            Self::lock(recorder).ok("place", started.elapsed());
        }
        let id = order["id"].as_str().and_then(|id| id.parse::<Uuid>().ok())?;
        // Acknowledged orders are checked whether or not they were counted.
        Self::lock(&self.acknowledged).push(id);
        let mut known = Self::lock(&self.known);
        known.push_back(id);
        if known.len() > KEPT {
            known.pop_front();
        }
        drop(known);
        let lines = order["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| Some((l["line"].as_i64()?, l["quantity"].as_i64()?)))
            .collect();
        Some(Placed { id, version: order["version"].as_i64().unwrap_or(1), lines })
    }

    /// An order this run placed and has not moved yet, placing one if none
    /// is left; and whether it was waiting (not placed just now).
    async fn take_placed(
        &self,
        rng: &mut SmallRng,
        recorder: &Mutex<Recorder>,
        record: bool,
    ) -> Option<(Placed, bool)> {
        let taken = Self::lock(&self.placed).pop_front();
        match taken {
            Some(order) => Some((order, true)),
            None => self.place(rng, Instant::now(), recorder, record).await.map(|order| (order, false)),
        }
    }

    /// Runs one scenario; `started` is when it was meant to start.
    async fn run(
        &self,
        scenario: Scenario,
        rng: &mut SmallRng,
        started: Instant,
        recorder: &Mutex<Recorder>,
        record: bool,
    ) {
        let name = scenario.name();
        let (started, outcome) = match scenario {
            Scenario::Hello => (started, self.api.get("/").await),
            Scenario::Place => {
                if let Some(order) = self.place(rng, started, recorder, record).await {
                    let mut placed = Self::lock(&self.placed);
                    if placed.len() < KEPT {
                        placed.push_back(order);
                    }
                }
                return;
            }
            Scenario::GetProduct => {
                let rank = self.shape.sample(rng).first().map_or(0, |(rank, _)| *rank);
                (started, self.api.get(&format!("/v1/products/{}", self.products[rank].0)).await)
            }
            Scenario::ListOrders => (started, self.api.get("/v1/orders?limit=50").await),
            Scenario::GetOrder => {
                let id = {
                    let known = Self::lock(&self.known);
                    if known.is_empty() { None } else { known.get(rng.random_range(0..known.len())).copied() }
                };
                match id {
                    Some(id) => (started, self.api.get(&format!("/v1/orders/{id}")).await),
                    None => (started, Err(ApiError::Unexpected("no order to read yet".into()))),
                }
            }
            Scenario::Cancel => {
                let Some((order, waiting)) = self.take_placed(rng, recorder, record).await else { return };
                let started = if waiting { started } else { Instant::now() };
                let path = format!("/v1/orders/{}/cancel", order.id);
                (started, self.api.post_json(&path, &json!({"version": order.version}), None).await.map(drop))
            }
            Scenario::Fulfil => {
                let Some((order, waiting)) = self.take_placed(rng, recorder, record).await else { return };
                let confirm_started = if waiting { started } else { Instant::now() };
                let path = format!("/v1/orders/{}/confirm", order.id);
                let confirmed = self.api.post_json(&path, &json!({"version": order.version}), None).await;
                let version = match confirmed {
                    Ok(order) => {
                        self.finish("confirm", confirm_started, Ok(()), recorder, record);
                        order["version"].as_i64().unwrap_or_default()
                    }
                    Err(e) => {
                        self.finish("confirm", confirm_started, Err(e), recorder, record);
                        return;
                    }
                };
                let lines: Vec<Value> =
                    order.lines.iter().map(|(line, quantity)| json!({"line": line, "quantity": quantity})).collect();
                let started = Instant::now();
                let path = format!("/v1/orders/{}/fulfil", order.id);
                let outcome = self.api.post_json(&path, &json!({"version": version, "lines": lines}), None).await;
                self.finish(name, started, outcome.map(drop), recorder, record);
                return;
            }
        };
        self.finish(name, started, outcome, recorder, record);
    }

    fn finish(
        &self,
        name: &'static str,
        started: Instant,
        outcome: Result<(), ApiError>,
        recorder: &Mutex<Recorder>,
        record: bool,
    ) {
        if !record {
            return;
        }
        let mut recorder = Self::lock(recorder);
        match outcome {
            Ok(()) => recorder.ok(name, started.elapsed()),
            Err(e) => recorder.error(name, e.kind()),
        }
    }
}

/// Picks scenarios by weight.
#[derive(Debug, Clone)]
struct Mix {
    choices: Vec<(Scenario, u32)>,
    total: u32,
}

impl Mix {
    fn new(choices: &[(Scenario, u32)]) -> Self {
        Self { choices: choices.to_vec(), total: choices.iter().map(|(_, w)| w).sum() }
    }

    fn pick(&self, rng: &mut SmallRng) -> Scenario {
        let mut pick = rng.random_range(0..self.total.max(1));
        for &(scenario, weight) in &self.choices {
            if pick < weight {
                return scenario;
            }
            pick -= weight;
        }
        self.choices[0].0
    }
}

/// Counts for the progress line.
#[derive(Debug, Default)]
struct Live {
    done: AtomicU64,
    in_flight: AtomicU64,
}

/// Runs the load and, unless skipped, the check.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    if options.concurrency == 0 {
        bail!("concurrency must be at least 1");
    }
    if options.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("the rate must be a positive number of requests per second");
    }
    let api = Api::new(&options.url, options.key.as_deref(), options.concurrency, options.timeout)?;
    let shop = Arc::new(Shop::open(options, api).await?);
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let live = Arc::new(Live::default());
    let mix = Mix::new(&options.mix);
    let start = Instant::now();
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;

    let progress = options.progress.then(|| {
        let live = live.clone();
        tokio::spawn(async move {
            let mut last = 0;
            let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
            loop {
                let now = tick.tick().await;
                let done = live.done.load(Ordering::Relaxed);
                let phase = if now < measure_from { "warm-up" } else { "measuring" };
                #[allow(clippy::print_stderr)] // live progress
                {
                    eprintln!(
                        "[{:>4.0} s {phase}] {:>7} req/s, {} in flight",
                        (now - start).as_secs_f64(),
                        done - last,
                        live.in_flight.load(Ordering::Relaxed)
                    );
                }
                last = done;
            }
        })
    });

    match options.rate {
        None => {
            let mut clients = tokio::task::JoinSet::new();
            for client in 0..options.concurrency {
                let (shop, recorder, live, mix) = (shop.clone(), recorder.clone(), live.clone(), mix.clone());
                let mut rng = SmallRng::seed_from_u64(options.random_seed.wrapping_add(client as u64));
                clients.spawn(async move {
                    loop {
                        let started = Instant::now();
                        if started >= end {
                            break;
                        }
                        live.in_flight.fetch_add(1, Ordering::Relaxed);
                        shop.run(mix.pick(&mut rng), &mut rng, started, &recorder, started >= measure_from).await;
                        live.in_flight.fetch_sub(1, Ordering::Relaxed);
                        live.done.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            while clients.join_next().await.is_some() {}
        }
        Some(rate) => {
            let slots = Arc::new(tokio::sync::Semaphore::new(options.concurrency));
            let interval = Duration::from_secs_f64(1.0 / rate);
            let mut rng = SmallRng::seed_from_u64(options.random_seed);
            let mut requests = tokio::task::JoinSet::new();
            for n in 0_u32.. {
                let intended = start + interval * n;
                if intended >= end {
                    break;
                }
                tokio::time::sleep_until(intended).await;
                // Waiting for a slot delays this request and those after it:
                // their latency still counts from when they were due.
                let slot = slots.clone().acquire_owned().await?;
                let (shop, recorder, live) = (shop.clone(), recorder.clone(), live.clone());
                let scenario = mix.pick(&mut rng);
                let mut request_rng = SmallRng::seed_from_u64(rng.random());
                live.in_flight.fetch_add(1, Ordering::Relaxed);
                requests.spawn(async move {
                    shop.run(scenario, &mut request_rng, intended, &recorder, intended >= measure_from).await;
                    live.in_flight.fetch_sub(1, Ordering::Relaxed);
                    live.done.fetch_add(1, Ordering::Relaxed);
                    drop(slot);
                });
                while requests.try_join_next().is_some() {}
            }
            while requests.join_next().await.is_some() {}
        }
    }
    if let Some(progress) = progress {
        progress.abort();
    }
    let seconds = options.duration.as_secs_f64();
    let recorded = Shop::lock(&recorder).clone();
    let (total, scenarios) = report::scenario_reports(&recorded, seconds);
    let verify = if options.verify && options.mix.iter().any(|(s, _)| *s != Scenario::Hello) {
        let acknowledged = Shop::lock(&shop.acknowledged).clone();
        if options.payment_token.is_some() {
            let waited = verify::drain(&shop.api, "payments", Duration::from_secs(600))
                .await
                .map_err(|e| anyhow::anyhow!("the payment jobs did not drain before the check: {e}"))?;
            if options.progress {
                eprintln!("payment jobs drained in {:.1} s", waited.as_secs_f64());
            }
        }
        Some(
            verify::verify(&shop.api, &acknowledged)
                .await
                .map_err(|e| anyhow::anyhow!("the check failed to run: {e}"))?,
        )
    } else {
        None
    };
    Ok(Report {
        url: options.url.clone(),
        mode: if options.rate.is_some() { "open" } else { "closed" },
        concurrency: options.concurrency,
        rate: options.rate,
        warmup_s: options.warmup.as_secs_f64(),
        duration_s: seconds,
        total,
        scenarios,
        verify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_with_weights_and_reject_unknown_scenarios() {
        assert_eq!(
            parse_mix("place=60, get_product=40").unwrap(),
            vec![(Scenario::Place, 60), (Scenario::GetProduct, 40)]
        );
        assert_eq!(parse_mix("list_orders").unwrap(), vec![(Scenario::ListOrders, 1)]);
        assert!(parse_mix("place=60,shop=5").unwrap_err().contains("unknown scenario `shop`"));
        assert!(parse_mix("place=x").is_err());
        assert!(parse_mix("place=0").is_err());
    }

    #[test]
    fn the_mix_follows_its_weights() {
        let mix = Mix::new(&[(Scenario::Place, 3), (Scenario::GetOrder, 1)]);
        let mut rng = SmallRng::seed_from_u64(3);
        let places = (0..10_000).filter(|_| mix.pick(&mut rng) == Scenario::Place).count();
        assert!((7_200..7_800).contains(&places), "{places}");
    }
}
