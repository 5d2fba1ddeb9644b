//! Bad input of every kind gets a 4xx problem document and writes nothing;
//! never a 5xx.

use std::time::{Duration, Instant};

use base64::Engine;
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Content type, body, expected status, expected code, expected field.
type BodyCase = (Option<&'static str>, Vec<u8>, StatusCode, &'static str, Option<&'static str>);

backend_tests!(
    bad_product_bodies_are_4xx_and_write_nothing,
    bad_queries_ids_and_routes_are_4xx,
    oversize_body_is_413,
    control_characters_are_refused_at_the_edge,
    non_utf8_paths_are_problem_documents,
    a_declared_oversize_body_is_refused_at_once,
    slow_headers_are_timed_out,
    unfit_request_ids_are_replaced,
    weak_if_match_never_matches,
    extreme_adjustments_are_422,
);

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

/// PostgreSQL refuses a NUL in text with an error of its own (SQLSTATE
/// 22021), which reached clients as a 500: text with control characters is
/// refused at the edge instead, the same on both backends, and nothing is
/// written.
async fn control_characters_are_refused_at_the_edge(app: TestApp) {
    let shop = ordo_testkit::fixtures::shop(&app).await;
    for (path, field) in [
        ("/v1/jobs?queue=%00", "queue"),
        ("/v1/audit-events?entity_type=%00", "entity_type"),
        ("/v1/audit-events?entity_id=%00", "entity_id"),
        ("/v1/audit-events?entity_type=product&entity_id=a%0Db", "entity_id"),
        ("/v1/products?sku_prefix=T%7F", "sku_prefix"),
        ("/v1/customers?email=a%00%40example.com", "email"),
    ] {
        let problem = app.get(path).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
        assert_eq!(problem["errors"][0]["code"], "invalid_characters", "{path}: {problem}");
    }
    // A forged stock cursor whose key holds a NUL.
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("stock:\0");
    let problem =
        app.get(&format!("/v1/stock?cursor={forged}")).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    assert_eq!(problem["errors"][0]["field"], "cursor", "{problem}");

    for path in ["/v1/markets/%00", "/v1/markets/D%00E", "/v1/stock/TEE%0A", "/v1/stock/%C2%85"] {
        app.get(path).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_path");
    }
    app.patch("/v1/markets/%00", &json!({"version": 1, "name": "x"}))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_path");

    let order = |market: &str| {
        json!({
            "customer_id": shop.customer,
            "market": market,
            "lines": [{"sku": "TEE", "quantity": 1}],
            "shipping_address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
        })
    };
    for (body, field) in [
        (order("\u{0}"), "market"),
        (order("DE\u{7}"), "market"),
        (order("D\u{85}E"), "market"),
        (json!({"sku": "NUL", "name": "a\u{0}b"}), "name"),
        (json!({"sku": "NUL", "name": "ok", "prices": [{"amount": 1, "currency": "EU\u{0}"}]}), "prices[0].currency"),
        (json!({"sku": "NUL", "name": "carriage\rreturn"}), "name"),
    ] {
        let path = if body.get("market").is_some() { "/v1/orders" } else { "/v1/products" };
        let problem = app.post(path, &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["code"], "invalid_characters", "{body}: {problem}");
    }
    // An escaped backslash before `u0000` is text, not a control character.
    let raw = br#"{"sku": "SLASH", "name": "a\\u0000 b"}"#.to_vec();
    let created = app.send_raw(Method::POST, "/v1/products", Some("application/json"), raw).await;
    assert_eq!(created.expect(StatusCode::CREATED)["name"], "a\\u0000 b");
    // Tabs and line feeds are fine in free text.
    app.post("/v1/products", &json!({"sku": "NOTE", "name": "Note", "description": "line one\n\tline two"}))
        .await
        .expect(StatusCode::CREATED);

    assert_eq!(app.get("/v1/orders").await.expect(StatusCode::OK)["items"], json!([]), "no order was written");
    let stock = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    assert_eq!((stock["on_hand"].as_i64(), stock["reserved"].as_i64()), (Some(13), Some(0)));
    let skus: Vec<String> = app.get("/v1/products").await.expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sku"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(skus, ["TEE", "MUG", "SLASH", "NOTE"], "only the clean products exist");
}

/// Percent-decoded bytes that are not UTF-8 once got axum's plain-text 400.
async fn non_utf8_paths_are_problem_documents(app: TestApp) {
    for path in ["/v1/markets/%FF%FE", "/v1/products/%C3", "/v1/stock/%E2%82"] {
        let problem = app.get(path).await.expect_problem(StatusCode::BAD_REQUEST, "invalid_path");
        assert!(problem["detail"].as_str().unwrap().contains("UTF-8"), "{problem}");
    }
}

/// Sends raw bytes on a new connection and reads until the server closes
/// it or `wait` passes; returns what was read and how long it took.
async fn raw_exchange(app: &TestApp, request: &[u8], wait: Duration) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(wait.saturating_sub(started.elapsed()), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                received.extend_from_slice(&buffer[..n]);
                if received.windows(4).any(|w| w == b"\r\n\r\n") && !request.is_empty() {
                    // Headers in: enough to judge a refusal.
                    break;
                }
            }
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), started.elapsed())
}

