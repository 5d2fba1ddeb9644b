//! The Stripe adapter's contract tests: the real server and worker, with
//! `payments.provider = "stripe"`, talking to a local stand-in for Stripe
//! ([`FakeStripe`]) that asserts every request's wire format and counts the
//! money moved per idempotency key. Contract tests, not live ones: no
//! request leaves the machine.

use std::time::Duration;

use ordo::config::{PaymentProviderName, Secret};
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::stripe::{FakeStripe, Fault, SECRET_KEY};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

use crate::payments::wait_for_payments;

backend_tests!(
    a_stripe_payment_is_authorised_captured_and_refunded_over_the_wire,
    a_declined_card_fails_the_order,
    rate_limits_and_server_errors_are_retried_with_the_same_key,
    a_timed_out_capture_is_retried_and_captures_once,
    a_capture_stripe_refuses_fails_and_is_not_retried,
    an_order_cancelled_during_its_authorisation_is_voided,
    stripe_events_are_verified_recorded_once_and_on_the_timeline,
    stripe_events_are_refused_without_a_signing_secret,
    capture_at_fulfilment_captures_shipment_by_shipment,
    an_uncaptured_order_cancelled_is_voided_and_cannot_be_captured,
    a_cancelled_payment_intent_event_voids_the_authorisation,
);

/// The app with workers, paying through `stripe` with short timeouts.
async fn with_stripe(app: TestApp, stripe: &FakeStripe) -> Option<TestApp> {
    spawn_with_stripe(app, stripe, None).await
}

/// As [`with_stripe`], also receiving Stripe's events signed with
/// [`WEBHOOK_SECRET`].
async fn with_stripe_events(app: TestApp, stripe: &FakeStripe) -> Option<TestApp> {
    spawn_with_stripe(app, stripe, Some(WEBHOOK_SECRET)).await
}

async fn spawn_with_stripe(app: TestApp, stripe: &FakeStripe, webhook_secret: Option<&str>) -> Option<TestApp> {
    let backend = app.backend();
    drop(app);
    let base = stripe.url().to_owned();
    let webhook_secret = webhook_secret.map(Secret::new).unwrap_or_default();
    TestApp::spawn_with(backend, move |c| {
        c.workers.enabled = true;
        c.payments.provider = Some(PaymentProviderName::Stripe);
        c.payments.stripe_secret_key = Secret::new(SECRET_KEY);
        c.payments.stripe_api_base = base;
        c.payments.stripe_timeout_ms = 1_000;
        c.payments.stripe_webhook_secret = webhook_secret;
    })
    .await
}

/// Sets market `DE` (the shop's) to capture at fulfilment.
async fn capture_at_fulfilment(app: &TestApp) {
    let market = app.get("/v1/markets/DE").await.expect(StatusCode::OK);
    let changed = app
        .patch("/v1/markets/DE", &json!({"version": market["version"], "capture_policy": "at_fulfilment"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(changed["capture_policy"], "at_fulfilment");
}

async fn place(app: &TestApp, token: &str) -> (String, i64) {
    let shop = shop(app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 2}]));
    body["payment_token"] = json!(token);
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    (order["id"].as_str().unwrap().to_owned(), order["total"].as_i64().unwrap())
}

fn settled(payments: &[Value], kind: &str) -> Option<Value> {
    payments.iter().find(|p| p["kind"] == kind && p["status"] != "pending").cloned()
}

