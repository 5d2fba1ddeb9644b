//! The jobs that call the payment provider, each outside any database
//! transaction and with the idempotency key of the record it settles.

use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::OrderId;
use ordo_domain::audit::Actor;
use ordo_domain::order::OrderStatus;
use ordo_domain::payment::{Payment, PaymentKind, PaymentStatus};
use ordo_jobs::{Job, JobError, JobRun};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AuthorizeRequest, CaptureRequest, PaymentError, PaymentOutcome, PaymentToken, is_cancelled};
use crate::error::job_error;
use crate::{ServiceError, Services};

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
                // order was cancelled or expired, or paid offline, while the
                // provider was asked; then the authorisation is released.
                let now = services.orders.order(order.id).await.map_err(job_error)?;
                let paid_offline = services.payments.totals(order.id).await.map_err(job_error)?.offline > 0;
                match outcome {
                    PaymentOutcome::Authorized { reference }
                        if is_cancelled(now.status) || now.status == OrderStatus::Expired || paid_offline =>
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
