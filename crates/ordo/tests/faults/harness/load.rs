//! The shop the load runs against, set up through the API, and the load:
//! clients placing paid orders the way a careful real client does, and
//! probes of `/readyz` and of reads.
//!
//! A client sends each order with an `Idempotency-Key` and keeps retrying
//! the same key, with the same body, after a network error, a timeout or a
//! 5xx, until it gets a definite answer (201, or a 4xx). So an order is
//! acknowledged exactly when a 201 arrives, and a retry can never
//! legitimately create a second order. It retries after 100 ms rather than
//! the 1 s `Retry-After` asks for: a patient client would wait, but the
//! suite wants to see the moment service comes back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ordo_domain::event::EVENT_TYPES;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use uuid::Uuid;

use super::figures::clip;
use super::receiver::Receiver;

/// How long a client waits for one answer. Longer than the pool's acquire
/// timeout, so that a server that waits on it shows as slow, not as a
/// client timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a client keeps retrying its last order after the load stops.
const DRAIN: Duration = Duration::from_secs(15);
/// Between retries of one order.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// An HTTP answer, read whole.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: Value,
}

impl Answer {
    /// A problem document's `code`.
    pub(crate) fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// 503 (or 507) `application/problem+json` with a `Retry-After`: what
    /// a client may retry later.
    pub(crate) fn is_retry_later_problem(&self) -> bool {
        matches!(self.status, 503 | 507)
            && self.content_type.starts_with("application/problem+json")
            && self.retry_after.is_some()
    }

    pub(crate) fn describe(&self) -> String {
        let body = clip(&self.body.to_string(), 300);
        format!("{} ({}; Retry-After {:?}): {body}", self.status, self.content_type, self.retry_after)
    }
}

/// Ordo's API with the deployment's admin key.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    pub(crate) fn new(base: &str, key: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {key}").parse().expect("a header value"));
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        Self { client, base: base.trim_end_matches('/').to_owned() }
    }

    async fn read(request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let response = request.send().await.map_err(|e| describe_error(&e))?;
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let bytes = response.bytes().await.map_err(|e| describe_error(&e))?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok(Answer { status, content_type, retry_after, body })
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Answer, String> {
        Self::read(self.client.get(format!("{}{path}", self.base))).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Result<Answer, String> {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        Self::read(request).await
    }

    /// POSTs `body` with its bytes in two halves, the second only when
    /// `release` fires: a request that is surely in flight meanwhile.
    pub(crate) async fn post_in_two_halves(
        &self,
        path: &str,
        body: &Value,
        key: &str,
        release: tokio::sync::oneshot::Receiver<()>,
    ) -> Result<Answer, String> {
        let bytes = serde_json::to_vec(body).expect("JSON");
        let (first, second) = bytes.split_at(bytes.len() / 2);
        let (first, second) = (bytes::Bytes::copy_from_slice(first), bytes::Bytes::copy_from_slice(second));
        let halves = futures::stream::unfold((Some(first), Some((second, release))), |(first, rest)| async move {
            if let Some(first) = first {
                return Some((Ok::<_, std::io::Error>(first), (None, rest)));
            }
            let (second, release) = rest?;
            let _ = release.await;
            Some((Ok(second), (None, None)))
        });
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Idempotency-Key", key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::CONTENT_LENGTH, bytes.len())
            .body(reqwest::Body::wrap_stream(halves));
        Self::read(request).await
    }

    /// A setup call that must succeed with `status`.
    pub(crate) async fn must(&self, path: &str, body: Value, status: u16) -> Value {
        let answer = self.post(path, &body, None).await.unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(answer.status, status, "POST {path}: {}", answer.describe());
        answer.body
    }
}

fn describe_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    // The innermost cause says what happened (reset, refused, closed...).
    let mut source: &dyn std::error::Error = e;
    while let Some(next) = source.source() {
        source = next;
    }
    format!("{kind}: {source}")
}

/// What the load runs against, made through the API.
#[derive(Debug, Clone)]
pub(crate) struct Shop {
    pub(crate) markets: Vec<String>,
    pub(crate) skus: Vec<String>,
    pub(crate) product_ids: Vec<String>,
    pub(crate) customers: Vec<String>,
    /// Webhook id to (hook name, subscribed event types).
    pub(crate) webhooks: BTreeMap<Uuid, (String, Vec<String>)>,
}

