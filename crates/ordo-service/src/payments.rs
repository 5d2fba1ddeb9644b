//! Payment providers: authorize, capture and refund, each with an
//! idempotency key so that a retried call never charges twice. Providers are
//! only ever called outside database transactions.
//!
//! The built-in `test` provider is deterministic: the payment token chooses
//! the outcome (`tok_approve`, `tok_decline`, `tok_timeout`, `tok_error`,
//! `tok_slow`, `tok_capture_slow` (approved; its capture takes 2 s); any
//! other well-formed token is declined).
//!
//! Every provider call that moves money is recorded first as a pending
//! [`Payment`], in its own transaction, with the idempotency key it sends;
//! then the provider is called outside any transaction; then the record is
//! settled. A crash between the call and the settling leaves a pending
//! record, and the job's retry calls again with the same key, which the
//! provider answers without moving money twice.
//!
//! The jobs: [`AuthorizePayment`] (a placed order's authorisation),
//! [`CapturePayment`] (a paid order's capture, enqueued with the payment)
//! and [`RefundPayment`] (a refund [`PaymentService::refund`] recorded).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::order::OrderStatus;
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::payment::{Payment, PaymentFilter, PaymentKind, PaymentStatus, RefundError};
use ordo_domain::{Currency, OrderId, ValidationErrors, time};
use ordo_jobs::{Job, JobError, JobRun};
use ordo_store::{Database, Transaction};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use uuid::Uuid;

use crate::error::job_error;
use crate::{ServiceError, ServiceResult, Services};

pub mod stripe;

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
    /// The provider call's bound: an attempt that takes longer fails and is
    /// retried with the same idempotency key.
    const MAX_RUN_TIME: Duration = Duration::from_secs(60);
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
        let record = services
            .payments
            .record(&order.id, PaymentKind::Authorization, order.total, order.currency, &request.idempotency_key, None)
            .await
            .map_err(job_error)?;
        // Outside any transaction: a slow provider holds no database locks.
        let outcome = services.payments.provider().authorize(&request).await.map_err(|e| {
            metrics::counter!("ordo_payments_total", "outcome" => "error").increment(1);
            JobError::retry(e.to_string())
        })?;
        let label = if matches!(outcome, PaymentOutcome::Authorized { .. }) { "authorized" } else { "declined" };
        metrics::counter!("ordo_payments_total", "outcome" => label).increment(1);
        let settled = match &outcome {
            PaymentOutcome::Authorized { reference } => {
                services.payments.settle(&record, PaymentStatus::Succeeded, Some(reference), None).await
            }
            PaymentOutcome::Declined { reason } => {
                services.payments.settle(&record, PaymentStatus::Failed, None, Some(reason)).await
            }
        };
        settled.map_err(job_error)?;
        let actor = Actor::system("payments");
        let result = match &outcome {
            PaymentOutcome::Authorized { .. } => services.orders.record_payment(&actor, order.id).await,
            PaymentOutcome::Declined { .. } => services.orders.record_declined_payment(&actor, order.id).await,
        };
        match result {
            Ok(_) => Ok(()),
            Err(ServiceError::IllegalTransition { .. }) => {
                // Decided meanwhile: by an earlier attempt (paid), or the
                // order was cancelled or expired while the provider was
                // asked, and then the authorisation is released.
                let now = services.orders.order(order.id).await.map_err(job_error)?;
                match outcome {
                    PaymentOutcome::Authorized { reference }
                        if is_cancelled(now.status) || now.status == OrderStatus::Expired =>
                    {
                        let authorization =
                            Payment { status: PaymentStatus::Succeeded, provider_reference: Some(reference), ..record };
                        void_authorization(services, &authorization).await
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => Err(job_error(e)),
        }
    }
}

/// Payment records and the use cases on them: listing, and refunds.
#[derive(Debug, Clone)]
pub struct PaymentService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    provider: Arc<dyn PaymentProvider>,
    /// The provider's name, recorded with each payment.
    provider_name: String,
    /// The signing secret of Stripe's webhooks to Ordo, if they are on.
    stripe_webhook_secret: Option<String>,
}

/// What became of an event a provider sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventReceipt {
    /// The event was recorded before (a redelivery): nothing was done again.
    pub duplicate: bool,
    /// The order it concerns, when Ordo knows its payment.
    #[schema(value_type = Option<Uuid>)]
    pub order_id: Option<OrderId>,
}

