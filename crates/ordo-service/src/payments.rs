//! Payments: the records of every provider call that moves money, and the
//! use cases on them (captures, refunds, voids, provider events).
//!
//! Every provider call that moves money is recorded first as a pending
//! [`Payment`], in its own transaction, with the idempotency key it sends;
//! then the provider is called outside any transaction; then the record is
//! settled. A crash between the call and the settling leaves a pending
//! record, and the job's retry calls again with the same key, which the
//! provider answers without moving money twice.
//!
//! The rooms:
//!
//! - this file: [`PaymentService`], and the writes that record captures and
//!   refunds inside other use cases' transactions (a shipment's capture, a
//!   cancellation's compensation).
//! - [`provider`]: the provider trait, the built-in test provider and none.
//! - [`stripe`]: the Stripe adapter and Stripe's webhook signature check.
//! - [`jobs`]: the jobs that call the provider: [`AuthorizePayment`],
//!   [`CapturePayment`], [`MakeCapture`], [`RefundPayment`] and
//!   [`RefundCancelledOrder`].

use ordo_domain::audit::Actor;
use ordo_domain::credit_note::{self, CreditReason};
use ordo_domain::order::OrderStatus;
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::payment::{OFFLINE_PROVIDER, Payment, PaymentFilter, PaymentKind, PaymentStatus, RefundError};
use ordo_domain::{Currency, OrderId, ValidationErrors, time};
use ordo_store::{Database, Transaction};
use serde::Serialize;
use std::sync::Arc;
use uuid::Uuid;

use crate::invoices::{Credit, issue_credit_note};
use crate::{ServiceError, ServiceResult};

/// What a refund gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAsk {
    /// An amount in minor units, tax included.
    Amount(i64),
    /// Units of order lines (`(line, quantity)`), at what they were
    /// invoiced (see [`credit_note`]'s rounding rule), and the shipping
    /// charge if `shipping`.
    Lines { units: Vec<(i32, i64)>, shipping: bool },
}

pub mod jobs;
pub mod provider;
pub mod stripe;

