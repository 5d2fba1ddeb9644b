//! Production-realistic data at a chosen scale (`ordo seed`), for
//! benchmarks, load tests and demos.
//!
//! What it writes looks like a year of trade: markets, three warehouses, a
//! catalog whose popularity is skewed (Zipf: a few SKUs sell most), customers
//! of whom some order far more than others, and orders spread over the
//! history that went through the lifecycle the domain allows (paid,
//! confirmed, shipped, completed; some cancelled, declined or expired). The
//! most recent ones are still open and hold reservations, and stock is sized
//! for the load to come. Every record's creation and every placement is in
//! the audit trail, sealed in segments chained like the server's own.
//!
//! Rows go in through the storage layer's bulk methods (`COPY` on
//! PostgreSQL, multi-row inserts on SQLite) in large transactions, while a
//! second thread generates the next batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::TimeDelta;
use ordo_domain::audit::{Actor, AuditEvent, AuditSeal};
use ordo_domain::catalog::{NewProduct, Prices, Product};
use ordo_domain::customer::{Address, Customer, NewCustomer};
use ordo_domain::inventory::{Location, LocationId, StockLevel};
use ordo_domain::market::{Market, NewMarket, TaxClass};
use ordo_domain::order::{Allocation, LineRequest, Order, OrderEvent, OrderStatus, SellableProduct, price_lines};
use ordo_domain::{Currency, CustomerId, Email, Money, OrderId, ProductId, RecordMeta, Sku, Timestamp, time};
use ordo_service::{ServiceError, ServiceResult};
use ordo_store::{Database, StoreError, Transaction};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::json;
use uuid::Uuid;

/// The most products a seed makes (SKUs are numbered with six digits).
pub const MAX_PRODUCTS: u64 = 999_999;
/// The most orders a seed makes.
pub const MAX_ORDERS: u64 = 100_000_000;

/// The SKU of the product with popularity `rank` (0: the best seller).
/// SKUs sort in popularity order, so a client that lists the catalog by SKU
/// knows which products are hot.
pub fn sku_for_rank(rank: usize) -> String {
    format!("SKU-{:06}", rank + 1)
}

/// What one order looks like: how many lines, which products, how many
/// units. Shared by the seed and the load generator, so that the load
/// matches the history and the stock sized for it.
#[derive(Debug, Clone)]
pub struct OrderShape {
    products: usize,
    zipf: Zipf<f64>,
    /// The Zipf distribution's normalising sum over the catalog.
    harmonic: f64,
}

impl OrderShape {
    /// Popularity skew: the product at rank r sells in proportion to 1/r.
    pub const ZIPF_EXPONENT: f64 = 1.0;
    /// Lines per order and their weights: mostly one or two.
    const LINES: [(usize, u32); 4] = [(1, 50), (2, 30), (3, 15), (4, 5)];
    /// Units per line and their weights.
    const QUANTITIES: [(i64, u32); 3] = [(1, 75), (2, 20), (3, 5)];

    /// The shape over a catalog of `products` (at least one).
    pub fn new(products: usize) -> Self {
        let products = products.max(1);
        let zipf = Zipf::new(products as f64, Self::ZIPF_EXPONENT).unwrap_or_else(|_| unreachable!("n >= 1, s >= 0"));
        let harmonic = (1..=products).map(|r| (r as f64).powf(-Self::ZIPF_EXPONENT)).sum();
        Self { products, zipf, harmonic }
    }

    fn weighted<T: Copy>(rng: &mut impl Rng, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut pick = rng.random_range(0..total);
        for &(value, weight) in table {
            if pick < weight {
                return value;
            }
            pick -= weight;
        }
        table[table.len() - 1].0
    }

