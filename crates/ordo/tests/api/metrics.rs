//! `/metrics`: the Prometheus families appear, move with traffic, and carry
//! no ids or raw paths in their labels.

use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::json;

backend_tests!(metrics_move_with_requests_errors_and_orders, admin_stats_show_percentiles_queues_and_pool);

/// The value of the first sample of `family` whose labels contain all of `labels`.
fn sample(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .filter(|l| labels.iter().all(|needle| l.contains(needle)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .next()
        .unwrap_or(0.0)
}

async fn metrics_move_with_requests_errors_and_orders(app: TestApp) {
    let scrape = || async { app.anonymous.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let before = scrape().await;
    let shop = shop(&app).await;
    app.post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    app.get(&format!("/v1/products/{}", uuid::Uuid::now_v7())).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    // A made-up method is answered, and counted under `other`: methods
    // cannot add series.
    app.request(ordo_testkit::Method::from_bytes(b"FROBNICATE").unwrap(), "/v1/products", None, &[])
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let after = scrape().await;

    let count = |text: &str, labels: &[&str]| sample(text, "http_server_request_duration_seconds_count", labels);
    let orders = ["method=\"POST\"", "route=\"/v1/orders\"", "status=\"2xx\""];
    assert!(count(&after, &orders) >= count(&before, &orders) + 1.0, "the order's request is counted");
    let missing = ["method=\"GET\"", "route=\"/v1/products/{id}\"", "status=\"4xx\""];
    assert!(count(&after, &missing) >= count(&before, &missing) + 1.0, "errors are counted by status class");
    let made_up = ["method=\"other\"", "route=\"/v1/products\"", "status=\"4xx\""];
    assert!(count(&after, &made_up) >= count(&before, &made_up) + 1.0, "a made-up method is counted as other");
    assert!(!after.contains("FROBNICATE"), "a made-up method became a label");
    assert!(after.contains("http_server_request_duration_seconds_bucket"), "latency histograms");
    assert!(after.contains("le=\"0.0005\"") && after.contains("le=\"10\""), "buckets from 0.5 ms to 10 s");
    assert!(after.contains("http_server_requests_in_flight"));
    assert!(
        after.contains("process_resident_memory_bytes") && after.contains("process_cpu_seconds_total"),
        "process metrics"
    );
    assert!(after.contains("http_server_response_size_bytes"));
    assert!(sample(&after, "ordo_orders_placed_total", &["market=\"DE\""]) >= 1.0);
    assert!(sample(&after, "ordo_cache_requests_total", &["result=\"hit\""]) >= 1.0);
    assert!(after.contains("db_pool_connections{state=\"idle\"}") && after.contains("db_pool_connections_max"));
    assert!(
        sample(&after, "ordo_jobs", &["queue=\"mail\"", "state=\"available\""]) >= 1.0,
        "queue depth by queue and state"
    );
    assert!(after.contains("ordo_jobs_oldest_age_seconds{queue=\"mail\"}"));
    let db = |text: &str, operation: &str| {
        sample(text, "db_query_duration_seconds_count", &[&format!("operation=\"{operation}\"")])
    };
    assert!(
        db(&after, "orders.insert_placement") >= db(&before, "orders.insert_placement") + 1.0,
        "query time by operation"
    );
    assert!(db(&after, "transaction.commit") > db(&before, "transaction.commit"), "commits are timed");
    let acquire = |text: &str| sample(text, "db_pool_acquire_duration_seconds_count", &["kind=\"write\""]);
    assert!(acquire(&after) > acquire(&before), "time waiting for a connection");

    // Bounded cardinality: no ids or raw paths in labels.
    let uuid = regex_free_uuid_in_labels(&after);
    assert!(uuid.is_none(), "a label carries an id: {uuid:?}");
}

/// A label value that looks like a UUID, if any.
fn regex_free_uuid_in_labels(text: &str) -> Option<String> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let labels = l.split_once('{')?.1.split_once('}')?.0;
        labels
            .split(',')
            .map(|kv| kv.split_once('=').map_or("", |(_, v)| v.trim_matches('"')))
            .find(|v| uuid::Uuid::parse_str(v).is_ok())
            .map(str::to_owned)
    })
}

mod metrics_port {
    use ordo_testkit::{Backend, StatusCode, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn metrics_can_have_their_own_port() {
        let app =
            TestApp::spawn_with(Backend::Sqlite, |c| c.server.metrics_listen = "127.0.0.1:0".into()).await.unwrap();
        let on_api = app.anonymous.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(on_api.status(), StatusCode::NOT_FOUND, "not on the API's port once it has its own");
        let metrics_addr = app.metrics_addr.expect("a metrics address");
        assert_ne!(metrics_addr.port(), app.addr.port());
        app.get("/v1/products").await.expect(StatusCode::OK);
        let scraped = app.anonymous.get(format!("http://{metrics_addr}/metrics")).send().await.unwrap();
        assert_eq!(scraped.status(), StatusCode::OK);
        let text = scraped.text().await.unwrap();
        assert!(
            text.contains("http_server_request_duration_seconds_count{method=\"GET\",route=\"/v1/products\""),
            "{text}"
        );
    }
}

mod cli_stats {
    use ordo_testkit::{Backend, StatusCode, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ordo_stats_prints_sensible_percentiles() {
        let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
        for _ in 0..20 {
            app.get("/v1/products").await.expect(StatusCode::OK);
        }
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["stats", "--url", &app.url(""), "--key", &app.admin_key])
            .env_remove("ORDO_CONFIG")
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let line = text.lines().find(|l| l.starts_with("/v1/products ")).unwrap_or_else(|| panic!("{text}"));
        let columns: Vec<f64> = line.split_whitespace().skip(1).map(|c| c.parse().unwrap()).collect();
        let (count, p50, p95, p99, max) = (columns[0], columns[3], columns[4], columns[5], columns[6]);
        assert!(count >= 20.0);
        assert!(0.0 < p50 && p50 <= p95 && p95 <= p99 && p99 <= max && max < 10_000.0, "{line}");
        assert!(text.contains("Database pool:"), "{text}");
        let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_ordo"))
            .args(["stats", "--url", &app.url(""), "--key", "ordo_nope"])
            .output()
            .await
            .unwrap();
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    }
}

async fn admin_stats_show_percentiles_queues_and_pool(app: TestApp) {
    let shop = shop(&app).await;
    for _ in 0..5 {
        app.post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}])))
            .await
            .expect(StatusCode::CREATED);
    }
    app.get("/v1/orders/not-an-id").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
    let stats = app.get("/v1/admin/stats?window_seconds=60").await.expect(StatusCode::OK);
    let route = |name: &str| stats["routes"].as_array().unwrap().iter().find(|r| r["route"] == name).cloned().unwrap();
    let orders = route("/v1/orders");
    assert_eq!(orders["count"], 5);
    assert_eq!(orders["error_rate"], 0.0);
    let (p50, p99) = (orders["p50_ms"].as_f64().unwrap(), orders["p99_ms"].as_f64().unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{orders}");
    assert_eq!(route("/v1/orders/{id}")["client_error_rate"], 1.0);
    assert!(stats["queues"].as_array().unwrap().iter().any(|q| q["queue"] == "mail" && q["count"].as_i64() >= Some(5)));
    assert!(stats["pool"]["max"].as_u64().unwrap() >= 1);
    app.get("/v1/admin/stats?window_seconds=0").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
}
