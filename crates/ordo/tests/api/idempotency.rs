//! `Idempotency-Key`: a retried request never acts twice.

use futures::future::join_all;
use ordo_domain::auth::Role;
use ordo_testkit::fixtures::{order_body, receive, shop};
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::json;

backend_tests!(
    a_retry_replays_the_first_answer_and_acts_once,
    a_reused_key_with_another_body_is_422,
    racing_duplicates_create_exactly_one_order,
    a_lost_replay_record_still_never_places_twice,
    keys_are_per_api_key_and_expire,
    a_request_refused_before_it_ran_does_not_spend_its_key,
    the_same_json_in_another_order_is_the_same_request,
    a_retry_gets_the_first_answer_whatever_happened_since,
);

async fn place(app: &TestApp, key: &str, body: &serde_json::Value) -> ordo_testkit::TestResponse {
    app.request(Method::POST, "/v1/orders", Some(body), &[("idempotency-key", key)]).await
}

async fn order_count(app: &TestApp) -> usize {
    app.get("/v1/orders?limit=500").await.expect(StatusCode::OK)["items"].as_array().unwrap().len()
}

async fn a_retry_replays_the_first_answer_and_acts_once(app: TestApp) {
    let shop = shop(&app).await;
    let body = order_body(&shop, json!([{"sku": "TEE", "quantity": 2}]));
    let first = place(&app, "order-1", &body).await;
    let order = first.expect(StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = place(&app, "order-1", &body).await;
    assert_eq!(retry.expect(StatusCode::CREATED), order, "the same body");
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(order_count(&app).await, 1, "acted once");
    let tee = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    assert_eq!(tee["reserved"], 2, "reserved once");

    // Answers that refused the request replay too.
    let short = order_body(&shop, json!([{"sku": "MUG", "quantity": 99}]));
    place(&app, "order-2", &short).await.expect_problem(StatusCode::CONFLICT, "insufficient_stock");
    let again = place(&app, "order-2", &short).await;
    again.expect_problem(StatusCode::CONFLICT, "insufficient_stock");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // Other creating POSTs honour keys as well.
    let customer = json!({"email": "idem@example.com", "name": "Idem"});
    let a = app
        .request(Method::POST, "/v1/customers", Some(&customer), &[("idempotency-key", "cust-1")])
        .await
        .expect(StatusCode::CREATED);
    let b = app
        .request(Method::POST, "/v1/customers", Some(&customer), &[("idempotency-key", "cust-1")])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(a, b, "not 409 email_taken: the retry is a replay");

    let bad = app.request(Method::POST, "/v1/orders", Some(&body), &[("idempotency-key", "has space")]).await;
    bad.expect_problem(StatusCode::BAD_REQUEST, "invalid_header");
}

async fn a_reused_key_with_another_body_is_422(app: TestApp) {
    let shop = shop(&app).await;
    place(&app, "k", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]))).await.expect(StatusCode::CREATED);
    let other = place(&app, "k", &order_body(&shop, json!([{"sku": "TEE", "quantity": 2}]))).await;
    other.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(order_count(&app).await, 1);
}

async fn racing_duplicates_create_exactly_one_order(app: TestApp) {
    let shop = shop(&app).await;
    for round in 0..5 {
        let body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
        let key = format!("race-{round}");
        let responses = join_all((0..4).map(|_| place(&app, &key, &body))).await;
        let statuses: Vec<u16> = responses.iter().map(|r| r.status.as_u16()).collect();
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
        for conflict in responses.iter().filter(|r| r.status == StatusCode::CONFLICT) {
            assert_eq!(conflict.json()["code"], "idempotency_in_flight");
        }
        let ids: std::collections::HashSet<String> = responses
            .iter()
            .filter(|r| r.status == StatusCode::CREATED)
            .map(|r| r.json()["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 1, "every success names the same order: {statuses:?}");
    }
    assert_eq!(order_count(&app).await, 5, "exactly one order per key");
}

async fn keys_are_per_api_key_and_expire(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.idempotency.ttl_ms = 300;
        c.idempotency.sweep_interval_ms = 0;
    })
    .await
    else {
        return;
    };
    let shop = shop(&app).await;
    let body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    place(&app, "shared", &body).await.expect(StatusCode::CREATED);
    let clerk = TestApp::client_with_key(&app.key_for(Role::Clerk).await);
    let other = clerk.post(app.url("/v1/orders")).header("idempotency-key", "shared").json(&body).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::CREATED, "another API key's `shared` is another key");
    assert!(other.headers().get("idempotent-replayed").is_none());
    assert_eq!(order_count(&app).await, 2);

    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let after_expiry = place(&app, "shared", &body).await;
    after_expiry.expect(StatusCode::CREATED);
    assert_eq!(after_expiry.header("idempotent-replayed"), None, "an expired key is forgotten");
    assert_eq!(order_count(&app).await, 3);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(app.services.idempotency.sweep().await.unwrap(), 2, "the expired keys are swept");
}

