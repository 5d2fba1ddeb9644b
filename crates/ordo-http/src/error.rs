//! The API's one error type. Every failure leaves as an RFC 9457
//! `application/problem+json` document with a stable `code`, so clients can
//! branch on the code and show the `detail` to people. Internal causes are
//! logged here, once, and never sent to clients. Every kind of error is a
//! row of the one table in [`codes`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ordo_domain::idempotency::Refusal;
use ordo_domain::{FieldError, ValidationErrors};
use ordo_service::ServiceError;
use serde::Serialize;
use utoipa::ToSchema;

pub mod codes;

pub use codes::ErrorCode;

/// The problem document (RFC 9457), with Ordo's extension members.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:ordo:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem; the same for every occurrence.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// Stable machine-readable error code, e.g. `validation_failed`.
    pub code: &'static str,
    /// One entry per invalid field, when the input was at fault.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// On a version conflict: the version the entity is at now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

/// An error on its way to becoming a problem response: a row of the
/// [`codes`] table and what went wrong this time.
#[derive(Debug)]
pub struct ApiError {
    row: &'static ErrorCode,
    detail: String,
    errors: Vec<FieldError>,
    current_version: Option<i64>,
    /// The request was refused before its operation began: it could not be
    /// parsed, failed validation at the edge, or lacked permission.
    refused_at_edge: bool,
}

/// Marks a response to a request refused before its operation began, so
/// that its `Idempotency-Key` is not spent on it (as Stripe does): the
/// corrected request may reuse the key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusedAtEdge;

/// Which precondition a client used for an update: a `version` in the body
/// answers a mismatch with 409, an `If-Match` header with 412 (RFC 9110).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreconditionSource {
    Body,
    IfMatch,
    None,
}

impl ApiError {
    /// An error of the kind `row`, with what went wrong this time.
    pub fn new(row: &'static ErrorCode, detail: impl Into<String>) -> Self {
        Self { row, detail: detail.into(), errors: Vec::new(), current_version: None, refused_at_edge: false }
    }

    /// Marks the error as refusing the request before its operation began.
    fn at_edge(mut self) -> Self {
        self.refused_at_edge = true;
        self
    }

    fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn status(&self) -> StatusCode {
        self.row.status
    }