    /// One order's lines: (popularity rank, units), no product twice.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<(usize, i64)> {
        let wanted = Self::weighted(rng, &Self::LINES).min(self.products);
        let mut lines: Vec<(usize, i64)> = Vec::with_capacity(wanted);
        // Hot products repeat often: draw again, a bounded number of times.
        for _ in 0..wanted * 8 {
            if lines.len() == wanted {
                break;
            }
            let rank = (self.zipf.sample(rng) as usize).clamp(1, self.products) - 1;
            if lines.iter().all(|(r, _)| *r != rank) {
                lines.push((rank, Self::weighted(rng, &Self::QUANTITIES)));
            }
        }
        lines
    }

    /// Units of the product at `rank` that one order takes on average.
    pub fn expected_units(&self, rank: usize) -> f64 {
        let mean = |table: &[(f64, u32)]| {
            let total: u32 = table.iter().map(|(_, w)| w).sum();
            table.iter().map(|(v, w)| v * f64::from(*w)).sum::<f64>() / f64::from(total)
        };
        let lines = mean(&Self::LINES.map(|(n, w)| (n as f64, w)));
        let units = mean(&Self::QUANTITIES.map(|(n, w)| (n as f64, w)));
        lines * units * ((rank + 1) as f64).powf(-Self::ZIPF_EXPONENT) / self.harmonic
    }
}

/// What to seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedPlan {
    pub customers: u64,
    pub products: u64,
    pub orders: u64,
    /// Orders still to come that the stock must cover, beyond the open
    /// orders' reservations: the load the seeded database is for.
    pub stock_for_orders: u64,
    /// The history's length, ending now.
    pub history_days: u32,
    /// Orders per transaction.
    pub batch: usize,
    /// Seeds the random choices (not the ids, which carry their times).
    pub random_seed: u64,
}

impl Default for SeedPlan {
    fn default() -> Self {
        Self {
            customers: 10_000,
            products: 1_000,
            orders: 100_000,
            stock_for_orders: 1_000_000,
            history_days: 365,
            batch: 10_000,
            random_seed: 1,
        }
    }
}

/// The step a seed is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedPhase {
    Products,
    Customers,
    Orders,
    Stock,
}

impl SeedPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Customers => "customers",
            Self::Orders => "orders",
            Self::Stock => "stock",
        }
    }
}

/// What a seed wrote.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SeedSummary {
    pub markets: usize,
    pub locations: usize,
    pub products: u64,
    pub customers: u64,
    pub orders: u64,
    /// Orders placed, paid or confirmed: they hold reservations.
    pub open_orders: u64,
    pub order_lines: u64,
    pub order_events: u64,
    pub stock_levels: u64,
    pub audit_events: u64,
    pub audit_segments: u64,
    pub seconds: f64,
}

/// Reports progress: the phase, rows done, rows in the phase.
pub type Progress<'a> = &'a (dyn Fn(SeedPhase, u64, u64) + Sync);

/// Code, name, currency, standard and reduced tax rate, locale.
const MARKETS: [(&str, &str, &str, i64, i64, &str); 4] = [
    ("DE", "Germany", "EUR", 1900, 700, "de-DE"),
    ("FR", "France", "EUR", 2000, 550, "fr-FR"),
    ("NL", "Netherlands", "EUR", 2100, 900, "nl-NL"),
    ("GB", "United Kingdom", "GBP", 2000, 500, "en-GB"),
];
/// Customers per market, in percent (the same order as [`MARKETS`]).
const MARKET_SHARE: [(usize, u32); 4] = [(0, 50), (1, 20), (2, 15), (3, 15)];
const LOCATIONS: [(&str, &str, i32); 3] =
    [("DC-BER", "Berlin distribution centre", 1), ("DC-PAR", "Paris warehouse", 2), ("DC-MAN", "Manchester store", 3)];
/// Where past orders were allocated, in percent (the same order as
/// [`LOCATIONS`]).
const LOCATION_SHARE: [(usize, u32); 3] = [(0, 80), (1, 15), (2, 5)];

const ADJECTIVES: [&str; 12] = [
    "Classic", "Everyday", "Premium", "Organic", "Slim", "Relaxed", "Vintage", "Urban", "Alpine", "Coastal", "Studio",
    "Heritage",
];
const MATERIALS: [&str; 8] = ["Cotton", "Linen", "Wool", "Denim", "Canvas", "Leather", "Bamboo", "Merino"];
const NOUNS: [&str; 12] =
    ["Tee", "Shirt", "Hoodie", "Jacket", "Scarf", "Cap", "Backpack", "Tote", "Socks", "Sweater", "Apron", "Blanket"];
