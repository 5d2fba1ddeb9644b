//! Checks every request passes before anything else reads it: a path that
//! is UTF-8 without control characters once percent-decoded, a declared body
//! within the limit, and an `X-Request-Id` short and plain enough to echo and
//! to keep in the audit trail. Each refusal is a problem document, never
//! axum's plain-text rejection, and costs nothing on a well-formed request.

use std::borrow::Cow;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use percent_encoding::percent_decode_str;

use crate::HttpLimits;
use crate::error::ApiError;
use crate::extract::{BodyLimit, has_control};

/// Longest `X-Request-Id` kept; a longer (or otherwise unfit) one is
/// replaced with a generated id.
pub(crate) const MAX_REQUEST_ID_LEN: usize = 128;

pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Gives the request an `X-Request-Id`: the client's, if fit to echo and
/// store, or a new UUID in its place. Returns it, for the response.
pub(crate) fn request_id(request: &mut Request) -> HeaderValue {
    if let Some(id) = request.headers().get(REQUEST_ID).filter(|id| fit_request_id(id)) {
        return id.clone();
    }
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = HeaderValue::from_str(uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text))
        .expect("a UUID is a header value");
    request.headers_mut().insert(REQUEST_ID, id.clone());
    id
}

/// Refuses a bad path or an oversized declared body; otherwise notes the
/// body limit that applies for the extractors and middleware that read it.
pub(crate) fn check(limits: HttpLimits, request: &mut Request) -> Result<(), ApiError> {
    check_path(request.uri().path())?;
    // A declared length over the limit is refused before a byte of the body
    // is read, rather than after waiting for a body that may never come.
    let limit = if crate::upload::is_upload(request.method(), request.uri().path()) {
        limits.upload_limit
    } else {
        limits.body_limit
    };
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::payload_too_large(Some(limit)));
    }
    request.extensions_mut().insert(BodyLimit(limit));
    Ok(())
}

/// The path, percent-decoded, must be UTF-8 without control characters:
/// path segments become SKUs, market codes and ids, and text that no
/// domain type could hold must not reach a database (PostgreSQL refuses a
/// NUL in text with an error of its own).
fn check_path(path: &str) -> Result<(), ApiError> {
    if !path.contains('%') {
        return Ok(()); // hyper admits no raw control characters in a path
    }
    let decoded: Cow<'_, str> = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| ApiError::invalid_path("the path is not valid UTF-8 once percent-decoded"))?;
    if has_control(&decoded) {
        return Err(ApiError::invalid_path("the path must not contain control characters"));
    }
    Ok(())
}

/// 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII characters.
fn fit_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_decode_to_text_without_control_characters() {
        assert!(check_path("/v1/markets/DE").is_ok());
        assert!(check_path("/v1/stock/T%C3%A9").is_ok());
        for bad in ["/v1/markets/%00", "/v1/markets/%FF%FE", "/v1/stock/A%0AB", "/v1/stock/%7F", "/v1/x/%C2%85"] {
            assert_eq!(check_path(bad).unwrap_err().code(), "invalid_path", "{bad}");
        }
    }

    #[test]
    fn request_ids_are_short_visible_ascii() {
        assert!(fit_request_id(&HeaderValue::from_static("req-1_2:3")));
        assert!(fit_request_id(&HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID_LEN)).unwrap()));
        assert!(!fit_request_id(&HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).unwrap()));
        assert!(!fit_request_id(&HeaderValue::from_static("has space")));
        assert!(!fit_request_id(&HeaderValue::from_static("")));
        assert!(!fit_request_id(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()));
    }
}