async fn a_stripe_payment_is_authorised_captured_and_refunded_over_the_wire(app: TestApp) {
    let stripe = FakeStripe::start().await;
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let (id, total) = place(&app, "tok_visa").await;
    let payments = wait_for_payments(&app, &id, |p| settled(p, "capture").is_some()).await;
    let intent = stripe.requests_to("/v1/payment_intents")[0].clone();
    assert_eq!(intent.path, "/v1/payment_intents");
    assert_eq!(intent.idempotency_key.as_deref(), Some(format!("order:{id}:authorize").as_str()));
    for (field, value) in [
        ("amount", total.to_string()),
        ("currency", "eur".to_owned()),
        ("capture_method", "manual".to_owned()),
        ("confirm", "true".to_owned()),
        ("payment_method_data[type]", "card".to_owned()),
        ("payment_method_data[card][token]", "tok_visa".to_owned()),
        ("metadata[order_id]", id.clone()),
    ] {
        assert_eq!(intent.field(field), Some(value.as_str()), "{field} in {:?}", intent.form);
    }
    let pi = stripe.intent("pi_fake1").expect("the intent");
    for record in [settled(&payments, "authorization").unwrap(), settled(&payments, "capture").unwrap()] {
        assert_eq!(
            (record["status"].as_str(), record["provider"].as_str(), record["provider_reference"].as_str()),
            (Some("succeeded"), Some("stripe"), Some("pi_fake1")),
            "{record}"
        );
    }
    let capture = &stripe.requests_to("/capture")[0];
    assert_eq!(capture.path, "/v1/payment_intents/pi_fake1/capture");
    assert_eq!(capture.field("amount_to_capture"), Some(total.to_string().as_str()));
    assert_eq!(capture.field("final_capture"), None, "a capture at payment is final");
    assert_eq!(capture.idempotency_key.as_deref(), Some(format!("order:{id}:capture").as_str()));
    let pi_now = stripe.intent("pi_fake1").unwrap();
    assert_eq!((pi_now["status"].as_str(), pi_now["amount_received"].as_i64()), (Some("succeeded"), Some(total)));
    assert_eq!(pi["currency"], "eur");

    // A partial refund reaches Stripe once, with the refund's own key.
    let refund =
        app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 700})).await.expect(StatusCode::CREATED);
    let key = format!("refund:{}", refund["id"].as_str().unwrap());
    let payments = wait_for_payments(&app, &id, |p| settled(p, "refund").is_some()).await;
    let refunded = settled(&payments, "refund").unwrap();
    assert_eq!(refunded["status"], "succeeded");
    assert!(refunded["provider_reference"].as_str().unwrap().starts_with("re_fake"), "{refunded}");
    let sent = &stripe.requests_to("/v1/refunds")[0];
    assert_eq!((sent.field("payment_intent"), sent.field("amount")), (Some("pi_fake1"), Some("700")));
    assert_eq!(sent.idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(stripe.intent("pi_fake1").unwrap()["amount_refunded"], 700);
    assert_eq!(stripe.effects(&key), 1);
    assert_eq!(stripe.violations(), Vec::<String>::new(), "Ordo speaks Stripe's wire format");
}

