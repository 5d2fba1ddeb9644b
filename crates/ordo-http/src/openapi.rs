//! Completes the OpenAPI document that utoipa generates from the handlers:
//! every operation's error responses are generated from the one
//! [error table](crate::error::codes), so that no annotation can forget one.
//!
//! An operation names only the errors that are its own, the outcomes of
//! its use case, as rows of the table:
//!
//! ```ignore
//! #[utoipa::path(..., extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT]))))]
//! ```
//!
//! The errors that follow from how the operation is reached are added here,
//! the same way for every operation: whatever any request can meet at the
//! edge (`invalid_path`, `request_timeout`), under `/v1` (authentication,
//! rate limits, an unavailable database, a bug), with a permission
//! (`forbidden`), with a JSON body, query parameters, an id in the path,
//! `If-Match`, or an `Idempotency-Key` (every `POST` under `/v1`). Each
//! status then becomes one response whose `code` is the enum of the rows
//! it can carry, and whose description says when each happens.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::codes::{self, ErrorCode};

/// The extension in which an operation names its own error codes; removed
/// from the published document once its responses are generated.
pub(crate) const ERRORS_EXTENSION: &str = "x-errors";

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The published document: utoipa's, with every operation's error
/// responses and common headers generated.
pub(crate) fn complete(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    if let Some(Value::String(description)) = doc.pointer_mut("/info/description") {
        description
            .push_str("\n\n## Errors\n\nEvery error is one of these; each operation lists those it can answer.\n\n");
        description.push_str(&codes::markdown());
    }
    let paths = doc["paths"].as_object_mut().expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        for method in METHODS {
            if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete_operation(path, method, operation);
            }
        }
    }
    doc
}

fn complete_operation(path: &str, method: &str, operation: &mut Map<String, Value>) {
    let declared = operation.remove(ERRORS_EXTENSION).unwrap_or_else(|| json!([]));
    let mut rows: Vec<&'static ErrorCode> = declared
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path}: {ERRORS_EXTENSION} is a list of error codes"))
        .iter()
        .map(|code| {
            let code = code.as_str().unwrap_or_default();
            ErrorCode::find(code).unwrap_or_else(|| panic!("{method} {path}: `{code}` is not in the error table"))
        })
        .collect();
    if path.starts_with("/v1/") && method == "post" {
        add_idempotency_key(operation);
    }
    optional_body(operation);
    rows.extend(implied_rows(path, operation));
    describe_if_match(operation, &rows);
    refuse_control_characters_in_queries(operation);

    let mut by_status: BTreeMap<u16, Vec<&'static ErrorCode>> = BTreeMap::new();
    for row in rows {
        let same_status = by_status.entry(row.status.as_u16()).or_default();
        if !same_status.contains(&row) {
            same_status.push(row);
        }
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let responses = responses.as_object_mut().expect("responses is an object");
    for (status, rows) in by_status {
        // Keep the table's order, whatever the order of declaration.
        let mut rows = rows;
        rows.sort_by_key(|row| codes::ALL.iter().position(|r| r == *row));
        responses.insert(status.to_string(), error_response(path, &rows));
    }
    for response in responses.values_mut() {
        let headers = response.as_object_mut().expect("a response is an object").entry("headers");
        let headers = headers.or_insert_with(|| json!({})).as_object_mut().expect("headers is an object");
        headers.insert(
            "X-Request-Id".into(),
            json!({"description": "The request's id: the one sent, or a new one", "required": true, "schema": {"type": "string"}}),
        );
    }
}

/// The errors that follow from how an operation is reached, rather than
/// from what it does.
fn implied_rows(path: &str, operation: &Map<String, Value>) -> Vec<&'static ErrorCode> {
    // The edge refuses a bad path, and a declared body over the limit
    // whatever the operation.
    let mut rows = vec![&codes::INVALID_PATH, &codes::PAYLOAD_TOO_LARGE, &codes::REQUEST_TIMEOUT];
    if path.starts_with("/v1/") {
        rows.extend([
            &codes::UNAUTHENTICATED,
            &codes::RATE_LIMITED,
            &codes::SERVICE_UNAVAILABLE,
            &codes::INTERNAL_ERROR,
        ]);
    }
    let needs_permission = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|schemes| schemes.iter().any(|s| s.as_object().is_some_and(|s| s.values().any(has_items))));
    if needs_permission {
        rows.push(&codes::FORBIDDEN);
    }
    if operation.contains_key("requestBody") {
        rows.extend([
            &codes::MALFORMED_JSON,
            &codes::UNREADABLE_BODY,
            &codes::PAYLOAD_TOO_LARGE,
            &codes::UNSUPPORTED_MEDIA_TYPE,
            &codes::INVALID_BODY,
            // Control characters in any string of the body, whatever its shape.
            &codes::VALIDATION_FAILED,
        ]);
    }
    for parameter in operation.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        match (parameter["in"].as_str(), parameter["name"].as_str()) {
            (Some("query"), _) => rows.push(&codes::INVALID_QUERY),
            (Some("path"), _) if parameter["schema"]["format"] == "uuid" => rows.push(&codes::INVALID_ID),
            (Some("header"), Some("If-Match")) => rows.extend([&codes::INVALID_HEADER, &codes::PRECONDITION_FAILED]),
            (Some("header"), Some("Idempotency-Key")) => rows.extend([
                &codes::INVALID_HEADER,
                &codes::PAYLOAD_TOO_LARGE,
                &codes::IDEMPOTENCY_IN_FLIGHT,
                &codes::IDEMPOTENCY_KEY_REUSED,
            ]),
            _ => {}
        }
    }
    rows
}

