//! Distributed tracing: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, `ordo serve`
//! exports its spans over OTLP, joins the caller's W3C `traceparent`, and
//! carries the trace through the job queue to the webhook calls it makes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use ordo_testkit::fixtures::{serve, shipping_address, terminate};
use ordo_testkit::ordo_command;
use serde_json::{Value, json};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// What the local receiver got: OTLP/JSON export requests, and the
/// `traceparent` of each webhook call.
#[derive(Default)]
struct Received {
    exports: Vec<Value>,
    webhook_traceparents: Vec<String>,
}

type Shared = Arc<Mutex<Received>>;

async fn collect_traces(State(received): State<Shared>, body: Bytes) -> &'static str {
    let export: Value = serde_json::from_slice(&body).expect("OTLP/JSON export body");
    received.lock().unwrap().exports.push(export);
    "{}"
}

async fn collect_webhook(State(received): State<Shared>, headers: HeaderMap) -> &'static str {
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    received.lock().unwrap().webhook_traceparents.push(traceparent);
    "ok"
}

/// Every exported span as (name, kind, trace id, parent span id, span id).
fn spans(received: &Received) -> Vec<(String, i64, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    received
        .exports
        .iter()
        .flat_map(|e| e["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        .map(|s| {
            (
                text(&s["name"]),
                s["kind"].as_i64().unwrap_or(0),
                text(&s["traceId"]),
                text(&s["parentSpanId"]),
                text(&s["spanId"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_and_the_trace_reaches_webhook_calls() {
    let received = Shared::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_url = format!("http://{}", receiver.local_addr().unwrap());
    let routes = Router::new()
        .route("/v1/traces", post(collect_traces))
        .route("/hook", post(collect_webhook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(receiver, routes).await });

    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, _) = serve(
        ordo_command!()
            .current_dir(dir.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver_url)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("ORDO_WORKERS_POLL_INTERVAL_MS", "50"),
    );
    let key = std::fs::read_to_string(dir.path().join("ordo-data/admin-key")).unwrap().trim().to_owned();
    let client = ordo_testkit::TestApp::client_with_key(&key);
    let create = async |path: &str, body: Value| -> Value {
        let response = client.post(format!("{url}{path}")).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    };
    create(
        "/v1/markets",
        json!({"code": "DE", "name": "Germany", "currency": "EUR", "tax_rate_bp": 1900, "locale": "de-DE"}),
    )
    .await;
    let location = create("/v1/locations", json!({"code": "W1", "name": "Warehouse", "priority": 1})).await;
    create("/v1/products", json!({"sku": "TEE", "name": "Tee", "prices": [{"amount": 1999, "currency": "EUR"}]})).await;
    create("/v1/stock/receipts", json!({"sku": "TEE", "location_id": location["id"], "quantity": 5})).await;
    let customer = create("/v1/customers", json!({"email": "t@example.com", "name": "T"})).await;
    create("/v1/webhooks", json!({"url": format!("{receiver_url}/hook"), "event_types": ["order.placed"]})).await;

    let placed = client
        .post(format!("{url}/v1/orders"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({
            "customer_id": customer["id"], "market": "DE", "payment_token": "tok_approve",
            "lines": [{"sku": "TEE", "quantity": 1}],
            "shipping_address": shipping_address()
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);

    // The webhook call, two jobs away from the request, carries its trace.
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().webhook_traceparents.is_empty() {
        assert!(Instant::now() < deadline, "the webhook was called");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let traceparent = received.lock().unwrap().webhook_traceparents[0].clone();
    assert!(traceparent.starts_with(&format!("00-{TRACE_ID}-")), "webhook call's traceparent: {traceparent:?}");

    // Stopping flushes the spans still buffered.
    let (status, logs) = terminate(&mut child);
    assert!(status.success(), "{logs}");
    let received = received.lock().unwrap();
    let spans = spans(&received);
    let in_trace: Vec<_> = spans.iter().filter(|s| s.2 == TRACE_ID).collect();
    let find = |name: &str| {
        in_trace.iter().find(|s| s.0 == name).unwrap_or_else(|| {
            panic!(
                "no span {name:?} in the caller's trace; spans: {:?}",
                spans.iter().map(|s| &s.0).collect::<Vec<_>>()
            )
        })
    };
    let request = find("POST /v1/orders");
    assert_eq!(request.3, CALLER_SPAN, "the request span is the caller's child");
    assert_eq!(request.1, 2, "a server span");
    let insert = find("orders.insert_placement");
    assert_ne!(insert.3, "", "database spans sit inside the trace");
    find("transaction.commit");
    find("job webhook.fan_out");
    find("job order.authorize_payment");
    let call = find("POST webhook");
    assert_eq!(call.1, 3, "a client span");
    assert!(traceparent.contains(&call.4), "the receiver's parent is the client span");
    assert!(
        received
            .exports
            .iter()
            .any(|e| e.to_string().contains("\"service.name\"") && e.to_string().contains("\"ordo\"")),
        "the resource names the service"
    );
}