/// A declared `Content-Length` over the limit is refused before the body
/// is read, not after waiting for a body that never comes (it got 408
/// after the request timeout).
async fn a_declared_oversize_body_is_refused_at_once(app: TestApp) {
    let request = format!(
        "POST /v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{{",
        app.admin_key
    );
    let (answer, took) = raw_exchange(&app, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?} after {took:?}");
    assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{answer}");
    assert!(took < Duration::from_secs(5), "refused at once, not after a timeout: {took:?}");
}

/// A client that sends its headers slowly (a slow-loris) loses its
/// connection after `server.header_read_timeout_ms`.
async fn slow_headers_are_timed_out(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.server.header_read_timeout_ms = 300).await else { return };
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buffer = [0u8; 1024];
    // Trickle a header byte now and then, never finishing the head.
    let closed = loop {
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => {} // an error answer before closing is fine
            Err(_) if started.elapsed() > Duration::from_secs(5) => break false,
            Err(_) => {
                if stream.write_all(b"X").await.is_err() {
                    break true;
                }
            }
        }
    };
    assert!(closed, "the connection was still open after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    // A prompt client is served as usual.
    assert_eq!(app.anonymous.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}

/// An `X-Request-Id` is echoed and kept in the audit trail only when it is
/// 1 to 128 visible ASCII characters; otherwise a generated one replaces it.
async fn unfit_request_ids_are_replaced(app: TestApp) {
    let fit = "req-ok_1:2";
    let response = app
        .request(Method::POST, "/v1/products", Some(&json!({"sku": "ID-1", "name": "One"})), &[("x-request-id", fit)])
        .await;
    response.expect(StatusCode::CREATED);
    assert_eq!(response.header("x-request-id"), Some(fit));
    for unfit in ["x".repeat(60 * 1024), "x".repeat(129), "has space".to_owned(), "tab\there".to_owned()] {
        let sku = format!("ID-{}", unfit.len());
        let response = app
            .request(
                Method::POST,
                "/v1/products",
                Some(&json!({"sku": sku, "name": "Two"})),
                &[("x-request-id", &unfit)],
            )
            .await;
        response.expect(StatusCode::CREATED);
        let echoed = response.header("x-request-id").unwrap().to_owned();
        assert_ne!(echoed, unfit);
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "a generated id: {echoed}");
    }
    let trail = app.get("/v1/audit-events?entity_type=product&limit=500").await.expect(StatusCode::OK);
    let ids: Vec<&str> = trail["items"].as_array().unwrap().iter().filter_map(|e| e["request_id"].as_str()).collect();
    assert_eq!(ids.len(), 5, "{trail}");
    assert!(ids.contains(&fit));
    assert!(ids.iter().all(|id| id.len() <= 128), "{ids:?}");
}

/// RFC 9110 compares `If-Match` strongly: a weak tag never matches, even
/// naming the current version, and nothing changes.
async fn weak_if_match_never_matches(app: TestApp) {
    let product = app.post("/v1/products", &json!({"sku": "WEAK", "name": "Weak"})).await.expect(StatusCode::CREATED);
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    let weak = app.request(Method::PATCH, &path, Some(&json!({"name": "Changed"})), &[("if-match", "W/\"1\"")]).await;
    weak.expect_problem(StatusCode::PRECONDITION_FAILED, "precondition_failed");
    assert_eq!(app.get(&path).await.expect(StatusCode::OK), product, "unchanged");
    let strong = app.request(Method::PATCH, &path, Some(&json!({"name": "Changed"})), &[("if-match", "\"1\"")]).await;
    assert_eq!(strong.expect(StatusCode::OK)["name"], "Changed");
}

/// `abs()` of `i64::MIN` overflows: such a delta got 409 insufficient_stock.
async fn extreme_adjustments_are_422(app: TestApp) {
    let shop = ordo_testkit::fixtures::shop(&app).await;
    for delta in [i64::MIN, i64::MIN + 1, i64::MAX, 1_000_001, -1_000_001] {
        let body = json!({"sku": "TEE", "location_id": shop.near, "delta": delta, "reason": "count_correction"});
        let problem = app
            .post("/v1/stock/adjustments", &body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "delta", "{delta}: {problem}");
    }
    let stock = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    assert_eq!(stock["on_hand"], 13, "unchanged");
}
