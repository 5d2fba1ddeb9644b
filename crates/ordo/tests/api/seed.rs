//! `ordo seed` and `ordo loadgen`: a seeded history the API serves whole
//! and consistent; a load run that measures every scenario and checks what
//! it was told; and a check that catches what it is meant to catch.

use std::collections::HashMap;
use std::time::Duration;

use ordo_testkit::{StatusCode, TestApp, backend_tests};
use ordo_tools::loadgen::{self, Api, Options, Scenario};
use ordo_tools::seed::{self, SeedPlan};
use serde_json::{Value, json};

backend_tests!(
    a_seeded_history_is_consistent_skewed_audited_and_served,
    seeding_refuses_bad_plans_and_a_seeded_database,
    loadgen_runs_every_scenario_and_its_check_passes,
    loadgen_open_loop_keeps_its_rate,
    the_check_catches_lost_orders_and_drifted_reservations,
);

fn small_plan() -> SeedPlan {
    SeedPlan {
        customers: 150,
        products: 40,
        orders: 2_500,
        stock_for_orders: 20_000,
        history_days: 20,
        // Several transactions, the last one short.
        batch: 700,
        random_seed: 5,
    }
}

async fn seeded(app: &TestApp, plan: &SeedPlan) -> seed::SeedSummary {
    seed::seed(app.services.db.clone(), plan, &|_, _, _| {}).await.expect("seeding succeeds")
}

fn api(app: &TestApp) -> Api {
    Api::new(&app.url(""), Some(&app.admin_key), 8, Duration::from_secs(30)).unwrap()
}

