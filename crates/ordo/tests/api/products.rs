//! The catalog through the API: create, read, update, archive, list.

use std::collections::HashSet;

use futures::future::join_all;
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    creates_and_reads_a_product,
    updates_with_body_version_and_rejects_stale_versions,
    updates_with_if_match_and_answers_412_when_stale,
    update_without_precondition_is_428,
    archives_once_and_refuses_later_changes,
    duplicate_sku_is_409_and_writes_nothing,
    lists_every_product_once_across_pages,
    filters_by_active_sku_prefix_updated_since_and_archived,
    concurrent_updates_at_one_version_let_exactly_one_win,
    acknowledged_products_survive_a_restart,
    product_reads_are_cached_and_writes_invalidate_at_once,
    catalog_reads_revalidate_with_if_none_match,
);

/// Renames product `id` behind Ordo's back, so a read that still shows the
/// old name must have come from the cache.
async fn rename_behind_ordos_back(app: &TestApp, id: &str, name: &str) {
    let id = app.db.uuid_literal(uuid::Uuid::parse_str(id).unwrap());
    app.db.execute(&format!("UPDATE products SET name = '{name}' WHERE id = {id}")).await;
}

async fn product_reads_are_cached_and_writes_invalidate_at_once(app: TestApp) {
    let id = create(&app, "CACHED").await["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/products/{id}");
    // On PostgreSQL the creation's own change notification comes back
    // through LISTEN a moment later and drops what is cached by then: let it
    // arrive before filling the cache.
    if app.backend() == ordo_testkit::Backend::Postgres {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    app.get(&path).await.expect(StatusCode::OK);
    rename_behind_ordos_back(&app, &id, "Behind the back").await;
    assert_eq!(app.get(&path).await.expect(StatusCode::OK)["name"], "Product CACHED", "served from the cache");

    let updated = app.patch(&path, &json!({"version": 1, "name": "Renamed"})).await.expect(StatusCode::OK);
    let read = app.get(&path).await.expect(StatusCode::OK);
    assert_eq!((read["name"].as_str(), read["version"].as_i64()), (Some("Renamed"), updated["version"].as_i64()));
    app.post(&format!("{path}/archive"), &json!({})).await.expect(StatusCode::OK);
    assert!(app.get(&path).await.expect(StatusCode::OK)["archived_at"].is_string(), "archiving invalidates too");
}

mod scale_out {
    use std::time::{Duration, Instant};

    use ordo_testkit::{Backend, StatusCode, TestApp};
    use serde_json::json;

    /// On PostgreSQL, a product changed through one instance is dropped from
    /// every other instance's cache through the database's notifications,
    /// long before the cache's time-to-live.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_instances_see_product_changes_through_notifications() {
        let Some(first) = TestApp::spawn(Backend::Postgres).await else { return };
        let second = first.start_peer(|c| c.catalog.cache_ttl_ms = 600_000).await;
        let id = super::create(&first, "SHARED").await["id"].as_str().unwrap().to_owned();
        let path = format!("/v1/products/{id}");
        // The creation's own notification reaches the peer a moment later,
        // however busy the machine, and drops what the peer cached by then:
        // cache, change the row behind Ordo's back, and read again until a
        // read comes from the cache (the change unseen).
        let mut cached = false;
        for attempt in 0..20 {
            let seen = second.get(&path).await.expect(StatusCode::OK)["name"].clone();
            super::rename_behind_ordos_back(&first, &id, &format!("Behind the back {attempt}")).await;
            if second.get(&path).await.expect(StatusCode::OK)["name"] == seen {
                cached = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(cached, "the peer caches");

        first.patch(&path, &json!({"version": 1, "name": "Renamed"})).await.expect(StatusCode::OK);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let read = second.get(&path).await.expect(StatusCode::OK);
            if read["name"] == "Renamed" {
                assert_eq!(read["version"], 2);
                break;
            }
            assert!(Instant::now() < deadline, "the peer still serves {read}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub(crate) async fn create(app: &TestApp, sku: &str) -> Value {
    app.post(
        "/v1/products",
        &json!({"sku": sku, "name": format!("Product {sku}"), "prices": [{"amount": 1000, "currency": "EUR"}]}),
    )
    .await
    .expect(StatusCode::CREATED)
}

async fn creates_and_reads_a_product(app: TestApp) {
    let body = json!({
        "sku": "TEE-BLK-M",
        "name": "  T-shirt  ",
        "description": "Organic cotton",
        "prices": [{"amount": 2500, "currency": "usd"}, {"amount": 1999, "currency": "EUR"}, {"amount": 3000, "currency": "JPY"}]
    });
    let created = app.post("/v1/products", &body).await;
    let product = created.expect(StatusCode::CREATED);
    let id = product["id"].as_str().unwrap();
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    assert_eq!(uuid.get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(created.header("location"), Some(format!("/v1/products/{id}").as_str()));
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(product["sku"], "TEE-BLK-M");
    assert_eq!(product["name"], "T-shirt", "names are trimmed");
    assert_eq!(product["active"], true);
    assert_eq!(product["version"], 1);
    assert_eq!(product["archived_at"], Value::Null);
    assert_eq!(
        product["prices"],
        json!([{"amount": 1999, "currency": "EUR"}, {"amount": 3000, "currency": "JPY"}, {"amount": 2500, "currency": "USD"}]),
        "prices are normalised and ordered by currency"
    );
    assert_eq!(product["created_at"], product["updated_at"]);

    let fetched = app.get(&format!("/v1/products/{id}")).await;
    assert_eq!(fetched.expect(StatusCode::OK), product, "a read returns exactly what was created");
    assert_eq!(fetched.header("etag"), Some("\"1\""));

    let missing = uuid::Uuid::now_v7();
    app.get(&format!("/v1/products/{missing}")).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn updates_with_body_version_and_rejects_stale_versions(app: TestApp) {
    let product = create(&app, "MUG-1").await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());

    let updated = app
        .patch(&path, &json!({"version": 1, "name": "Mug", "description": "Stoneware", "prices": [{"amount": 900, "currency": "GBP"}], "active": false}))
        .await;
    let updated = updated.expect(StatusCode::OK);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["name"], "Mug");
    assert_eq!(updated["description"], "Stoneware");
    assert_eq!(updated["prices"], json!([{"amount": 900, "currency": "GBP"}]));
    assert_eq!(updated["active"], false);
    assert_eq!(updated["sku"], "MUG-1");
    assert_eq!(updated["created_at"], product["created_at"]);
    assert_ne!(updated["updated_at"], product["updated_at"]);

    let stale = app.patch(&path, &json!({"version": 1, "name": "Lost update"})).await;
    let problem = stale.expect_problem(StatusCode::CONFLICT, "version_conflict");
    assert_eq!(problem["current_version"], 2);

    let cleared = app.patch(&path, &json!({"version": 2, "description": null})).await.expect(StatusCode::OK);
    assert_eq!(cleared["description"], Value::Null, "null clears the description");
    assert_eq!(cleared["version"], 3);

    let unchanged = app.patch(&path, &json!({"version": 3, "name": "Mug"})).await.expect(StatusCode::OK);
    assert_eq!(unchanged["version"], 3, "a change that changes nothing keeps the version");

    let after = app.get(&path).await.expect(StatusCode::OK);
    assert_eq!(after["name"], "Mug", "the stale update wrote nothing");
}

async fn updates_with_if_match_and_answers_412_when_stale(app: TestApp) {
    let product = create(&app, "CAP-1").await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());

    let ok = app.request(Method::PATCH, &path, Some(&json!({"name": "Cap"})), &[("if-match", "\"1\"")]).await;
    assert_eq!(ok.expect(StatusCode::OK)["version"], 2);
    assert_eq!(ok.header("etag"), Some("\"2\""));

    let stale = app.request(Method::PATCH, &path, Some(&json!({"name": "Hat"})), &[("if-match", "\"1\"")]).await;
    assert_eq!(stale.expect_problem(StatusCode::PRECONDITION_FAILED, "precondition_failed")["current_version"], 2);

    let any = app.request(Method::PATCH, &path, Some(&json!({"name": "Beanie"})), &[("if-match", "*")]).await;
    assert_eq!(any.expect(StatusCode::OK)["version"], 3);

    let disagree =
        app.request(Method::PATCH, &path, Some(&json!({"version": 2, "name": "X"})), &[("if-match", "\"3\"")]).await;
    disagree.expect_problem(StatusCode::BAD_REQUEST, "invalid_header");
    // An entity tag is quoted digits, as ETag sends it: no bare or signed
    // versions, no lists.
    for garbage in ["three", "3", "\"-3\"", "\"+3\"", "\"3", "\"3\", \"4\""] {
        let refused = app.request(Method::PATCH, &path, Some(&json!({"name": "X"})), &[("if-match", garbage)]).await;
        refused.expect_problem(StatusCode::BAD_REQUEST, "invalid_header");
    }
    // An empty If-Match names no tag: as if none was sent.
    let empty = app.request(Method::PATCH, &path, Some(&json!({"name": "X"})), &[("if-match", "")]).await;
    empty.expect_problem(StatusCode::PRECONDITION_REQUIRED, "precondition_required");

    assert_eq!(app.get(&path).await.expect(StatusCode::OK)["name"], "Beanie");
}

async fn update_without_precondition_is_428(app: TestApp) {
    let product = create(&app, "PEN-1").await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    app.patch(&path, &json!({"name": "Pen"}))
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "precondition_required");
    assert_eq!(app.get(&path).await.expect(StatusCode::OK)["name"], "Product PEN-1");
}

async fn archives_once_and_refuses_later_changes(app: TestApp) {
    let product = create(&app, "OLD-1").await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());

    let stale = app.request(Method::POST, &format!("{path}/archive"), Some(&json!({"version": 7})), &[]).await;
    stale.expect_problem(StatusCode::CONFLICT, "version_conflict");

    let archived =
        app.send_raw(Method::POST, &format!("{path}/archive"), None, Vec::new()).await.expect(StatusCode::OK);
    assert_eq!(archived["version"], 2);
    assert_eq!(archived["active"], false);
    assert!(archived["archived_at"].is_string());

    let again = app.send_raw(Method::POST, &format!("{path}/archive"), None, Vec::new()).await.expect(StatusCode::OK);
    assert_eq!(again, archived, "archiving twice changes nothing");

    app.patch(&path, &json!({"version": 2, "active": true})).await.expect_problem(StatusCode::CONFLICT, "archived");
    assert_eq!(app.get(&path).await.expect(StatusCode::OK), archived);
}

async fn duplicate_sku_is_409_and_writes_nothing(app: TestApp) {
    create(&app, "DUP-1").await;
    let again = app.post("/v1/products", &json!({"sku": "DUP-1", "name": "Other"})).await;
    let problem = again.expect_problem(StatusCode::CONFLICT, "sku_taken");
    assert_eq!(problem["errors"][0]["field"], "sku");
    let case_differs = app.post("/v1/products", &json!({"sku": "dup-1", "name": "Lower"})).await;
    case_differs.expect(StatusCode::CREATED);
    let list = app.get("/v1/products?limit=500").await.expect(StatusCode::OK);
    let names: Vec<_> =
        list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["Product DUP-1", "Lower"]);
}