const FIRST_NAMES: [&str; 16] = [
    "Anna", "Ben", "Chloé", "David", "Emma", "Finn", "Greta", "Hugo", "Ines", "Jonas", "Klara", "Lukas", "Marie",
    "Noah", "Olivia", "Paul",
];
const LAST_NAMES: [&str; 16] = [
    "Müller", "Schmidt", "Dubois", "Martin", "de Vries", "Jansen", "Smith", "Jones", "Fischer", "Weber", "Laurent",
    "Bakker", "Taylor", "Brown", "Wagner", "Moreau",
];
const STREETS: [&str; 8] = [
    "Hauptstraße",
    "Rue de la Paix",
    "Kerkstraat",
    "High Street",
    "Bahnhofstraße",
    "Avenue Foch",
    "Dorpsstraat",
    "Church Road",
];
const CITIES: [[&str; 3]; 4] = [
    ["Berlin", "Hamburg", "München"],
    ["Paris", "Lyon", "Marseille"],
    ["Amsterdam", "Rotterdam", "Utrecht"],
    ["London", "Manchester", "Leeds"],
];

/// A UUIDv7 carrying `at`, so ids sort by the time things happened.
fn id_at(at: Timestamp) -> Uuid {
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.timestamp().max(0) as u64, at.timestamp_subsec_nanos());
    Uuid::new_v7(ts)
}

fn snapshot<T: serde::Serialize>(entity: &T) -> serde_json::Value {
    serde_json::to_value(entity).unwrap_or(serde_json::Value::Null)
}

fn micros(value: i64) -> TimeDelta {
    TimeDelta::microseconds(value)
}

fn minutes(rng: &mut impl Rng, from: i64, to: i64) -> TimeDelta {
    micros(rng.random_range(from * 60_000_000..to * 60_000_000))
}

fn invalid(message: impl Into<String>) -> ServiceError {
    let mut errors = ordo_domain::ValidationErrors::new();
    errors.add("seed", "invalid_seed", message.into());
    ServiceError::Validation(errors)
}

/// Numbers audit events into sealed segments chained after the latest seal.
struct Chain {
    previous: Option<AuditSeal>,
    events: u64,
    segments: u64,
}

/// A sealed segment, to be written in a transaction.
struct Segment {
    seal: AuditSeal,
    events: Vec<AuditEvent>,
}

impl Segment {
    async fn write(&self, tx: &mut dyn Transaction) -> Result<(), StoreError> {
        tx.insert_sealed_audit_events(self.seal.segment, &self.events).await?;
        tx.insert_audit_seal(&self.seal).await
    }
}

impl Chain {
    /// The next segment, over `events` (in any order); `None` if empty.
    fn seal(&mut self, mut events: Vec<AuditEvent>) -> Option<Segment> {
        events.sort_by_key(|e| e.id);
        let seal = AuditSeal::next(self.previous.as_ref(), &events, time::now())?;
        self.events += events.len() as u64;
        self.segments += 1;
        self.previous = Some(seal.clone());
        Some(Segment { seal, events })
    }

    /// Seals `events` and writes the segment in `tx`.
    async fn write(&mut self, tx: &mut dyn Transaction, events: Vec<AuditEvent>) -> Result<(), StoreError> {
        match self.seal(events) {
            Some(segment) => segment.write(tx).await,
            None => Ok(()),
        }
    }
}

/// One transaction's worth of orders.
struct OrderBatch {
    orders: Vec<Order>,
    events: Vec<OrderEvent>,
    /// Their placements' audit events, sealed.
    audit: Option<Segment>,
}

impl OrderBatch {
    async fn write(&self, db: &dyn Database) -> Result<(), StoreError> {
        let mut tx = db.begin().await?;
        tx.insert_orders(&self.orders).await?;
        tx.insert_order_events(&self.events).await?;
        if let Some(segment) = &self.audit {
            segment.write(tx.as_mut()).await?;
        }
        tx.commit().await
    }
}

/// Order batches written at once: PostgreSQL spreads them over its cores
/// (SQLite queues them for its one writer).
const WRITERS: usize = 2;

/// A customer as orders need it.
#[derive(Clone)]
struct Buyer {
    id: CustomerId,
    address: Address,
    market: usize,
}

