//! The storage error type: small on purpose. Services react to a unique
//! violation or an unavailable database; everything else is a bug or an
//! outage, reported once and mapped to a 500.

/// A unique key whose violation services turn into a client-facing conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueKey {
    ProductSku,
    CustomerEmail,
    /// Two sealers raced for the same segment number.
    AuditSegment,
    MarketCode,
    LocationCode,
    /// An idempotency key already placed an order.
    OrderIdempotencyKey,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same unique key exists.
    #[error("unique key {0:?} already taken")]
    Duplicate(UniqueKey),
    /// The database cannot be reached or no connection was free in time.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data could not be read back into domain types.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Any other database failure.
    #[error("database error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type StoreResult<T> = Result<T, StoreError>;
