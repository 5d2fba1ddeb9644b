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
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{id}"),
        ("DELETE", "/v1/webhooks/{id}"),
        ("GET", "/v1/webhooks/{id}/deliveries"),
        ("POST", "/v1/webhooks/deliveries/{id}/replay"),
        ("GET", "/v1/admin/stats"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/stats"),
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