/// Makes the orders, in time order, on a thread of its own.
struct OrderMaker {
    rng: StdRng,
    shape: OrderShape,
    customers: Zipf<f64>,
    buyers: Vec<Buyer>,
    products: Vec<SellableProduct>,
    /// Each product's price per market, in the same order as `markets`.
    prices: Vec<Vec<Option<i64>>>,
    markets: Vec<Market>,
    locations: Vec<LocationId>,
    actor: Actor,
    start: Timestamp,
    now: Timestamp,
    /// Microseconds between consecutive orders.
    step: i64,
    /// Units reserved by open orders, per (product rank, location).
    reserved: HashMap<(usize, LocationId), i64>,
    open: u64,
    lines: u64,
    /// The audit chain, which the placements' segments extend in order.
    chain: Chain,
}

impl OrderMaker {
    fn event(order: &Order, kind: &str, from: Option<OrderStatus>, detail: Option<serde_json::Value>) -> OrderEvent {
        OrderEvent {
            id: id_at(order.updated_at),
            order_id: order.id,
            occurred_at: order.updated_at,
            kind: kind.to_owned(),
            from_status: from,
            to_status: order.status,
            actor_name: "ordo seed".to_owned(),
            detail,
        }
    }

    fn batch(&mut self, first: u64, count: u64) -> Result<OrderBatch, ServiceError> {
        let mut orders = Vec::with_capacity(count as usize);
        let mut events = Vec::with_capacity(count as usize * 5);
        let mut audit = Vec::with_capacity(count as usize);
        for index in first..first + count {
            self.order(index, &mut orders, &mut events, &mut audit)?;
        }
        Ok(OrderBatch { orders, events, audit: self.chain.seal(audit) })
    }

    fn order(
        &mut self,
        index: u64,
        orders: &mut Vec<Order>,
        events: &mut Vec<OrderEvent>,
        audit: &mut Vec<AuditEvent>,
    ) -> Result<(), ServiceError> {
        let placed_at = self.start + micros(self.step * index as i64 + self.rng.random_range(0..self.step.max(1)));
        let buyer =
            self.buyers[(self.customers.sample(&mut self.rng) as usize).clamp(1, self.buyers.len()) - 1].clone();
        let market = &self.markets[buyer.market];
        let picks = self.shape.sample(&mut self.rng);
        let requests: Vec<LineRequest> = picks
            .iter()
            .map(|&(rank, quantity)| LineRequest { sku: self.products[rank].sku.clone(), quantity })
            .collect();
        let offered: Vec<SellableProduct> = picks
            .iter()
            .map(|&(rank, _)| SellableProduct {
                unit_price: self.prices[rank][buyer.market],
                ..self.products[rank].clone()
            })
            .collect();
        let mut lines = price_lines(market, &requests, &offered)
            .map_err(|e| invalid(format!("a seeded product cannot be sold in {}: {e:?}", market.code)))?;
        let mut allocated = Vec::with_capacity(lines.len());
        for (line, &(rank, quantity)) in lines.iter_mut().zip(&picks) {
            let location = self.locations[OrderShape::weighted(&mut self.rng, &LOCATION_SHARE) % self.locations.len()];
            line.allocations = vec![Allocation { location_id: location, quantity, shipped: 0 }];
            allocated.push((rank, location, quantity));
        }
        self.lines += lines.len() as u64;
        let mut order =
            Order::place(OrderId::from_uuid(id_at(placed_at)), buyer.id, market, lines, buyer.address, placed_at)
                .map_err(|e| invalid(format!("a seeded order's total: {e}")))?;
        events.push(Self::event(&order, "placed", None, None));
        audit.push(AuditEvent::record_as(
            id_at(placed_at),
            &self.actor,
            "order.placed",
            "order",
            order.id,
            None,
            Some(snapshot(&order)),
            placed_at,
        ));
        self.live(&mut order, events);
        if matches!(order.status, OrderStatus::Placed | OrderStatus::Paid | OrderStatus::Confirmed) {
            self.open += 1;
            for (rank, location, quantity) in allocated {
                *self.reserved.entry((rank, location)).or_default() += quantity;
            }
        }
        orders.push(order);
        Ok(())
    }