/// Cursor scope of payment lists.
pub const CURSOR_SCOPE: &str = "payments";

impl PaymentService {
    pub fn new(
        db: Arc<dyn Database>,
        queue: ordo_jobs::Queue,
        provider: Arc<dyn PaymentProvider>,
        provider_name: impl Into<String>,
    ) -> Self {
        Self { db, queue, provider, provider_name: provider_name.into(), stripe_webhook_secret: None }
    }

    /// Accepts Stripe's webhooks, signed with `secret`.
    pub fn with_stripe_webhook_secret(mut self, secret: Option<String>) -> Self {
        self.stripe_webhook_secret = secret.filter(|s| !s.is_empty());
        self
    }

    /// Receives an event Stripe sent: verifies its `Stripe-Signature`,
    /// records it once (a redelivery is acknowledged and changes nothing),
    /// audits it, and puts it on its order's timeline when Ordo knows the
    /// payment it concerns (by the `order_id` Ordo puts in a payment
    /// intent's metadata, or by the payment intent's id).
    pub async fn receive_stripe_event(&self, signature: Option<&str>, body: &[u8]) -> ServiceResult<EventReceipt> {
        let Some(secret) = &self.stripe_webhook_secret else {
            return Err(ServiceError::NotFound {
                entity: "webhook endpoint",
                id: "stripe (payments.stripe_webhook_secret is not set)".to_owned(),
            });
        };
        stripe::verify_signature(secret, signature.unwrap_or_default(), body, time::now().timestamp())
            .map_err(|e| ServiceError::InvalidSignature(e.to_string()))?;
        let invalid = |message: &str| {
            ServiceError::Validation(ValidationErrors::single("body", "invalid_event", message.to_owned()))
        };
        let event: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| invalid("the event is not a JSON object"))?;
        let (Some(event_id), Some(event_type)) = (event["id"].as_str(), event["type"].as_str()) else {
            return Err(invalid("an event has a string `id` and `type`"));
        };
        let object = &event["data"]["object"];
        let mut tx = self.db.begin().await?;
        let mut order = None;
        if let Some(id) = object["metadata"]["order_id"].as_str().and_then(|id| id.parse::<Uuid>().ok()) {
            order = tx.order(OrderId::from_uuid(id)).await?;
        }
        let intent = match object["object"].as_str() {
            Some("payment_intent") => object["id"].as_str(),
            _ => object["payment_intent"].as_str(),
        };
        if order.is_none()
            && let Some(intent) = intent
            && let Some(payment) = tx.payment_by_reference("stripe", intent).await?
        {
            order = tx.order(payment.order_id).await?;
        }
        let received = ordo_domain::payment::ProviderEvent {
            id: Uuid::now_v7(),
            provider: "stripe".to_owned(),
            event_id: event_id.to_owned(),
            event_type: event_type.to_owned(),
            order_id: order.as_ref().map(|o| o.id),
            payload: String::from_utf8_lossy(body).into_owned(),
            received_at: time::now(),
        };
        let recorded = tx.insert_provider_event(&received).await?;
        if recorded {
            let actor = Actor::system("stripe");
            let summary = serde_json::json!({
                "provider": received.provider, "event_id": received.event_id,
                "event_type": received.event_type, "order_id": received.order_id,
            });
            crate::audit::record(
                tx.as_mut(),
                &actor,
                "provider_event.received",
                "provider_event",
                received.id,
                None,
                &summary,
            )
            .await?;
            if let Some(order) = &order {
                let step = ordo_domain::order::OrderEvent {
                    id: Uuid::now_v7(),
                    order_id: order.id,
                    occurred_at: received.received_at,
                    kind: "provider_event".to_owned(),
                    from_status: Some(order.status),
                    to_status: order.status,
                    actor_name: actor.name.clone(),
                    detail: Some(summary),
                };
                tx.insert_order_event(&step).await?;
            }
        }
        tx.commit().await?;
        let outcome = if recorded { "recorded" } else { "duplicate" };
        metrics::counter!("ordo_provider_events_total", "provider" => "stripe", "outcome" => outcome).increment(1);
        Ok(EventReceipt { duplicate: !recorded, order_id: received.order_id })
    }

    /// The configured provider.
    pub fn provider(&self) -> &dyn PaymentProvider {
        self.provider.as_ref()
    }

    /// An order's payment records, oldest first.
    pub async fn of_order(&self, order_id: OrderId) -> ServiceResult<Vec<Payment>> {
        let mut session = self.db.session().await?;
        if session.order(order_id).await?.is_none() {
            return Err(ServiceError::NotFound { entity: "order", id: order_id.to_string() });
        }
        Ok(session.order_payments(order_id).await?)
    }

    pub async fn list(&self, filter: &PaymentFilter, page: &PageRequest) -> ServiceResult<Page<Payment>> {
        let mut session = self.db.session().await?;
        let rows = session.list_payments(filter, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |p| p.id))
    }

    /// Records a provider call about to be made, pending, in its own
    /// transaction; or finds the record a crashed attempt left with the same
    /// idempotency key.
    pub(crate) async fn record(
        &self,
        order_id: &OrderId,
        kind: PaymentKind,
        amount: i64,
        currency: Currency,
        idempotency_key: &str,
        provider_reference: Option<&str>,
    ) -> ServiceResult<Payment> {
        let now = time::now();
        let payment = Payment {
            id: Uuid::now_v7(),
            order_id: *order_id,
            kind,
            provider: self.provider_name.clone(),
            provider_reference: provider_reference.map(str::to_owned),
            amount,
            currency,
            status: PaymentStatus::Pending,
            idempotency_key: idempotency_key.to_owned(),
            failure_reason: None,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        if tx.insert_payment(&payment).await? {
            tx.commit().await?;
            return Ok(payment);
        }
        let existing = tx.payment_by_key(idempotency_key).await?;
        existing.ok_or_else(|| ServiceError::NotFound { entity: "payment", id: idempotency_key.to_owned() })
    }

    /// Settles a pending record with the provider's answer, with its domain
    /// event and audit entry, in one transaction. A record already settled
    /// (by an earlier attempt) is left as it is.
    pub(crate) async fn settle(
        &self,
        record: &Payment,
        status: PaymentStatus,
        provider_reference: Option<&str>,
        failure_reason: Option<&str>,
    ) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        let at = time::now();
        if !tx.settle_payment(record.id, status, provider_reference, failure_reason, at).await? {
            return Ok(());
        }
        // Only a pending record settles, so it is the record with these
        // fields changed (the store keeps the reference when none is given).
        let settled = Payment {
            status,
            provider_reference: provider_reference.map(str::to_owned).or_else(|| record.provider_reference.clone()),
            failure_reason: failure_reason.map(str::to_owned),
            updated_at: at,
            ..record.clone()
        };
        let event = match (record.kind, status) {
            (PaymentKind::Authorization, PaymentStatus::Succeeded) => "payment.authorized",
            (PaymentKind::Authorization, _) => "payment.failed",
            (PaymentKind::Capture, PaymentStatus::Succeeded) => "payment.captured",
            (PaymentKind::Capture, _) => "payment.capture_failed",
            (PaymentKind::Void, _) => "payment.voided",
            (PaymentKind::Refund, PaymentStatus::Succeeded) => "refund.succeeded",
            (PaymentKind::Refund, _) => "refund.failed",
        };
        let actor = Actor::system("payments");
        let timeline = match (record.kind, status) {
            (PaymentKind::Capture, PaymentStatus::Succeeded) => Some("captured"),
            (PaymentKind::Refund, PaymentStatus::Succeeded) => Some("refunded"),
            (PaymentKind::Refund, _) => Some("refund_failed"),
            (PaymentKind::Void, PaymentStatus::Succeeded) => Some("voided"),
            (PaymentKind::Capture, PaymentStatus::Failed) => Some("capture_failed"),
            _ => None,
        };
        if let Some(kind) = timeline
            && let Some(order) = tx.order(settled.order_id).await?
        {
            on_timeline(tx.as_mut(), &order, kind, &actor, &settled).await?;
        }
        crate::audit::record(
            tx.as_mut(),
            &actor,
            event,
            "payment",
            settled.id,
            Some(crate::audit::snapshot(record)),
            &settled,
        )
        .await?;
        crate::webhooks::record(tx.as_mut(), event, *settled.order_id.as_uuid(), crate::audit::snapshot(&settled))
            .await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(())
    }

    /// Refunds `amount` of an order's captured money: checks, under the
    /// order's payment lock, that it never takes the refunds past the
    /// capture, records the refund pending with its audit entry and event,
    /// and enqueues [`RefundPayment`], which calls the provider.
    pub async fn refund(&self, actor: &Actor, order_id: OrderId, amount: i64) -> ServiceResult<Payment> {
        let mut tx = self.db.begin().await?;
        let Some(order) = tx.order(order_id).await? else {
            return Err(ServiceError::NotFound { entity: "order", id: order_id.to_string() });
        };
        tx.lock_order_payments(order_id).await?;
        let totals = tx.payment_totals(order_id).await?;
        ordo_domain::payment::check_refund(totals, amount).map_err(|e| match e {
            RefundError::NotPositive => ServiceError::Validation(ValidationErrors::single(
                "amount",
                "not_positive",
                "a refund is a positive amount in minor units",
            )),
            e => ServiceError::Refund(e),
        })?;
        let refund = record_refund(tx.as_mut(), actor, &order, amount, &self.provider_name).await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(refund)
    }

    /// One payment record.
    pub async fn payment(&self, id: Uuid) -> ServiceResult<Option<Payment>> {
        Ok(self.db.session().await?.payment(id).await?)
    }

    /// What an order's payments add up to.
    pub async fn totals(&self, order_id: OrderId) -> ServiceResult<ordo_domain::payment::PaymentTotals> {
        Ok(self.db.session().await?.payment_totals(order_id).await?)
    }

    /// Records the capture of whatever of `authorization` is not captured
    /// (nor being captured, nor voided), pending, under the order's payment
    /// lock, with the key `key`; or finds the one an earlier attempt
    /// recorded with it. `None` when nothing is left to capture.
    pub(crate) async fn begin_capture(
        &self,
        order_id: OrderId,
        key: &str,
        authorization: &Payment,
    ) -> ServiceResult<Option<Payment>> {
        let mut tx = self.db.begin().await?;
        tx.lock_order_payments(order_id).await?;
        if let Some(existing) = tx.payment_by_key(key).await? {
            return Ok(Some(existing));
        }
        let rest = tx.payment_totals(order_id).await?.uncaptured();
        let Some(order) = tx.order(order_id).await?.filter(|_| rest > 0) else { return Ok(None) };
        let capture =
            record_capture(tx.as_mut(), &Actor::system("payments"), &order, authorization, rest, key.to_owned())
                .await?;
        tx.commit().await?;
        Ok(Some(capture))
    }

    /// Captures `amount` (default: all that is not captured yet) of an
    /// order's authorisation now, whatever its market's capture policy:
    /// checks under the order's payment lock that the authorisation exists,
    /// is not voided and covers it, records the capture pending with its
    /// audit entry, and enqueues [`MakeCapture`]. Capturing all the rest
    /// releases the authorisation; less keeps the rest for later captures.
    pub async fn capture(&self, actor: &Actor, order_id: OrderId, amount: Option<i64>) -> ServiceResult<Payment> {
        let mut tx = self.db.begin().await?;
        let Some(order) = tx.order(order_id).await? else {
            return Err(ServiceError::NotFound { entity: "order", id: order_id.to_string() });
        };
        if is_cancelled(order.status) {
            return Err(ServiceError::IllegalTransition { current: order.status.as_str(), action: "capture" });
        }
        tx.lock_order_payments(order_id).await?;
        let totals = tx.payment_totals(order_id).await?;
        let amount = amount.unwrap_or_else(|| totals.uncaptured().max(1));
        ordo_domain::payment::check_capture(totals, amount).map_err(|e| match e {
            ordo_domain::payment::CaptureError::NotPositive => ServiceError::Validation(ValidationErrors::single(
                "amount",
                "not_positive",
                "a capture is a positive amount in minor units",
            )),
            e => ServiceError::Capture(e),
        })?;
        let Some(authorization) = authorization_of(tx.as_mut(), order_id).await? else {
            return Err(ServiceError::Capture(ordo_domain::payment::CaptureError::NotAuthorized));
        };
        let final_capture = amount == totals.uncaptured();
        let id = Uuid::now_v7();
        let capture =
            record_capture(tx.as_mut(), actor, &order, &authorization, amount, format!("capture:{id}")).await?;
        ordo_jobs::enqueue(tx.as_mut(), &MakeCapture { payment_id: capture.id, final_capture }, Default::default())
            .await?;
        tx.commit().await?;
        self.queue.wake();
        metrics::counter!("ordo_captures_total").increment(1);
        Ok(capture)
    }

    /// The compensation step of a cancelled order: refunds whatever of its
    /// capture is not refunded yet, in its own transaction under the order's
    /// payment lock (so it never refunds twice however often it runs).
    /// Returns the refund, if there was anything to refund.
    pub(crate) async fn refund_rest_of_cancelled(&self, order_id: OrderId) -> ServiceResult<Option<Payment>> {
        let mut tx = self.db.begin().await?;
        let refund = refund_rest(tx.as_mut(), order_id, &self.provider_name).await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(refund)
    }
}