pub use jobs::{AuthorizePayment, CapturePayment, MakeCapture, RefundCancelledOrder, RefundPayment};
pub use provider::{
    AuthorizeRequest, CaptureRequest, NoProvider, PaymentError, PaymentOutcome, PaymentProvider, PaymentToken,
    TestProvider,
};

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
        // An unsigned request is refused as such, configured or not.
        let Some(signature) = signature else {
            return Err(ServiceError::InvalidSignature("the Stripe-Signature header is missing".to_owned()));
        };
        let Some(secret) = &self.stripe_webhook_secret else {
            return Err(ServiceError::NotFound {
                entity: "webhook endpoint",
                id: "stripe (payments.stripe_webhook_secret is not set)".to_owned(),
            });
        };
        stripe::verify_signature(secret, signature, body, time::now().timestamp())
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
                if event_type == "payment_intent.canceled"
                    && let Some(intent) = intent
                {
                    stripe_cancelled_intent(tx.as_mut(), &actor, order, intent, event_id).await?;
                }
            }
        }
        tx.commit().await?;
        let outcome = if recorded { "recorded" } else { "duplicate" };
        metrics::counter!("ordo_provider_events_total", "provider" => "stripe", "outcome" => outcome).increment(1);
        Ok(EventReceipt { duplicate: !recorded, order_id: received.order_id })
    }

    /// The configured provider's name, recorded with each payment.
    pub fn provider_name(&self) -> &str {
        &self.provider_name
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
        announce(tx.as_mut(), &Actor::system("payments"), Some(record), &settled).await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(())
    }

    /// Refunds part of an order's captured money, by amount or by lines:
    /// checks, under the order's payment lock, that it never takes the
    /// refunds past the capture (nor a line's credits past its quantity),
    /// records the refund pending with its audit entry and event, issues
    /// the credit note that corrects the invoice by as much, and enqueues
    /// [`RefundPayment`], which calls the provider.
    pub async fn refund(&self, actor: &Actor, order_id: OrderId, ask: RefundAsk) -> ServiceResult<Payment> {
        let mut tx = self.db.begin().await?;
        let Some(order) = tx.order(order_id).await? else {
            return Err(ServiceError::NotFound { entity: "order", id: order_id.to_string() });
        };
        tx.lock_order_payments(order_id).await?;
        let totals = tx.payment_totals(order_id).await?;
        let (amount, credit) = match ask {
            RefundAsk::Amount(amount) => (amount, Credit::Amount(amount)),
            RefundAsk::Lines { units, shipping } => {
                let mut errors = ValidationErrors::new();
                if units.is_empty() && !shipping {
                    errors.add("lines", "required", "a refund by lines names at least one line or the shipping");
                }
                for (i, (_, quantity)) in units.iter().enumerate() {
                    if *quantity <= 0 {
                        errors.add(format!("lines[{i}].quantity"), "not_positive", "at least 1");
                    }
                }
                if !errors.is_empty() {
                    return Err(ServiceError::Validation(errors));
                }
                let notes = tx.order_credit_notes(*order_id.as_uuid()).await?;
                let mut lines = credit_note::credit_lines(&order, &credit_note::credited_units(&notes), &units)?;
                if shipping {
                    lines.push(credit_note::shipping_line(&order, &notes)?);
                }
                (lines.iter().map(|l| l.total).sum(), Credit::Lines(lines))
            }
        };
        ordo_domain::payment::check_refund(totals, amount).map_err(|e| match e {
            RefundError::NotPositive => ServiceError::Validation(ValidationErrors::single(
                "amount",
                "not_positive",
                "a refund is a positive amount in minor units",
            )),
            e => ServiceError::Refund(e),
        })?;
        let refund = record_refund(tx.as_mut(), actor, &order, amount, &self.provider_name).await?;
        issue_credit_note(tx.as_mut(), actor, &order, CreditReason::Refund, Some(refund.id), None, credit).await?;
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
/// order's payment lock, and credits every unit of the invoice not credited
/// yet: nothing if nothing is captured or all is refunded.
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
    let actor = Actor::system("payments");
    let refund = if rest > 0 { Some(record_refund(tx, &actor, &order, rest, provider_name).await?) } else { None };
    // The invoice is credited whether or not money goes back through the
    // provider (an authorisation voided, money received offline).
    let notes = tx.order_credit_notes(*order_id.as_uuid()).await?;
    let credited = credit_note::credited_units(&notes);
    let every_unit: Vec<(i32, i64)> = order.lines.iter().map(|l| (l.line, l.quantity)).collect();
    let uncredited = credit_note::creditable_units(&order, &credited, &every_unit);
    let mut lines = credit_note::credit_lines(&order, &credited, &uncredited)?;
    lines.extend(credit_note::shipping_line(&order, &notes).ok());
    if !lines.is_empty() {
        let refund_id = refund.as_ref().map(|r| r.id);
        issue_credit_note(tx, &actor, &order, CreditReason::Cancellation, refund_id, None, Credit::Lines(lines))
            .await?;
    }
    Ok(refund)
}

/// Stripe cancelled a payment intent (an authorisation it let lapse, or one
/// cancelled in Stripe's dashboard): what of it was not captured is voided,
/// recorded as a `void` (key `stripe:<event id>`) with its audit entry,
/// `payment.voided` and `voided` on the timeline, so that nothing tries to
/// capture it any more. Nothing when it was voided already or is captured.
async fn stripe_cancelled_intent(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &ordo_domain::order::Order,
    intent: &str,
    event_id: &str,
) -> ServiceResult<()> {
    tx.lock_order_payments(order.id).await?;
    let totals = tx.payment_totals(order.id).await?;
    let Some(authorization) = authorization_of(tx, order.id).await? else { return Ok(()) };
    if authorization.provider_reference.as_deref() != Some(intent) || totals.uncaptured() == 0 {
        return Ok(());
    }
    let now = time::now();
    let void = Payment {
        id: Uuid::now_v7(),
        kind: PaymentKind::Void,
        amount: totals.uncaptured(),
        status: PaymentStatus::Succeeded,
        idempotency_key: format!("stripe:{event_id}"),
        failure_reason: None,
        created_at: now,
        updated_at: now,
        ..authorization
    };
    if tx.insert_payment(&void).await? {
        announce(tx, actor, None, &void).await?;
    }
    Ok(())
}

