//! E-mail to customers: through SMTP when `mail.smtp_url` is set, otherwise
//! written as `.eml` files into a folder (by default `ordo-data/mail/`), so
//! a newcomer can open what Ordo would have sent.
//!
//! Sending is at least once (a job may run again after a crash); every
//! message has a Message-ID derived from what it is about, so a receiving
//! system can drop duplicates.
//!
//! The jobs that send: [`SendOrderConfirmation`] and [`SendInvoiceEmail`].

use std::path::PathBuf;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ordo_domain::OrderId;
use ordo_domain::invoice::format_amount;
use ordo_jobs::{Job, JobError, JobRun};
use serde::{Deserialize, Serialize};

use crate::Services;
use crate::error::job_error;

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailSettings {
    Smtp { url: String, from: String },
    Files { dir: PathBuf, from: String },
}

/// Sends e-mail.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Files(_, dir) => format!("files in {}", dir.display()),
        };
        f.debug_struct("Mailer").field("transport", &kind).field("from", &self.from.to_string()).finish()
    }
}

/// Why mail could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(String);

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let (transport, from) = match settings {
            MailSettings::Smtp { url, from } => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|_| MailError("invalid mail.smtp_url".into()))?
                    .build();
                (Transport::Smtp(transport), from)
            }
            MailSettings::Files { dir, from } => {
                (Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(dir), dir.clone()), from)
            }
        };
        let from = from.parse().map_err(|e| MailError(format!("invalid mail.from: {e}")))?;
        Ok(Self { transport, from })
    }

    /// Sends a plain-text message to `to`, with a Message-ID built from `key`.
    pub async fn send(&self, to: &str, subject: &str, body: String, key: &str) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|e| MailError(format!("invalid recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{key}@ordo>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError(format!("cannot build the message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| MailError(format!("SMTP: {e}"))),
            Transport::Files(files, dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| MailError(format!("{}: {e}", dir.display())))?;
                files.send(message).await.map(|_| ()).map_err(|e| MailError(format!("writing the message: {e}")))
            }
        }
    }
}

/// E-mails the customer that their order was placed. Enqueued with the
/// order; the message's ID is derived from the order, so a receiving system
/// can drop the duplicate a run again after a crash may send.
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
        let order = services.orders.order(self.order_id).await.map_err(job_error)?;
        let customer = services.customers.customer(order.customer_id).await.map_err(job_error)?;
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

/// E-mails the customer their invoice. Enqueued with the invoice; the
/// message's ID is derived from the invoice.
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
        let invoice = services.invoices.invoice(self.invoice_id).await.map_err(job_error)?;
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