/// Refunds what is left of a cancelled order's capture, in `tx` under the
/// order's payment lock: nothing if nothing is captured or all is refunded.
pub(crate) async fn refund_rest(
    tx: &mut dyn Transaction,
    order_id: OrderId,
    provider_name: &str,
) -> ServiceResult<Option<Payment>> {
    let Some(order) = tx.order(order_id).await? else { return Ok(None) };
    if !is_cancelled(order.status) {
        return Ok(None);
    }
    tx.lock_order_payments(order_id).await?;
    let rest = tx.payment_totals(order_id).await?.refundable();
    if rest == 0 {
        return Ok(None);
    }
    let actor = Actor::system("payments");
    Ok(Some(record_refund(tx, &actor, &order, rest, provider_name).await?))
}

/// Whether the order was cancelled (and may be in the compensation's
/// `refund_pending` or `refunded` since).
fn is_cancelled(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Cancelled | OrderStatus::RefundPending | OrderStatus::Refunded)
}

/// Moves a cancelled order along the saga's compensation: to
/// `refund_pending` once it has captured money (which is being given
/// back), and to `refunded` once all of it went back and nothing is pending.
/// Idempotent: every payment job that may end a step calls it.
async fn advance_refund_state(services: &Services, order_id: OrderId) -> Result<(), JobError> {
    let order = services.orders.order(order_id).await.map_err(job_error)?;
    if !matches!(order.status, OrderStatus::Cancelled | OrderStatus::RefundPending) {
        return Ok(());
    }
    let payments = services.payments.of_order(order_id).await.map_err(job_error)?;
    let sum = |kind: PaymentKind| -> i64 {
        payments.iter().filter(|p| p.kind == kind && p.status == PaymentStatus::Succeeded).map(|p| p.amount).sum()
    };
    let captured = sum(PaymentKind::Capture);
    if captured == 0 {
        return Ok(()); // nothing was taken: it stays cancelled
    }
    let actor = Actor::system("payments");
    let step = async |action| match services.orders.refund_step(&actor, order_id, action).await {
        Ok(_) | Err(ServiceError::IllegalTransition { .. }) => Ok(()),
        Err(e) => Err(job_error(e)),
    };
    if order.status == OrderStatus::Cancelled {
        step(ordo_domain::order::OrderAction::BeginRefund).await?;
    }
    let pending = payments.iter().any(|p| p.status == PaymentStatus::Pending && p.kind != PaymentKind::Authorization);
    if sum(PaymentKind::Refund) >= captured && !pending {
        step(ordo_domain::order::OrderAction::FinishRefund).await?;
    }
    Ok(())
}