/// Records money received outside Ordo for `order` (a bank transfer with
/// its `reference`), in the transaction that marks the order paid: a
/// succeeded capture of the order's total by [`OFFLINE_PROVIDER`] (key
/// `order:<id>:offline`, so an order is paid offline once), with its audit
/// entry, `payment.captured` and `captured` on the timeline. Refused while
/// a provider's authorisation of the order is pending or succeeded.
pub(crate) async fn record_offline(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &ordo_domain::order::Order,
    reference: &str,
) -> ServiceResult<Payment> {
    tx.lock_order_payments(order.id).await?;
    let provider_started = tx
        .order_payments(order.id)
        .await?
        .iter()
        .any(|p| p.kind == PaymentKind::Authorization && p.status != PaymentStatus::Failed);
    if provider_started {
        return Err(ServiceError::IllegalTransition {
            current: "being paid through the provider",
            action: "pay offline",
        });
    }
    let now = time::now();
    let payment = Payment {
        id: Uuid::now_v7(),
        order_id: order.id,
        kind: PaymentKind::Capture,
        provider: OFFLINE_PROVIDER.to_owned(),
        provider_reference: Some(reference.to_owned()),
        amount: order.total,
        currency: order.currency,
        status: PaymentStatus::Succeeded,
        idempotency_key: format!("order:{}:offline", order.id),
        failure_reason: None,
        created_at: now,
        updated_at: now,
    };
    if !tx.insert_payment(&payment).await? {
        return Err(ServiceError::IllegalTransition { current: "paid offline already", action: "pay offline" });
    }
    announce(tx, actor, None, &payment).await?;
    metrics::counter!("ordo_offline_payments_total").increment(1);
    Ok(payment)
}

/// Writes what a settled record means: its audit entry, its domain event
/// (`payment.captured`, `refund.failed`, ...) and, for the steps an order's
/// reader cares about, its place on the order's timeline.
async fn announce(
    tx: &mut dyn Transaction,
    actor: &Actor,
    before: Option<&Payment>,
    settled: &Payment,
) -> ServiceResult<()> {
    let event = match (settled.kind, settled.status) {
        (PaymentKind::Authorization, PaymentStatus::Succeeded) => "payment.authorized",
        (PaymentKind::Authorization, _) => "payment.failed",
        (PaymentKind::Capture, PaymentStatus::Succeeded) => "payment.captured",
        (PaymentKind::Capture, _) => "payment.capture_failed",
        (PaymentKind::Void, _) => "payment.voided",
        (PaymentKind::Refund, PaymentStatus::Succeeded) => "refund.succeeded",
        (PaymentKind::Refund, _) => "refund.failed",
    };
    let timeline = match (settled.kind, settled.status) {
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
        on_timeline(tx, &order, kind, actor, settled).await?;
        // Captures and refunds made post to the ledger, in this transaction.
        crate::ledger::post(tx, ordo_domain::ledger::for_payment(settled, &order.market, OFFLINE_PROVIDER)).await?;
    }
    let before = before.map(crate::audit::snapshot);
    crate::audit::record(tx, actor, event, "payment", settled.id, before, settled).await?;
    crate::webhooks::record(tx, event, *settled.order_id.as_uuid(), crate::audit::snapshot(settled)).await?;
    Ok(())
}

/// Whether the order was cancelled (and may be in the compensation's
/// `refund_pending` or `refunded` since).
fn is_cancelled(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Cancelled | OrderStatus::RefundPending | OrderStatus::Refunded)
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
pub(crate) async fn record_refund(
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
