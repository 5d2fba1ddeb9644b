//! The Stripe adapter: PaymentIntents with manual capture, partial and
//! final captures, cancels (voids) and refunds, spoken in Stripe's
//! documented wire format, and the signature check of Stripe's incoming
//! webhooks.
//!
//! The wire format (<https://docs.stripe.com/api>): `POST`s with
//! `application/x-www-form-urlencoded` bodies (nested fields as
//! `payment_method_data[card][token]`), `Authorization: Bearer <secret
//! key>`, the API version pinned with `Stripe-Version` (so a change of the
//! account's default version never changes what Ordo reads), and an
//! `Idempotency-Key` on every `POST`, derived by the caller from the order
//! and the operation, so that a retry (here, or a job's after a crash)
//! never moves money twice. Errors come as `{"error": {"type", "code",
//! "decline_code", "message"}}`.
//!
//! Retries follow Stripe's advice: 429, 409 lock timeouts, 5xx answers and
//! network failures are retried with the same key and exponential back-off
//! (honouring `Stripe-Should-Retry` when Stripe sends it); a card error
//! (402) is a decline; any other 4xx is final and not retried.
//!
//! Written on reqwest rather than with a Stripe SDK crate: the crates that
//! exist (`async-stripe` above all) generate the whole API, thousands of
//! types and minutes of build time on two cores, for four calls.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::{AuthorizeRequest, CaptureRequest, PaymentError, PaymentOutcome, PaymentProvider};

/// The Stripe API version Ordo is written against, sent with every request.
pub const API_VERSION: &str = "2024-06-20";

/// How far a signed webhook's timestamp may be from now (Stripe's
/// libraries' default): older deliveries are refused as replays.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// How Ordo reaches Stripe.
#[derive(Clone)]
pub struct StripeSettings {
    /// The secret API key (`sk_live_...`, `sk_test_...` or a restricted
    /// `rk_...` key). Never printed.
    pub secret_key: String,
    /// `https://api.stripe.com`, or a local server in tests.
    pub api_base: String,
    /// Each request's bound.
    pub timeout: Duration,
    /// Retries of a request that may be retried, after the first attempt.
    pub max_network_retries: u32,
    /// The first retry's wait; each further one doubles it.
    pub retry_base: Duration,
    /// The signing secret of the webhook endpoint Stripe sends events to
    /// (`whsec_...`); `None`: incoming events are refused. Never printed.
    pub webhook_secret: Option<String>,
}

impl fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &"***")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .field("max_network_retries", &self.max_network_retries)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Stripe PaymentIntents as a [`PaymentProvider`].
#[derive(Debug)]
pub struct StripeProvider {
    http: reqwest::Client,
    settings: StripeSettings,
}

/// Stripe's error object.
#[derive(Debug, Default, Deserialize)]
struct StripeError {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

impl StripeError {
    fn describe(&self) -> String {
        let mut text = self.code.clone().unwrap_or_else(|| self.kind.clone());
        if let Some(decline) = &self.decline_code {
            text = format!("{text} ({decline})");
        }
        if let Some(message) = &self.message {
            text = format!("{text}: {message}");
        }
        text
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

/// How a request ended, once retries are spent.
#[derive(Debug)]
enum Failure {
    /// A card error (402): the card was declined.
    Card(String),
    /// A final refusal (another 4xx): retrying will not help.
    Refused(String),
    /// Worth retrying later (the job does).
    Transient(PaymentError),
}

impl From<Failure> for PaymentError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Card(reason) | Failure::Refused(reason) => PaymentError::Rejected(reason),
            Failure::Transient(e) => e,
        }
    }
}

impl StripeProvider {
    pub fn new(settings: StripeSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(settings.timeout).build()?;
        Ok(Self { http, settings })
    }