impl Shop {
    /// Two markets (invoice numbers are per market), two locations (the
    /// near one small, so orders split their allocations), eight products,
    /// four customers, and two webhooks at `receiver`: one for every event,
    /// one for two kinds (so fan-out makes a different number of rows per
    /// event type).
    pub(crate) async fn set_up(http: &Http, receiver: &Receiver) -> Self {
        for (code, rate) in [("DE", 1900), ("FR", 2000)] {
            http.must(
                "/v1/markets",
                json!({"code": code, "name": code, "currency": "EUR", "tax_rate_bp": rate, "locale": "en-GB"}),
                201,
            )
            .await;
        }
        let mut locations = Vec::new();
        for (code, priority) in [("NEAR", 10), ("FAR", 20)] {
            let location =
                http.must("/v1/locations", json!({"code": code, "name": code, "priority": priority}), 201).await;
            locations.push(location["id"].as_str().expect("location id").to_owned());
        }
        let mut shop = Shop {
            markets: vec!["DE".to_owned(), "FR".to_owned()],
            skus: Vec::new(),
            product_ids: Vec::new(),
            customers: Vec::new(),
            webhooks: BTreeMap::new(),
        };
        for n in 1..=8 {
            let sku = format!("F-{n:04}");
            let product = http
                .must(
                    "/v1/products",
                    json!({"sku": sku, "name": format!("Product {n}"), "prices": [{"amount": 500 + n * 100, "currency": "EUR"}]}),
                    201,
                )
                .await;
            shop.product_ids.push(product["id"].as_str().expect("product id").to_owned());
            for (location, quantity) in locations.iter().zip([40, 1_000_000]) {
                http.must(
                    "/v1/stock/receipts",
                    json!({"sku": sku, "location_id": location, "quantity": quantity}),
                    201,
                )
                .await;
            }
            shop.skus.push(sku);
        }
        for n in 1..=4 {
            let customer = http
                .must(
                    "/v1/customers",
                    json!({"email": format!("buyer{n}@example.com"), "name": format!("Buyer {n}")}),
                    201,
                )
                .await;
            shop.customers.push(customer["id"].as_str().expect("customer id").to_owned());
        }
        let subscriptions: [(&str, Vec<&str>); 2] =
            [("all", EVENT_TYPES.to_vec()), ("money", vec!["order.paid", "invoice.issued"])];
        for (hook, types) in subscriptions {
            let url = format!("{}{hook}", receiver.base_url);
            let webhook = http.must("/v1/webhooks", json!({"url": url, "event_types": types}), 201).await;
            let id = webhook["id"].as_str().and_then(|id| id.parse().ok()).expect("webhook id");
            shop.webhooks.insert(id, (hook.to_owned(), types.iter().map(|t| (*t).to_owned()).collect()));
        }
        shop
    }

    /// A random paid order.
    pub(crate) fn order_body(&self, rng: &mut SmallRng) -> Value {
        let mut skus = self.skus.clone();
        let lines: Vec<Value> = (0..rng.random_range(1..=3))
            .map(|_| {
                let sku = skus.swap_remove(rng.random_range(0..skus.len()));
                json!({"sku": sku, "quantity": rng.random_range(1..=3)})
            })
            .collect();
        json!({
            "customer_id": self.customers[rng.random_range(0..self.customers.len())],
            "market": self.markets[rng.random_range(0..self.markets.len())],
            "lines": lines,
            "shipping_address": {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
            "payment_token": "tok_approve",
        })
    }
}

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Place,
    /// `GET /readyz`.
    Ready,
    /// A read the database must answer (a stock level).
    Read,
}

/// One request and its answer.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) kind: Kind,
    pub(crate) sent: Instant,
    pub(crate) latency: Duration,
    /// The answer, or why there was none.
    pub(crate) answer: Result<Answer, String>,
}

impl Attempt {
    pub(crate) fn done(&self) -> Instant {
        self.sent + self.latency
    }

    pub(crate) fn status(&self) -> Option<u16> {
        self.answer.as_ref().ok().map(|a| a.status)
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }
}

/// Everything the load saw.
#[derive(Debug, Default, Clone)]
pub(crate) struct Record {
    /// Idempotency-Key to the order ids its 201 answers named.
    pub(crate) acknowledged: BTreeMap<String, Vec<Uuid>>,
    /// Keys given a definite refusal (a 4xx), with the answer.
    pub(crate) refused: Vec<(String, String)>,
    /// Keys still without a definite answer when the client gave up.
    pub(crate) gave_up: Vec<String>,
    pub(crate) attempts: Vec<Attempt>,
}

