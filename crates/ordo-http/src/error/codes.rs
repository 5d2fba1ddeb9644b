//! Every error the API can answer, one row each: its stable code, HTTP
//! status, title and when it happens. This table is the one source of
//! error codes. [`super::ApiError`] is built from a row; each operation's
//! error responses in the OpenAPI document are generated from the rows it
//! can answer (see [`crate::openapi`]); the README's error table is
//! [`markdown`] of it, which a test checks.
//!
//! Codes are part of the API: clients branch on them. Add rows; never
//! rename or remove one.
//!
//! Field-level codes (`required`, `too_long`, `invalid_sku`,
//! `out_of_range`, `amount_overflow`, `invalid_characters`, ...) are not rows:
//! they name what is wrong with one field inside the `errors` of a
//! `validation_failed`, `invalid_query` or conflict problem.

use axum::http::StatusCode;
use serde::{Serialize, Serializer};

/// One row of the error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// Stable, machine-readable: `problem.code`, and `urn:ordo:problem:<code>` as its `type`.
    pub code: &'static str,
    pub status: StatusCode,
    /// The problem's `title`: the same for every occurrence.
    pub title: &'static str,
    /// When it happens, for the README and the OpenAPI document.
    pub description: &'static str,
}

impl ErrorCode {
    /// The row with this code, if there is one.
    pub fn find(code: &str) -> Option<&'static ErrorCode> {
        ALL.iter().find(|row| row.code == code)
    }
}

/// Serialised as its code, so that operations can list the rows they
/// answer in `#[utoipa::path(extensions(...))]` with `json!([NOT_FOUND, ...])`.
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

macro_rules! error_codes {
    ($($name:ident = ($status:ident, $code:literal, $title:literal, $description:literal);)*) => {
        $(
            #[doc = $description]
            pub const $name: ErrorCode =
                ErrorCode { code: $code, status: StatusCode::$status, title: $title, description: $description };
        )*
        /// Every row, in the README's order.
        pub const ALL: &[ErrorCode] = &[$($name),*];
    };
}