/// Puts a money step on the order's timeline (`GET /v1/orders/{id}/events`):
/// the order's status does not change, so it is both `from` and `to`.
async fn on_timeline(
    tx: &mut dyn Transaction,
    order: &ordo_domain::order::Order,
    kind: &str,
    actor: &Actor,
    payment: &Payment,
) -> Result<(), ordo_store::StoreError> {
    let event = ordo_domain::order::OrderEvent {
        id: Uuid::now_v7(),
        order_id: order.id,
        occurred_at: payment.updated_at,
        kind: kind.to_owned(),
        from_status: Some(order.status),
        to_status: order.status,
        actor_name: actor.name.clone(),
        detail: Some(serde_json::json!({"payment_id": payment.id, "amount": payment.amount, "status": payment.status})),
    };
    tx.insert_order_event(&event).await
}

/// Records a refund of `amount` (checked by the caller under the order's
/// payment lock) pending, with its audit entry, its `refund.created` event
/// and the [`RefundPayment`] job that makes it at the provider.
async fn record_refund(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &ordo_domain::order::Order,
    amount: i64,
    provider_name: &str,
) -> ServiceResult<Payment> {
    let capture = tx
        .order_payments(order.id)
        .await?
        .into_iter()
        .find(|p| p.kind == PaymentKind::Capture && p.status == PaymentStatus::Succeeded);
    let now = time::now();
    let id = Uuid::now_v7();
    let refund = Payment {
        id,
        order_id: order.id,
        kind: PaymentKind::Refund,
        provider: provider_name.to_owned(),
        provider_reference: capture.and_then(|c| c.provider_reference),
        amount,
        currency: order.currency,
        status: PaymentStatus::Pending,
        idempotency_key: format!("refund:{id}"),
        failure_reason: None,
        created_at: now,
        updated_at: now,
    };
    tx.insert_payment(&refund).await?;
    on_timeline(tx, order, "refund_requested", actor, &refund).await?;
    crate::audit::record(tx, actor, "refund.requested", "payment", id, None, &refund).await?;
    crate::webhooks::record(tx, "refund.created", *order.id.as_uuid(), crate::audit::snapshot(&refund)).await?;
    ordo_jobs::enqueue(tx, &RefundPayment { payment_id: id }, ordo_jobs::EnqueueOptions::default()).await?;
    metrics::counter!("ordo_refunds_total").increment(1);
    Ok(refund)
}