async fn a_seeded_history_is_consistent_skewed_audited_and_served(app: TestApp) {
    let plan = small_plan();
    let summary = seeded(&app, &plan).await;
    assert_eq!((summary.products, summary.customers, summary.orders), (40, 150, 2_500));
    assert_eq!((summary.markets, summary.locations, summary.stock_levels), (4, 3, 120));
    assert!(summary.open_orders > 0 && summary.open_orders < 500, "recent orders are open: {}", summary.open_orders);

    let api = api(&app);
    let products = api.all_pages("/v1/products").await.unwrap();
    let skus: Vec<&str> = products.iter().map(|p| p["sku"].as_str().unwrap()).collect();
    assert_eq!(skus.len(), 40);
    assert_eq!((skus[0], skus[39]), ("SKU-000001", "SKU-000040"));
    assert_eq!(api.all_pages("/v1/customers").await.unwrap().len(), 150);

    let orders = api.all_pages("/v1/orders").await.unwrap();
    assert_eq!(orders.len(), 2_500);
    let mut statuses: HashMap<String, u64> = HashMap::new();
    let mut lines_per_sku: HashMap<String, u64> = HashMap::new();
    let mut lines = 0;
    for order in &orders {
        *statuses.entry(order["status"].as_str().unwrap().to_owned()).or_default() += 1;
        let order_lines = order["lines"].as_array().unwrap();
        assert!((1..=4).contains(&order_lines.len()));
        let sum = |field: &str| order_lines.iter().map(|l| l[field].as_i64().unwrap()).sum::<i64>();
        assert_eq!(order["total"].as_i64().unwrap(), sum("total"), "totals add up: {order}");
        assert_eq!(order["tax"].as_i64().unwrap(), sum("tax"));
        for line in order_lines {
            lines += 1;
            *lines_per_sku.entry(line["sku"].as_str().unwrap().to_owned()).or_default() += 1;
            let units: i64 =
                line["allocations"].as_array().unwrap().iter().map(|a| a["quantity"].as_i64().unwrap()).sum();
            assert_eq!(units, line["quantity"].as_i64().unwrap(), "lines are allocated whole");
        }
    }
    assert_eq!(lines, summary.order_lines);
    let count = |s: &str| statuses.get(s).copied().unwrap_or(0);
    assert!(count("completed") > 1_500, "most orders are done: {statuses:?}");
    assert!(count("cancelled") > 0 && count("payment_failed") > 0 && count("expired") > 0, "{statuses:?}");
    assert_eq!(count("placed") + count("paid") + count("confirmed"), summary.open_orders, "{statuses:?}");
    // Zipf: the best seller is in far more lines than the fortieth.
    let hot = lines_per_sku["SKU-000001"];
    let cold = lines_per_sku.get("SKU-000040").copied().unwrap_or(0);
    assert!(hot > 10 * cold.max(1), "SKU-000001 in {hot} lines, SKU-000040 in {cold}");

    // A completed order went through every step, in time order.
    let done = orders.iter().find(|o| o["status"] == "completed").unwrap();
    let timeline = app.get(&format!("/v1/orders/{}/events", done["id"].as_str().unwrap())).await.expect(StatusCode::OK);
    let events = timeline["items"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["placed", "paid", "confirmed", "fulfilled", "completed"]);
    let at = |e: &Value| e["occurred_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    for pair in events.windows(2) {
        assert_eq!(pair[1]["from_status"], pair[0]["to_status"]);
        assert!(at(&pair[1]) > at(&pair[0]), "{pair:?}");
    }

    // Stock holds exactly the open orders' reservations, and room for more.
    let check = loadgen::verify(&api, &[]).await.unwrap();
    assert!(check.ok, "{}", check.summary());
    assert_eq!((check.stock_levels, check.open_orders as u64), (120, summary.open_orders));
    let hottest = app.get("/v1/stock/SKU-000001").await.expect(StatusCode::OK);
    assert!(hottest["available"].as_i64().unwrap() > 1_000, "sized for 20 000 more orders: {hottest}");

    // Every creation and placement is audited, sealed, and the chain holds.
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!(report.tamper, None);
    // The seed's own events, after the one the test's admin key wrote (which
    // the seed sealed first).
    assert_eq!(report.sealed_events as u64, summary.audit_events + 1);
    assert_eq!(summary.audit_events, 4 + 3 + 40 + 150 + 2_500 + 120);
    let placed = app
        .get(&format!("/v1/audit-events?entity_type=order&entity_id={}", done["id"].as_str().unwrap()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(placed["items"][0]["action"], "order.placed");

    // The live system carries on from the seeded state.
    let customer = api.pages("/v1/customers", 1).await.unwrap()[0]["id"].clone();
    let order = app
        .post(
            "/v1/orders",
            &json!({"customer_id": customer, "market": "DE", "lines": [{"sku": "SKU-000001", "quantity": 2}],
                    "shipping_address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(order["lines"][0]["allocations"][0]["location_id"], hottest["locations"][0]["location_id"]);
    assert!(loadgen::verify(&api, &[]).await.unwrap().ok);
    app.services.audit.seal_all(1_000).await.unwrap();
    assert_eq!(app.services.audit.verify().await.unwrap().tamper, None, "the live chain follows the seeded one");
}

async fn seeding_refuses_bad_plans_and_a_seeded_database(app: TestApp) {
    for plan in [
        SeedPlan { customers: 0, ..small_plan() },
        SeedPlan { products: 0, ..small_plan() },
        SeedPlan { products: seed::MAX_PRODUCTS + 1, ..small_plan() },
        SeedPlan { batch: 0, ..small_plan() },
    ] {
        let refused = seed::seed(app.services.db.clone(), &plan, &|_, _, _| {}).await;
        assert!(matches!(refused, Err(ordo_service::ServiceError::Validation(_))), "{plan:?}: {refused:?}");
    }
    assert_eq!(app.get("/v1/markets").await.expect(StatusCode::OK)["items"], json!([]), "refused plans write nothing");

    let plan = SeedPlan { orders: 200, ..small_plan() };
    seeded(&app, &plan).await;
    let again = seed::seed(app.services.db.clone(), &plan, &|_, _, _| {}).await;
    let Err(ordo_service::ServiceError::Validation(errors)) = again else { panic!("{again:?}") };
    assert!(format!("{errors:?}").contains("already holds seeded products"), "{errors:?}");
    assert_eq!(api(&app).all_pages("/v1/orders").await.unwrap().len(), 200, "a refused seed writes nothing");
}

/// A server on the same database without rate limits: the load is meant to
/// measure the server, not the limiter.
async fn unlimited(app: &TestApp) -> TestApp {
    app.start_peer(|config| config.rate_limit.enabled = false).await
}

fn options(app: &TestApp, mix: &str) -> Options {
    Options {
        url: app.url(""),
        key: Some(app.admin_key.clone()),
        mix: loadgen::parse_mix(mix).unwrap(),
        concurrency: 4,
        rate: None,
        warmup: Duration::from_millis(300),
        duration: Duration::from_millis(1_500),
        market: None,
        idempotency_keys: true,
        timeout: Duration::from_secs(30),
        progress: false,
        verify: true,
        random_seed: 9,
        payment_token: None,
    }
}

async fn loadgen_runs_every_scenario_and_its_check_passes(app: TestApp) {
    seeded(&app, &SeedPlan { orders: 300, ..small_plan() }).await;
    let app = unlimited(&app).await;
    let before = api(&app).all_pages("/v1/orders").await.unwrap().len();
    let report =
        loadgen::run(&options(&app, "place=40,get_product=20,list_orders=10,get_order=10,fulfil=10,cancel=10"))
            .await
            .unwrap();
    let names: Vec<&str> = report.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cancel", "confirm", "fulfil", "get_order", "get_product", "list_orders", "place"]);
    for s in &report.scenarios {
        assert!(s.ok > 0, "{} ran: {s:?}", s.name);
        assert!(s.errors.is_empty(), "{}: {:?}", s.name, s.errors);
        let l = &s.latency_ms;
        assert!(0.0 < l.p50 && l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.max, "{}: {l:?}", s.name);
        assert!((s.throughput_per_sec - s.ok as f64 / 1.5).abs() < 1e-6);
    }
    assert_eq!(report.total.ok, report.scenarios.iter().map(|s| s.ok).sum::<u64>());
    let check = report.verify.as_ref().expect("checked");
    assert!(check.ok, "{}", check.summary());
    let place = report.scenarios.iter().find(|s| s.name == "place").unwrap();
    // Warm-up orders are acknowledged and checked too, though not counted.
    assert!(check.acknowledged_orders as u64 >= place.ok, "{check:?}");
    let after = api(&app).all_pages("/v1/orders").await.unwrap().len();
    assert_eq!(after - before, check.acknowledged_orders, "every acknowledged order, and no other, was placed");
    assert!(report.table().contains("verify ok"), "{}", report.table());
}

async fn loadgen_open_loop_keeps_its_rate(app: TestApp) {
    seeded(&app, &SeedPlan { orders: 100, ..small_plan() }).await;
    let app = unlimited(&app).await;
    let report = loadgen::run(&Options {
        rate: Some(40.0),
        duration: Duration::from_secs(2),
        ..options(&app, "get_product=1,get_order=1")
    })
    .await
    .unwrap();
    assert_eq!(report.mode, "open");
    // 80 requests were due in the window, whatever the server's speed.
    let sent: u64 = report.scenarios.iter().map(|s| s.ok + s.errors.values().sum::<u64>()).sum();
    assert!((78..=82).contains(&sent), "{sent} requests in 2 s at 40/s");
    assert_eq!(report.scenarios.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["get_order", "get_product"]);
    assert!(report.verify.as_ref().unwrap().ok);
    assert!(loadgen::parse_mix("hello").unwrap() == vec![(Scenario::Hello, 1)]);
}

async fn the_check_catches_lost_orders_and_drifted_reservations(app: TestApp) {
    seeded(&app, &SeedPlan { orders: 300, ..small_plan() }).await;
    let api = api(&app);
    let real: Vec<uuid::Uuid> = api
        .pages("/v1/orders", 3)
        .await
        .unwrap()
        .iter()
        .take(3)
        .map(|o| o["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let lost = uuid::Uuid::now_v7();
    let check = loadgen::verify(&api, &[real.clone(), vec![lost]].concat()).await.unwrap();
    assert!(!check.ok);
    assert_eq!((check.acknowledged_orders, check.missing_orders.clone()), (4, vec![lost]));

    // A reservation no order holds.
    app.db.execute("UPDATE stock_levels SET reserved = reserved + 1 WHERE sku = 'SKU-000002'").await;
    let check = loadgen::verify(&api, &real).await.unwrap();
    assert!(!check.ok && check.missing_orders.is_empty());
    assert_eq!(check.reservation_mismatches.len(), 3, "{:?}", check.reservation_mismatches);
    assert!(check.reservation_mismatches.iter().all(|m| m.starts_with("SKU-000002 at ")));
    assert!(check.summary().contains("FAILED"), "{}", check.summary());
}

/// The commands as `bench/run` uses them: seed, create a key, serve, load
/// with a JSON report; and what they say to bad arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_and_loadgen_commands_work_as_the_benchmark_uses_them() {
    use ordo_testkit::fixtures::{serve, terminate};
    use ordo_testkit::ordo_command;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let with_db = |args: &[&str]| {
        let mut command = ordo_command!();
        command.args(args).env("ORDO_DATABASE_URL", &url).current_dir(dir.path());
        command.output().unwrap()
    };
    let seeded = with_db(&["seed", "--customers", "30", "--products", "12", "--orders", "400", "--batch", "150"]);
    let out = String::from_utf8_lossy(&seeded.stdout);
    assert!(seeded.status.success(), "{out}{}", String::from_utf8_lossy(&seeded.stderr));
    assert!(out.contains("orders") && out.contains("400") && out.contains("sealed in"), "{out}");
    assert!(String::from_utf8_lossy(&seeded.stderr).contains("seed: orders 400/400"), "progress is shown");

    let refused = with_db(&["seed", "--customers", "0"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least one customer"));

    let key = with_db(&["keys", "create", "--name", "bench", "--role", "admin"]);
    let key =
        String::from_utf8_lossy(&key.stdout).lines().find_map(|l| l.strip_prefix("key:")).unwrap().trim().to_owned();
    let (mut server, server_url, _) =
        serve(ordo_command!().env("ORDO_DATABASE_URL", &url).env("ORDO_RATE_LIMIT_ENABLED", "false"));
    let report = dir.path().join("report.json");
    let loaded = ordo_command!()
        .args(["loadgen", "--url", &server_url, "--mix", "place=3,get_product=1", "--concurrency", "2"])
        .args(["--duration", "1s", "--warmup", "200ms", "--quiet", "--json"])
        .arg(&report)
        .env("ORDO_API_KEY", &key)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&loaded.stdout);
    assert!(loaded.status.success(), "{table}{}", String::from_utf8_lossy(&loaded.stderr));
    assert!(table.contains("P99 ms") && table.contains("place") && table.contains("verify ok"), "{table}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let place = json["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == "place").unwrap();
    assert!(place["throughput_per_sec"].as_f64().unwrap() > 0.0 && place["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(json["verify"]["ok"], true);

    let bad = ordo_command!().args(["loadgen", "--url", &server_url, "--mix", "shop=1"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scenario `shop`"));
    let (status, logs) = terminate(&mut server);
    assert!(status.success(), "{logs}");
}