    pub fn code(&self) -> &'static str {
        self.row.code
    }

    pub fn title(&self) -> &'static str {
        self.row.title
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// What was wrong with each field, for a form to show beside it.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.errors
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(&codes::MALFORMED_JSON, detail).at_edge()
    }

    /// The body is JSON but not of the expected shape: a wrong type, a
    /// missing or unknown field.
    pub fn invalid_body(field: String, message: String) -> Self {
        let detail = format!("the request body does not match the expected shape: {message}");
        Self::new(&codes::INVALID_BODY, detail)
            .with_errors(vec![FieldError { field, code: "invalid_value".into(), message }])
            .at_edge()
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(&codes::UNSUPPORTED_MEDIA_TYPE, "send the body as JSON with `Content-Type: application/json`")
            .at_edge()
    }

    /// The body's content type is not the one the operation reads.
    pub fn unsupported_media_type_of(detail: &str) -> Self {
        Self::new(&codes::UNSUPPORTED_MEDIA_TYPE, detail).at_edge()
    }

    pub fn payload_too_large(limit: Option<usize>) -> Self {
        let detail = match limit {
            Some(limit) => format!("the request body exceeds the limit of {limit} bytes"),
            None => "the request body exceeds the server's limit".to_owned(),
        };
        Self::new(&codes::PAYLOAD_TOO_LARGE, detail).at_edge()
    }

    pub fn unreadable_body(detail: impl Into<String>) -> Self {
        Self::new(&codes::UNREADABLE_BODY, detail).at_edge()
    }

    pub fn validation(errors: ValidationErrors) -> Self {
        let detail = match errors.errors() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self::new(&codes::VALIDATION_FAILED, detail).with_errors(errors.into_errors())
    }

    pub fn invalid_query(field: String, code: impl Into<std::borrow::Cow<'static, str>>, message: String) -> Self {
        let detail = if field.is_empty() { message.clone() } else { format!("{field}: {message}") };
        Self::new(&codes::INVALID_QUERY, detail)
            .with_errors(vec![FieldError { field, code: code.into(), message }])
            .at_edge()
    }

    pub fn invalid_id(value: &str) -> Self {
        Self::new(&codes::INVALID_ID, format!("`{value}` is not a valid id (a UUID)")).at_edge()
    }

    pub fn invalid_header(name: &str, detail: impl Into<String>) -> Self {
        Self::new(&codes::INVALID_HEADER, format!("{name}: {}", detail.into())).at_edge()
    }

    /// The path is not UTF-8 once percent-decoded, or holds control
    /// characters.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(&codes::INVALID_PATH, detail).at_edge()
    }

    /// No key, or a key that is malformed, unknown, expired or revoked: the
    /// same answer for each, so a client cannot probe which keys exist.
    pub fn unauthenticated() -> Self {
        Self::new(&codes::UNAUTHENTICATED, "send a valid API key as `Authorization: Bearer <key>`")
    }

    pub fn forbidden(role: ordo_domain::auth::Role, permission: ordo_domain::auth::Permission) -> Self {
        Self::new(&codes::FORBIDDEN, format!("the {role} role does not have the `{}` permission", permission.scope()))
            .at_edge()
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(&codes::RATE_LIMITED, format!("this key's rate limit is exhausted; retry in {retry_after_secs} s"))
    }

    pub fn idempotency_mismatch() -> Self {
        Self::new(
            &codes::IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was used for a different request; use a new key for a new request",
        )
    }

    pub fn idempotency_in_flight() -> Self {
        Self::new(
            &codes::IDEMPOTENCY_IN_FLIGHT,
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )
    }

    pub fn precondition_required() -> Self {
        Self::new(
            &codes::PRECONDITION_REQUIRED,
            "send the version you last read, as `version` in the body or as `If-Match: \"<version>\"`, so a concurrent change is never overwritten",
        )
        .at_edge()
    }

    /// `If-Match` can never match: it names only weak entity tags, which
    /// RFC 9110 compares strongly (and so never equal to a version).
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(&codes::PRECONDITION_FAILED, detail)
    }

    pub fn route_not_found(path: &str) -> Self {
        Self::new(&codes::NOT_FOUND, format!("no route matches {path}"))
    }

    pub fn method_not_allowed() -> Self {
        Self::new(&codes::METHOD_NOT_ALLOWED, "this route does not support this method")
    }

    pub fn timeout() -> Self {
        Self::new(&codes::REQUEST_TIMEOUT, "the request took longer than the server allows; it may be retried")
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(&codes::SERVICE_UNAVAILABLE, detail)
    }

    pub fn internal() -> Self {
        Self::new(&codes::INTERNAL_ERROR, "an unexpected error occurred; it has been logged")
    }

    /// Maps a refusal, fresh from a use case or replayed from an
    /// idempotency key: the one mapping, so a replay is the first answer.
    pub fn from_refusal(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid { errors } => Self::validation(ValidationErrors::from_errors(errors)),
            Refusal::InsufficientStock { skus } => {
                let errors = skus
                    .iter()
                    .map(|sku| FieldError {
                        field: sku.clone(),
                        code: "insufficient_stock".into(),
                        message: format!("not enough stock of {sku}"),
                    })
                    .collect();
                Self::new(&codes::INSUFFICIENT_STOCK, format!("not enough stock of {}", skus.join(", ")))
                    .with_errors(errors)
            }
        }
    }

    /// Maps a use-case error, given how the client stated its precondition.
    pub fn from_service(error: ServiceError, precondition: PreconditionSource) -> Self {
        match error {
            ServiceError::Validation(errors) => Self::from_refusal(Refusal::Invalid { errors: errors.into_errors() }),
            ServiceError::NotFound { entity, id } => {
                Self::new(&codes::NOT_FOUND, format!("{entity} {id} does not exist"))
            }
            ServiceError::Duplicate { code, field, message } => {
                let Some(row) = ErrorCode::find(code).filter(|row| row.status == StatusCode::CONFLICT) else {
                    tracing::error!(code, "a service conflict has no row in the error table");
                    return Self::internal();
                };
                Self::new(row, message.clone()).with_errors(vec![FieldError {
                    field: field.into(),
                    code: code.into(),
                    message,
                }])
            }
            ServiceError::VersionMismatch { entity, expected, current } => {
                let detail = format!("{entity} is at version {current}, not {expected}: read it again and retry");
                let row = if precondition == PreconditionSource::IfMatch {
                    &codes::PRECONDITION_FAILED
                } else {
                    &codes::VERSION_CONFLICT
                };
                let mut error = Self::new(row, detail);
                error.current_version = Some(current);
                error
            }
            ServiceError::Archived { entity } => {
                Self::new(&codes::ARCHIVED, format!("{entity} is archived and can no longer be changed"))
            }
            ServiceError::InsufficientStock { skus } => Self::from_refusal(Refusal::InsufficientStock { skus }),
            ServiceError::Refund(e) => match e {
                ordo_domain::payment::RefundError::NothingCaptured => Self::new(&codes::NOT_CAPTURED, e.to_string()),
                e => Self::new(&codes::REFUND_EXCEEDS_CAPTURE, e.to_string()),
            },
            ServiceError::Capture(e) => Self::new(&codes::NOT_CAPTURABLE, e.to_string()),
            ServiceError::Return(e) => match e {
                ordo_domain::returns::ReturnError::NotReturnable { .. } => {
                    Self::new(&codes::NOT_RETURNABLE, e.to_string())
                }
                e => Self::new(&codes::ILLEGAL_TRANSITION, e.to_string()),
            },
            ServiceError::Credit(e) => Self::new(&codes::NOT_CREDITABLE, e.to_string()),
            ServiceError::IllegalTransition { current, action } => {
                Self::new(&codes::ILLEGAL_TRANSITION, format!("cannot {action} an order that is {current}"))
            }
            ServiceError::InvalidSignature(reason) => Self::new(&codes::INVALID_SIGNATURE, reason),
            ServiceError::IdempotencyMismatch => Self::idempotency_mismatch(),
            ServiceError::IdempotencyInFlight => Self::idempotency_in_flight(),
            ServiceError::JobNotDead { state } => Self::new(
                &codes::JOB_NOT_DEAD,
                format!("the job is {state}; only dead jobs can be retried or discarded"),
            ),
            ServiceError::ReportFinished { status } => Self::new(
                &codes::REPORT_FINISHED,
                format!("the report is {status}; only a running report can be cancelled"),
            ),
            ServiceError::ImportFinished { status } => Self::new(
                &codes::IMPORT_FINISHED,
                format!("the import is {status}; only a running import can be cancelled"),
            ),
            ServiceError::ReportNotReady { status } => Self::new(
                &codes::REPORT_NOT_READY,
                format!("the report is {status}; only a succeeded report has a file"),
            ),
            ServiceError::LinkRefused(reason) => Self::new(&codes::LINK_REFUSED, reason),
            ServiceError::FileStorage(source) => {
                tracing::warn!(error = %source, cause = ?std::error::Error::source(&source), "file storage failed");
                Self::unavailable("the file store is unavailable; retry shortly")
            }
            ServiceError::Unavailable(source) => {
                // An outage answers every request with a 503: one line a
                // second says so (the store logs the outage itself once).
                if unavailable_log_due() {
                    tracing::warn!(error = %source, cause = ?std::error::Error::source(&source), "database unavailable");
                } else {
                    tracing::debug!(error = %source, "database unavailable");
                }
                Self::unavailable("the database is unavailable; retry shortly")
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, cause = ?std::error::Error::source(&source), "internal error");
                Self::internal()
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        Self::from_service(error, PreconditionSource::None)
    }
}

/// Validation at the edge: a request body or query that does not make a
/// valid domain value. (A service's validation, after the operation began,
/// comes through [`ApiError::from_service`].)
impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::validation(errors).at_edge()
    }
}

/// Whether a "database unavailable" warning may be logged now: at most
/// one a second per process.
fn unavailable_log_due() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    LAST.swap(second, Ordering::Relaxed) != second
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:ordo:problem:{}", self.row.code),
            title: self.row.title,
            status: self.row.status.as_u16(),
            detail: self.detail,
            code: self.row.code,
            errors: self.errors,
            current_version: self.current_version,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.row.status, body).into_response();
        if self.refused_at_edge {
            response.extensions_mut().insert(RefusedAtEdge);
        }
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.row.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.row.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ordo\""));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