async fn a_lost_replay_record_still_never_places_twice(app: TestApp) {
    let shop = shop(&app).await;
    let body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    let first = place(&app, "crash-1", &body).await.expect(StatusCode::CREATED);
    // As if the process died between committing the order and recording
    // its answer: the replay record is gone.
    app.db.execute("DELETE FROM idempotency_keys").await;
    let retry = place(&app, "crash-1", &body).await.expect(StatusCode::CREATED);
    assert_eq!(retry, first, "the retry finds the order the key placed");
    assert_eq!(order_count(&app).await, 1);
    assert_eq!(app.get("/v1/stock/TEE").await.expect(StatusCode::OK)["reserved"], 1, "stock reserved once");
}

/// As at Stripe: a request refused before its operation began (malformed,
/// invalid at the edge, not permitted) keeps no answer under its key, so the
/// corrected request can use it. A refusal after the operation began (an
/// unknown SKU, found by the placement) is remembered and replayed.
async fn a_request_refused_before_it_ran_does_not_spend_its_key(app: TestApp) {
    let shop = shop(&app).await;
    let good = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    // Orders claim keys in their own transaction; products in the middleware.
    let bad_quantity = order_body(&shop, json!([{"sku": "TEE", "quantity": 0}]));
    place(&app, "fix-1", &bad_quantity).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let malformed = app.send_raw(Method::POST, "/v1/orders", Some("application/json"), b"{".to_vec()).await;
    malformed.expect_problem(StatusCode::BAD_REQUEST, "malformed_json");
    let placed = place(&app, "fix-1", &good).await;
    placed.expect(StatusCode::CREATED);
    assert_eq!(placed.header("idempotent-replayed"), None);

    let product_key = [("idempotency-key", "fix-2")];
    let invalid = json!({"sku": "bad sku", "name": "x"});
    app.request(Method::POST, "/v1/products", Some(&invalid), &product_key)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let unknown_field = json!({"sku": "GOOD", "name": "x", "colour": "red"});
    app.request(Method::POST, "/v1/products", Some(&unknown_field), &product_key)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    // Not permitted: a viewer's key cannot create products.
    let viewer = TestApp::client_with_key(&app.key_for(Role::Viewer).await);
    let forbidden = viewer
        .post(app.url("/v1/products"))
        .header("idempotency-key", "fix-3")
        .json(&json!({"sku": "GOOD", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    let created =
        app.request(Method::POST, "/v1/products", Some(&json!({"sku": "GOOD", "name": "x"})), &product_key).await;
    created.expect(StatusCode::CREATED);
    assert_eq!(created.header("idempotent-replayed"), None, "the corrected request ran");

    // Refused by the placement itself: remembered and replayed.
    let unknown_sku = order_body(&shop, json!([{"sku": "NOPE", "quantity": 1}]));
    place(&app, "ran-1", &unknown_sku).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let again = place(&app, "ran-1", &unknown_sku).await;
    again.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    place(&app, "ran-1", &good).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(order_count(&app).await, 1);
}

/// Requests are compared as parsed JSON: the same document with its keys in
/// another order and other whitespace replays; a different value does not.
async fn the_same_json_in_another_order_is_the_same_request(app: TestApp) {
    let shop = shop(&app).await;
    let body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    let first = place(&app, "canon", &body).await.expect(StatusCode::CREATED);
    let text = serde_json::to_string(&body).unwrap();
    // Reverse the top-level keys and spread the document out.
    let map = body.as_object().unwrap();
    let reordered = format!(
        "{{\n  {}\n}}",
        map.iter().rev().map(|(k, v)| format!("{:?} :  {}", k, v)).collect::<Vec<_>>().join(",\n  ")
    );
    assert_ne!(reordered, text);
    let retry = app
        .client
        .post(app.url("/v1/orders"))
        .header("idempotency-key", "canon")
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(retry.json::<serde_json::Value>().await.unwrap(), first);
    assert_eq!(order_count(&app).await, 1);
}

/// A retry gets the first answer as it was given, whatever happened since:
/// a placement refused for want of stock stays refused after a restock, one
/// refused for an unknown market after the market exists, and a placed
/// order is replayed as placed after it was cancelled. A key answered
/// before outcomes were stored replays its stored response.
async fn a_retry_gets_the_first_answer_whatever_happened_since(app: TestApp) {
    let shop = shop(&app).await;
    let same = |retry: &ordo_testkit::TestResponse, first: &ordo_testkit::TestResponse| {
        assert_eq!((retry.status, retry.text.as_str()), (first.status, first.text.as_str()), "byte for byte");
        for name in ["content-type", "location", "etag"] {
            assert_eq!(retry.header(name), first.header(name), "{name}");
        }
        assert_eq!(first.header("idempotent-replayed"), None);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    };

    // 5 MUGs in stock: 8 are refused, and stay refused once there are 15.
    let short = order_body(&shop, json!([{"sku": "MUG", "quantity": 8}]));
    let refused = place(&app, "since-1", &short).await;
    refused.expect_problem(StatusCode::CONFLICT, "insufficient_stock");
    receive(&app, "MUG", &shop.near, 10).await;
    same(&place(&app, "since-1", &short).await, &refused);
    assert_eq!(app.get("/v1/stock/MUG").await.expect(StatusCode::OK)["reserved"], 0, "nothing reserved");
    place(&app, "since-2", &short).await.expect(StatusCode::CREATED);

    // Unknown market: refused with the field's error, and still once it exists.
    let mut elsewhere = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    elsewhere["market"] = json!("FR");
    let unknown = place(&app, "since-3", &elsewhere).await;
    let problem = unknown.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"][0]["code"], "unknown_market");
    app.post(
        "/v1/markets",
        &json!({"code": "FR", "name": "France", "currency": "EUR", "tax_rate_bp": 2000, "locale": "fr-FR"}),
    )
    .await
    .expect(StatusCode::CREATED);
    same(&place(&app, "since-3", &elsewhere).await, &unknown);

    // Placed, then cancelled: the retry gets the order as it was placed.
    let body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    let placed = place(&app, "since-4", &body).await;
    let order = placed.expect(StatusCode::CREATED);
    assert!(placed.header("etag").is_some());
    let id = order["id"].as_str().unwrap();
    let cancelled = app
        .post(&format!("/v1/orders/{id}/cancel"), &json!({"version": order["version"]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    same(&place(&app, "since-4", &body).await, &placed);
    let orders = order_count(&app).await;

    // A key answered before outcomes were stored keeps its HTTP response.
    app.db
        .execute(
            "UPDATE idempotency_keys SET outcome = NULL, response_status = 418, response_type = 'text/plain', \
             response_location = NULL, response_body = NULL WHERE key = 'since-4'",
        )
        .await;
    let stored = place(&app, "since-4", &body).await;
    assert_eq!((stored.status.as_u16(), stored.text.as_str()), (418, ""));
    assert_eq!(stored.header("content-type"), Some("text/plain"));
    assert_eq!(stored.header("idempotent-replayed"), Some("true"));
    assert_eq!(order_count(&app).await, orders, "nothing placed again");
}
