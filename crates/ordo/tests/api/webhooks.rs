//! Webhooks: a local receiver gets every event, signed, in order per order,
//! after retries of the deliveries it refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};
use sha2::Sha256;

backend_tests!(
    a_receiver_gets_every_event_signed_in_order_after_retries,
    bad_webhooks_are_422,
    a_fan_out_that_runs_again_delivers_nothing_twice,
    waiting_is_not_failing_and_a_failed_delivery_unblocks_later_ones,
    a_delivery_fails_with_its_job_and_revives_with_it,
    money_and_partial_shipments_reach_webhooks_in_order,
);

/// `payment.*`, `refund.*` and `order.partially_fulfilled` reach a
/// subscriber, in the order they happened.
async fn money_and_partial_shipments_reach_webhooks_in_order(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else { return };
    let (url, receiver) = start_receiver(0).await;
    let types = json!([
        "payment.authorized",
        "payment.captured",
        "refund.created",
        "refund.succeeded",
        "order.partially_fulfilled"
    ]);
    app.post("/v1/webhooks", &json!({"url": url, "event_types": types})).await.expect(StatusCode::CREATED);
    let shop = shop(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 2}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    let kinds = |receiver: &Receiver| -> Vec<String> {
        let seen = receiver.seen.lock().unwrap();
        seen.iter()
            .map(|(_, _, b)| serde_json::from_slice::<Value>(b).unwrap()["type"].as_str().unwrap().to_owned())
            .collect()
    };
    let wait_for = async |n: usize| {
        for _ in 0..400 {
            if kinds(&receiver).len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("only {:?} arrived", kinds(&receiver));
    };
    wait_for(2).await;
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 100})).await.expect(StatusCode::CREATED);
    wait_for(4).await;
    let version = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["version"].as_i64().unwrap();
    let confirmed =
        app.post(&format!("/v1/orders/{id}/confirm"), &json!({"version": version})).await.expect(StatusCode::OK);
    let version = confirmed["version"].as_i64().unwrap();
    app.post(&format!("/v1/orders/{id}/fulfil"), &json!({"version": version, "lines": [{"line": 1, "quantity": 1}]}))
        .await
        .expect(StatusCode::OK);
    wait_for(5).await;
    assert_eq!(
        kinds(&receiver),
        ["payment.authorized", "payment.captured", "refund.created", "refund.succeeded", "order.partially_fulfilled"]
    );
    let seen = receiver.seen.lock().unwrap();
    let refund: Value = serde_json::from_slice(&seen[2].2).unwrap();
    assert_eq!((refund["order_id"].as_str(), refund["data"]["amount"].as_i64()), (Some(id.as_str()), Some(100)));
}