/// Enqueues a paid order's capture, in the transaction that records the
/// payment: the capture job exists if and only if the payment does.
pub(crate) async fn enqueue_capture(tx: &mut dyn Transaction, order_id: OrderId) -> Result<(), ordo_store::StoreError> {
    ordo_jobs::enqueue(tx, &CapturePayment { order_id }, ordo_jobs::EnqueueOptions::default()).await?;
    Ok(())
}

/// Enqueues a cancelled order's compensation, in the transaction that
/// cancels it.
pub(crate) async fn enqueue_compensation(
    tx: &mut dyn Transaction,
    order_id: OrderId,
) -> Result<(), ordo_store::StoreError> {
    ordo_jobs::enqueue(tx, &RefundCancelledOrder { order_id }, ordo_jobs::EnqueueOptions::default()).await?;
    Ok(())
}

/// The compensation step of the order saga: a cancelled order's captured
/// money goes back. Records a refund of what is left of the capture (under
/// the order's payment lock, so however often this and a capture that
/// finished after the cancel run, the order is refunded once), which
/// [`RefundPayment`] then makes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundCancelledOrder {
    pub order_id: OrderId,
}

#[async_trait]
impl Job for RefundCancelledOrder {
    const NAME: &'static str = "order.refund_cancelled";
    const QUEUE: &'static str = "payments";
    const PRIORITY: i16 = 10;
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.order_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        services.payments.refund_rest_of_cancelled(self.order_id).await.map_err(job_error)?;
        advance_refund_state(services, self.order_id).await?;
        // Nothing captured, nor being captured (a market that captures at
        // fulfilment, before its first shipment): release the authorisation.
        let totals = services.payments.totals(self.order_id).await.map_err(job_error)?;
        if totals.authorized > 0 && totals.capturing == 0 && !totals.voided {
            let payments = services.payments.of_order(self.order_id).await.map_err(job_error)?;
            if let Some(authorization) =
                payments.iter().find(|p| p.kind == PaymentKind::Authorization && p.status == PaymentStatus::Succeeded)
            {
                return void_authorization(services, authorization).await;
            }
        }
        Ok(())
    }
}