    /// `POST`s a form to Stripe with its idempotency key, retrying what
    /// Stripe says may be retried; the answer's JSON on success.
    async fn post(&self, path: &str, form: &[(&str, String)], idempotency_key: &str) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.settings.api_base.trim_end_matches('/'));
        let mut attempt = 0;
        loop {
            let failure = match self.post_once(&url, form, idempotency_key).await {
                Ok(value) => return Ok(value),
                Err((failure, retry)) if retry && attempt < self.settings.max_network_retries => failure,
                Err((failure, _)) => return Err(failure),
            };
            tracing::warn!(path, attempt, error = ?failure, "stripe: retrying");
            metrics::counter!("ordo_stripe_retries_total").increment(1);
            tokio::time::sleep(self.settings.retry_base * 2u32.saturating_pow(attempt)).await;
            attempt += 1;
        }
    }

    /// One attempt: the answer, or the failure and whether to retry it.
    async fn post_once(
        &self,
        url: &str,
        form: &[(&str, String)],
        idempotency_key: &str,
    ) -> Result<Value, (Failure, bool)> {
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.settings.secret_key)
            .header("Stripe-Version", API_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return Err((Failure::Transient(PaymentError::Timeout), true)),
            Err(e) => return Err((Failure::Transient(PaymentError::Provider(format!("stripe: {e}"))), true)),
        };
        let status = response.status();
        let should_retry = response
            .headers()
            .get("Stripe-Should-Retry")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.eq_ignore_ascii_case("true"));
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) if e.is_timeout() => return Err((Failure::Transient(PaymentError::Timeout), true)),
            Err(e) => return Err((Failure::Transient(PaymentError::Provider(format!("stripe: {e}"))), true)),
        };
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                (Failure::Transient(PaymentError::Provider(format!("stripe: unreadable answer: {e}"))), false)
            });
        }
        let error = serde_json::from_slice::<ErrorBody>(&body).map(|b| b.error).unwrap_or_default();
        let described = format!("stripe {}: {}", status.as_u16(), error.describe());
        let retry = should_retry.unwrap_or(
            status.as_u16() == 429
                || status.is_server_error()
                || (status.as_u16() == 409 && error.code.as_deref() == Some("lock_timeout")),
        );
        Err(match status.as_u16() {
            _ if retry => (Failure::Transient(PaymentError::Provider(described)), true),
            402 => (Failure::Card(error.describe()), false),
            400..=499 => (Failure::Refused(described), false),
            _ => (Failure::Transient(PaymentError::Provider(described)), false),
        })
    }
}

/// A Stripe id as a path segment: letters, digits and `_` only, so that a
/// stored reference can never reach another endpoint.
fn path_id(reference: &str) -> Result<&str, PaymentError> {
    if !reference.is_empty() && reference.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(reference)
    } else {
        Err(PaymentError::Rejected(format!("not a Stripe id: {reference:?}")))
    }
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    async fn authorize(&self, request: &AuthorizeRequest) -> Result<PaymentOutcome, PaymentError> {
        let token = request.token.as_str();
        let mut form = vec![
            ("amount", request.amount.to_string()),
            ("currency", request.currency.code().to_ascii_lowercase()),
            ("capture_method", "manual".to_owned()),
            ("confirm", "true".to_owned()),
            ("payment_method_types[0]", "card".to_owned()),
            ("metadata[order_id]", request.order_id.to_string()),
        ];
        if token.starts_with("pm_") {
            form.push(("payment_method", token.to_owned()));
        } else {
            // A card token from Stripe.js (`tok_...`).
            form.push(("payment_method_data[type]", "card".to_owned()));
            form.push(("payment_method_data[card][token]", token.to_owned()));
        }
        let intent = match self.post("/v1/payment_intents", &form, &request.idempotency_key).await {
            Ok(intent) => intent,
            // A declined card, or a token Stripe does not know: this
            // payment cannot succeed.
            Err(Failure::Card(reason) | Failure::Refused(reason)) => return Ok(PaymentOutcome::Declined { reason }),
            Err(Failure::Transient(e)) => return Err(e),
        };
        let id = intent["id"].as_str().unwrap_or_default();
        match intent["status"].as_str() {
            Some("requires_capture" | "succeeded") if !id.is_empty() => {
                Ok(PaymentOutcome::Authorized { reference: id.to_owned() })
            }
            Some("requires_action") => Ok(PaymentOutcome::Declined {
                reason: "the card asks for customer authentication (3-D Secure), which a server-side confirmation cannot give"
                    .to_owned(),
            }),
            Some("requires_payment_method" | "canceled") => Ok(PaymentOutcome::Declined {
                reason: intent["last_payment_error"]["message"].as_str().unwrap_or("declined by Stripe").to_owned(),
            }),
            other => Err(PaymentError::Provider(format!("stripe: payment intent {id} is {other:?}"))),
        }
    }

    async fn capture(&self, request: &CaptureRequest) -> Result<(), PaymentError> {
        let id = path_id(&request.reference)?;
        let mut form = vec![("amount_to_capture", request.amount.to_string())];
        if !request.final_capture {
            // Keep the rest of the authorisation for later shipments.
            form.push(("final_capture", "false".to_owned()));
        }
        self.post(&format!("/v1/payment_intents/{id}/capture"), &form, &request.idempotency_key).await?;
        Ok(())
    }

    async fn void(&self, reference: &str, idempotency_key: &str) -> Result<(), PaymentError> {
        let id = path_id(reference)?;
        let form = [("cancellation_reason", "requested_by_customer".to_owned())];
        self.post(&format!("/v1/payment_intents/{id}/cancel"), &form, idempotency_key).await?;
        Ok(())
    }

    async fn refund(
        &self,
        reference: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Option<String>, PaymentError> {
        let id = path_id(reference)?;
        let form = [("payment_intent", id.to_owned()), ("amount", amount.to_string())];
        let refund = self.post("/v1/refunds", &form, idempotency_key).await?;
        match refund["status"].as_str() {
            // `pending`: accepted; some payment methods settle later.
            Some("succeeded" | "pending") => Ok(refund["id"].as_str().map(str::to_owned)),
            other => Err(PaymentError::Rejected(format!(
                "stripe: refund {} is {other:?}: {}",
                refund["id"].as_str().unwrap_or_default(),
                refund["failure_reason"].as_str().unwrap_or("no reason given")
            ))),
        }
    }
}

