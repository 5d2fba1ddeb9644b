//! Idempotency keys: a client names a request so that retrying it can never
//! act twice. The first request with a key runs; a retry with the same key
//! and the same request replays the first answer; the same key with a
//! different request is refused.

use uuid::Uuid;

use crate::time::Timestamp;
use crate::validation::FieldError;

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A stored key and, once the request finished, its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The API key that sent the request: keys are per caller.
    pub principal: Uuid,
    pub key: String,
    /// SHA-256 (hex) of the method, path and body.
    pub request_hash: String,
    /// `None` while the first request is in flight.
    pub response: Option<StoredResponse>,
    pub created_at: Timestamp,
    /// The key is forgotten (and swept) after this.
    pub expires_at: Timestamp,
    /// While in flight: after this the request is presumed dead (its process
    /// crashed) and a retry may take the key over.
    pub locked_until: Timestamp,
}

/// The answer to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// Checks a client's key: 1 to 255 visible ASCII characters.
pub fn parse_key(value: &str) -> Result<String, FieldError> {
    let valid = !value.is_empty() && value.len() <= MAX_KEY_LEN && value.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new("invalid_idempotency_key", format!("use 1 to {MAX_KEY_LEN} visible ASCII characters")))
    }
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Run it; the key is now held for this request.
    Proceed,
    /// Answer with what the first request answered.
    Replay(StoredResponse),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key has not finished.
    InFlight,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii() {
        assert!(parse_key("order-2026-11-23-0001").is_ok());
        assert!(parse_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        for bad in ["", "with space", "tab\t", "é", &"k".repeat(MAX_KEY_LEN + 1)] {
            assert!(parse_key(bad).is_err(), "{bad:?}");
        }
    }
}