/// Captures a paid order's authorised amount (the capture policy is "at
/// payment"). Records the capture before calling the provider with the key
/// `order:<id>:capture`, so a crash and a retry capture once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapturePayment {
    pub order_id: OrderId,
}

#[async_trait]
impl Job for CapturePayment {
    const NAME: &'static str = "payment.capture";
    const QUEUE: &'static str = "payments";
    const PRIORITY: i16 = 10;
    const MAX_ATTEMPTS: i32 = 10;
    const BACKOFF_BASE: Duration = Duration::from_secs(2);
    const BACKOFF_CAP: Duration = Duration::from_secs(600);
    const MAX_RUN_TIME: Duration = Duration::from_secs(60);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.order_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let order = services.orders.order(self.order_id).await.map_err(job_error)?;
        let payments = services.payments.of_order(order.id).await.map_err(job_error)?;
        let Some(authorization) =
            payments.iter().find(|p| p.kind == PaymentKind::Authorization && p.status == PaymentStatus::Succeeded)
        else {
            return Ok(()); // nothing authorised to capture
        };
        let key = format!("order:{}:capture", order.id);
        let started = payments.iter().any(|p| p.idempotency_key == key);
        if is_cancelled(order.status) && !started {
            // Cancelled before its capture: nothing is taken, and the
            // authorisation is released at the provider.
            return void_authorization(services, authorization).await;
        }
        // A capture once begun is finished, even for an order cancelled
        // meanwhile (the provider may have taken the money already).
        // Recorded under the order's payment lock, for what of the
        // authorisation nothing else captures (or has voided).
        let Some(record) = services.payments.begin_capture(order.id, &key, authorization).await.map_err(job_error)?
        else {
            return Ok(());
        };
        make_capture(services, &record, true).await
    }
}

