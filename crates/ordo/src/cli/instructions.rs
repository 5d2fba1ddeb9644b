//! `ordo bench instructions`: one hot path run in-process a given number of
//! times, so that `bench/cost` can count its CPU instructions under
//! callgrind. Requests go through the server's own router (every middleware
//! layer, the services and the database) without a socket, so the count is
//! Ordo's work and its embedded database's, not the kernel's or a client's.

use anyhow::Context;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app::Application;
use crate::config::Config;

/// The paths whose instructions the cost gate counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HotPath {
    /// `POST /v1/orders`: two lines, no payment.
    Place,
    /// `GET /v1/products/{id}` from the product cache.
    GetProduct,
    /// One no-op job enqueued, claimed and completed, as a worker does.
    Job,
}

/// Sets up a small shop on the configured (scratch) database, then runs
/// `path` `count` times.
pub(super) async fn run(config: &Config, path: HotPath, count: u64) -> anyhow::Result<()> {
    // Spans and logs as `ordo serve` makes them, at the configured filter:
    // a request's span is part of its cost.
    let _telemetry = crate::telemetry::init(&config.log)?;
    let app = Application::build(config).await?;
    let services = app.services().clone();
    let db = services.db.clone();
    match path {
        HotPath::Place | HotPath::GetProduct => {
            let plan = ordo_tools::seed::SeedPlan {
                customers: 10,
                products: 10,
                orders: 0,
                stock_for_orders: 1_000_000,
                history_days: 1,
                batch: 100,
                random_seed: 1,
            };
            ordo_tools::seed::seed(db, &plan, &|_, _, _| {}).await.context("seeding the shop")?;
            let (_, token) =
                services.keys.bootstrap_admin().await?.context("the scratch database already has API keys")?;
            let shop = Shop { router: app.router(), auth: format!("Bearer {}", token.expose()) };
            let product = shop.call("GET", "/v1/products?limit=2", None).await?;
            let products = product["items"].as_array().context("no products")?;
            let customer = shop.call("GET", "/v1/customers?limit=1", None).await?;
            let customer = customer["items"][0]["id"].as_str().context("no customer")?.to_owned();
            if path == HotPath::Place {
                let order = json!({
                    "customer_id": customer,
                    "market": "DE",
                    "lines": products.iter().map(|p| json!({"sku": p["sku"], "quantity": 1})).collect::<Vec<_>>(),
                    "shipping_address": {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
                });
                counting_starts();
                for _ in 0..count {
                    shop.send("POST", "/v1/orders", Some(&order)).await?;
                }
            } else {
                let uri = format!("/v1/products/{}", products[0]["id"].as_str().context("no product id")?);
                counting_starts();
                for _ in 0..count {
                    shop.send("GET", &uri, None).await?;
                }
            }
        }
        HotPath::Job => {
            let queue = ordo_jobs::Queue::new(db.clone());
            let queues = [<ordo_tools::bench::Noop as ordo_jobs::Job>::QUEUE.to_owned()];
            counting_starts();
            for n in 0..count {
                queue.enqueue(&ordo_tools::bench::Noop { n }, ordo_jobs::EnqueueOptions::default()).await?;
                let now = ordo_domain::time::now();
                let mut tx = db.begin().await?;
                let claimed = tx.claim_jobs(&queues, "cost", 1, now + chrono::Duration::seconds(30), now).await?;
                tx.commit().await?;
                let done: Vec<_> = claimed.iter().filter_map(|j| Some((j.id, j.attempt_id?))).collect();
                anyhow::ensure!(done.len() == 1, "the job was not claimed");
                let mut tx = db.begin().await?;
                anyhow::ensure!(tx.complete_jobs(&done).await?.len() == 1, "the job was not completed");
                tx.commit().await?;
            }
        }
    }
    services.db.close().await;
    Ok(())
}

/// Marks where the set-up ends: `bench/cost` runs callgrind with
/// `--zero-before` on this function, so the start-up and the seeding (whose
/// counts depend on timing: quanta calibrating its clock against the wall
/// clock, the pool opening connections while seeding) are not counted.
/// What is counted is the operations plus the shutdown, and the shutdown
/// cancels out between the two runs `bench/cost` compares.
#[inline(never)]
fn counting_starts() {
    std::hint::black_box(());
}

/// The server's router, called in-process with an admin key.
struct Shop {
    router: axum::Router,
    auth: String,
}

impl Shop {
    /// One request; its JSON answer, which must be a success.
    async fn call(&self, method: &str, uri: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let bytes = self.send(method, uri, body).await?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// One request; its answer's body, unparsed (parsing is the client's
    /// work, not the server's), which must be a success.
    async fn send(&self, method: &str, uri: &str, body: Option<&Value>) -> anyhow::Result<axum::body::Bytes> {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, &self.auth)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))?;
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await?;
        anyhow::ensure!(
            status.is_success() || status == StatusCode::NOT_MODIFIED,
            "{method} {uri} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(bytes)
    }
}
