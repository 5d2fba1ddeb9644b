//! Bad input of every kind gets a 4xx problem document and writes nothing;
//! never a 5xx.

use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::json;

/// Content type, body, expected status, expected code, expected field.
type BodyCase = (Option<&'static str>, Vec<u8>, StatusCode, &'static str, Option<&'static str>);

backend_tests!(bad_product_bodies_are_4xx_and_write_nothing, bad_queries_ids_and_routes_are_4xx, oversize_body_is_413);

async fn bad_product_bodies_are_4xx_and_write_nothing(app: TestApp) {
    let json = Some("application/json");
    let cases: Vec<BodyCase> = vec![
        (json, b"{\"sku\": \"A\", ".to_vec(), StatusCode::BAD_REQUEST, "malformed_json", None),
        (json, b"not json".to_vec(), StatusCode::BAD_REQUEST, "malformed_json", None),
        (json, b"{} trailing".to_vec(), StatusCode::BAD_REQUEST, "malformed_json", None),
        (json, b"".to_vec(), StatusCode::BAD_REQUEST, "malformed_json", None),
        (json, br#"{"sku": 42, "name": "x"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", Some("sku")),
        (json, br#"{"name": "x"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", Some("")),
        (json, br#"{"sku": "A", "name": "x", "colour": "red"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", Some("colour")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": "12", "currency": "EUR"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", Some("prices[0].amount")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": 12.5, "currency": "EUR"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", Some("prices[0].amount")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": 99999999999999999999, "currency": "EUR"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", Some("prices[0].amount")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": -1, "currency": "EUR"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("prices[0].amount")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": 1000000000001, "currency": "EUR"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("prices[0].amount")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": 1, "currency": "ABC"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("prices[0].currency")),
        (json, br#"{"sku": "A", "name": "x", "prices": [{"amount": 1, "currency": "EUR"}, {"amount": 2, "currency": "eur"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("prices[1].currency")),
        (json, br#"{"sku": "A B", "name": "x"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("sku")),
        (json, br#"{"sku": "A", "name": "   "}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", Some("name")),
        (json, br#"[1, 2]"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", None),
        (Some("text/plain"), br#"{"sku": "A", "name": "x"}"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
        (None, br#"{"sku": "A", "name": "x"}"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", None),
    ];
    for (content_type, body, status, code, field) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let response = app.send_raw(Method::POST, "/v1/products", content_type, body).await;
        assert_eq!(response.status, status, "{shown}: {}", response.text);
        let problem = response.expect_problem(status, code);
        if let Some(field) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{shown}: {problem}");
        }
    }
    assert_eq!(app.get("/v1/products").await.expect(StatusCode::OK)["items"], json!([]), "nothing was written");

    let product = app.post("/v1/products", &json!({"sku": "OK-1", "name": "Fine"})).await.expect(StatusCode::CREATED);
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    let bad_updates = [
        (json!({"version": 1, "sku": "NEW"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (json!({"version": "one"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        (
            json!({"version": 1, "prices": [{"amount": -5, "currency": "EUR"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (json!({"version": 1, "name": ""}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        (json!({"version": 1, "active": "yes"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (body, status, code) in bad_updates {
        app.patch(&path, &body).await.expect_problem(status, code);
    }
    assert_eq!(app.get(&path).await.expect(StatusCode::OK), product, "no bad update changed anything");
}

async fn bad_queries_ids_and_routes_are_4xx(app: TestApp) {
    let cases = [
        ("/v1/products?limit=0", "limit"),
        ("/v1/products?limit=501", "limit"),
        ("/v1/products?limit=ten", "limit"),
        ("/v1/products?cursor=garbage", "cursor"),
        ("/v1/products?cursor=cHJvZHVjdHM6eno", "cursor"),
        ("/v1/products?active=maybe", "active"),
        ("/v1/products?updated_since=yesterday", "updated_since"),
        ("/v1/products?sku_prefix=a%20b", "sku_prefix"),
        ("/v1/products?colour=red", "colour"),
        ("/v1/customers?email=nope", "email"),
        ("/v1/customers?archived=2", "archived"),
    ];
    for (path, field) in cases {
        let problem = app.get(path).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
    app.get("/v1/products/123").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.patch("/v1/customers/xyz", &json!({"version": 1})).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.get("/v1/nothing-here").await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.request(Method::DELETE, "/v1/products", None, &[])
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let archive_garbage = app
        .send_raw(
            Method::POST,
            &format!("/v1/products/{}/archive", uuid::Uuid::now_v7()),
            Some("application/json"),
            b"{".to_vec(),
        )
        .await;
    archive_garbage.expect_problem(StatusCode::BAD_REQUEST, "malformed_json");
}

async fn oversize_body_is_413(app: TestApp) {
    // A small limit keeps the whole request inside the server's read buffer,
    // so the early 413 is never lost to a connection reset mid-upload.
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.server.body_limit_bytes = 1024).await else { return };
    let body = json!({"sku": "BIG-1", "name": "Big", "description": "x".repeat(4096)});
    let problem =
        app.post("/v1/products", &body).await.expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(problem["detail"].as_str().unwrap().contains("1024 bytes"), "{problem}");
    let small = json!({"sku": "SMALL-1", "name": "Small", "description": "x".repeat(512)});
    app.post("/v1/products", &small).await.expect(StatusCode::CREATED);
    let items = app.get("/v1/products").await.expect(StatusCode::OK)["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "only the body within the limit was written");
}