/// Makes a recorded capture at the provider (final: releasing what it does
/// not take of the authorisation), settles it, and gives the money back if
/// the order was cancelled meanwhile (also on a retry after a crash that
/// came after the settling; a no-op for an order that is not cancelled, or
/// refunded already).
async fn make_capture(services: &Services, record: &Payment, final_capture: bool) -> Result<(), JobError> {
    if record.status == PaymentStatus::Pending {
        let request = CaptureRequest {
            reference: record.provider_reference.clone().unwrap_or_default(),
            amount: record.amount,
            final_capture,
            idempotency_key: record.idempotency_key.clone(),
        };
        let result = services.payments.provider().capture(&request).await;
        settle_call(services, record, result.map(|()| None)).await?;
    }
    services.payments.refund_rest_of_cancelled(record.order_id).await.map_err(job_error)?;
    advance_refund_state(services, record.order_id).await
}

/// Makes a capture recorded pending (by a shipment, or by
/// [`PaymentService::capture`]) at the provider, with its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MakeCapture {
    pub payment_id: Uuid,
    /// Whether it releases what it does not take of the authorisation.
    pub final_capture: bool,
}

#[async_trait]
impl Job for MakeCapture {
    const NAME: &'static str = "payment.make_capture";
    const QUEUE: &'static str = "payments";
    const PRIORITY: i16 = 10;
    const MAX_ATTEMPTS: i32 = 10;
    const BACKOFF_BASE: Duration = Duration::from_secs(2);
    const BACKOFF_CAP: Duration = Duration::from_secs(600);
    const MAX_RUN_TIME: Duration = Duration::from_secs(60);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.payment_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let Some(record) = services.payments.payment(self.payment_id).await.map_err(job_error)? else {
            return Ok(());
        };
        make_capture(services, &record, self.final_capture).await
    }
}

/// Records, in the transaction that ships them, the capture a shipment of
/// an order in a market that captures at fulfilment is due: what the
/// shipped units are worth ([`Order::shipped_value`]) less what is captured
/// or being captured; the last shipment takes the whole rest of the
/// authorisation and releases it. Nothing for an order without an
/// authorisation (paid outside Ordo) or with a voided one. The capture is
/// made by [`MakeCapture`], enqueued here too.
pub(crate) async fn capture_shipment(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &ordo_domain::order::Order,
) -> ServiceResult<()> {
    tx.lock_order_payments(order.id).await?;
    let totals = tx.payment_totals(order.id).await?;
    let final_capture = order.status == OrderStatus::Fulfilled;
    let due = if final_capture {
        totals.uncaptured()
    } else {
        order.shipped_value().saturating_sub(totals.capturing).min(totals.uncaptured())
    };
    if due <= 0 {
        return Ok(());
    }
    let Some(authorization) = authorization_of(tx, order.id).await? else { return Ok(()) };
    let key = format!("order:{}:capture:v{}", order.id, order.version);
    let capture = record_capture(tx, actor, order, &authorization, due, key).await?;
    ordo_jobs::enqueue(tx, &MakeCapture { payment_id: capture.id, final_capture }, Default::default()).await?;
    Ok(())
}

