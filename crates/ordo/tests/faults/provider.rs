//! `kill -9` of the process that runs payment jobs while a capture, and
//! then a refund, is at the payment provider: a local stand-in for Stripe
//! ([`FakeStripe`]) applies each call and then holds its answer back, the
//! process dies waiting for it, and is started again. The retry asks again
//! with the same idempotency key, so the money moves exactly once: the
//! stand-in counts the effects per key, as Stripe applies them.

use std::time::{Duration, Instant};

use ordo_testkit::stripe::{FakeStripe, Fault, SECRET_KEY};
use serde_json::{Value, json};

use crate::harness::deployment::{Deployment, Role};
use crate::harness::load::Http;
use crate::harness::run;

#[test]
fn kill9_during_capture_and_refund_sqlite() {
    run(|| async {
        let stripe = FakeStripe::start().await;
        let mut deployment = Deployment::sqlite(None).await;
        deployment.env = stripe_env(&stripe);
        kill9_during_capture_and_refund(deployment, &stripe, Role::Serve).await;
    });
}

#[test]
fn kill9_during_capture_and_refund_postgres() {
    run(|| async {
        let stripe = FakeStripe::start().await;
        let Some(mut deployment) = Deployment::postgres("kill9_during_capture_and_refund_postgres", 1, false).await
        else {
            return;
        };
        deployment.env = stripe_env(&stripe);
        kill9_during_capture_and_refund(deployment, &stripe, Role::Worker(0)).await;
    });
}

fn stripe_env(stripe: &FakeStripe) -> Vec<(String, String)> {
    [
        ("ORDO_PAYMENTS_PROVIDER", "stripe"),
        ("ORDO_PAYMENTS_STRIPE_SECRET_KEY", SECRET_KEY),
        ("ORDO_PAYMENTS_STRIPE_API_BASE", stripe.url()),
        ("ORDO_PAYMENTS_STRIPE_TIMEOUT_MS", "30000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Waits (at most 60 s) until `done` holds.
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn payment(http: &Http, order: &str, key: &str) -> Option<Value> {
    let answer = http.get(&format!("/v1/orders/{order}/payments")).await.ok()?;
    answer.body.as_array()?.iter().find(|p| p["idempotency_key"] == key).cloned()
}

async fn kill9_during_capture_and_refund(mut deployment: Deployment, stripe: &FakeStripe, runner: Role) {
    deployment.start_all().await;
    let http = Http::new(&deployment.base_url(), &deployment.key);
    http.must(
        "/v1/markets",
        json!({"code": "DE", "name": "DE", "currency": "EUR", "tax_rate_bp": 1900, "locale": "de-DE"}),
        201,
    )
    .await;
    let location = http.must("/v1/locations", json!({"code": "MAIN", "name": "Main", "priority": 1}), 201).await;
    http.must("/v1/products", json!({"sku": "K9", "name": "K9", "prices": [{"amount": 2500, "currency": "EUR"}]}), 201)
        .await;
    http.must("/v1/stock/receipts", json!({"sku": "K9", "location_id": location["id"], "quantity": 10}), 201).await;
    let customer = http.must("/v1/customers", json!({"email": "k9@example.com", "name": "K9"}), 201).await;

    // The capture is applied at the provider, its answer held back 5 s:
    // the job's process dies waiting for it.
    stripe.fault("/capture", Fault::Slow(Duration::from_secs(5)));
    let order = http
        .must(
            "/v1/orders",
            json!({"customer_id": customer["id"], "market": "DE", "lines": [{"sku": "K9", "quantity": 2}],
                "shipping_address": {"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
                "payment_token": "tok_visa"}),
            201,
        )
        .await;
    let id = order["id"].as_str().expect("order id").to_owned();
    let total = order["total"].as_i64().expect("total");
    wait_until("the capture reaches the provider", async || !stripe.requests_to("/capture").is_empty()).await;
    deployment.kill9(runner);
    deployment.restart(runner).await;
    let capture_key = format!("order:{id}:capture");
    wait_until("the capture settles", async || {
        payment(&http, &id, &capture_key).await.is_some_and(|p| p["status"] == "succeeded")
    })
    .await;
    let captures = stripe.requests_to("/capture");
    assert!(captures.len() >= 2, "the killed capture was asked again: {captures:?}");
    assert_eq!(stripe.effects(&capture_key), 1, "captured exactly once");
    assert_eq!(stripe.intent("pi_fake1").expect("the intent")["amount_received"], total);

    // The same for a refund.
    stripe.fault("/v1/refunds", Fault::Slow(Duration::from_secs(5)));
    let refund = http.must(&format!("/v1/orders/{id}/refunds"), json!({"amount": 1000}), 201).await;
    let refund_key = format!("refund:{}", refund["id"].as_str().expect("refund id"));
    wait_until("the refund reaches the provider", async || !stripe.requests_to("/v1/refunds").is_empty()).await;
    deployment.kill9(runner);
    deployment.restart(runner).await;
    wait_until("the refund settles", async || {
        payment(&http, &id, &refund_key).await.is_some_and(|p| p["status"] == "succeeded")
    })
    .await;
    let refunds = stripe.requests_to("/v1/refunds");
    assert!(refunds.len() >= 2, "the killed refund was asked again: {refunds:?}");
    assert_eq!(stripe.effects(&refund_key), 1, "refunded exactly once");
    assert_eq!(stripe.intent("pi_fake1").expect("the intent")["amount_refunded"], 1000);
    assert_eq!(stripe.violations(), Vec::<String>::new());
    let failures = deployment.stop_all().await;
    assert!(failures.is_empty(), "{failures:?}");
}
