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

/// A TCP forwarder to PostgreSQL that can be cut: down, it drops every
/// connection and refuses new ones, as a stopped server would; up again,
/// it forwards on the same port.
struct CuttableLink {
    addr: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    forwarding: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl CuttableLink {
    async fn to(upstream: &str) -> std::sync::Arc<Self> {
        let url = url::Url::parse(upstream).unwrap();
        let upstream = tokio::net::lookup_host((url.host_str().unwrap(), url.port().unwrap_or(5432)))
            .await
            .unwrap()
            .next()
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let link = std::sync::Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            forwarding: std::sync::Mutex::default(),
        });
        link.forward(listener);
        link
    }

    fn forward(&self, listener: tokio::net::TcpListener) {
        let upstream = self.upstream;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.forwarding.lock().unwrap() = Some(task);
    }

    /// Drops the listener and every connection (the JoinSet aborts them).
    fn cut(&self) {
        if let Some(task) = self.forwarding.lock().unwrap().take() {
            task.abort();
        }
    }

    async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.forward(listener);
    }
}

/// While PostgreSQL is down, every request that needs it waited the pool's
/// whole acquire timeout (5 s) for its 503, and readiness 2 s; a server
/// started meanwhile listened only after 5 s. Now a breaker fails them at
/// once after the first (which learns of the outage), readiness answers at
/// once, and service resumes by itself when the database is back. The
/// bounds below are far from both the old figures and a busy machine's
/// noise; the benchmarks and the fault suite measure the real latencies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_then_recovers_by_itself() {
    use std::time::Instant;
    let Some(db) = ordo_testkit::TestDb::create(Backend::Postgres).await else { return };
    let link = CuttableLink::to(&db.url).await;
    let via_link = db.url_via(&format!("postgres://postgres@{}/any", link.addr));
    let mut config = db.config();
    config.database.url = DatabaseUrl::new(via_link);
    config.database.acquire_timeout_ms = 5_000; // the default: the breaker, not the pool, must be fast
    let app = TestApp::start(db, &config).await;
    let product = app.post("/v1/products", &json!({"sku": "UP-1", "name": "Up"})).await.expect(StatusCode::CREATED);
    let product_path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    // The creation's own change notification comes back a moment later and
    // drops what is cached by then: let it pass before caching.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.get(&product_path).await.expect(StatusCode::OK); // now cached

    link.cut();
    let mut latencies = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let response = app.get("/v1/products").await;
        latencies.push(started.elapsed());
        response.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
        assert_eq!(response.header("retry-after"), Some("1"));
    }
    assert!(latencies[0] < Duration::from_secs(3), "the first learns of the outage quickly: {latencies:?}");
    assert!(latencies[1..].iter().all(|l| *l < Duration::from_secs(1)), "then at once: {latencies:?}");
    let started = Instant::now();
    app.get("/readyz").await.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert!(started.elapsed() < Duration::from_secs(1), "readiness answers at once: {:?}", started.elapsed());
    let write = app.post("/v1/products", &json!({"sku": "DOWN-1", "name": "Down"})).await;
    write.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    // Cached reference data is still served (the change listener's loss
    // emptied the cache).
    assert_eq!(app.get(&product_path).await.expect(StatusCode::OK)["sku"], "UP-1");

    // A server started during the outage listens at once.
    let mut peer_config = config.clone();
    peer_config.database.migrate_on_start = Some(false);
    let started = Instant::now();
    let peer = ordo::Application::build(&peer_config).await.expect("starts without its database");
    assert!(started.elapsed() < Duration::from_secs(2), "started in {:?}", started.elapsed());
    drop(peer);

    link.restore().await;
    let back = Instant::now();
    loop {
        let response = app.get("/v1/products").await;
        if response.status == StatusCode::OK {
            let items = response.json()["items"].clone();
            let skus: Vec<&str> = items.as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap()).collect();
            assert_eq!(skus, ["UP-1"], "what was acknowledged before the outage is there, nothing else");
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(5), "not back after {:?}", back.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.get("/readyz").await.expect(StatusCode::OK);
    app.post("/v1/products", &json!({"sku": "UP-2", "name": "Up again"})).await.expect(StatusCode::CREATED);
}

/// A small filesystem of the test's own (tmpfs, so root only), unmounted
/// when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// SQLite on a disk that fills up: after its first SQLITE_FULL the single
/// writer connection still counted a transaction SQLite had rolled back, so
/// every later write failed with a 500 even once space was free, workers
/// stopped, and readiness said ready. Now: 503 with Retry-After while full,
/// readiness 503, reads served; writes and workers resume by themselves
/// once there is space, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_is_503_then_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount(12) else {
        eprintln!("SKIPPED: the full-disk test needs to mount a tmpfs (run as root)");
        return;
    };
    let db = ordo_testkit::TestDb::create(Backend::Sqlite).await.unwrap();
    let mut config = db.config();
    config.database.url = DatabaseUrl::new(format!("sqlite://{}", disk.path().join("ordo.db").display()));
    config.workers.enabled = true;
    let app = TestApp::start(db, &config).await;
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 9 * 1024 * 1024]).unwrap();

    let mut acknowledged = Vec::new();
    let mut refused = None;
    for i in 0..2_000 {
        let body = json!({"sku": format!("FILL-{i}"), "name": "Fill", "description": "x".repeat(3_000)});
        let response = app.post("/v1/products", &body).await;
        if response.status == StatusCode::CREATED {
            acknowledged.push(response.json()["id"].as_str().unwrap().to_owned());
        } else {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the disk filled up");
    refused.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(!acknowledged.is_empty());
    app.get("/readyz").await.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable");
    app.get("/v1/products?limit=1").await.expect(StatusCode::OK);
    // Every later write is a 503 too, never a 500.
    for i in 0..5 {
        let response = app
            .post(
                "/v1/products",
                &json!({"sku": format!("MORE-{i}"), "name": "More", "description": "x".repeat(3_000)}),
            )
            .await;
        assert!(matches!(response.status.as_u16(), 201 | 503), "{}: {}", response.status, response.text);
    }

    std::fs::remove_file(&ballast).unwrap();
    let freed = std::time::Instant::now();
    loop {
        if app.get("/readyz").await.status == StatusCode::OK {
            break;
        }
        assert!(freed.elapsed() < Duration::from_secs(5), "still not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.post("/v1/products", &json!({"sku": "AFTER", "name": "After"})).await.expect(StatusCode::CREATED);
    // The in-process workers run jobs again: a job enqueued now completes.
    app.services
        .queue
        .enqueue(&ordo_service::idempotency::SweepExpiredKeys, ordo_jobs::EnqueueOptions::default())
        .await
        .unwrap();
    let mut drained = false;
    for _ in 0..100 {
        if app.get("/v1/jobs").await.expect(StatusCode::OK)["items"] == json!([]) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "the workers resumed");
    for id in &acknowledged {
        app.get(&format!("/v1/products/{id}")).await.expect(StatusCode::OK);
    }
    drop(app);
    drop(disk);
}
