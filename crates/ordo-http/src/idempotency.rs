//! `Idempotency-Key` on every `POST /v1/...`: the first request with a key
//! runs and its answer is stored; a retry with the same key and the same
//! request gets that answer again (`Idempotent-Replayed: true`) without
//! acting twice; the same key with a different request gets 422; a retry
//! while the first is still running gets 409. Keys are per API key and
//! expire after `idempotency.ttl_ms` (24 h by default).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ordo_domain::idempotency::{Claim, StoredResponse, parse_key};
use ordo_service::Services;
use ordo_service::keys::Principal;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::extract::BodyLimit;

pub(crate) const HEADER: &str = "idempotency-key";

/// Largest response body stored for replay.
const MAX_STORED_RESPONSE: usize = 4 * 1024 * 1024;

pub(crate) async fn idempotency(State(services): State<Services>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let Some(value) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return next.run(request).await; // unauthenticated: refused further in
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
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.path().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let hash: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();

    match services.idempotency.claim(principal.key_id, &key, &hash).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Claim::Mismatch) => ApiError::idempotency_mismatch().into_response(),
        Ok(Claim::InFlight) => ApiError::idempotency_in_flight().into_response(),
        Ok(Claim::Replay(stored)) => replay(stored),
        Ok(Claim::Proceed) => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            record(&services, &principal, &key, response).await
        }
    }
}

/// Stores the answer (or lets go of the key after a server error, so that
/// the request can be retried) and passes the answer on.
async fn record(services: &Services, principal: &Principal, key: &str, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_STORED_RESPONSE).await else {
        let _ = services.idempotency.release(principal.key_id, key).await;
        return ApiError::internal().into_response();
    };
    let outcome = if parts.status.is_server_error() {
        services.idempotency.release(principal.key_id, key).await
    } else {
        let header_text = |name| parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            content_type: header_text(header::CONTENT_TYPE),
            location: header_text(header::LOCATION),
            body: bytes.to_vec(),
        };
        services.idempotency.complete(principal.key_id, key, &stored).await
    };
    if let Err(e) = outcome {
        // The change itself is committed; only its replay record is not.
        tracing::warn!(error = %e, "could not record the idempotent answer");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in [(header::CONTENT_TYPE, stored.content_type), (header::LOCATION, stored.location)] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
