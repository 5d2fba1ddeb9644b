//! The order workflow on the job queue: authorising the payment after
//! placement, and expiring orders left unpaid. Both jobs are idempotent:
//! they act only while the order is still `placed`.

use async_trait::async_trait;
use ordo_domain::OrderId;
use ordo_domain::audit::Actor;
use ordo_domain::order::OrderStatus;
use ordo_jobs::{Job, JobError, JobRun, Registry};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::payments::{AuthorizeRequest, PaymentOutcome, PaymentToken};
use crate::webhooks::Attempt;
use crate::{ServiceError, Services};
use ordo_domain::invoice::format_amount;
use ordo_store::{StoreError, Transaction};

/// How often the periodic jobs run.
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    pub seal_audit: Option<Duration>,
    pub sweep: Option<Duration>,
}

/// Every job Ordo runs, registered in one place.
pub fn registry(periods: Periods) -> Registry<Services> {
    let mut registry = Registry::new()
        .register::<AuthorizePayment>()
        .register::<ExpireUnpaidOrder>()
        .register::<IssueInvoice>()
        .register::<SendOrderConfirmation>()
        .register::<SendInvoiceEmail>()
        .register::<FanOutEvent>()
        .register::<DeliverWebhook>();
    if let Some(every) = periods.seal_audit {
        registry = registry.every::<SealAuditTrail>(every);
    }
    if let Some(every) = periods.sweep {
        registry = registry.every::<SweepExpiredKeys>(every);
    }
    registry
}

/// Issues a paid order's invoice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueInvoice {
    pub order_id: OrderId,
}

#[async_trait]
impl Job for IssueInvoice {
    const NAME: &'static str = "invoice.issue";
    const QUEUE: &'static str = "invoices";
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.order_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        services.invoices.issue_for_order(&Actor::system("invoicing"), self.order_id).await.map_err(service_error)?;
        services.queue.wake(); // the invoice e-mail and the event's fan-out
        Ok(())
    }
}

/// E-mails the customer that their order was placed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendOrderConfirmation {
    pub order_id: OrderId,
}

#[async_trait]
impl Job for SendOrderConfirmation {
    const NAME: &'static str = "mail.order_confirmation";
    const QUEUE: &'static str = "mail";
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let order = services.orders.order(self.order_id).await.map_err(service_error)?;
        let customer = services.customers.customer(order.customer_id).await.map_err(service_error)?;
        let lines: Vec<String> = order
            .lines
            .iter()
            .map(|l| format!("  {} × {} ({})  {}", l.quantity, l.name, l.sku, format_amount(l.total, order.currency)))
            .collect();
        let body = format!(
            "Hello {},\n\nthank you for your order {}.\n\n{}\n\nTotal: {} {} (tax included: {} {})\n",
            customer.name,
            order.id,
            lines.join("\n"),
            format_amount(order.total, order.currency),
            order.currency,
            format_amount(order.tax, order.currency),
            order.currency,
        );
        services
            .mailer
            .send(
                customer.email.as_str(),
                &format!("Your order {}", order.id),
                body,
                &format!("order-confirmation.{}", order.id),
            )
            .await
            .map_err(|e| JobError::retry(e.to_string()))
    }
}

/// E-mails the customer their invoice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendInvoiceEmail {
    pub invoice_id: uuid::Uuid,
}

#[async_trait]
impl Job for SendInvoiceEmail {
    const NAME: &'static str = "mail.invoice_issued";
    const QUEUE: &'static str = "mail";
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let invoice = services.invoices.invoice(self.invoice_id).await.map_err(service_error)?;
        let body = format!(
            "Hello {},\n\nyour invoice {} for order {} is ready.\n\nTotal: {} {}\n",
            invoice.customer_name,
            invoice.number,
            invoice.order_id,
            format_amount(invoice.total, invoice.currency),
            invoice.currency,
        );
        services
            .mailer
            .send(
                &invoice.customer_email,
                &format!("Invoice {}", invoice.number),
                body,
                &format!("invoice.{}", invoice.id),
            )
            .await
            .map_err(|e| JobError::retry(e.to_string()))
    }
}

