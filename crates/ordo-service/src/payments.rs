//! Payment providers: authorize, capture and refund, each with an
//! idempotency key so that a retried call never charges twice. Providers are
//! only ever called outside database transactions.
//!
//! The built-in `test` provider is deterministic: the payment token chooses
//! the outcome (`tok_approve`, `tok_decline`, `tok_timeout`, `tok_error`,
//! `tok_slow`; any other well-formed token is declined).
//!
//! [`AuthorizePayment`] is the job that calls the provider for a placed
//! order and records the outcome on it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::order::OrderStatus;
use ordo_domain::{Currency, OrderId, ValidationErrors};
use ordo_jobs::{Job, JobError, JobRun};
use serde::{Deserialize, Serialize};

use crate::error::job_error;
use crate::{ServiceError, Services};

/// A payment token as the client got it from the payment provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentToken(String);

impl PaymentToken {
    /// `tok_` followed by 1 to 100 letters, digits or `_`.
    pub fn parse(value: &str) -> Result<Self, ValidationErrors> {
        let valid = value.strip_prefix("tok_").is_some_and(|rest| {
            (1..=100).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationErrors::single(
                "payment_token",
                "invalid_payment_token",
                "a payment token looks like tok_xxx",
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
    #[error("the payment provider timed out")]
    Timeout,
    #[error("the payment provider failed: {0}")]
    Provider(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<PaymentOutcome, PaymentError>;
    async fn capture(&self, reference: &str, amount: i64, idempotency_key: &str) -> Result<(), PaymentError>;
    async fn refund(&self, reference: &str, amount: i64, idempotency_key: &str) -> Result<(), PaymentError>;
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

    async fn capture(&self, _reference: &str, _amount: i64, _idempotency_key: &str) -> Result<(), PaymentError> {
        Ok(())
    }

    async fn refund(&self, _reference: &str, _amount: i64, _idempotency_key: &str) -> Result<(), PaymentError> {
        Ok(())
    }
}

/// Authorises a placed order's payment with the provider, then records the
/// outcome on the order (`paid`, or `payment_failed` releasing the stock).
/// Enqueued with the order when it is placed with a payment token; acts
/// only while the order is still `placed`, so a run again after a crash,
/// or after the order expired or was cancelled, does nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizePayment {
    pub order_id: OrderId,
    pub token: PaymentToken,
}

#[async_trait]
impl Job for AuthorizePayment {
    const NAME: &'static str = "order.authorize_payment";
    const QUEUE: &'static str = "payments";
    const PRIORITY: i16 = 10;
    const MAX_ATTEMPTS: i32 = 6;
    const BACKOFF_BASE: Duration = Duration::from_secs(2);
    const BACKOFF_CAP: Duration = Duration::from_secs(300);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.order_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let order = services.orders.order(self.order_id).await.map_err(job_error)?;
        if order.status != OrderStatus::Placed {
            return Ok(()); // already decided (or cancelled, or expired)
        }
        let request = AuthorizeRequest {
            order_id: order.id,
            amount: order.total,
            currency: order.currency,
            token: self.token.clone(),
            // The same on every retry, so the provider never charges twice.
            idempotency_key: format!("order:{}:authorize", order.id),
        };
        // Outside any transaction: a slow provider holds no database locks.
        let outcome = services.payments.authorize(&request).await.map_err(|e| {
            metrics::counter!("ordo_payments_total", "outcome" => "error").increment(1);
            JobError::retry(e.to_string())
        })?;
        let label = if matches!(outcome, PaymentOutcome::Authorized { .. }) { "authorized" } else { "declined" };
        metrics::counter!("ordo_payments_total", "outcome" => label).increment(1);
        let actor = Actor::system("payments");
        let result = match outcome {
            PaymentOutcome::Authorized { .. } => services.orders.record_payment(&actor, order.id).await,
            PaymentOutcome::Declined { .. } => services.orders.record_declined_payment(&actor, order.id).await,
        };
        match result {
            Ok(_) | Err(ServiceError::IllegalTransition { .. }) => Ok(()),
            Err(e) => Err(job_error(e)),
        }
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