impl Record {
    /// Every acknowledged order id (one per key; all of them if answers
    /// disagreed).
    pub(crate) fn acknowledged_ids(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.acknowledged.values().flatten().copied().collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Attempts of `kind` sent in `[from, to)`.
    pub(crate) fn sent_between(&self, kind: Kind, from: Instant, to: Instant) -> Vec<&Attempt> {
        self.attempts.iter().filter(|a| a.kind == kind && a.sent >= from && a.sent < to).collect()
    }

    /// The first successful placement answered after `moment`, and how long
    /// after.
    pub(crate) fn first_success_after(&self, moment: Instant) -> Option<Duration> {
        self.attempts
            .iter()
            .filter(|a| a.kind == Kind::Place && a.succeeded() && a.done() > moment)
            .map(|a| a.done() - moment)
            .min()
    }
}

/// The running load: order clients and probes.
#[derive(Debug)]
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` order clients (keys prefixed with `prefix`), and
    /// probes of `/readyz` and of a stock level every 100 ms.
    pub(crate) fn start(http: &Http, shop: &Shop, clients: usize, prefix: &str, seed: u64) -> Self {
        let load = Self { stop: Arc::default(), record: Arc::default(), tasks: Vec::new() };
        let mut tasks = Vec::new();
        for client in 0..clients {
            let (http, shop, stop, record) = (http.clone(), shop.clone(), load.stop.clone(), load.record.clone());
            let prefix = format!("{prefix}-{client}");
            let rng = SmallRng::seed_from_u64(seed.wrapping_add(client as u64));
            tasks.push(tokio::spawn(place_orders(http, shop, stop, record, prefix, rng)));
        }
        let paths = [(Kind::Ready, "/readyz".to_owned()), (Kind::Read, format!("/v1/stock/{}", shop.skus[0]))];
        for (kind, path) in paths {
            let (http, stop, record) = (http.clone(), load.stop.clone(), load.record.clone());
            tasks.push(tokio::spawn(probe(http, path, kind, stop, record)));
        }
        Self { tasks, ..load }
    }

    /// Looks at what was seen so far.
    pub(crate) fn inspect<T>(&self, look: impl FnOnce(&Record) -> T) -> T {
        look(&self.record.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops placing new orders, lets every client finish the one it is
    /// on (retrying for up to 15 s), and returns what was seen.
    pub(crate) async fn stop(self) -> Record {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        Arc::try_unwrap(self.record).map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).unwrap_or_default()
    }
}

fn push(record: &Mutex<Record>, attempt: Attempt) {
    record.lock().unwrap_or_else(|e| e.into_inner()).attempts.push(attempt);
}

/// One client: orders one after another, each until it is answered.
async fn place_orders(
    http: Http,
    shop: Shop,
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    prefix: String,
    mut rng: SmallRng,
) {
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let key = format!("{prefix}-{n}");
        let body = shop.order_body(&mut rng);
        let mut stopped_at: Option<Instant> = None;
        loop {
            let sent = Instant::now();
            let answer = http.post("/v1/orders", &body, Some(&key)).await;
            let latency = sent.elapsed();
            let mut definite = true;
            {
                let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
                match &answer {
                    Ok(a) if a.status == 201 => {
                        let id = a.body["id"].as_str().and_then(|id| id.parse().ok()).unwrap_or_default();
                        record.acknowledged.entry(key.clone()).or_default().push(id);
                    }
                    // Still running under another attempt of ours: ask again.
                    Ok(a) if a.status == 409 && a.code() == "idempotency_in_flight" => definite = false,
                    Ok(a) if a.status == 408 || a.status >= 500 => definite = false,
                    Ok(a) => record.refused.push((key.clone(), a.describe())),
                    Err(_) => definite = false,
                }
                record.attempts.push(Attempt { kind: Kind::Place, sent, latency, answer });
            }
            if definite {
                break;
            }
            if stop.load(Ordering::Relaxed) {
                let since = *stopped_at.get_or_insert_with(Instant::now);
                if since.elapsed() > DRAIN {
                    record.lock().unwrap_or_else(|e| e.into_inner()).gave_up.push(key);
                    break;
                }
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        // Think time: a steady load the workers can keep up with on a
        // small machine, so that settling stays short.
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..150))).await;
    }
}

/// GETs `path` every 100 ms, recording each answer.
async fn probe(http: Http, path: String, kind: Kind, stop: Arc<AtomicBool>, record: Arc<Mutex<Record>>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let answer = http.get(&path).await;
        push(&record, Attempt { kind, sent, latency: sent.elapsed(), answer });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