    /// Moves the order through its life as far as the present allows: each
    /// step happens some time after the one before, or not yet.
    fn live(&mut self, order: &mut Order, events: &mut Vec<OrderEvent>) {
        let now = self.now;
        let rng = &mut self.rng;
        let mut at = order.created_at;
        let mut step = |order: &mut Order, kind: &str, detail: Option<serde_json::Value>, from: OrderStatus| {
            events.push(Self::event(order, kind, Some(from), detail));
        };
        let fate = rng.random_range(0..100);
        at += minutes(rng, 1, 10);
        if at > now {
            return;
        }
        let from = order.status;
        match fate {
            0..3 => {
                if order.fail_payment(at).is_ok() {
                    step(order, "payment_failed", None, from);
                }
                return;
            }
            3..5 => {
                let expired_at = order.created_at + TimeDelta::minutes(30);
                if expired_at <= now && order.expire(expired_at).is_ok() {
                    step(order, "expired", None, from);
                }
                return;
            }
            _ => {
                if order.pay(at).is_err() {
                    return;
                }
                step(order, "paid", None, from);
            }
        }
        at += minutes(rng, 10, 240);
        if at > now {
            return;
        }
        let from = order.status;
        if fate < 9 {
            if order.cancel(at).is_ok() {
                step(order, "cancelled", None, from);
            }
            return;
        }
        if order.confirm(at).is_err() {
            return;
        }
        step(order, "confirmed", None, from);
        at += minutes(rng, 4 * 60, 48 * 60);
        if at > now {
            return;
        }
        let from = order.status;
        let shipments: Vec<(i32, i64)> = order.lines.iter().map(|l| (l.line, l.quantity)).collect();
        if order.fulfil(&shipments, at).is_err() {
            return;
        }
        let detail = json!({"lines": shipments.iter().map(|(line, quantity)| json!({"line": line, "quantity": quantity})).collect::<Vec<_>>()});
        step(order, order.status.as_str(), Some(detail), from);
        at += minutes(rng, 24 * 60, 96 * 60);
        if at > now {
            return;
        }
        let from = order.status;
        if order.complete(at).is_ok() {
            step(order, "completed", None, from);
        }
    }
}

