//! Webhooks: a local receiver gets every event, signed, in order per order,
//! after retries of the deliveries it refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, Mac};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::orders::{order_body, shop};

backend_tests!(a_receiver_gets_every_event_signed_in_order_after_retries, bad_webhooks_are_422);

/// What the receiver saw: (status it answered, signature header, body).
#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<(u16, String, Vec<u8>)>>,
    /// Answer 500 to this many requests first.
    refuse: Mutex<u32>,
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let status = {
        let mut refuse = receiver.refuse.lock().unwrap();
        if *refuse > 0 {
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

async fn start_receiver(refuse: u32) -> (String, Arc<Receiver>) {
    let receiver = Arc::new(Receiver { seen: Mutex::default(), refuse: Mutex::new(refuse) });
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