/// The order's authorisation that succeeded, if any.
async fn authorization_of(tx: &mut dyn Transaction, order_id: OrderId) -> ServiceResult<Option<Payment>> {
    Ok(tx
        .order_payments(order_id)
        .await?
        .into_iter()
        .find(|p| p.kind == PaymentKind::Authorization && p.status == PaymentStatus::Succeeded))
}

/// Records a capture of `amount` of `authorization` pending, with its
/// audit entry and its place on the order's timeline (`capture_requested`).
async fn record_capture(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &ordo_domain::order::Order,
    authorization: &Payment,
    amount: i64,
    idempotency_key: String,
) -> ServiceResult<Payment> {
    let now = time::now();
    let capture = Payment {
        id: Uuid::now_v7(),
        order_id: order.id,
        kind: PaymentKind::Capture,
        provider: authorization.provider.clone(),
        provider_reference: authorization.provider_reference.clone(),
        amount,
        currency: order.currency,
        status: PaymentStatus::Pending,
        idempotency_key,
        failure_reason: None,
        created_at: now,
        updated_at: now,
    };
    tx.insert_payment(&capture).await?;
    on_timeline(tx, order, "capture_requested", actor, &capture).await?;
    crate::audit::record(tx, actor, "capture.requested", "payment", capture.id, None, &capture).await?;
    Ok(capture)
}

/// Settles a pending record with a provider call's result: succeeded (with
/// the provider's reference of it, if it gave one), failed for good when the
/// provider refused, or left pending and retried with the same key.
async fn settle_call(
    services: &Services,
    record: &Payment,
    result: Result<Option<String>, PaymentError>,
) -> Result<(), JobError> {
    match result {
        Ok(reference) => services.payments.settle(record, PaymentStatus::Succeeded, reference.as_deref(), None).await,
        Err(PaymentError::Rejected(reason)) => {
            tracing::warn!(payment = %record.id, kind = record.kind.as_str(), %reason, "payment provider refused");
            services.payments.settle(record, PaymentStatus::Failed, None, Some(&reason)).await
        }
        Err(e) => return Err(JobError::retry(e.to_string())),
    }
    .map_err(job_error)
}

/// Releases an authorisation nothing will be captured of, recorded as a
/// `void` with the key `order:<id>:void` before the provider is called.
async fn void_authorization(services: &Services, authorization: &Payment) -> Result<(), JobError> {
    let key = format!("order:{}:void", authorization.order_id);
    let reference = authorization.provider_reference.clone().unwrap_or_default();
    let record = services
        .payments
        .record(
            &authorization.order_id,
            PaymentKind::Void,
            authorization.amount,
            authorization.currency,
            &key,
            Some(&reference),
        )
        .await
        .map_err(job_error)?;
    if record.status != PaymentStatus::Pending {
        return Ok(());
    }
    let result = services.payments.provider().void(&reference, &key).await;
    settle_call(services, &record, result.map(|()| None)).await
}

/// Gives a recorded refund's money back through the provider, with the
/// key `refund:<id>`, and settles the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefundPayment {
    pub payment_id: Uuid,
}

#[async_trait]
impl Job for RefundPayment {
    const NAME: &'static str = "payment.refund";
    const QUEUE: &'static str = "payments";
    const PRIORITY: i16 = 10;
    const MAX_ATTEMPTS: i32 = 10;
    const BACKOFF_BASE: Duration = Duration::from_secs(2);
    const BACKOFF_CAP: Duration = Duration::from_secs(600);
    const MAX_RUN_TIME: Duration = Duration::from_secs(60);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.payment_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let Some(refund) = services.payments.payment(self.payment_id).await.map_err(job_error)? else {
            return Ok(());
        };
        if refund.status != PaymentStatus::Pending {
            // Settled by an earlier attempt, which may have crashed before
            // moving the order on.
            return advance_refund_state(services, refund.order_id).await;
        }
        let reference = refund.provider_reference.clone().unwrap_or_default();
        let result = services.payments.provider().refund(&reference, refund.amount, &refund.idempotency_key).await;
        settle_call(services, &refund, result).await?;
        advance_refund_state(services, refund.order_id).await
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
