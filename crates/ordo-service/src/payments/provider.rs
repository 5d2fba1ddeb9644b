//! Payment providers: authorize, capture, void and refund, each with an
//! idempotency key so that a retried call never moves money twice.
//! Providers are only ever called outside database transactions.
//!
//! The built-in `test` provider is deterministic: the payment token chooses
//! the outcome (`tok_approve`, `tok_decline`, `tok_timeout`, `tok_error`,
//! `tok_slow`, `tok_capture_slow` (approved; its capture takes 2 s); any
//! other well-formed token is declined).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::{Currency, OrderId, ValidationErrors};

/// A payment token as the client got it from the payment provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentToken(String);

impl PaymentToken {
    /// `tok_` (a card token) or `pm_` (a payment method) followed by 1 to
    /// 100 letters, digits or `_`.
    pub fn parse(value: &str) -> Result<Self, ValidationErrors> {
        let valid = value.strip_prefix("tok_").or_else(|| value.strip_prefix("pm_")).is_some_and(|rest| {
            (1..=100).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationErrors::single(
                "payment_token",
                "invalid_payment_token",
                "a payment token looks like tok_xxx or pm_xxx",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An authorization to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub order_id: OrderId,
    pub amount: i64,
    pub currency: Currency,
    pub token: PaymentToken,
    /// Derived from the order and the operation: the same on every retry.
    pub idempotency_key: String,
}

/// What the provider decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    Authorized { reference: String },
    Declined { reason: String },
}

/// A failure worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// Worth retrying with the same idempotency key.
    #[error("the payment provider timed out")]
    Timeout,
    /// Worth retrying with the same idempotency key.
    #[error("the payment provider failed: {0}")]
    Provider(String),
    /// The provider refused the call for good (an invalid request, a
    /// capture of a cancelled authorisation): retrying will not help.
    #[error("the payment provider refused: {0}")]
    Rejected(String),
}

impl PaymentError {
    /// Whether a later attempt with the same key may succeed.
    pub fn is_transient(&self) -> bool {
        !matches!(self, Self::Rejected(_))
    }
}

/// A capture to make of an authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    /// The authorisation's provider reference.
    pub reference: String,
    pub amount: i64,
    /// Whether this capture releases whatever of the authorisation it does
    /// not take (the last shipment's); `false` keeps it for later captures.
    pub final_capture: bool,
    pub idempotency_key: String,
}

/// A payment provider. Every call carries an idempotency key derived from
/// the order and the operation, and runs outside database transactions.
#[async_trait]
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<PaymentOutcome, PaymentError>;
    async fn capture(&self, request: &CaptureRequest) -> Result<(), PaymentError>;
    /// Releases an authorisation nothing was captured of.
    async fn void(&self, reference: &str, idempotency_key: &str) -> Result<(), PaymentError>;
    /// Gives back `amount` of the capture of `reference`; the refund's own
    /// reference at the provider, if it has one.
    async fn refund(&self, reference: &str, amount: i64, idempotency_key: &str)
    -> Result<Option<String>, PaymentError>;
}

/// The deterministic test provider.
#[derive(Debug, Default)]
pub struct TestProvider {
    /// Outcomes by idempotency key: a repeated call returns the first
    /// outcome instead of charging again.
    authorizations: Mutex<HashMap<String, PaymentOutcome>>,
    /// Calls that reached the "bank", by idempotency key.
    charges: Mutex<HashMap<String, u32>>,
}

impl TestProvider {
    /// How often a key was actually charged (at most once).
    pub fn charges(&self, idempotency_key: &str) -> u32 {
        self.charges.lock().unwrap_or_else(|e| e.into_inner()).get(idempotency_key).copied().unwrap_or(0)
    }
}

