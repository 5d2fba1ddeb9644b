//! The OpenAPI document describes every route the server serves, and the
//! docs page renders it.

use std::collections::BTreeSet;

use ordo_testkit::{Backend, Method, StatusCode, TestApp};
use serde_json::Value;

async fn app() -> TestApp {
    TestApp::spawn(Backend::Sqlite).await.unwrap()
}

fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[tokio::test]
async fn document_is_openapi_3_1_and_lists_every_endpoint() {
    let app = app().await;
    let response = app.get("/openapi.json").await;
    let spec = response.expect(StatusCode::OK);
    assert_eq!(spec["openapi"], "3.1.0");
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/v1/products"),
        ("GET", "/v1/products"),
        ("GET", "/v1/products/{id}"),
        ("PATCH", "/v1/products/{id}"),
        ("POST", "/v1/products/{id}/archive"),
        ("POST", "/v1/customers"),
        ("GET", "/v1/customers"),
        ("GET", "/v1/customers/{id}"),
        ("PATCH", "/v1/customers/{id}"),
        ("POST", "/v1/customers/{id}/archive"),
        ("GET", "/v1/audit-events"),
        ("POST", "/v1/markets"),
        ("GET", "/v1/markets"),
        ("GET", "/v1/markets/{code}"),
        ("PATCH", "/v1/markets/{code}"),
        ("POST", "/v1/locations"),
        ("GET", "/v1/locations"),
        ("GET", "/v1/locations/{id}"),
        ("POST", "/v1/stock/receipts"),
        ("POST", "/v1/stock/adjustments"),
        ("GET", "/v1/stock"),
        ("GET", "/v1/stock/{sku}"),
        ("POST", "/v1/orders"),
        ("GET", "/v1/orders"),
        ("GET", "/v1/orders/{id}"),
        ("GET", "/v1/orders/{id}/events"),
        ("POST", "/v1/orders/{id}/confirm"),
        ("POST", "/v1/orders/{id}/fulfil"),
        ("POST", "/v1/orders/{id}/complete"),
        ("POST", "/v1/orders/{id}/cancel"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices/{id}"),
        ("GET", "/v1/invoices/{id}/link"),
        ("GET", "/v1/payments"),
        ("GET", "/v1/orders/{id}/payments"),
        ("POST", "/v1/orders/{id}/refunds"),
        ("POST", "/v1/orders/{id}/captures"),
        ("POST", "/v1/orders/{id}/offline-payments"),
        ("POST", "/v1/orders/{id}/returns"),
        ("GET", "/v1/orders/{id}/returns"),
        ("GET", "/v1/exports"),
        ("POST", "/v1/exports"),
        ("GET", "/v1/exports/{id}"),
        ("POST", "/v1/exports/{id}/cancel"),
        ("GET", "/v1/exports/{id}/link"),
        ("GET", "/v1/imports"),
        ("POST", "/v1/imports"),
        ("GET", "/v1/imports/{id}"),
        ("POST", "/v1/imports/{id}/cancel"),
        ("GET", "/v1/imports/{id}/errors"),
        ("GET", "/v1/reports"),
        ("POST", "/v1/reports"),
        ("GET", "/v1/reports/{id}"),
        ("POST", "/v1/reports/{id}/cancel"),
        ("GET", "/v1/reports/{id}/link"),
        ("GET", "/v1/returns"),
        ("GET", "/v1/returns/{id}"),
        ("POST", "/v1/returns/{id}/approve"),
        ("POST", "/v1/returns/{id}/reject"),
        ("POST", "/v1/returns/{id}/receive"),
        ("GET", "/v1/credit-notes"),
        ("GET", "/v1/credit-notes/{id}"),
        ("GET", "/v1/credit-notes/{id}/link"),
        ("POST", "/hooks/stripe"),
        ("GET", "/files/{key}"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{id}"),
        ("DELETE", "/v1/webhooks/{id}"),
        ("GET", "/v1/webhooks/{id}/deliveries"),
        ("POST", "/v1/webhooks/deliveries/{id}/replay"),
        ("GET", "/v1/admin/stats"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/stats"),
        ("GET", "/v1/ledger/accounts"),
        ("GET", "/v1/ledger/entries"),
        ("GET", "/v1/ledger/trial-balance"),
        ("GET", "/v1/ledger/periods"),
        ("GET", "/v1/ledger/periods/{period}"),
        ("POST", "/v1/ledger/periods/{period}/close"),
        ("POST", "/v1/ledger/periods/{period}/reopen"),
        ("POST", "/v1/ledger/entries"),
        ("POST", "/v1/ledger/entries/{id}/reverse"),
        ("POST", "/v1/orders/{id}/write-off"),
        ("GET", "/v1/ledger/chart"),
        ("POST", "/v1/ledger/settlements"),
        ("GET", "/v1/ledger/settlements"),
        ("GET", "/v1/ledger/settlements/{id}"),
        ("GET", "/v1/ledger/settlements/{id}/items"),
        ("GET", "/v1/ledger/settlements/{id}/items.csv"),
        ("GET", "/v1/jobs/{id}"),
        ("POST", "/v1/jobs/{id}/retry"),
        ("POST", "/v1/jobs/{id}/discard"),
        ("POST", "/v1/jobs/{id}/cancel"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(operations(&spec), expected);
    for (method, path) in &expected {
        let op = &spec["paths"][path][method.to_lowercase()];
        assert!(op["summary"].is_string() || op["description"].is_string(), "{method} {path} is described");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} documents responses");
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = app().await;
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let id = uuid::Uuid::now_v7().to_string();
    for (method, path) in operations(&spec) {
        let concrete = path.replace("{id}", &id).replace("{code}", "XX").replace("{sku}", "NO-SUCH-SKU");
        let method: Method = method.parse().unwrap();
        let response = app.send_raw(method.clone(), &concrete, Some("application/json"), b"{}".to_vec()).await;
        let code = response.json()["code"].clone();
        assert!(
            response.status != StatusCode::METHOD_NOT_ALLOWED
                && !(response.status == StatusCode::NOT_FOUND
                    && code == "not_found"
                    && response.text.contains("no route")),
            "{method} {concrete} is documented but not routed: {}",
            response.text
        );
    }
}

#[tokio::test]
async fn every_schema_reference_resolves() {
    let app = app().await;
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "FieldError",
        "Product",
        "Customer",
        "Address",
        "CreateProduct",
        "UpdateProduct",
        "CreateCustomer",
        "UpdateCustomer",
    ] {
        assert!(schemas.contains_key(name), "schema {name} is in the document");
    }
    fn walk(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&spec, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(schemas.contains_key(name), "{r} resolves");
    }
}

#[tokio::test]
async fn docs_page_is_served() {
    let app = app().await;
    let response = app.get("/docs").await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(response.header("content-type").unwrap().starts_with("text/html"));
    assert!(response.text.contains("<html") && response.text.contains("Ordo"), "the page embeds the document");
}

#[tokio::test]
async fn the_permission_matrix_is_documented_in_the_api_and_the_readme() {
    let app = app().await;
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let scheme = &spec["components"]["securitySchemes"]["api_key"];
    assert_eq!(scheme["scheme"], "bearer");
    let matrix = ordo_domain::auth::matrix_markdown();
    assert!(scheme["description"].as_str().unwrap().contains(&matrix), "the OpenAPI scheme shows the matrix");
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    assert!(readme.contains(&matrix), "the README shows the matrix generated from the code:\n{matrix}");
}

/// Every operation of the document, with its path and method.
fn each_operation(spec: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((method.to_uppercase(), path.clone(), op));
        }
    }
    ops
}

/// The codes a response documents, from its schema's `code` enum.
fn documented_codes(response: &Value) -> Vec<String> {
    let schema = &response["content"]["application/problem+json"]["schema"];
    schema["allOf"][1]["properties"]["code"]["enum"]
        .as_array()
        .map(|codes| codes.iter().map(|c| c.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn ids_are_uuids_and_pages_are_bounded() {
    let app = app().await;
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let mut limits = 0;
    for (method, path, op) in each_operation(&spec) {
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap();
            let schema = &parameter["schema"];
            if (parameter["in"] == "path" && name == "id") || ["customer_id", "order_id", "actor"].contains(&name) {
                assert_eq!(schema["format"], "uuid", "{method} {path}: {name} is a UUID");
            }
            if name == "limit" {
                limits += 1;
                assert_eq!((schema["minimum"].as_i64(), schema["maximum"].as_i64()), (Some(1), Some(500)), "{path}");
            }
            if name == "cursor" {
                assert!(schema["pattern"].is_string(), "{path}: the cursor's alphabet");
            }
        }
    }
    assert!(limits >= 8, "every paginated list states its limit ({limits})");
    let schemas = &spec["components"]["schemas"];
    for id in ["ProductId", "CustomerId", "OrderId"] {
        assert_eq!(schemas[id]["format"], "uuid", "{id}");
    }
    let stock = &spec["paths"]["/v1/stock"]["get"]["parameters"];
    let prefix = stock.as_array().unwrap().iter().find(|p| p["name"] == "sku_prefix").unwrap();
    assert!(prefix["schema"]["pattern"].as_str().unwrap().contains("{1,64}"), "an empty prefix is refused");
    let page = &schemas["Page_Product"];
    assert!(
        !page["required"].as_array().unwrap().iter().any(|r| r == "next_cursor")
            && page["properties"]["next_cursor"]["type"] == "string",
        "next_cursor is absent, not null, on the last page: {page}"
    );
}

/// Every route with an id in its path refuses a malformed one as a problem
/// (not the router's plain-text 400): 400 `invalid_id`, or the body's own
/// 4xx where the body is checked first. Walked from the document, so a new
/// route cannot forget it.
#[tokio::test]
async fn every_id_in_a_path_is_refused_as_a_problem_when_malformed() {
    let app = app().await;
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let (mut checked, mut wrong) = (0, Vec::new());
    for (method, path, op) in each_operation(&spec) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if !params.iter().any(|p| p["in"] == "path" && p["schema"]["format"] == "uuid") {
            continue;
        }
        let url = path.replace("{id}", "n%C3%86t-a-uuid");
        assert!(!url.contains('{'), "{path}: only `id` is a UUID path parameter");
        let body = op.get("requestBody").map(|_| serde_json::json!({}));
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let answer = app.request(method.clone(), &url, body.as_ref(), &[]).await;
        let problem = answer.header("content-type") == Some("application/problem+json");
        // With a body the body's own 422 may come first; either way a problem.
        let expected =
            if body.is_some() { answer.status.is_client_error() } else { answer.status == StatusCode::BAD_REQUEST };
        if !problem || !expected || (body.is_none() && !answer.text.contains("\"invalid_id\"")) {
            wrong.push(format!(
                "{method} {path}: {} {:?} {}",
                answer.status,
                answer.header("content-type"),
                answer.text
            ));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(checked >= 30, "the walk reached the id routes ({checked})");
}

#[tokio::test]
async fn error_responses_come_from_the_error_table() {
    let app = app().await;
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let table = ordo_http::error::codes::ALL;
    let mut reachable = BTreeSet::new();
    for (method, path, op) in each_operation(&spec) {
        let responses = op["responses"].as_object().unwrap();
        let has = |status: u16, code: &str| {
            responses.get(&status.to_string()).is_some_and(|r| documented_codes(r).iter().any(|c| c == code))
        };
        for (status, response) in responses {
            assert_eq!(response["headers"]["X-Request-Id"]["required"], true, "{method} {path} {status}");
            for code in documented_codes(response) {
                let row = table.iter().find(|row| row.code == code).unwrap_or_else(|| panic!("{code} is a row"));
                assert_eq!(row.status.as_u16().to_string(), *status, "{method} {path}: {code} under its status");
                assert!(response["description"].as_str().unwrap().contains(row.description), "{code} is described");
                reachable.insert(code);
            }
        }
        assert!(has(400, "invalid_path") && has(408, "request_timeout"), "{method} {path}: the edge's errors");
        if path.starts_with("/v1/") {
            for (status, code) in
                [(401, "unauthenticated"), (429, "rate_limited"), (500, "internal_error"), (503, "service_unavailable")]
            {
                assert!(has(status, code), "{method} {path} documents {status} {code}");
            }
            assert_eq!(responses["401"]["headers"]["WWW-Authenticate"]["required"], true);
            assert_eq!(responses["503"]["headers"]["Retry-After"]["required"], true);
            let scopes = op["security"][0]["api_key"].as_array().expect("a /v1 operation names its permission");
            assert!(!scopes.is_empty() && has(403, "forbidden"), "{method} {path} documents 401 and 403");
        }
        if op.get("requestBody").is_some() {
            for (status, code) in [
                (400, "malformed_json"),
                (413, "payload_too_large"),
                (415, "unsupported_media_type"),
                (422, "invalid_body"),
                (422, "validation_failed"),
            ] {
                assert!(has(status, code), "{method} {path} takes a body, so documents {status} {code}");
            }
        }
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        if params.iter().any(|p| p["in"] == "query") {
            assert!(has(400, "invalid_query"), "{method} {path}");
        }
        if params.iter().any(|p| p["in"] == "path" && p["schema"]["format"] == "uuid") {
            assert!(has(400, "invalid_id"), "{method} {path}");
        }
        if params.iter().any(|p| p["name"] == "If-Match") {
            assert!(has(400, "invalid_header") && has(412, "precondition_failed"), "{method} {path}");
            let description = params.iter().find(|p| p["name"] == "If-Match").unwrap()["description"].to_string();
            assert_eq!(has(428, "precondition_required"), description.contains("428"), "{method} {path}: the 428 rule");
        }
        if method == "POST" && path.starts_with("/v1/") {
            assert!(params.iter().any(|p| p["name"] == "Idempotency-Key"), "{method} {path} takes an Idempotency-Key");
            assert!(has(409, "idempotency_in_flight") && has(422, "idempotency_key_reused"), "{method} {path}");
        }
    }
    // The transitions and archives answer 422 and 428 too (the outsider's list).
    for path in ["/v1/orders/{id}/confirm", "/v1/orders/{id}/cancel", "/v1/products/{id}/archive"] {
        let responses = &spec["paths"][path]["post"]["responses"];
        assert!(documented_codes(&responses["422"]).contains(&"invalid_body".to_owned()), "{path} documents 422");
    }
    let unreachable: Vec<&str> = table.iter().map(|row| row.code).filter(|code| !reachable.contains(*code)).collect();
    // 405 answers a method no operation has, so no operation documents it.
    assert_eq!(unreachable, ["method_not_allowed"], "every other code is documented by an operation");
    assert!(spec["info"]["description"].as_str().unwrap().contains(&ordo_http::error::codes::markdown()));
}

#[tokio::test]
async fn the_readme_error_table_is_the_code_table() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let table = ordo_http::error::codes::markdown();
    assert!(readme.contains(&table), "the README's error table is generated from the code; it should read:\n{table}");
}