/// What the receiver saw: (status it answered, signature header, body).
#[derive(Default)]
pub(crate) struct Receiver {
    pub(crate) seen: Mutex<Vec<(u16, String, Vec<u8>)>>,
    /// Answer 500 to this many requests first.
    refuse: Mutex<u32>,
    /// Answer 503 to every event of these types.
    refuse_types: Mutex<Vec<String>>,
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let event_type = headers.get("ordo-event-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let status = {
        let mut refuse = receiver.refuse.lock().unwrap();
        if receiver.refuse_types.lock().unwrap().contains(&event_type) {
            AxumStatus::SERVICE_UNAVAILABLE
        } else if *refuse > 0 {
            *refuse -= 1;
            AxumStatus::INTERNAL_SERVER_ERROR
        } else {
            AxumStatus::OK
        }
    };
    let signature = headers.get("ordo-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    receiver.seen.lock().unwrap().push((status.as_u16(), signature, body.to_vec()));
    status
}

pub(crate) async fn start_receiver(refuse: u32) -> (String, Arc<Receiver>) {
    let receiver =
        Arc::new(Receiver { seen: Mutex::default(), refuse: Mutex::new(refuse), refuse_types: Mutex::default() });
    let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

/// Checks `t=<ts>,v1=<hex>` against our own HMAC-SHA256 of "<ts>.<body>".
fn valid_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    let Some((t, v1)) = header.strip_prefix("t=").and_then(|rest| rest.split_once(",v1=")) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    expected == v1
}

async fn a_receiver_gets_every_event_signed_in_order_after_retries(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else { return };
    let (url, receiver) = start_receiver(2).await;
    let types = json!(["order.placed", "order.paid", "invoice.issued", "order.cancelled"]);
    let created =
        app.post("/v1/webhooks", &json!({"url": url, "event_types": types})).await.expect(StatusCode::CREATED);
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    let listed = app.get(&format!("/v1/webhooks/{webhook_id}")).await.expect(StatusCode::OK);
    assert!(listed.get("secret").is_none(), "the secret is shown only at creation");

    let shop = shop(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap().to_owned();

    let delivered = |receiver: &Receiver| -> Vec<Value> {
        receiver
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, _)| *s == 200)
            .map(|(_, _, b)| serde_json::from_slice(b).unwrap())
            .collect()
    };
    for _ in 0..400 {
        if delivered(&receiver).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let events = delivered(&receiver);
    let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["order.placed", "order.paid", "invoice.issued"], "every event once, in the order's order");
    assert!(events.iter().all(|e| e["order_id"] == order_id.as_str()));
    let seen = receiver.seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|(_, signature, body)| valid_signature(&secret, signature, body)),
        "every request is signed with the secret"
    );
    let refused = seen.iter().filter(|(s, _, _)| *s == 500).count();
    assert_eq!(refused, 2, "the endpoint's 500s were retried");

    // The receiver has answered; Ordo records the answer a moment later.
    let mut deliveries = Value::Null;
    for _ in 0..200 {
        deliveries = app.get(&format!("/v1/webhooks/{webhook_id}/deliveries")).await.expect(StatusCode::OK);
        if deliveries["items"].as_array().unwrap().iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|d| d["status"] == "delivered"), "{items:?}");
    assert!(items[0]["attempts"].as_i64().unwrap() >= 2, "{items:?}");

    // Replay: the endpoint gets the event again.
    let first = items[0]["id"].as_str().unwrap();
    app.post(&format!("/v1/webhooks/deliveries/{first}/replay"), &json!({})).await.expect(StatusCode::OK);
    for _ in 0..200 {
        if delivered(&receiver).len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(delivered(&receiver).len(), 4);
    assert_eq!(delivered(&receiver)[3]["type"], "order.placed");

    app.request(ordo_testkit::Method::DELETE, &format!("/v1/webhooks/{webhook_id}"), None, &[]).await;
    app.get(&format!("/v1/webhooks/{webhook_id}")).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn bad_webhooks_are_422(app: TestApp) {
    let bad_url =
        app.post("/v1/webhooks", &json!({"url": "ftp://erp.example/hook", "event_types": ["order.paid"]})).await;
    assert_eq!(
        bad_url.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")["errors"][0]["code"],
        "invalid_url"
    );
    let bad_type =
        app.post("/v1/webhooks", &json!({"url": "https://erp.example/hook", "event_types": ["order.shipped"]})).await;
    assert_eq!(
        bad_type.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")["errors"][0]["code"],
        "unknown_event_type"
    );
    app.post("/v1/webhooks", &json!({"url": "https://erp.example/hook", "event_types": []}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Credentials in the URL would be shown back in every list; a URL past
    // 2048 characters is not an endpoint anyone means.
    for (url, code) in [
        ("https://user:secret@erp.example/hook".to_owned(), "credentials_in_url"),
        ("https://user@erp.example/hook".to_owned(), "credentials_in_url"),
        (format!("https://erp.example/{}", "a".repeat(60 * 1024)), "too_long"),
        (format!("https://erp.example/{}", "a".repeat(2049)), "too_long"),
    ] {
        let problem = app
            .post("/v1/webhooks", &json!({"url": url, "event_types": ["order.paid"]}))
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(
            (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
            (Some("url"), Some(code))
        );
        assert!(!problem.to_string().contains("secret"), "the refusal does not echo the password: {problem}");
    }
    assert_eq!(app.get("/v1/webhooks").await.expect(StatusCode::OK)["items"], json!([]));
    app.post(&format!("/v1/webhooks/deliveries/{}/replay", uuid::Uuid::now_v7()), &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

/// Polls `check` every 50 ms for up to `seconds`; true once it holds.
async fn eventually(seconds: u64, mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..seconds * 20 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

/// A webhook for `types` on a fresh receiver, and a paid order's events:
/// (app with workers, webhook id, receiver, order id).
async fn subscribed(
    app: TestApp,
    types: Value,
    refuse_types: &[&str],
) -> Option<(TestApp, String, Arc<Receiver>, String)> {
    let backend = app.backend();
    drop(app);
    let app = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await?;
    let (url, receiver) = start_receiver(0).await;
    *receiver.refuse_types.lock().unwrap() = refuse_types.iter().map(|t| (*t).to_owned()).collect();
    let created =
        app.post("/v1/webhooks", &json!({"url": url, "event_types": types})).await.expect(StatusCode::CREATED);
    let webhook_id = created["id"].as_str().unwrap().to_owned();
    let shop = shop(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    Some((app, webhook_id, receiver, order["id"].as_str().unwrap().to_owned()))
}

async fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<Value> {
    app.get(&format!("/v1/webhooks/{webhook_id}/deliveries")).await.expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// The delivery job of a delivery, if it exists.
async fn delivery_job(app: &TestApp, delivery_id: &str) -> Option<Value> {
    let jobs = app.get("/v1/jobs?queue=webhooks&limit=500").await.expect(StatusCode::OK);
    jobs["items"].as_array().unwrap().iter().find(|j| j["payload"]["delivery_id"] == delivery_id).cloned()
}

fn posts_of(receiver: &Receiver, event_type: &str) -> usize {
    receiver
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, body)| serde_json::from_slice::<Value>(body).unwrap()["type"] == event_type)
        .count()
}

/// A fan-out job that runs again for the same event (as after a crash
/// between its commit and its completion) created a second delivery and
/// POSTed the event twice. One delivery per (webhook, event) now, enforced
/// by the database.
async fn a_fan_out_that_runs_again_delivers_nothing_twice(app: TestApp) {
    let Some((app, webhook_id, receiver, _)) = subscribed(app, json!(["order.placed"]), &[]).await else { return };
    assert!(
        eventually(10, async || deliveries(&app, &webhook_id).await.iter().any(|d| d["status"] == "delivered")).await
    );
    let first = deliveries(&app, &webhook_id).await;
    assert_eq!(first.len(), 1);
    let event_id: uuid::Uuid = first[0]["event_id"].as_str().unwrap().parse().unwrap();

    // The fan-out again, as a rescued job would run it.
    let again = ordo_service::webhooks::FanOutEvent { event_id };
    app.services.queue.enqueue(&again, ordo_jobs::EnqueueOptions::default()).await.unwrap().expect("enqueued");
    assert!(
        eventually(10, async || app.get("/v1/jobs?queue=webhooks").await.expect(StatusCode::OK)["items"] == json!([]))
            .await
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(deliveries(&app, &webhook_id).await, first, "no second delivery");
    assert_eq!(posts_of(&receiver, "order.placed"), 1, "the endpoint got the event once");

    // And the database itself refuses a second row.
    let (webhook, event) = (uuid::Uuid::parse_str(&webhook_id).unwrap(), event_id);
    let duplicate = format!(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, order_id, status, attempts, created_at)
         SELECT {}, webhook_id, event_id, event_type, order_id, 'pending', 0, created_at FROM webhook_deliveries
          WHERE webhook_id = {} AND event_id = {}",
        app.db.uuid_literal(uuid::Uuid::now_v7()),
        app.db.uuid_literal(webhook),
        app.db.uuid_literal(event),
    );
    let refused = std::panic::AssertUnwindSafe(app.db.execute(&duplicate));
    assert!(futures::FutureExt::catch_unwind(refused).await.is_err(), "a duplicate delivery row is refused");
}

/// An endpoint that answers 503 to `order.placed`: the later `order.paid`
/// waits, and waiting used to spend its attempts (8 in about 30 s), after
/// which its job died and its delivery stayed `pending` for ever. Now the
/// wait spends none; and once the earlier delivery fails for good (here: its
/// job is cancelled), the later one goes out.
async fn waiting_is_not_failing_and_a_failed_delivery_unblocks_later_ones(app: TestApp) {
    let Some((app, webhook_id, receiver, _)) =
        subscribed(app, json!(["order.placed", "order.paid"]), &["order.placed"]).await
    else {
        return;
    };
    let by_type = async |kind: &str| deliveries(&app, &webhook_id).await.into_iter().find(|d| d["event_type"] == kind);
    assert!(eventually(10, async || by_type("order.paid").await.is_some()).await, "order.paid has its delivery");
    let paid = by_type("order.paid").await.unwrap();
    let paid_id = paid["id"].as_str().unwrap().to_owned();
    // Let the paid delivery's job find the placed one pending many times.
    assert!(
        eventually(15, async || {
            let job = delivery_job(&app, &paid_id).await;
            job.is_some_and(|j| j["progress_message"].as_str().is_some_and(|m| m.contains("earlier event")))
        })
        .await,
        "the paid delivery waits"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let job = delivery_job(&app, &paid_id).await.expect("the waiting delivery's job is alive");
    assert_eq!(job["attempt"], 0, "waiting used no attempt: {job}");
    assert_ne!(job["state"], "dead");
    let paid = by_type("order.paid").await.unwrap();
    assert_eq!((paid["status"].as_str(), paid["attempts"].as_i64()), (Some("pending"), Some(0)), "{paid}");
    assert!(posts_of(&receiver, "order.placed") >= 2, "the placed event was retried");
    assert_eq!(posts_of(&receiver, "order.paid"), 0, "in order: nothing after a pending event");

    // The earlier delivery fails for good: its job is cancelled.
    let placed = by_type("order.placed").await.unwrap();
    let placed_id = placed["id"].as_str().unwrap().to_owned();
    let placed_job = delivery_job(&app, &placed_id).await.expect("the placed delivery's job");
    app.post(&format!("/v1/jobs/{}/cancel", placed_job["id"].as_str().unwrap()), &json!({})).await;
    assert!(
        eventually(10, async || by_type("order.placed").await.unwrap()["status"] == "failed").await,
        "the delivery failed with its job"
    );
    assert!(eventually(10, async || delivery_job(&app, &placed_id).await.is_none()).await);
    // Five failures in a row open the endpoint's circuit for 30 s, which the
    // later delivery waits out too.
    assert!(
        eventually(45, async || by_type("order.paid").await.unwrap()["status"] == "delivered").await,
        "the later delivery is no longer held back"
    );
    assert_eq!(posts_of(&receiver, "order.paid"), 1);
}

/// A delivery's status is its job's: a job that dies because its last
/// attempt's lease expired (its worker crashed) fails its delivery in the
/// same transaction (it stayed `pending` for ever); retrying the dead job by
/// hand makes it pending again, and it is delivered.
async fn a_delivery_fails_with_its_job_and_revives_with_it(app: TestApp) {
    let Some((app, webhook_id, receiver, _)) = subscribed(app, json!(["order.placed"]), &["order.placed"]).await else {
        return;
    };
    assert!(eventually(10, async || posts_of(&receiver, "order.placed") >= 1).await);
    let delivery = deliveries(&app, &webhook_id).await.remove(0);
    let delivery_id = delivery["id"].as_str().unwrap().to_owned();
    let job = delivery_job(&app, &delivery_id).await.expect("its job");
    let job_id = uuid::Uuid::parse_str(job["id"].as_str().unwrap()).unwrap();

    // As if a worker took its last attempt and died: running, on the last
    // attempt, under a lease long expired.
    let past = match app.backend() {
        ordo_testkit::Backend::Sqlite => "1".to_owned(),
        ordo_testkit::Backend::Postgres => "'2000-01-01T00:00:00Z'".to_owned(),
    };
    app.db
        .execute(&format!(
            "UPDATE jobs SET state = 'running', attempt = max_attempts, attempt_id = {}, locked_by = 'crashed',
                    lease_expires_at = {past}, run_at = {past}
              WHERE id = {}",
            app.db.uuid_literal(uuid::Uuid::now_v7()),
            app.db.uuid_literal(job_id),
        ))
        .await;
    let job_path = format!("/v1/jobs/{job_id}");
    assert!(eventually(10, async || app.get(&job_path).await.expect(StatusCode::OK)["state"] == "dead").await);
    let failed = deliveries(&app, &webhook_id).await.remove(0);
    assert_eq!(failed["status"], "failed", "the delivery failed with its job: {failed}");
    assert!(failed["last_error"].as_str().unwrap().contains("lease expired"), "{failed}");

    // The endpoint is back; the dead job is retried by hand.
    receiver.refuse_types.lock().unwrap().clear();
    app.post(&format!("{job_path}/retry"), &json!({})).await.expect(StatusCode::OK);
    assert_eq!(deliveries(&app, &webhook_id).await[0]["status"], "pending", "revived with its job");
    assert!(
        eventually(15, async || deliveries(&app, &webhook_id).await[0]["status"] == "delivered").await,
        "delivered after the retry"
    );
    assert_eq!(receiver.seen.lock().unwrap().last().unwrap().0, 200);
}