async fn a_declined_card_fails_the_order(app: TestApp) {
    let stripe = FakeStripe::start().await;
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let (id, _) = place(&app, "tok_chargeDeclinedInsufficientFunds").await;
    let payments = wait_for_payments(&app, &id, |p| settled(p, "authorization").is_some()).await;
    let authorization = settled(&payments, "authorization").unwrap();
    assert_eq!(authorization["status"], "failed");
    let reason = authorization["failure_reason"].as_str().unwrap();
    assert!(reason.contains("card_declined") && reason.contains("insufficient_funds"), "{reason}");
    for _ in 0..100 {
        if app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["status"] == "payment_failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["status"], "payment_failed");
    assert_eq!(stripe.requests().len(), 1, "a decline is not retried");
    assert!(stripe.requests_to("/capture").is_empty());
    assert_eq!(stripe.violations(), Vec::<String>::new());
}

async fn rate_limits_and_server_errors_are_retried_with_the_same_key(app: TestApp) {
    let stripe = FakeStripe::start().await;
    stripe.fault("/v1/payment_intents", Fault::RateLimited);
    stripe.fault("/v1/payment_intents", Fault::ServerError);
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let (id, _) = place(&app, "tok_visa").await;
    let payments = wait_for_payments(&app, &id, |p| settled(p, "capture").is_some()).await;
    assert_eq!(settled(&payments, "authorization").unwrap()["status"], "succeeded");
    let key = format!("order:{id}:authorize");
    let attempts = stripe.requests_to("/v1/payment_intents");
    let authorizations: Vec<_> = attempts.iter().filter(|r| r.path == "/v1/payment_intents").collect();
    assert_eq!(authorizations.len(), 3, "a 429 and a 500, then success");
    assert!(authorizations.iter().all(|r| r.idempotency_key.as_deref() == Some(key.as_str())));
    assert_eq!(stripe.effects(&key), 1, "authorised once");
    assert_eq!(stripe.violations(), Vec::<String>::new());
}

async fn a_timed_out_capture_is_retried_and_captures_once(app: TestApp) {
    let stripe = FakeStripe::start().await;
    // The capture is made at Stripe, but its answer comes after Ordo's 1 s
    // timeout: the retry, with the same key, gets the first answer again.
    stripe.fault("/capture", Fault::Slow(Duration::from_millis(1_500)));
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let (id, total) = place(&app, "tok_visa").await;
    let payments = wait_for_payments(&app, &id, |p| settled(p, "capture").is_some()).await;
    assert_eq!(settled(&payments, "capture").unwrap()["status"], "succeeded");
    let key = format!("order:{id}:capture");
    let captures = stripe.requests_to("/capture");
    assert!(captures.len() >= 2, "the timed-out capture was asked again: {captures:?}");
    assert!(captures[1..].iter().all(|r| r.replayed && r.idempotency_key.as_deref() == Some(key.as_str())));
    assert_eq!(stripe.effects(&key), 1, "captured once");
    assert_eq!(stripe.intent("pi_fake1").unwrap()["amount_received"], total);
}

async fn a_capture_stripe_refuses_fails_and_is_not_retried(app: TestApp) {
    let stripe = FakeStripe::start().await;
    stripe.fault("/capture", Fault::Refused);
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let (id, _) = place(&app, "tok_visa").await;
    let payments = wait_for_payments(&app, &id, |p| settled(p, "capture").is_some()).await;
    let capture = settled(&payments, "capture").unwrap();
    assert_eq!(capture["status"], "failed");
    assert!(capture["failure_reason"].as_str().unwrap().contains("parameter_invalid"), "{capture}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stripe.requests_to("/capture").len(), 1, "a refusal is final");
    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    assert!(timeline["items"].as_array().unwrap().iter().any(|e| e["kind"] == "capture_failed"), "{timeline}");
    // Nothing was captured, so nothing can be refunded.
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 1}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_captured");
}

async fn an_order_cancelled_during_its_authorisation_is_voided(app: TestApp) {
    let stripe = FakeStripe::start().await;
    // The authorisation is made, but its answer comes late (within the
    // timeout): the order is cancelled meanwhile.
    stripe.fault("/v1/payment_intents", Fault::Slow(Duration::from_millis(700)));
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let (id, _) = place(&app, "tok_visa").await;
    for _ in 0..100 {
        if !stripe.requests_to("/v1/payment_intents").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let order = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
    assert_eq!(order["status"], "placed", "still waiting for the provider");
    app.post(&format!("/v1/orders/{id}/cancel"), &json!({"version": order["version"]})).await.expect(StatusCode::OK);
    let payments = wait_for_payments(&app, &id, |p| settled(p, "void").is_some()).await;
    let void = settled(&payments, "void").unwrap();
    assert_eq!((void["status"].as_str(), void["provider_reference"].as_str()), (Some("succeeded"), Some("pi_fake1")));
    assert_eq!(void["idempotency_key"], format!("order:{id}:void"));
    assert_eq!(stripe.intent("pi_fake1").unwrap()["status"], "canceled", "the authorisation is released");
    assert!(stripe.requests_to("/capture").is_empty(), "nothing is captured");
    let order = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
    assert_eq!(order["status"], "cancelled");
    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    assert!(timeline["items"].as_array().unwrap().iter().any(|e| e["kind"] == "voided"), "{timeline}");
    assert_eq!(stripe.violations(), Vec::<String>::new());
}

/// Stripe's events to Ordo (`POST /hooks/stripe`): verified by their
/// signature, recorded once, audited, on the order's timeline.
async fn stripe_events_are_verified_recorded_once_and_on_the_timeline(app: TestApp) {
    let stripe = FakeStripe::start().await;
    let Some(app) = with_stripe_events(app, &stripe).await else { return };
    let (id, _) = place(&app, "tok_visa").await;
    wait_for_payments(&app, &id, |p| settled(p, "capture").is_some()).await;
    // A dispute names the payment intent only; Ordo finds its order.
    let event = json!({"id": "evt_dispute_1", "object": "event", "type": "charge.dispute.created",
        "data": {"object": {"id": "dp_1", "object": "dispute", "payment_intent": "pi_fake1", "amount": 100}}});
    let body = serde_json::to_vec(&event).unwrap();
    let now = chrono::Utc::now().timestamp();
    let send = async |body: &[u8], signature: Option<String>| {
        let mut headers = vec![("content-type", "application/json".to_owned())];
        if let Some(signature) = signature {
            headers.push(("stripe-signature", signature));
        }
        app.send_with_headers(ordo_testkit::Method::POST, "/hooks/stripe", &headers, body.to_vec()).await
    };
    let signed = ordo_service::payments::stripe::sign(WEBHOOK_SECRET, &body, now);
    let first = send(&body, Some(signed.clone())).await.expect(StatusCode::OK);
    assert_eq!((first["duplicate"].as_bool(), first["order_id"].as_str()), (Some(false), Some(id.as_str())));
    // Stripe delivers again: acknowledged, recorded once.
    let again = send(&body, Some(signed)).await.expect(StatusCode::OK);
    assert_eq!(again["duplicate"], true);
    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    let steps: Vec<&Value> =
        timeline["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "provider_event").collect();
    assert_eq!(steps.len(), 1, "{timeline}");
    assert_eq!(steps[0]["detail"]["event_type"], "charge.dispute.created");
    assert_eq!(steps[0]["actor_name"], "stripe");
    let audit = app.get("/v1/audit-events?entity_type=provider_event").await.expect(StatusCode::OK);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");

    // Forged, stale, unsigned or malformed: refused, nothing recorded.
    let forged = ordo_service::payments::stripe::sign("whsec_someone_else", &body, now);
    let other = serde_json::to_vec(&json!({"id": "evt_2", "type": "charge.refunded", "data": {"object": {}}})).unwrap();
    let stale = ordo_service::payments::stripe::sign(WEBHOOK_SECRET, &other, now - 600);
    let tampered = ordo_service::payments::stripe::sign(WEBHOOK_SECRET, &body, now);
    for (body, signature) in [
        (other.clone(), Some(forged)),
        (other.clone(), Some(stale)),
        (other.clone(), None),
        (other.clone(), Some("t=1,v1=zz".to_owned())),
        (other.clone(), Some(tampered)),
    ] {
        send(&body, signature).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_signature");
    }
    let not_an_event = b"[1, 2]".to_vec();
    let signed = ordo_service::payments::stripe::sign(WEBHOOK_SECRET, &not_an_event, now);
    send(&not_an_event, Some(signed)).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let audit = app.get("/v1/audit-events?entity_type=provider_event").await.expect(StatusCode::OK);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "nothing more was recorded");
}

/// Without a signing secret, the endpoint does not exist.
async fn stripe_events_are_refused_without_a_signing_secret(app: TestApp) {
    let body = br#"{"id":"evt_1","type":"charge.refunded","data":{"object":{}}}"#.to_vec();
    let signature = ordo_service::payments::stripe::sign(WEBHOOK_SECRET, &body, chrono::Utc::now().timestamp());
    app.send_with_headers(ordo_testkit::Method::POST, "/hooks/stripe", &[("stripe-signature", signature)], body)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // Unsigned is refused as such, configured or not.
    let unsigned = br#"{"id":"evt_1","type":"charge.refunded","data":{"object":{}}}"#.to_vec();
    app.send_with_headers(ordo_testkit::Method::POST, "/hooks/stripe", &[], unsigned)
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_signature");
}

const WEBHOOK_SECRET: &str = "whsec_ordo_contract";

/// The order once it is in `status`.
pub(crate) async fn order_when(app: &TestApp, id: &str, status: &str) -> Value {
    for _ in 0..500 {
        let order = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
        if order["status"] == status {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never became {status}");
}

/// A market that captures at fulfilment: nothing is captured at payment;
/// each shipment captures what it ships, keeping the rest authorised; the
/// last takes the rest and releases the authorisation.
async fn capture_at_fulfilment_captures_shipment_by_shipment(app: TestApp) {
    let stripe = FakeStripe::start().await;
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let shop = shop(&app).await;
    capture_at_fulfilment(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 3}, {"sku": "MUG", "quantity": 1}]));
    body["payment_token"] = json!("tok_visa");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let (id, total) = (order["id"].as_str().unwrap().to_owned(), order["total"].as_i64().unwrap());
    let tee_total = order["lines"][0]["total"].as_i64().unwrap();
    let paid = order_when(&app, &id, "paid").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(stripe.requests_to("/capture").is_empty(), "nothing is captured at payment");
    let path = format!("/v1/orders/{id}");
    let confirmed =
        app.post(&format!("{path}/confirm"), &json!({"version": paid["version"]})).await.expect(StatusCode::OK);

    // The first shipment: one of three tees.
    let shipped = app
        .post(
            &format!("{path}/fulfil"),
            &json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 1}]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(shipped["status"], "partially_fulfilled");
    let first = tee_total / 3;
    let captures = |p: &[Value]| p.iter().filter(|p| p["kind"] == "capture").cloned().collect::<Vec<_>>();
    let payments = wait_for_payments(&app, &id, |p| captures(p).iter().any(|c| c["status"] == "succeeded")).await;
    let capture = &captures(&payments)[0];
    assert_eq!(capture["amount"], first);
    assert_eq!(capture["idempotency_key"], format!("order:{id}:capture:v{}", shipped["version"]));
    let sent = &stripe.requests_to("/capture")[0];
    assert_eq!(sent.field("amount_to_capture"), Some(first.to_string().as_str()));
    assert_eq!(sent.field("final_capture"), Some("false"), "the rest stays authorised");
    let intent = stripe.intent("pi_fake1").unwrap();
    assert_eq!(
        (intent["status"].as_str(), intent["amount_received"].as_i64()),
        (Some("requires_capture"), Some(first))
    );

    // What is captured can be refunded, and no more.
    app.post(&format!("{path}/refunds"), &json!({"amount": first + 1}))
        .await
        .expect_problem(StatusCode::CONFLICT, "refund_exceeds_capture");
    app.post(&format!("{path}/refunds"), &json!({"amount": 100})).await.expect(StatusCode::CREATED);

    // The last shipment takes the rest and releases the authorisation.
    let done = app
        .post(
            &format!("{path}/fulfil"),
            &json!({"version": shipped["version"], "lines": [{"line": 1, "quantity": 2}, {"line": 2, "quantity": 1}]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(done["status"], "fulfilled");
    let payments = wait_for_payments(&app, &id, |p| {
        let c = captures(p);
        c.len() == 2
            && c.iter().all(|c| c["status"] == "succeeded")
            && p.iter().filter(|p| p["kind"] == "refund").all(|r| r["status"] == "succeeded")
    })
    .await;
    assert_eq!(captures(&payments)[1]["amount"], total - first);
    let last = &stripe.requests_to("/capture")[1];
    assert_eq!(last.field("final_capture"), None, "the last capture is final");
    let intent = stripe.intent("pi_fake1").unwrap();
    assert_eq!((intent["status"].as_str(), intent["amount_received"].as_i64()), (Some("succeeded"), Some(total)));
    assert_eq!(intent["amount_refunded"], 100);
    let timeline = app.get(&format!("{path}/events")).await.expect(StatusCode::OK);
    let kinds: Vec<&str> = timeline["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "capture_requested").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "captured").count(), 2, "{kinds:?}");
    // Nothing is left to capture.
    app.post(&format!("{path}/captures"), &json!({})).await.expect_problem(StatusCode::CONFLICT, "not_capturable");
    assert_eq!(stripe.violations(), Vec::<String>::new());
}

/// Cancelled before its first shipment, an order of a market that
/// captures at fulfilment has its authorisation voided, and a capture of
/// it is refused.
async fn an_uncaptured_order_cancelled_is_voided_and_cannot_be_captured(app: TestApp) {
    let stripe = FakeStripe::start().await;
    let Some(app) = with_stripe(app, &stripe).await else { return };
    let shop = shop(&app).await;
    capture_at_fulfilment(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_visa");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    let paid = order_when(&app, &id, "paid").await;
    // A manual capture of part of it, refused when it asks too much.
    let path = format!("/v1/orders/{id}");
    let total = paid["total"].as_i64().unwrap();
    app.post(&format!("{path}/captures"), &json!({"amount": total + 1}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_capturable");
    app.post(&format!("{path}/captures"), &json!({"amount": 0}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&format!("{path}/cancel"), &json!({"version": paid["version"]})).await.expect(StatusCode::OK);
    let payments = wait_for_payments(&app, &id, |p| settled(p, "void").is_some()).await;
    assert_eq!(settled(&payments, "void").unwrap()["status"], "succeeded");
    assert!(payments.iter().all(|p| p["kind"] != "capture" && p["kind"] != "refund"), "{payments:?}");
    assert_eq!(stripe.intent("pi_fake1").unwrap()["status"], "canceled");
    assert!(stripe.requests_to("/capture").is_empty());
    // A capture of a voided authorisation (of a cancelled order) is refused.
    app.post(&format!("{path}/captures"), &json!({})).await.expect_problem(StatusCode::CONFLICT, "illegal_transition");
    assert!(stripe.requests_to("/capture").is_empty());
}

/// Stripe cancelled an uncaptured authorisation (it lapsed): the event
/// voids what was not captured, so nothing tries to capture it any more.
async fn a_cancelled_payment_intent_event_voids_the_authorisation(app: TestApp) {
    let stripe = FakeStripe::start().await;
    let Some(app) = with_stripe_events(app, &stripe).await else { return };
    let shop = shop(&app).await;
    capture_at_fulfilment(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_visa");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    order_when(&app, &id, "paid").await;
    let event = json!({"id": "evt_cancel_1", "object": "event", "type": "payment_intent.canceled",
        "data": {"object": {"id": "pi_fake1", "object": "payment_intent", "status": "canceled",
            "cancellation_reason": "automatic", "metadata": {"order_id": id}}}});
    let body = serde_json::to_vec(&event).unwrap();
    let signature = ordo_service::payments::stripe::sign(WEBHOOK_SECRET, &body, chrono::Utc::now().timestamp());
    let headers = [("content-type", "application/json".to_owned()), ("stripe-signature", signature)];
    for _ in 0..2 {
        app.send_with_headers(ordo_testkit::Method::POST, "/hooks/stripe", &headers, body.clone())
            .await
            .expect(StatusCode::OK);
    }
    let payments = app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK);
    let voids: Vec<&Value> = payments.as_array().unwrap().iter().filter(|p| p["kind"] == "void").collect();
    assert_eq!(voids.len(), 1, "voided once, however often the event comes: {payments}");
    assert_eq!(
        (voids[0]["status"].as_str(), voids[0]["amount"].as_i64()),
        (Some("succeeded"), order["total"].as_i64())
    );
    assert_eq!(voids[0]["idempotency_key"], "stripe:evt_cancel_1");
    app.post(&format!("/v1/orders/{id}/captures"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_capturable");
    assert!(stripe.requests_to("/capture").is_empty());
}