/// Creates the deliveries of a domain event to the subscribed webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanOutEvent {
    pub event_id: uuid::Uuid,
}

#[async_trait]
impl Job for FanOutEvent {
    const NAME: &'static str = "webhook.fan_out";
    const QUEUE: &'static str = "webhooks";
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.event_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        services.webhooks.fan_out(self.event_id).await.map_err(service_error)?;
        services.queue.wake();
        Ok(())
    }
}

/// POSTs one event to one webhook, signed. Retried over up to about two
/// hours (15 attempts, a backoff from 1 s doubling to at most 30 min, with
/// full jitter: about an hour on average) before the delivery fails for
/// good; waiting for an earlier event of the same order, or for an open
/// circuit, uses up no attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: uuid::Uuid,
}

#[async_trait]
impl Job for DeliverWebhook {
    const NAME: &'static str = "webhook.deliver";
    const QUEUE: &'static str = "webhooks";
    const MAX_ATTEMPTS: i32 = 15;
    const BACKOFF_BASE: Duration = Duration::from_secs(1);
    const BACKOFF_CAP: Duration = Duration::from_secs(1800);
    type Context = Services;

    async fn run(&self, services: &Services, run: &JobRun) -> Result<(), JobError> {
        match services.webhooks.deliver(self.delivery_id, run.attempt >= Self::MAX_ATTEMPTS).await {
            Attempt::Done => Ok(()),
            Attempt::Waiting(reason) => Err(JobError::wait(reason)),
            Attempt::Failed(reason) => Err(JobError::retry(reason)),
        }
    }

    /// The delivery fails with its job, in the same transaction.
    async fn ended(&self, tx: &mut dyn Transaction, reason: &str) -> Result<(), StoreError> {
        tx.fail_delivery(self.delivery_id, reason).await.map(drop)
    }

    /// A dead delivery job retried by hand: its delivery is pending again.
    async fn revived(&self, tx: &mut dyn Transaction) -> Result<(), StoreError> {
        tx.reset_delivery(self.delivery_id).await.map(drop)
    }
}

/// Seals new audit events into the hash chain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SealAuditTrail;

#[async_trait]
impl Job for SealAuditTrail {
    const NAME: &'static str = "audit.seal";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 3;
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let seals = services.audit.seal_all(10_000).await.map_err(service_error)?;
        if !seals.is_empty() {
            tracing::debug!(segments = seals.len(), "sealed audit events");
        }
        Ok(())
    }
}

/// Forgets expired idempotency keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepExpiredKeys;

#[async_trait]
impl Job for SweepExpiredKeys {
    const NAME: &'static str = "idempotency.sweep";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 3;
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        services.idempotency.sweep().await.map_err(service_error)?;
        services.orders.forget_idempotency_keys().await.map_err(service_error)?;
        Ok(())
    }
}

/// Authorises a placed order's payment with the provider.
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
        let order = services.orders.order(self.order_id).await.map_err(service_error)?;
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
            Err(e) => Err(service_error(e)),
        }
    }
}

/// Expires an order still unpaid when its payment window closes, releasing
/// its stock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpireUnpaidOrder {
    pub order_id: OrderId,
}

#[async_trait]
impl Job for ExpireUnpaidOrder {
    const NAME: &'static str = "order.expire_unpaid";
    const QUEUE: &'static str = "orders";
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.order_id.to_string())
    }

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        match services.orders.expire_unpaid(&Actor::system("expiry"), self.order_id).await {
            Ok(_) | Err(ServiceError::IllegalTransition { .. }) => Ok(()),
            Err(e) => Err(service_error(e)),
        }
    }
}

fn service_error(e: ServiceError) -> JobError {
    match e {
        ServiceError::NotFound { .. } => JobError::fatal(e.to_string()),
        e => JobError::retry(e.to_string()),
    }
}