async fn lists_every_product_once_across_pages(app: TestApp) {
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create(&app, &format!("P-{i}")).await["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/products?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&path).await.expect(StatusCode::OK);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/products?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3, "7 items at 3 per page is 3 pages, the last one without a cursor");
    assert_eq!(seen, created, "every product once, oldest first");

    let default = app.get("/v1/products").await.expect(StatusCode::OK);
    assert_eq!(default["items"].as_array().unwrap().len(), 7);
    assert!(default.get("next_cursor").is_none(), "absent on the last page: {default}");

    let customers_cursor = {
        let c = app
            .post("/v1/customers", &json!({"email": "a@example.com", "name": "A"}))
            .await
            .expect(StatusCode::CREATED);
        let c2 = app
            .post("/v1/customers", &json!({"email": "b@example.com", "name": "B"}))
            .await
            .expect(StatusCode::CREATED);
        assert!(c2["id"].is_string() && c["id"].is_string());
        app.get("/v1/customers?limit=1").await.expect(StatusCode::OK)["next_cursor"].as_str().unwrap().to_owned()
    };
    let foreign = app.get(&format!("/v1/products?cursor={customers_cursor}")).await;
    foreign.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn filters_by_active_sku_prefix_updated_since_and_archived(app: TestApp) {
    for sku in ["TEE-1", "TEE-2", "TEE_3", "TEA-1", "MUG-1"] {
        create(&app, sku).await;
    }
    let skus = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|p| p["sku"].as_str().unwrap().to_owned()).collect()
    };
    let id_of = |sku: &'static str| {
        let app = &app;
        async move {
            let list = app.get(&format!("/v1/products?sku_prefix={sku}")).await.expect(StatusCode::OK);
            list["items"][0]["id"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(skus(&app.get("/v1/products?sku_prefix=TEE-").await.expect(StatusCode::OK)), ["TEE-1", "TEE-2"]);
    assert_eq!(
        skus(&app.get("/v1/products?sku_prefix=TE").await.expect(StatusCode::OK)),
        ["TEE-1", "TEE-2", "TEE_3", "TEA-1"]
    );
    assert_eq!(
        skus(&app.get("/v1/products?sku_prefix=tee").await.expect(StatusCode::OK)),
        Vec::<String>::new(),
        "case-sensitive"
    );

    let tee2 = id_of("TEE-2").await;
    let checkpoint = app.get(&format!("/v1/products/{tee2}")).await.expect(StatusCode::OK)["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    app.patch(&format!("/v1/products/{tee2}"), &json!({"version": 1, "active": false})).await.expect(StatusCode::OK);
    let mug = id_of("MUG-1").await;
    app.send_raw(Method::POST, &format!("/v1/products/{mug}/archive"), None, Vec::new()).await.expect(StatusCode::OK);

    assert_eq!(skus(&app.get("/v1/products?active=false").await.expect(StatusCode::OK)), ["TEE-2"]);
    assert_eq!(
        skus(&app.get("/v1/products?active=true&sku_prefix=TEE").await.expect(StatusCode::OK)),
        ["TEE-1", "TEE_3"]
    );
    assert_eq!(skus(&app.get(&format!("/v1/products?updated_since={since}")).await.expect(StatusCode::OK)), ["TEE-2"]);
    assert!(checkpoint < since);
    assert_eq!(skus(&app.get("/v1/products?archived=true").await.expect(StatusCode::OK)), ["MUG-1"]);
    assert_eq!(skus(&app.get("/v1/products").await.expect(StatusCode::OK)), ["TEE-1", "TEE-2", "TEE_3", "TEA-1"]);
}

async fn concurrent_updates_at_one_version_let_exactly_one_win(app: TestApp) {
    let product = create(&app, "RACE-1").await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    let attempts = (0..16).map(|i| {
        let (app, path) = (&app, &path);
        async move { app.patch(path, &json!({"version": 1, "name": format!("Writer {i}")})).await }
    });
    let responses = join_all(attempts).await;
    let winners: Vec<_> = responses.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one writer wins: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for loser in responses.iter().filter(|r| r.status != StatusCode::OK) {
        loser.expect_problem(StatusCode::CONFLICT, "version_conflict");
    }
    let stored = app.get(&path).await.expect(StatusCode::OK);
    assert_eq!(stored["version"], 2);
    assert_eq!(stored["name"], winners[0].json()["name"], "the stored product is the winner's");
}

async fn acknowledged_products_survive_a_restart(app: TestApp) {
    let mut ids = HashSet::new();
    for i in 0..5 {
        ids.insert(create(&app, &format!("KEEP-{i}")).await["id"].as_str().unwrap().to_owned());
    }
    let db = app.stop().await;
    let config = db.config();
    let app = TestApp::start(db, &config).await;
    let list = app.get("/v1/products").await.expect(StatusCode::OK);
    let listed: HashSet<_> =
        list["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, ids);
}

/// Catalog reads carry an entity tag and the configured Cache-Control, and
/// a copy that is still current is answered with 304 and no body; a change
/// makes the old tag stale.
async fn catalog_reads_revalidate_with_if_none_match(app: TestApp) {
    let product = create(&app, "ETAG-1").await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());

    let read = app.get(&path).await;
    read.expect(StatusCode::OK);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.header("cache-control"), Some("private, no-cache"), "the default");
    for current in ["\"1\"", "W/\"1\"", "\"7\", \"1\"", "*"] {
        let again = app.request(Method::GET, &path, None, &[("if-none-match", current)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "If-None-Match: {current}");
        assert_eq!(again.text, "", "a 304 has no body");
        assert_eq!(again.header("etag"), Some("\"1\""));
        assert_eq!(again.header("cache-control"), Some("private, no-cache"));
    }
    // A tag of another version, or one not understood, gets the product.
    for other in ["\"2\"", "1", "garbage", ""] {
        let full = app.request(Method::GET, &path, None, &[("if-none-match", other)]).await;
        assert_eq!(full.expect(StatusCode::OK)["sku"], "ETAG-1", "If-None-Match: {other}");
    }
    // Without the catalog:read scope, nothing is said about the product.
    let anonymous = TestApp::client_with_key("ordo_not_a_key");
    let refused = anonymous.get(app.url(&path)).header("if-none-match", "\"1\"").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    app.patch(&path, &json!({"version": 1, "name": "Renamed"})).await.expect(StatusCode::OK);
    let stale = app.request(Method::GET, &path, None, &[("if-none-match", "\"1\"")]).await;
    assert_eq!(stale.expect(StatusCode::OK)["name"], "Renamed", "the old tag is stale after a change");
    assert_eq!(stale.header("etag"), Some("\"2\""));

    // A page: a weak tag of its content, the same on every read until the
    // page changes.
    let page = app.get("/v1/products").await;
    page.expect(StatusCode::OK);
    let tag = page.header("etag").expect("a page has an ETag").to_owned();
    assert!(tag.starts_with("W/\""), "{tag}");
    assert_eq!(page.header("cache-control"), Some("private, no-cache"));
    let again = app.request(Method::GET, "/v1/products", None, &[("if-none-match", &tag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.text, "");
    create(&app, "ETAG-2").await;
    let grown = app.request(Method::GET, "/v1/products", None, &[("if-none-match", &tag)]).await;
    assert_eq!(grown.expect(StatusCode::OK)["items"].as_array().unwrap().len(), 2);
    let grown_tag = grown.header("etag").unwrap().to_owned();
    assert_ne!(grown_tag, tag, "a changed page has a new tag");
    let first = app.request(Method::GET, "/v1/products?limit=1", None, &[("if-none-match", &grown_tag)]).await;
    assert_eq!(first.expect(StatusCode::OK)["items"].as_array().unwrap().len(), 1, "another page, another tag");
}