fn has_items(value: &Value) -> bool {
    value.as_array().is_some_and(|items| !items.is_empty())
}

/// Every `POST` under `/v1` takes an `Idempotency-Key` (the middleware in
/// [`crate::idempotency`] serves them all).
fn add_idempotency_key(operation: &mut Map<String, Value>) {
    let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
    let parameters = parameters.as_array_mut().expect("parameters is a list");
    parameters.retain(|p| !(p["in"] == "header" && p["name"] == "Idempotency-Key"));
    parameters.push(json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes a retry safe: the same key with the same request replays the first answer \
            (`Idempotent-Replayed: true`) instead of acting again. 1 to 255 visible ASCII characters; \
            keys belong to the API key that sent them and are kept for `idempotency.ttl_ms`.",
        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    }));
}

/// utoipa renders an optional body (`Option<Json<T>>`) as a body that may
/// be JSON `null`; it is a body that may be left out, and `null` is not a
/// `T` (422 `invalid_body`).
fn optional_body(operation: &mut Map<String, Value>) {
    let Some(content) = operation.get_mut("requestBody").and_then(|b| b.get_mut("content")) else { return };
    let mut optional = false;
    for media in content.as_object_mut().into_iter().flat_map(|c| c.values_mut()) {
        let Some(alternatives) = media["schema"]["oneOf"].as_array() else { continue };
        if let [first, second] = alternatives.as_slice()
            && first == &json!({"type": "null"})
        {
            media["schema"] = second.clone();
            optional = true;
        }
    }
    if optional {
        operation["requestBody"]["required"] = json!(false);
    }
}

/// The query extractor refuses a control character in any parameter (400
/// `invalid_query`): say so on free-text parameters, which have no pattern
/// of their own.
fn refuse_control_characters_in_queries(operation: &mut Map<String, Value>) {
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "query") {
        let schema = &mut parameter["schema"];
        let free_text = schema["type"] == "string"
            && schema.get("pattern").is_none()
            && schema.get("format").is_none()
            && schema.get("enum").is_none();
        if free_text {
            schema["pattern"] = json!(NO_CONTROL_CHARACTERS);
        }
    }
}

/// Text without control characters.
pub(crate) const NO_CONTROL_CHARACTERS: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// `If-Match` means the same on every operation that takes it; whether the
/// operation needs a precondition (428 without one) shows in its rows.
fn describe_if_match(operation: &mut Map<String, Value>, rows: &[&'static ErrorCode]) {
    let required = rows.contains(&&codes::PRECONDITION_REQUIRED);
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "header" && p["name"] == "If-Match") {
        let description = if required {
            "The version last read, as its `ETag` (`\"<version>\"`), or `*`. Send this or `version` in the body: \
             with neither the answer is 428 `precondition_required`. A stale one is 412 `precondition_failed`; \
             one that disagrees with the body's `version` is 400 `invalid_header`. A weak tag never matches (412)."
        } else {
            "Act only if the entity is still at this version: its `ETag` (`\"<version>\"`), or `*`. \
             A stale one is 412 `precondition_failed`; one that disagrees with the body's `version` is 400 \
             `invalid_header`. A weak tag never matches (412)."
        };
        parameter["description"] = json!(description);
        parameter["schema"] = json!({"type": "string", "pattern": IF_MATCH_PATTERN});
    }
}

/// What `If-Match` may hold: `*` or one entity tag as `ETag` sends it.
/// (A weak tag is read, and never matches: 412. Empty is the same as none.)
pub(crate) const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[0-9]{1,18}")?$"#;

/// One status's response: a problem whose `code` is one of `rows`.
fn error_response(path: &str, rows: &[&'static ErrorCode]) -> Value {
    let status = rows[0].status;
    let description =
        rows.iter().map(|row| format!("`{}`: {}", row.code, row.description)).collect::<Vec<_>>().join(".\n\n");
    let mut headers = Map::new();
    match status.as_u16() {
        401 => {
            headers.insert(
                "WWW-Authenticate".into(),
                json!({"required": true, "schema": {"type": "string", "const": "Bearer realm=\"ordo\""}}),
            );
        }
        429 | 503 => {
            headers.insert(
                "Retry-After".into(),
                json!({"description": "Seconds to wait before retrying", "required": true, "schema": {"type": "integer", "minimum": 0}}),
            );
        }
        _ => {}
    }
    if path.starts_with("/v1/") && status.as_u16() == 429 {
        for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
            headers.insert(name.into(), json!({"required": true, "schema": {"type": "integer", "minimum": 0}}));
        }
    }
    let codes: Vec<&str> = rows.iter().map(|row| row.code).collect();
    json!({
        "description": format!("{}.\n\n{description}.", status.canonical_reason().unwrap_or("Error")),
        "headers": headers,
        "content": {
            "application/problem+json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {"type": "object", "properties": {"status": {"const": status.as_u16()}, "code": {"enum": codes}}},
                    ]
                }
            }
        }
    })
}
