//! `Idempotency-Key` on every `POST /v1/...`: the first request with a key
//! runs and its answer is stored; a retry with the same key and the same
//! request gets that answer again (`Idempotent-Replayed: true`) without
//! acting twice; the same key with a different request gets 422; a retry
//! while the first is still running gets 409. Keys are per API key and
//! expire after `idempotency.ttl_ms` (24 h by default).
//!
//! A request refused before its operation began (unparseable, invalid at
//! the edge, or not permitted) does not spend its key, as at Stripe: the
//! corrected request may use it. Requests are compared by their parsed,
//! canonical JSON, so the same document with its keys in another order or
//! other whitespace is the same request.
//!
//! Most routes claim the key and record the answer (the HTTP response) in
//! transactions of their own around the handler. Order placement, the hot
//! path, does both inside the placement's transaction instead
//! ([`ATOMIC_ROUTES`]), and records what it decided (the order placed, or
//! the refusal) rather than a response: this middleware only checks the key
//! and hashes the request, and hands them on as an [`IdempotentRequest`];
//! a replay renders the outcome as the first answer was rendered.

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use ordo_domain::idempotency::{Answer, Claim, Outcome, StoredResponse, parse_key};
use ordo_service::Services;
use ordo_service::keys::Principal;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, RefusedAtEdge};
use crate::extract::BodyLimit;
use crate::layers::{Inner, run};

pub(crate) const HEADER: &str = "idempotency-key";

/// `POST` routes whose handlers claim the key and store their answer in
/// their own transaction, so that the key, the change and the answer commit
/// together, at no extra transaction.
const ATOMIC_ROUTES: &[&str] = &["/v1/orders"];

/// A checked `Idempotency-Key` and the hash of its request, for a handler on
/// one of [`ATOMIC_ROUTES`].
#[derive(Debug, Clone)]
pub(crate) struct IdempotentRequest {
    pub(crate) key: String,
    pub(crate) request_hash: String,
}

/// Largest response body stored for replay.
const MAX_STORED_RESPONSE: usize = 4 * 1024 * 1024;

pub(crate) async fn idempotency<S: Inner>(services: &Services, request: Request, inner: S) -> Response {
    // An upload is idempotent by its file's hash, and too large to buffer
    // here.
    if request.method() != Method::POST
        || !request.uri().path().starts_with("/v1/")
        || crate::upload::is_upload(request.method(), request.uri().path())
    {
        return run(inner, request).await;
    }
    let Some(value) = request.headers().get(HEADER) else {
        return run(inner, request).await;
    };
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return run(inner, request).await; // unauthenticated: refused further in
    };
    let key = match value.to_str().map_err(|_| ()).and_then(|v| parse_key(v).map_err(|_| ())) {
        Ok(key) => key,
        Err(()) => {
            return ApiError::invalid_header("Idempotency-Key", "use 1 to 255 visible ASCII characters")
                .into_response();
        }
    };
    let limit = request.extensions().get::<BodyLimit>().map_or(usize::MAX, |l| l.0);
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError::payload_too_large(Some(limit)).into_response(),
    };
    let hash = request_hash(parts.method.as_str(), parts.uri.path(), &bytes);

    let atomic = parts.extensions.get::<MatchedPath>().is_some_and(|p| ATOMIC_ROUTES.contains(&p.as_str()));
    if atomic {
        let mut request = Request::from_parts(parts, Body::from(bytes));
        request.extensions_mut().insert(IdempotentRequest { key, request_hash: hash });
        return run(inner, request).await;
    }
    match services.idempotency.claim(principal.key_id, &key, &hash).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Claim::Mismatch) => ApiError::idempotency_mismatch().into_response(),
        Ok(Claim::InFlight) => ApiError::idempotency_in_flight().into_response(),
        Ok(Claim::Replay(stored)) => replay(stored),
        Ok(Claim::Proceed) => {
            let response = run(inner, Request::from_parts(parts, Body::from(bytes))).await;
            record(services, &principal, &key, response).await
        }
    }
}

/// The hash a retry must match: method, path and the body as canonical
/// JSON (object keys sorted, no insignificant whitespace), or the raw body
/// when it is not JSON.
fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(document) => {
            hasher.update(b"json:");
            canonical(&document, &mut hasher);
        }
        Err(_) => {
            hasher.update(b"raw:");
            hasher.update(body);
        }
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds `value` to `hasher` as canonical JSON: object keys in sorted
/// order (whatever order the parser's map keeps), compact.
fn canonical(value: &serde_json::Value, hasher: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                hasher.update(Value::String(key.clone()).to_string().as_bytes());
                hasher.update(b":");
                canonical(&fields[key], hasher);
            }
            hasher.update(b"}");
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    hasher.update(b",");
                }
                canonical(item, hasher);
            }
            hasher.update(b"]");
        }
        scalar => hasher.update(scalar.to_string().as_bytes()),
    }
}

/// Stores the answer (or lets go of the key after a server error, so that
/// the request can be retried, or after a refusal at the edge, so that the
/// corrected request can use it) and passes the answer on.
async fn record(services: &Services, principal: &Principal, key: &str, response: Response) -> Response {
    let refused_at_edge = response.extensions().get::<RefusedAtEdge>().is_some();
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_STORED_RESPONSE).await else {
        let _ = services.idempotency.release(principal.key_id, key).await;
        return ApiError::internal().into_response();
    };
    let outcome = if parts.status.is_server_error() || refused_at_edge {
        services.idempotency.release(principal.key_id, key).await
    } else {
        let header_text = |name| parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type: header_text(header::CONTENT_TYPE),
            location: header_text(header::LOCATION),
            body: bytes.to_vec(),
        };
        services.idempotency.complete(principal.key_id, key, &Answer::Response(stored)).await
    };
    if let Err(e) = outcome {
        // The change itself is committed; only its replay record is not.
        tracing::warn!(error = %e, "could not record the idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The first request's answer again, marked as a replay: an outcome
/// rendered as a fresh one is, or a stored response as it was sent.
pub(crate) fn replay(answer: Answer) -> Response {
    let mut response = match answer {
        Answer::Outcome(Outcome::OrderPlaced { order }) => crate::routes::orders::placed_response(&order),
        Answer::Outcome(Outcome::Refused { refusal }) => ApiError::from_refusal(refusal).into_response(),
        Answer::Response(stored) => stored_response(stored),
    };
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// A response stored as it was sent (by a route other than order placement,
/// or by a placement answered before outcomes were stored).
fn stored_response(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in [(header::CONTENT_TYPE, stored.content_type), (header::LOCATION, stored.location)] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hash_by_their_canonical_json() {
        let a = request_hash("POST", "/v1/orders", br#"{"b": [1, {"y": 2, "x": 1}], "a": "z"}"#);
        let b = request_hash("POST", "/v1/orders", br#"{"a":"z","b":[1,{"x":1,"y":2}]}"#);
        assert_eq!(a, b, "key order and whitespace do not matter");
        assert_ne!(a, request_hash("POST", "/v1/orders", br#"{"a":"z","b":[{"x":1,"y":2},1]}"#), "array order does");
        assert_ne!(a, request_hash("POST", "/v1/products", br#"{"a":"z","b":[1,{"x":1,"y":2}]}"#), "the path does");
        assert_ne!(a, request_hash("POST", "/v1/orders", br#"{"a":"z ","b":[1,{"x":1,"y":2}]}"#), "values do");
        assert_eq!(request_hash("POST", "/p", b"not json"), request_hash("POST", "/p", b"not json"));
        assert_ne!(request_hash("POST", "/p", b"not json"), request_hash("POST", "/p", b"not  json"));
    }
}