/// Seeds `db` according to `plan`. Refuses a database that already holds a
/// seed's SKUs or customers; seal the audit trail first (it does) and run
/// it while no server writes, as a seed's audit segments chain after the
/// latest seal.
pub async fn seed(db: Arc<dyn Database>, plan: &SeedPlan, progress: Progress<'_>) -> ServiceResult<SeedSummary> {
    let started = Instant::now();
    if plan.customers == 0 || plan.products == 0 {
        return Err(invalid("a seed needs at least one customer and one product"));
    }
    if plan.products > MAX_PRODUCTS {
        return Err(invalid(format!("at most {MAX_PRODUCTS} products")));
    }
    if plan.orders > MAX_ORDERS {
        return Err(invalid(format!("at most {MAX_ORDERS} orders")));
    }
    if plan.history_days == 0 || plan.batch == 0 {
        return Err(invalid("history_days and batch must be positive"));
    }
    let actor = Actor::system("ordo seed");
    {
        let mut session = db.session().await?;
        let first_sku = Sku::parse(&sku_for_rank(0)).map_err(|e| invalid(e.message))?;
        if !session.products_by_sku(&[first_sku]).await?.is_empty() {
            return Err(invalid(format!(
                "the database already holds seeded products ({}): seed a fresh database",
                sku_for_rank(0)
            )));
        }
    }
    // Whatever is unsealed now goes into the chain before the seed's
    // segments, so that verification finds nothing out of place.
    ordo_service::audit::AuditService::new(db.clone(), 10_000).seal_all(10_000).await?;
    let mut chain = Chain { previous: db.session().await?.latest_audit_seal().await?, events: 0, segments: 0 };
    let mut summary = SeedSummary::default();
    let mut rng = StdRng::seed_from_u64(plan.random_seed);
    let now = time::now() - TimeDelta::minutes(1);
    let start = now - TimeDelta::days(plan.history_days.into());

    // Markets and locations: the seed's own, or those already there.
    let mut tx = db.begin().await?;
    let mut audit = Vec::new();
    let mut markets = Vec::new();
    for (code, name, currency, tax_rate_bp, reduced_tax_rate_bp, locale) in MARKETS {
        let market = match tx.market(code).await? {
            Some(market) => market,
            None => {
                let currency = Currency::parse(currency).map_err(|e| invalid(e.message))?;
                let new = NewMarket {
                    code: code.into(),
                    name: name.into(),
                    currency,
                    tax_rate_bp,
                    reduced_tax_rate_bp,
                    shipping: None,
                    locale: locale.into(),
                    capture_policy: Default::default(),
                    seller: None,
                };
                let market = Market::create(new, start);
                tx.insert_market(&market).await?;
                audit.push(AuditEvent::record_as(
                    id_at(start),
                    &actor,
                    "market.created",
                    "market",
                    code,
                    None,
                    Some(snapshot(&market)),
                    start,
                ));
                market
            }
        };
        markets.push(market);
    }
    let existing = tx.list_locations().await?;
    let mut locations = Vec::new();
    for (code, name, priority) in LOCATIONS {
        let location = match existing.iter().find(|l| l.code == code) {
            Some(location) => location.clone(),
            None => {
                let location = Location {
                    id: id_at(start),
                    code: code.into(),
                    name: name.into(),
                    priority,
                    meta: RecordMeta::new(start),
                };
                tx.insert_location(&location).await?;
                audit.push(AuditEvent::record_as(
                    id_at(start),
                    &actor,
                    "location.created",
                    "location",
                    location.id,
                    None,
                    Some(snapshot(&location)),
                    start,
                ));
                location
            }
        };
        locations.push(location.id);
    }
    chain.write(tx.as_mut(), audit).await?;
    tx.commit().await?;
    summary.markets = markets.len();
    summary.locations = locations.len();

    // The catalog, in popularity order.
    let shape = OrderShape::new(plan.products as usize);
    progress(SeedPhase::Products, 0, plan.products);
    let mut products = Vec::with_capacity(plan.products as usize);
    let mut prices = Vec::with_capacity(plan.products as usize);
    for first in (0..plan.products).step_by(plan.batch) {
        let count = plan.batch.min((plan.products - first) as usize);
        let mut batch = Vec::with_capacity(count);
        for rank in first as usize..first as usize + count {
            let created_at = start - TimeDelta::days(30) + micros(rank as i64 * 1_000);
            // Log-uniform base prices from 4.99 to 199.99 in the main currency.
            let base = (499.0 * (40.0_f64).powf(rng.random::<f64>())).round() as i64 / 100 * 100 + 99;
            let mut money = Vec::new();
            let mut per_market = Vec::new();
            for market in &markets {
                let factor = match market.currency.code() {
                    "GBP" => 0.86,
                    "USD" => 1.08,
                    "CHF" => 0.95,
                    _ => 1.0,
                };
                let amount = ((base as f64 * factor).round() as i64 / 100 * 100 + 99).max(99);
                per_market.push(Some(amount));
                if money.iter().all(|m: &Money| m.currency != market.currency) {
                    money.push(Money::price(amount, market.currency).map_err(|e| invalid(e.message))?);
                }
            }
            let name = format!(
                "{} {} {}",
                ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                MATERIALS[rng.random_range(0..MATERIALS.len())],
                NOUNS[rng.random_range(0..NOUNS.len())]
            );
            let sku = Sku::parse(&sku_for_rank(rank)).map_err(|e| invalid(e.message))?;
            let new = NewProduct {
                sku,
                name,
                description: None,
                prices: Prices::from_stored(money),
                // A few of the long tail are no longer sold.
                active: rank < 100 || rng.random_range(0..100) >= 2,
                // One in ten is sold at the reduced rate (books, food).
                tax_class: if rank % 10 == 7 { TaxClass::Reduced } else { TaxClass::Standard },
            };
            batch.push(Product::create(ProductId::from_uuid(id_at(created_at)), new, created_at));
            prices.push(per_market);
        }
        let mut tx = db.begin().await?;
        tx.insert_products(&batch).await?;
        let audit = batch
            .iter()
            .map(|p| {
                AuditEvent::record_as(
                    id_at(p.meta.created_at),
                    &actor,
                    "product.created",
                    "product",
                    p.id,
                    None,
                    Some(snapshot(p)),
                    p.meta.created_at,
                )
            })
            .collect();
        chain.write(tx.as_mut(), audit).await?;
        tx.commit().await?;
        products.extend(batch.into_iter().map(|p| SellableProduct {
            id: p.id,
            sku: p.sku,
            name: p.name,
            unit_price: None,
            tax_class: p.tax_class,
            sellable: true,
        }));
        summary.products += count as u64;
        progress(SeedPhase::Products, summary.products, plan.products);
    }

    // Customers, spread over the markets.
    progress(SeedPhase::Customers, 0, plan.customers);
    let mut buyers = Vec::with_capacity(plan.customers as usize);
    for first in (0..plan.customers).step_by(plan.batch) {
        let count = plan.batch.min((plan.customers - first) as usize);
        let mut batch = Vec::with_capacity(count);
        for number in first..first + count as u64 {
            let created_at = start - TimeDelta::days(20) + micros(number as i64 * 100);
            let market = OrderShape::weighted(&mut rng, &MARKET_SHARE) % markets.len();
            let country = ordo_domain::customer::CountryCode::parse(&markets[market].code)
                .or_else(|_| ordo_domain::customer::CountryCode::parse("DE"))
                .map_err(|e| invalid(e.message))?;
            let first_name = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last_name = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let address = Address {
                recipient: None,
                line1: format!("{} {}", STREETS[rng.random_range(0..STREETS.len())], rng.random_range(1..200)),
                line2: None,
                city: CITIES[market % CITIES.len()][rng.random_range(0..3)].to_owned(),
                region: None,
                postal_code: Some(format!("{:05}", rng.random_range(1000..99999))),
                country,
            };
            let email =
                Email::parse(&format!("customer-{:08}@example.com", number + 1)).map_err(|e| invalid(e.message))?;
            let new =
                NewCustomer { email, name: format!("{first_name} {last_name}"), addresses: vec![address.clone()] };
            let customer = Customer::create(CustomerId::from_uuid(id_at(created_at)), new, created_at);
            buyers.push(Buyer { id: customer.id, address, market });
            batch.push(customer);
        }
        let mut tx = db.begin().await?;
        tx.insert_customers(&batch).await.map_err(|e| match e {
            StoreError::Duplicate(_) => invalid("the database already holds seeded customers: seed a fresh database"),
            e => e.into(),
        })?;
        let audit = batch
            .iter()
            .map(|c| {
                AuditEvent::record_as(
                    id_at(c.meta.created_at),
                    &actor,
                    "customer.created",
                    "customer",
                    c.id,
                    None,
                    Some(snapshot(c)),
                    c.meta.created_at,
                )
            })
            .collect();
        chain.write(tx.as_mut(), audit).await?;
        tx.commit().await?;
        summary.customers += count as u64;
        progress(SeedPhase::Customers, summary.customers, plan.customers);
    }

    // Orders: made on a thread of their own while the last batch is written.
    let history_micros = (now - start).num_microseconds().unwrap_or(i64::MAX);
    let mut maker = OrderMaker {
        rng: StdRng::seed_from_u64(plan.random_seed.wrapping_add(1)),
        shape: shape.clone(),
        customers: Zipf::new(plan.customers as f64, 0.6).map_err(|e| invalid(e.to_string()))?,
        buyers,
        prices,
        products,
        markets,
        locations: locations.clone(),
        actor: actor.clone(),
        start,
        now,
        step: (history_micros / plan.orders.max(1) as i64).max(1),
        reserved: HashMap::new(),
        open: 0,
        lines: 0,
        chain,
    };
    progress(SeedPhase::Orders, 0, plan.orders);
    let (sender, mut batches) = tokio::sync::mpsc::channel::<Result<OrderBatch, ServiceError>>(2);
    let (orders, batch_size) = (plan.orders, plan.batch as u64);
    let making = tokio::task::spawn_blocking(move || {
        for first in (0..orders).step_by(batch_size as usize) {
            let batch = maker.batch(first, batch_size.min(orders - first));
            let failed = batch.is_err();
            if sender.blocking_send(batch).is_err() || failed {
                break;
            }
        }
        maker
    });
    let writers = Arc::new(tokio::sync::Semaphore::new(WRITERS));
    let mut writing = tokio::task::JoinSet::new();
    let mut account = |written: Result<Result<(u64, u64), StoreError>, tokio::task::JoinError>| -> ServiceResult<()> {
        let (orders, events) = written.map_err(|e| invalid(format!("an order writer failed: {e}")))??;
        summary.orders += orders;
        summary.order_events += events;
        progress(SeedPhase::Orders, summary.orders, plan.orders);
        Ok(())
    };
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        let slot = writers.clone().acquire_owned().await.map_err(|e| invalid(e.to_string()))?;
        let db = db.clone();
        writing.spawn(async move {
            let written = batch.write(db.as_ref()).await;
            drop(slot);
            written.map(|()| (batch.orders.len() as u64, batch.events.len() as u64))
        });
        while let Some(written) = writing.try_join_next() {
            account(written)?;
        }
    }
    while let Some(written) = writing.join_next().await {
        account(written)?;
    }
    let maker = making.await.map_err(|e| invalid(format!("the order generator failed: {e}")))?;
    let mut chain = maker.chain;
    summary.open_orders = maker.open;
    summary.order_lines = maker.lines;
    if summary.orders != plan.orders {
        return Err(invalid(format!("only {} of {} orders were made", summary.orders, plan.orders)));
    }

    // Stock: what open orders reserve, plus what the coming load will take,
    // most of it at the first location, where allocation looks first.
    let total = plan.products * locations.len() as u64;
    let mut levels = Vec::with_capacity(total as usize);
    let mut audit = Vec::with_capacity(total as usize);
    progress(SeedPhase::Stock, 0, total);
    let stocked_at = time::now();
    for (rank, product) in maker.products.iter().enumerate() {
        let future = (shape.expected_units(rank) * plan.stock_for_orders as f64 * 1.5).ceil() as i64;
        for (i, &location) in locations.iter().enumerate() {
            let reserved = maker.reserved.get(&(rank, location)).copied().unwrap_or(0);
            let spare = match i {
                0 => future + 10,
                1 => 20,
                _ => 5,
            };
            let level = StockLevel::new(product.sku.clone(), location, reserved + spare, reserved);
            audit.push(AuditEvent::record_as(
                id_at(stocked_at),
                &actor,
                "stock.received",
                "stock",
                format!("{}@{location}", product.sku),
                None,
                Some(json!({"sku": product.sku, "location_id": location, "quantity": level.on_hand, "reason": "seed", "level": level})),
                stocked_at,
            ));
            levels.push(level);
        }
    }
    for (levels, audit) in levels.chunks(plan.batch).zip(audit.chunks(plan.batch)) {
        let mut tx = db.begin().await?;
        tx.insert_stock_levels(levels).await?;
        chain.write(tx.as_mut(), audit.to_vec()).await?;
        tx.commit().await?;
        summary.stock_levels += levels.len() as u64;
        progress(SeedPhase::Stock, summary.stock_levels, total);
    }
    summary.audit_events = chain.events;
    summary.audit_segments = chain.segments;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_sort_in_popularity_order() {
        assert_eq!(sku_for_rank(0), "SKU-000001");
        let skus: Vec<String> = (0..1500).map(sku_for_rank).collect();
        let mut sorted = skus.clone();
        sorted.sort();
        assert_eq!(skus, sorted);
    }

    #[test]
    fn orders_favour_the_hot_products_and_never_repeat_one() {
        let shape = OrderShape::new(1_000);
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = vec![0_u64; 1_000];
        let mut lines = 0;
        for _ in 0..20_000 {
            let order = shape.sample(&mut rng);
            assert!((1..=4).contains(&order.len()), "{order:?}");
            let mut ranks: Vec<usize> = order.iter().map(|(r, _)| *r).collect();
            ranks.sort_unstable();
            ranks.dedup();
            assert_eq!(ranks.len(), order.len(), "no product twice: {order:?}");
            for (rank, quantity) in order {
                assert!((1..=3).contains(&quantity));
                counts[rank] += 1;
                lines += 1;
            }
        }
        // With s = 1 over 1 000 products, the best seller is in about 13 %
        // of lines, the 100th in about 0.13 %, and the top 10 take ~39 %.
        let share = |r: usize| counts[r] as f64 / lines as f64;
        assert!(share(0) > 0.10 && share(0) < 0.16, "{}", share(0));
        assert!(share(99) < 0.004, "{}", share(99));
        assert!(counts[..10].iter().sum::<u64>() as f64 / lines as f64 > 0.3);
        // The expectation the stock is sized by matches what orders take.
        let expected = shape.expected_units(0) * 20_000.0;
        let taken: f64 = counts[0] as f64 * 1.3;
        assert!((taken / expected - 1.0).abs() < 0.15, "taken {taken}, expected {expected}");
    }

    #[test]
    fn one_product_catalogs_still_make_orders() {
        let shape = OrderShape::new(1);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            assert_eq!(shape.sample(&mut rng).len(), 1);
        }
    }
}
