//! Idempotency keys: a client names a request so that retrying it can never
//! act twice. The first request with a key runs; a retry with the same key
//! and the same request replays the first answer; the same key with a
//! different request is refused.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::order::Order;
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
    pub answer: Option<Answer>,
    pub created_at: Timestamp,
    /// The key is forgotten (and swept) after this.
    pub expires_at: Timestamp,
    /// While in flight: after this the request is presumed dead (its process
    /// crashed) and a retry may take the key over.
    pub locked_until: Timestamp,
}

/// What a retry gets: the first request's outcome, which the HTTP layer
/// renders as it rendered the first answer, or (for requests that no use
/// case answers, and for keys recorded before outcomes were stored) the
/// HTTP response itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Outcome(Outcome),
    Response(StoredResponse),
}

/// What a use case decided for a request with a key: stored with the key,
/// and serialised (as JSON) for storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The order was placed; a retry gets it as it was then.
    OrderPlaced { order: Box<Order> },
    /// The request was refused without changing anything.
    Refused { refusal: Refusal },
}

/// Why an order placement was refused, in a form that keeps: a retry with
/// the same key gets the same refusal, whatever happened since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Refusal {
    /// The request names things that do not exist or cannot be sold (an
    /// unknown customer, market or SKU, a price missing in the market's
    /// currency, amounts too large), field by field.
    Invalid { errors: Vec<FieldError> },
    /// Not enough stock for these SKUs.
    InsufficientStock { skus: Vec<String> },
}

/// An HTTP response stored as it was sent.
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
    Replay(Answer),
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

    #[test]
    fn refusals_keep_their_field_errors() {
        let refused = Outcome::Refused {
            refusal: Refusal::Invalid {
                errors: vec![FieldError {
                    field: "market".into(),
                    code: "unknown_market".into(),
                    message: "no market `XX`".into(),
                }],
            },
        };
        let json = serde_json::to_string(&refused).unwrap();
        assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), refused);
        let short = Outcome::Refused { refusal: Refusal::InsufficientStock { skus: vec!["TEE-BLK-M".into()] } };
        let json = serde_json::to_value(&short).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "refused", "refusal": {"kind": "insufficient_stock", "skus": ["TEE-BLK-M"]}})
        );
        assert_eq!(serde_json::from_value::<Outcome>(json).unwrap(), short);
    }
}