/// Why an incoming webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or has no t= and v1= parts")]
    Malformed,
    #[error("the signature's timestamp is more than 5 minutes from now")]
    Stale,
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// Checks a webhook's `Stripe-Signature` header
/// (`t=<unix seconds>,v1=<hex HMAC-SHA256>`, possibly several `v1`s while a
/// secret is rolled): one `v1` must be the HMAC-SHA256 of `"<t>.<body>"`
/// under the endpoint's signing secret, compared in constant time, and `t`
/// within [`SIGNATURE_TOLERANCE`] of `now` (unix seconds).
pub fn verify_signature(secret: &str, header: &str, payload: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return Err(SignatureError::Malformed) };
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - timestamp).unsigned_abs() > SIGNATURE_TOLERANCE.as_secs() {
        return Err(SignatureError::Stale);
    }
    for signature in signatures {
        let Ok(bytes) = hex::decode(signature) else { continue };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        if mac.verify_slice(&bytes).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `Stripe-Signature` header Stripe would send for `payload` at `t`
/// (for tests and for `ordo` tooling that replays events).
pub fn sign(secret: &str, payload: &[u8], t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signed_payload_verifies_and_a_changed_one_does_not() {
        let body = br#"{"id":"evt_1","type":"payment_intent.canceled"}"#;
        let header = sign(SECRET, body, 1_700_000_000);
        assert_eq!(verify_signature(SECRET, &header, body, 1_700_000_010), Ok(()));
        assert_eq!(verify_signature(SECRET, &header, b"{}", 1_700_000_010), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature("whsec_other", &header, body, 1_700_000_010), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(SECRET, &header, body, 1_700_000_301), Err(SignatureError::Stale));
        for bad in ["", "t=1700000000", "v1=00", "t=x,v1=00"] {
            assert_eq!(verify_signature(SECRET, bad, body, 1_700_000_000), Err(SignatureError::Malformed), "{bad}");
        }
        // While a secret is rolled, one of several v1s matching is enough.
        let rolled = format!("t=1700000000,v1=deadbeef,{}", header.split_once(',').unwrap().1);
        assert_eq!(verify_signature(SECRET, &rolled, body, 1_700_000_000), Ok(()));
    }

    #[test]
    fn references_are_stripe_ids() {
        assert!(path_id("pi_3Nabc").is_ok());
        for bad in ["", "pi_1/../../v1/refunds", "pi 1", "pi_1?x=1"] {
            assert!(path_id(bad).is_err(), "{bad}");
        }
    }
}