#[async_trait]
impl PaymentProvider for TestProvider {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<PaymentOutcome, PaymentError> {
        if let Some(outcome) =
            self.authorizations.lock().unwrap_or_else(|e| e.into_inner()).get(&request.idempotency_key)
        {
            return Ok(outcome.clone());
        }
        let outcome = match request.token.as_str() {
            "tok_timeout" => return Err(PaymentError::Timeout),
            "tok_error" => return Err(PaymentError::Provider("test provider error".into())),
            "tok_slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                PaymentOutcome::Authorized { reference: format!("test_{}", request.order_id) }
            }
            "tok_approve" => PaymentOutcome::Authorized { reference: format!("test_{}", request.order_id) },
            // Approved, and its capture will take 2 s.
            "tok_capture_slow" => {
                PaymentOutcome::Authorized { reference: format!("{SLOW_CAPTURE}{}", request.order_id) }
            }
            _ => PaymentOutcome::Declined { reason: "declined by the test provider".into() },
        };
        *self.charges.lock().unwrap_or_else(|e| e.into_inner()).entry(request.idempotency_key.clone()).or_default() +=
            1;
        self.authorizations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request.idempotency_key.clone(), outcome.clone());
        Ok(outcome)
    }

    async fn capture(&self, request: &CaptureRequest) -> Result<(), PaymentError> {
        if request.reference.starts_with(SLOW_CAPTURE) {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        self.effect(&request.idempotency_key);
        Ok(())
    }

    async fn void(&self, _reference: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        self.effect(idempotency_key);
        Ok(())
    }

    async fn refund(
        &self,
        _reference: &str,
        _amount: i64,
        idempotency_key: &str,
    ) -> Result<Option<String>, PaymentError> {
        self.effect(idempotency_key);
        Ok(None)
    }
}

/// The reference prefix of authorisations whose capture takes 2 s.
const SLOW_CAPTURE: &str = "test_slowcapture_";

impl TestProvider {
    /// Counts a capture's or refund's effect once per idempotency key, as a
    /// real provider does.
    fn effect(&self, idempotency_key: &str) {
        self.charges.lock().unwrap_or_else(|e| e.into_inner()).entry(idempotency_key.to_owned()).or_insert(1);
    }
}

/// No provider: every call fails (orders cannot carry a payment token, so
/// none is made).
#[derive(Debug, Default)]
pub struct NoProvider;

#[async_trait]
impl PaymentProvider for NoProvider {
    async fn authorize(&self, _request: &AuthorizeRequest) -> Result<PaymentOutcome, PaymentError> {
        Err(PaymentError::Provider("no payment provider is configured".into()))
    }

    async fn capture(&self, _request: &CaptureRequest) -> Result<(), PaymentError> {
        Err(PaymentError::Provider("no payment provider is configured".into()))
    }

    async fn void(&self, _reference: &str, _idempotency_key: &str) -> Result<(), PaymentError> {
        Err(PaymentError::Provider("no payment provider is configured".into()))
    }

    async fn refund(
        &self,
        _reference: &str,
        _amount: i64,
        _idempotency_key: &str,
    ) -> Result<Option<String>, PaymentError> {
        Err(PaymentError::Provider("no payment provider is configured".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked() {
        assert!(PaymentToken::parse("tok_approve").is_ok());
        for bad in ["", "tok_", "approve", "tok approve", "tok_é"] {
            assert!(PaymentToken::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_same_key_never_charges_twice() {
        let provider = TestProvider::default();
        let request = AuthorizeRequest {
            order_id: OrderId::generate(),
            amount: 100,
            currency: Currency::parse("EUR").unwrap(),
            token: PaymentToken::parse("tok_approve").unwrap(),
            idempotency_key: "order:1:authorize".into(),
        };
        let first = provider.authorize(&request).await.unwrap();
        assert_eq!(provider.authorize(&request).await.unwrap(), first);
        assert_eq!(provider.charges("order:1:authorize"), 1);
        let declined = AuthorizeRequest {
            token: PaymentToken::parse("tok_decline").unwrap(),
            idempotency_key: "k2".into(),
            ..request
        };
        assert!(matches!(provider.authorize(&declined).await.unwrap(), PaymentOutcome::Declined { .. }));
    }
}
