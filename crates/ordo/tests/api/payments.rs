//! Payment records and refunds: every provider call that moves money is
//! recorded; refunds never exceed the capture, whatever the concurrency.

use std::time::Duration;

use futures::future::join_all;
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    a_paid_order_is_authorised_captured_and_refunded_in_part,
    concurrent_refunds_never_exceed_the_capture,
    bad_refunds_are_refused_and_change_nothing,
    without_a_provider_a_payment_token_is_refused,
    cancelling_a_captured_order_refunds_what_is_left,
    a_capture_that_ends_after_the_cancel_is_refunded_once,
);

/// `app`'s backend again, with the workers on.
pub(crate) async fn with_workers(app: TestApp) -> Option<TestApp> {
    let backend = app.backend();
    drop(app);
    TestApp::spawn_with(backend, |c| c.workers.enabled = true).await
}

/// The order's payment records once `done` holds for them.
pub(crate) async fn wait_for_payments(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..500 {
        let payments = app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK);
        let payments = payments.as_array().unwrap().clone();
        if done(&payments) {
            return payments;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id}'s payments never settled");
}

fn of_kind<'a>(payments: &'a [Value], kind: &str) -> Vec<&'a Value> {
    payments.iter().filter(|p| p["kind"] == kind).collect()
}

fn captured(payments: &[Value]) -> bool {
    of_kind(payments, "capture").iter().any(|p| p["status"] == "succeeded")
}

/// Places a paid order and waits until its capture succeeded; returns its
/// id and total.
pub(crate) async fn paid_order(app: &TestApp) -> (String, i64) {
    let shop = shop(app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 4}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    wait_for_payments(app, &id, captured).await;
    (id, order["total"].as_i64().unwrap())
}

async fn a_paid_order_is_authorised_captured_and_refunded_in_part(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, total) = paid_order(&app).await;
    let payments = wait_for_payments(&app, &id, captured).await;
    let (authorization, capture) = (of_kind(&payments, "authorization"), of_kind(&payments, "capture"));
    assert_eq!((authorization.len(), capture.len()), (1, 1), "{payments:?}");
    for (record, key) in
        [(authorization[0], format!("order:{id}:authorize")), (capture[0], format!("order:{id}:capture"))]
    {
        assert_eq!(record["status"], "succeeded");
        assert_eq!(record["amount"], total);
        assert_eq!(record["currency"], "EUR");
        assert_eq!(record["provider"], "test");
        assert_eq!(record["provider_reference"], format!("test_{id}"));
        assert_eq!(record["idempotency_key"], key);
        assert_eq!(record["order_id"], id.as_str());
    }

    // A partial refund: pending at once, then made at the provider.
    let refund =
        app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 500})).await.expect(StatusCode::CREATED);
    assert_eq!(
        (refund["kind"].as_str(), refund["status"].as_str(), refund["amount"].as_i64()),
        (Some("refund"), Some("pending"), Some(500))
    );
    assert_eq!(refund["provider_reference"], format!("test_{id}"));
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let payments =
        wait_for_payments(&app, &id, |p| of_kind(p, "refund").iter().all(|r| r["status"] == "succeeded")).await;
    assert_eq!(of_kind(&payments, "refund").len(), 1);
    assert_eq!(of_kind(&payments, "refund")[0]["id"], refund_id.as_str());

    // The rest can be refunded, and nothing more.
    let rest = total - 500;
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": rest + 1}))
        .await
        .expect_problem(StatusCode::CONFLICT, "refund_exceeds_capture");
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": rest})).await.expect(StatusCode::CREATED);
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 1}))
        .await
        .expect_problem(StatusCode::CONFLICT, "refund_exceeds_capture");

    // The list filters by order, kind and status, with a cursor.
    let refunds = app.get(&format!("/v1/payments?order_id={id}&kind=refund")).await.expect(StatusCode::OK);
    let amounts: Vec<i64> =
        refunds["items"].as_array().unwrap().iter().map(|p| p["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, [500, rest]);
    let first = app.get(&format!("/v1/payments?order_id={id}&limit=1")).await.expect(StatusCode::OK);
    assert_eq!(first["items"][0]["kind"], "authorization");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("/v1/payments?order_id={id}&limit=1&cursor={cursor}")).await.expect(StatusCode::OK);
    assert_eq!(second["items"][0]["kind"], "capture");
    let failed = app.get("/v1/payments?status=failed").await.expect(StatusCode::OK);
    assert!(failed["items"].as_array().unwrap().is_empty());

    // The money steps are on the order's timeline.
    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    let kinds: Vec<&str> = timeline["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..5], ["placed", "paid", "capture_requested", "captured", "refund_requested"], "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "refund_requested").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"refunded"), "{kinds:?}");
    let requested = &timeline["items"][4];
    assert_eq!((requested["detail"]["amount"].as_i64(), requested["to_status"].as_str()), (Some(500), Some("paid")));

    // Each refund is audited as the caller who asked for it.
    let audit =
        app.get(&format!("/v1/audit-events?entity_type=payment&entity_id={refund_id}")).await.expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"refund.requested") && actions.contains(&"refund.succeeded"), "{actions:?}");
}