error_codes! {
    INVALID_PATH = (BAD_REQUEST, "invalid_path", "Invalid path",
        "the path is not valid UTF-8 or holds control characters");
    INVALID_ID = (BAD_REQUEST, "invalid_id", "Invalid id",
        "an id in the path is malformed: not a UUID, or not a valid SKU");
    INVALID_QUERY = (BAD_REQUEST, "invalid_query", "Invalid query parameters",
        "a bad, unknown or out-of-range query parameter, an empty filter, control characters, or a cursor from another list");
    INVALID_HEADER = (BAD_REQUEST, "invalid_header", "Invalid header",
        "a malformed `If-Match` or `Idempotency-Key`, or an `If-Match` that disagrees with the body's `version`");
    MALFORMED_JSON = (BAD_REQUEST, "malformed_json", "Malformed JSON",
        "the body is not JSON");
    UNREADABLE_BODY = (BAD_REQUEST, "unreadable_body", "Unreadable request body",
        "the body could not be read to its end");
    INVALID_SIGNATURE = (BAD_REQUEST, "invalid_signature", "Invalid signature",
        "a payment provider's webhook whose signature header is missing, malformed, more than 5 minutes old, or does not match the body");
    UNAUTHENTICATED = (UNAUTHORIZED, "unauthenticated", "Unauthenticated",
        "no API key, or one that is malformed, unknown, expired or revoked (the answer never says which)");
    FORBIDDEN = (FORBIDDEN, "forbidden", "Forbidden",
        "the key's role lacks the operation's permission");
    LINK_REFUSED = (FORBIDDEN, "link_refused", "Link refused",
        "a download link whose signature is malformed or does not match, or that has expired: ask for a new link");
    NOT_FOUND = (NOT_FOUND, "not_found", "Not found",
        "no such entity or route");
    METHOD_NOT_ALLOWED = (METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed",
        "the route exists, the method does not; `Allow` lists the methods it has");
    REQUEST_TIMEOUT = (REQUEST_TIMEOUT, "request_timeout", "Request timeout",
        "the request took longer than `server.request_timeout_ms`");
    SKU_TAKEN = (CONFLICT, "sku_taken", "Conflict",
        "a product with this SKU exists");
    EMAIL_TAKEN = (CONFLICT, "email_taken", "Conflict",
        "a customer with this e-mail address exists");
    MARKET_EXISTS = (CONFLICT, "market_exists", "Conflict",
        "a market with this code exists");
    LOCATION_CODE_TAKEN = (CONFLICT, "location_code_taken", "Conflict",
        "a location with this code exists");
    VERSION_CONFLICT = (CONFLICT, "version_conflict", "Version conflict",
        "the body's `version` is stale; `current_version` says what it is now");
    ARCHIVED = (CONFLICT, "archived", "Archived",
        "the entity is archived and read-only");
    INSUFFICIENT_STOCK = (CONFLICT, "insufficient_stock", "Insufficient stock",
        "an order line (or a stock adjustment) needs more stock than is available; `errors` names the SKUs");
    ILLEGAL_TRANSITION = (CONFLICT, "illegal_transition", "Illegal transition",
        "the order's (or the return's) status does not allow the step; `detail` names the status");
    NOT_RETURNABLE = (CONFLICT, "not_returnable", "Not returnable",
        "a return of more units of an order line than were shipped and are not in another return; `detail` says how many can be returned");
    NOT_CREDITABLE = (CONFLICT, "not_creditable", "Already credited",
        "a refund by lines of more units than the order line has left to credit (earlier refunds by lines and received returns credited the rest); `detail` says how many are left");
    NOT_CAPTURED = (CONFLICT, "not_captured", "Nothing captured",
        "a refund of an order whose payment has not been captured (unpaid, or not captured yet)");
    NOT_CAPTURABLE = (CONFLICT, "not_capturable", "Not capturable",
        "a capture the order's authorisation cannot cover: none succeeded, it was voided, or the amount exceeds what is not captured yet (`detail` says which)");
    REFUND_EXCEEDS_CAPTURE = (CONFLICT, "refund_exceeds_capture", "Refund exceeds capture",
        "the refund would take the order's refunds past what was captured; `detail` says what is still refundable");
    JOB_NOT_DEAD = (CONFLICT, "job_not_dead", "Job not dead",
        "only dead jobs can be retried or discarded");
    IMPORT_FINISHED = (CONFLICT, "import_finished", "Import finished",
        "only a running import can be cancelled");
    REPORT_FINISHED = (CONFLICT, "report_finished", "Report finished",
        "only a running report can be cancelled");
    REPORT_NOT_READY = (CONFLICT, "report_not_ready", "Report not ready",
        "the report has no file yet (it is running) or will have none (it failed or was cancelled)");
    IDEMPOTENCY_IN_FLIGHT = (CONFLICT, "idempotency_in_flight", "Request in flight",
        "a request with this `Idempotency-Key` is still running");
    PRECONDITION_FAILED = (PRECONDITION_FAILED, "precondition_failed", "Precondition failed",
        "`If-Match` is stale (`current_version` says what it is now), or names a weak tag, which never matches");
    PAYLOAD_TOO_LARGE = (PAYLOAD_TOO_LARGE, "payload_too_large", "Payload too large",
        "the body exceeds `server.body_limit_bytes` (or declares a length over it)");
    UNSUPPORTED_MEDIA_TYPE = (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported media type",
        "the body is not sent as JSON (`Content-Type: application/json`)");
    INVALID_BODY = (UNPROCESSABLE_ENTITY, "invalid_body", "Invalid request body",
        "JSON of the wrong shape: wrong type, missing or unknown field");
    VALIDATION_FAILED = (UNPROCESSABLE_ENTITY, "validation_failed", "Validation failed",
        "well-formed values that break a rule (bad SKU, unknown currency, unknown customer, an order over the amount limit, control characters in text, ...); `errors` names each field and its own code (`required`, `too_long`, `amount_overflow`, `invalid_characters`, ...)");
    IDEMPOTENCY_KEY_REUSED = (UNPROCESSABLE_ENTITY, "idempotency_key_reused", "Idempotency key reused",
        "an `Idempotency-Key` sent again with a different request");
    PRECONDITION_REQUIRED = (PRECONDITION_REQUIRED, "precondition_required", "Precondition required",
        "a change without `version` in the body or `If-Match`");
    RATE_LIMITED = (TOO_MANY_REQUESTS, "rate_limited", "Too many requests",
        "the key's rate limit is exhausted; retry after `Retry-After` seconds");
    INTERNAL_ERROR = (INTERNAL_SERVER_ERROR, "internal_error", "Internal error",
        "a bug; the cause is logged, never sent");
    SERVICE_UNAVAILABLE = (SERVICE_UNAVAILABLE, "service_unavailable", "Service unavailable",
        "the database or the file store is unreachable, or the database's disk is full; retry after `Retry-After`");
}

/// The table as Markdown, as the README shows it.
pub fn markdown() -> String {
    let mut out = String::from("| status | code | when |\n|---|---|---|\n");
    for row in ALL {
        out.push_str(&format!("| {} | `{}` | {} |\n", row.status.as_u16(), row.code, row.description));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_errors() {
        let mut seen = BTreeSet::new();
        for row in ALL {
            assert!(seen.insert(row.code), "{} appears twice", row.code);
            assert!(row.code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{} is snake_case", row.code);
            assert!(row.status.is_client_error() || row.status.is_server_error(), "{} is an error", row.code);
            assert!(!row.title.is_empty() && !row.description.is_empty());
        }
        assert_eq!(ErrorCode::find("sku_taken"), Some(&SKU_TAKEN));
        assert_eq!(ErrorCode::find("nope"), None);
    }

    #[test]
    fn rows_serialise_as_their_code() {
        assert_eq!(serde_json::json!([NOT_FOUND, SKU_TAKEN]), serde_json::json!(["not_found", "sku_taken"]));
    }
}
