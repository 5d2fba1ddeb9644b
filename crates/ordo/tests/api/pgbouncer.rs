//! PostgreSQL behind PgBouncer in transaction-pooling mode: no prepared
//! statement or other session state may outlive a transaction, because the
//! next one may run on another server connection.

use futures::future::join_all;
use ordo_testkit::{Backend, StatusCode, TestApp, TestDb};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_works_behind_pgbouncer_in_transaction_mode() {
    let Ok(bouncer) = std::env::var("ORDO_TEST_PGBOUNCER_URL") else {
        assert!(
            std::env::var("ORDO_TEST_REQUIRE_PGBOUNCER").is_err(),
            "ORDO_TEST_REQUIRE_PGBOUNCER is set without ORDO_TEST_PGBOUNCER_URL"
        );
        eprintln!("SKIPPED: PgBouncer test (set ORDO_TEST_PGBOUNCER_URL to run it)");
        return;
    };
    let Some(db) = TestDb::create(Backend::Postgres).await else { return };
    // Migrations take a session-level advisory lock: they run directly
    // against PostgreSQL, as a deployment's `ordo migrate` step would.
    let mut config = db.config();
    ordo::Application::build(&config).await.expect("migrate directly").services().db.close().await;

    config.database.url = ordo::config::DatabaseUrl::new(db.url_via(&bouncer));
    config.database.pgbouncer = true;
    config.database.migrate_on_start = Some(false);
    config.database.max_connections = 8;
    let app = TestApp::start(db, &config).await;

    assert_eq!(app.get("/readyz").await.expect(StatusCode::OK)["status"], "ready");
    // More concurrent clients than PgBouncer has server connections (3), so
    // transactions interleave across server connections.
    let creates = (0..24).map(|i| {
        let app = &app;
        async move {
            app.post(
                "/v1/products",
                &json!({"sku": format!("PGB-{i}"), "name": "Bounced", "prices": [{"amount": i, "currency": "EUR"}]}),
            )
            .await
        }
    });
    let created: Vec<_> = join_all(creates).await.into_iter().map(|r| r.expect(StatusCode::CREATED)).collect();
    // Reads run outside write transactions: interleave them too.
    let reads = created.iter().map(|product| {
        let app = &app;
        async move { (app.get(&format!("/v1/products/{}", product["id"].as_str().unwrap())).await, product) }
    });
    for (read, product) in join_all(reads).await {
        assert_eq!(&read.expect(StatusCode::OK), product);
    }
    let lists = (0..12).map(|_| app.get("/v1/products?limit=5&sku_prefix=PGB-"));
    for list in join_all(lists).await {
        assert_eq!(list.expect(StatusCode::OK)["items"].as_array().unwrap().len(), 5);
    }
    for product in &created {
        let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
        app.patch(&path, &json!({"version": 1, "active": false})).await.expect(StatusCode::OK);
    }
    let page = app.get("/v1/products?active=false&limit=500").await.expect(StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 24);
    app.post("/v1/customers", &json!({"email": "b@example.com", "name": "B"})).await.expect(StatusCode::CREATED);
    app.post("/v1/customers", &json!({"email": "B@example.com", "name": "B"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "email_taken");
}