async fn concurrent_refunds_never_exceed_the_capture(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, total) = paid_order(&app).await;
    // 16 refunds of a seventh each: their sum is more than twice the capture.
    let each = total / 7;
    let (path, body) = (format!("/v1/orders/{id}/refunds"), json!({"amount": each}));
    let answers = join_all((0..16).map(|_| app.post(&path, &body))).await;
    let created = answers.iter().filter(|a| a.status == StatusCode::CREATED).count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::CONFLICT && a.json()["code"] == "refund_exceeds_capture")
        .count();
    assert_eq!((created, refused), (7, 9), "exactly the refunds that fit succeed");
    let payments =
        wait_for_payments(&app, &id, |p| of_kind(p, "refund").iter().all(|r| r["status"] == "succeeded")).await;
    let refunded: i64 = of_kind(&payments, "refund").iter().map(|r| r["amount"].as_i64().unwrap()).sum();
    assert_eq!(refunded, 7 * each);
    assert!(refunded <= total);
}

async fn bad_refunds_are_refused_and_change_nothing(app: TestApp) {
    let shop = shop(&app).await;
    // No payment token: the order is placed, not paid.
    let order = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    let refunds = format!("/v1/orders/{id}/refunds");
    app.post(&refunds, &json!({"amount": 100})).await.expect_problem(StatusCode::CONFLICT, "not_captured");
    app.post(&refunds, &json!({"amount": 0}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&refunds, &json!({"amount": -5}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&refunds, &json!({"amount": "100"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.post(&refunds, &json!({"amount": 100, "extra": 1}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let unknown = "/v1/orders/01890000-0000-7000-8000-000000000000/refunds";
    app.post(unknown, &json!({"amount": 100})).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post("/v1/orders/nope/refunds", &json!({"amount": 100}))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.get("/v1/orders/01890000-0000-7000-8000-000000000000/payments")
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/v1/payments?kind=charge").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    // Nothing was recorded.
    assert_eq!(app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK), json!([]));
    assert!(app.get("/v1/payments").await.expect(StatusCode::OK)["items"].as_array().unwrap().is_empty());
}

/// `payments.provider = "none"` (PostgreSQL's default): an order with a
/// payment token is refused and nothing is placed; one without is placed.
async fn without_a_provider_a_payment_token_is_refused(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) =
        TestApp::spawn_with(backend, |c| c.payments.provider = Some(ordo::config::PaymentProviderName::None)).await
    else {
        return;
    };
    let shop = shop(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let refused =
        app.post("/v1/orders", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused["errors"][0]["field"], "payment_token");
    assert_eq!(refused["errors"][0]["code"], "no_payment_provider");
    assert!(app.get("/v1/orders").await.expect(StatusCode::OK)["items"].as_array().unwrap().is_empty());
    body.as_object_mut().unwrap().remove("payment_token");
    app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
}

/// The saga's compensation: cancelling a paid, captured order gives back
/// what was not refunded yet, once, audited and evented.
async fn cancelling_a_captured_order_refunds_what_is_left(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, total) = paid_order(&app).await;
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 300})).await.expect(StatusCode::CREATED);
    let order = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
    let version = order["version"].as_i64().unwrap();
    let cancelled =
        app.post(&format!("/v1/orders/{id}/cancel"), &json!({"version": version})).await.expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    let settled = |p: &[Value]| {
        let refunds = of_kind(p, "refund");
        refunds.len() == 2 && refunds.iter().all(|r| r["status"] == "succeeded")
    };
    let payments = wait_for_payments(&app, &id, settled).await;
    let refunds: Vec<i64> = of_kind(&payments, "refund").iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    assert_eq!(refunds, [300, total - 300], "the rest of the capture, once");
    // Each refund has its credit note; the cancellation's credits what the
    // invoice has left, so the invoice is credited in full.
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let notes = notes["items"].as_array().unwrap();
    let reasons: Vec<(&str, i64)> =
        notes.iter().map(|n| (n["reason"].as_str().unwrap(), n["total"].as_i64().unwrap())).collect();
    assert_eq!(reasons, [("refund", 300), ("cancellation", total - 300)]);
    assert_eq!(notes[1]["refund_id"], of_kind(&payments, "refund")[1]["id"]);
    // Nothing is left to refund, and nothing more is refunded later.
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 1}))
        .await
        .expect_problem(StatusCode::CONFLICT, "refund_exceeds_capture");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK);
    assert_eq!(of_kind(later.as_array().unwrap(), "refund").len(), 2);
    let audit = app.get("/v1/audit-events?entity_type=payment").await.expect(StatusCode::OK);
    let by_system = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "refund.requested" && e["actor_name"] == "payments")
        .count();
    assert_eq!(by_system, 1, "the compensation is audited as the payments system");
    // The saga's compensation is in the state machine: refund_pending while
    // the money goes back, refunded once it all has.
    let mut status = Value::Null;
    for _ in 0..250 {
        status = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["status"].clone();
        if status == "refunded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, "refunded");
    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    let steps: Vec<(&str, &str)> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from_status"] != e["to_status"])
        .map(|e| (e["kind"].as_str().unwrap(), e["to_status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &steps[steps.len() - 3..],
        [("cancelled", "cancelled"), ("refund_pending", "refund_pending"), ("refunded", "refunded")],
        "{steps:?}"
    );
    // A refunded order cannot be refunded further, nor captured.
    app.post(&format!("/v1/orders/{id}/captures"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
}

/// Cancelled while its capture is at the provider: the capture finishes,
/// and the money goes back, once.
async fn a_capture_that_ends_after_the_cancel_is_refunded_once(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_capture_slow");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let (id, total) = (order["id"].as_str().unwrap().to_owned(), order["total"].as_i64().unwrap());
    // The capture is recorded before the provider is called (which takes 2 s).
    wait_for_payments(&app, &id, |p| of_kind(p, "capture").iter().any(|c| c["status"] == "pending")).await;
    let version = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["version"].as_i64().unwrap();
    app.post(&format!("/v1/orders/{id}/cancel"), &json!({"version": version})).await.expect(StatusCode::OK);
    let payments = wait_for_payments(&app, &id, |p| {
        captured(p) && of_kind(p, "refund").iter().any(|r| r["status"] == "succeeded")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let payments_later = app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK);
    let refunds: Vec<i64> =
        of_kind(payments_later.as_array().unwrap(), "refund").iter().map(|r| r["amount"].as_i64().unwrap()).collect();
    assert_eq!(refunds, [total], "the whole capture, once: {payments:?}");
}
