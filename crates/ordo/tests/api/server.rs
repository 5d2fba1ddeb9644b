//! Server behaviour: probes, request ids, timeouts, graceful shutdown, and
//! failing fast while the database is down.

use std::time::Duration;

use futures::StreamExt;
use ordo::config::DatabaseUrl;
use ordo_testkit::{Backend, StatusCode, TestApp, backend_tests};
use serde_json::json;

backend_tests!(probes_report_alive_and_ready, shutdown_drains_a_request_in_flight, slow_requests_time_out_with_408,);

async fn probes_report_alive_and_ready(app: TestApp) {
    assert_eq!(app.get("/healthz").await.expect(StatusCode::OK)["status"], "ok");
    let ready = app.get("/readyz").await.expect(StatusCode::OK);
    assert_eq!(ready["status"], "ready");
    let backend = match app.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], backend);

    let echoed = app.request(ordo_testkit::Method::GET, "/healthz", None, &[("x-request-id", "trace-me-42")]).await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-me-42"), "a client's request id is echoed");
    let generated = app.get("/healthz").await;
    let id = generated.header("x-request-id").expect("a request id is generated");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

/// A request body that arrives in two halves, `pause` apart.
fn slow_body(body: &serde_json::Value, pause: Duration) -> reqwest::Body {
    let bytes = serde_json::to_vec(body).unwrap();
    let (first, second) = bytes.split_at(bytes.len() / 2);
    let (first, second) = (first.to_vec(), second.to_vec());
    let stream = futures::stream::iter([(first, Duration::ZERO), (second, pause)]).then(|(chunk, wait)| async move {
        tokio::time::sleep(wait).await;
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(stream)
}

async fn shutdown_drains_a_request_in_flight(mut app: TestApp) {
    let body = json!({"sku": "DRAIN-1", "name": "In flight"});
    let request = app
        .client
        .post(app.url("/v1/products"))
        .header("content-type", "application/json")
        .body(slow_body(&body, Duration::from_millis(600)))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let server = app.begin_shutdown();
    let response = in_flight.await.unwrap().expect("the request in flight is answered");
    assert_eq!(response.status(), StatusCode::CREATED, "the request in flight completes");
    server.await.unwrap().expect("the server stops cleanly once drained");
    assert!(app.client.get(app.url("/healthz")).send().await.is_err(), "no new connections after shutdown");

    let db = app.stop().await;
    let config = db.config();
    let app = TestApp::start(db, &config).await;
    let list = app.get("/v1/products").await.expect(StatusCode::OK);
    assert_eq!(list["items"][0]["sku"], "DRAIN-1", "the drained request's write is durable");
}

async fn slow_requests_time_out_with_408(app: TestApp) {
    // The same backend, with a short request timeout.
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.server.request_timeout_ms = 300).await else { return };
    let response = app
        .client
        .post(app.url("/v1/products"))
        .header("content-type", "application/json")
        .body(slow_body(&json!({"sku": "SLOW-1", "name": "Slow"}), Duration::from_millis(1500)))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "request_timeout");
    assert_eq!(app.get("/v1/products").await.expect(StatusCode::OK)["items"], json!([]), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_means_fast_503_and_not_ready() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, |c| {
        // Nothing listens on port 1: the database is "down".
        c.database.url = DatabaseUrl::new("postgres://postgres@127.0.0.1:1/ordo");
        c.database.migrate_on_start = Some(false);
        c.database.acquire_timeout_ms = 500;
    })
    .await
    else {
        return;
    };
    assert_eq!(app.get("/healthz").await.expect(StatusCode::OK)["status"], "ok", "alive even without a database");
    app.get("/readyz").await.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    let started = std::time::Instant::now();
    let response = app.get("/v1/products").await;
    response.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert_eq!(response.header("retry-after"), Some("1"));
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast: {:?}", started.elapsed());
    let write = app.post("/v1/products", &json!({"sku": "X", "name": "X"})).await;
    write.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_to_serve_an_unmigrated_database_unless_asked() {
    let Some(db) = ordo_testkit::TestDb::create(Backend::Postgres).await else { return };
    let mut config = db.config();
    config.database.migrate_on_start = None;
    let error = ordo::Application::build(&config).await.expect_err("an unmigrated PostgreSQL database is refused");
    assert!(error.to_string().contains("ordo migrate"), "{error}");
    config.database.migrate_on_start = Some(true);
    let app = ordo::Application::build(&config).await.expect("migrating on start when asked");
    assert_eq!(app.services().db.pending_migrations().await.unwrap(), 0);
}
