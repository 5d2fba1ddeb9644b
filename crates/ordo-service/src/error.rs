//! What a use case can answer besides success. The HTTP layer maps each kind
//! to one status and one stable error code.

use ordo_domain::idempotency::Refusal;
use ordo_domain::{RecordError, ValidationErrors};
use ordo_store::{StoreError, UniqueKey};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Validation(#[from] ValidationErrors),

    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },

    /// A unique key (SKU, e-mail address) is already taken.
    #[error("{message}")]
    Duplicate { code: &'static str, field: &'static str, message: String },

    /// The entity changed since the version the client last read.
    #[error("{entity} is at version {current}, not {expected}")]
    VersionMismatch { entity: &'static str, expected: i64, current: i64 },

    /// The entity is archived and read-only.
    #[error("{entity} is archived and can no longer be changed")]
    Archived { entity: &'static str },

    /// Not enough stock for these SKUs; nothing was reserved.
    #[error("insufficient stock for {}", skus.join(", "))]
    InsufficientStock { skus: Vec<String> },

    /// A refund the order's payments cannot cover.
    #[error(transparent)]
    Refund(ordo_domain::payment::RefundError),

    /// A return the order's shipped units cannot cover, or a step its
    /// status does not allow.
    #[error(transparent)]
    Return(ordo_domain::returns::ReturnError),

    /// Order lines credited (refunded or returned) past their quantity.
    #[error(transparent)]
    Credit(ordo_domain::credit_note::CreditError),

    /// A capture the order's authorisation cannot cover.
    #[error(transparent)]
    Capture(ordo_domain::payment::CaptureError),

    /// The order's status does not allow the action.
    #[error("cannot {action} an order that is {current}")]
    IllegalTransition { current: &'static str, action: &'static str },

    /// The Idempotency-Key was used for a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyMismatch,

    /// A request with the Idempotency-Key is still being processed.
    #[error("a request with this idempotency key is in flight")]
    IdempotencyInFlight,

    /// A provider's webhook whose signature does not verify.
    #[error("{0}")]
    InvalidSignature(String),

    /// Only dead jobs can be retried or discarded.
    #[error("the job is {state}, not dead")]
    JobNotDead { state: &'static str },

    /// A report that is not running cannot be cancelled.
    #[error("the report is {status}; only a running report can be cancelled")]
    ReportFinished { status: &'static str },

    /// An import that is not running cannot be cancelled.
    #[error("the import is {status}; only a running import can be cancelled")]
    ImportFinished { status: &'static str },

    /// A report's file exists only once it succeeded.
    #[error("the report is {status}; only a succeeded report has a file")]
    ReportNotReady { status: &'static str },

    /// A download link that is malformed, tampered with or expired.
    #[error("{0}")]
    LinkRefused(&'static str),

    /// The file store failed or cannot be reached; the request may be retried.
    #[error("file storage unavailable")]
    FileStorage(#[source] object_store::Error),

    /// The database is down or overloaded; the request may be retried.
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),

    /// A bug or an unexpected database failure.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    pub(crate) fn not_found(entity: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound { entity, id: id.to_string() }
    }

    /// The error as a refusal that a retry with the same idempotency key
    /// gets again: the request was wrong, or could not be met, and nothing
    /// changed. `None` for errors worth retrying and for conflicts with the
    /// key itself.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::Validation(errors) => Some(Refusal::Invalid { errors: errors.errors().to_vec() }),
            Self::InsufficientStock { skus } => Some(Refusal::InsufficientStock { skus: skus.clone() }),
            _ => None,
        }
    }

    pub(crate) fn from_record(entity: &'static str, error: RecordError) -> Self {
        match error {
            RecordError::Archived => Self::Archived { entity },
        }
    }
}

impl From<ordo_domain::order::IllegalTransition> for ServiceError {
    fn from(e: ordo_domain::order::IllegalTransition) -> Self {
        Self::IllegalTransition { current: e.current.as_str(), action: e.action.as_str() }
    }
}

impl From<ordo_domain::returns::ReturnError> for ServiceError {
    fn from(e: ordo_domain::returns::ReturnError) -> Self {
        match e {
            ordo_domain::returns::ReturnError::Invalid(errors) => Self::Validation(errors),
            e => Self::Return(e),
        }
    }
}

impl From<ordo_domain::credit_note::CreditError> for ServiceError {
    fn from(e: ordo_domain::credit_note::CreditError) -> Self {
        match e {
            ordo_domain::credit_note::CreditError::UnknownLine(line) => Self::Validation(ValidationErrors::single(
                "lines",
                "unknown_line",
                format!("order line {line} does not exist"),
            )),
            ordo_domain::credit_note::CreditError::NoShipping => Self::Validation(ValidationErrors::single(
                "shipping",
                "no_shipping",
                "the order has no shipping charge to credit",
            )),
            e => Self::Credit(e),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(UniqueKey::ProductSku) => Self::Duplicate {
                code: "sku_taken",
                field: "sku",
                message: "a product with this SKU already exists".into(),
            },
            StoreError::Duplicate(UniqueKey::CustomerEmail) => Self::Duplicate {
                code: "email_taken",
                field: "email",
                message: "a customer with this e-mail address already exists".into(),
            },
            StoreError::Duplicate(UniqueKey::MarketCode) => Self::Duplicate {
                code: "market_exists",
                field: "code",
                message: "a market with this code already exists".into(),
            },
            StoreError::Duplicate(UniqueKey::LocationCode) => Self::Duplicate {
                code: "location_code_taken",
                field: "code",
                message: "a location with this code already exists".into(),
            },
            e @ StoreError::Unavailable(_) => Self::Unavailable(e),
            e => Self::Internal(e),
        }
    }
}

/// An internal error with a message: a bug, or data Ordo did not write.
pub(crate) fn internal(message: impl Into<String>) -> ServiceError {
    ServiceError::Internal(StoreError::Other(message.into().into()))
}

/// How a job takes a use case's error: a missing entity will not appear by
/// retrying, so the job ends; anything else is tried again.
pub(crate) fn job_error(e: ServiceError) -> ordo_jobs::JobError {
    match e {
        ServiceError::NotFound { .. } => ordo_jobs::JobError::fatal(e.to_string()),
        e => ordo_jobs::JobError::retry(e.to_string()),
    }
}

impl From<crate::files::FileError> for ServiceError {
    fn from(e: crate::files::FileError) -> Self {
        match e {
            crate::files::FileError::NotFound(key) => Self::not_found("file", key),
            crate::files::FileError::LinkRefused(reason) => Self::LinkRefused(reason),
            crate::files::FileError::Storage(e) => Self::FileStorage(e),
        }
    }
}
