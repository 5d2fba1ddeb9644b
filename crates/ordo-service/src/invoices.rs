//! Invoices: issued (once) for a paid order, numbered without gaps per
//! market and year, rendered to HTML and stored. The [`IssueInvoice`] job,
//! enqueued with the payment, issues them.

use std::sync::Arc;

use async_trait::async_trait;
use maud::{DOCTYPE, Markup, html};
use ordo_domain::audit::Actor;
use ordo_domain::invoice::{self, Invoice, format_amount};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{OrderId, time};
use ordo_jobs::{Job, JobError, JobRun};
use ordo_store::Database;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Services;
use crate::error::job_error;
use crate::{ServiceError, ServiceResult, audit};

/// Names the invoices list in its cursors.
pub const CURSOR_SCOPE: &str = "invoices";
const ENTITY: &str = "invoice";

#[derive(Debug, Clone)]
pub struct InvoiceService {
    db: Arc<dyn Database>,
}

impl InvoiceService {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
    }

    /// Issues the order's invoice unless it has one: idempotent, so the job
    /// that calls it may run more than once.
    pub async fn issue_for_order(&self, actor: &Actor, order_id: OrderId) -> ServiceResult<Invoice> {
        let mut tx = self.db.begin().await?;
        if let Some(existing) = tx.invoice_for_order(*order_id.as_uuid()).await? {
            return Ok(existing);
        }
        let order = tx.order(order_id).await?.ok_or_else(|| ServiceError::not_found("order", order_id))?;
        let customer = tx
            .customer(order.customer_id)
            .await?
            .ok_or_else(|| ServiceError::not_found("customer", order.customer_id))?;
        let issued_at = time::now();
        let seq = tx.next_invoice_number(&order.market, invoice::year_of(issued_at)).await?;
        let number = invoice::number(&order.market, invoice::year_of(issued_at), seq);
        let invoice = Invoice::for_order(&order, number, &customer.name, customer.email.as_str(), issued_at);
        let locale = tx.market(&order.market).await?.map_or_else(|| "en".to_owned(), |m| m.locale);
        tx.insert_invoice(&invoice, &render_html(&invoice, &locale).into_string()).await?;
        audit::record(tx.as_mut(), actor, "invoice.issued", ENTITY, invoice.id, None, &invoice).await?;
        crate::webhooks::record(tx.as_mut(), "invoice.issued", invoice.order_id, audit::snapshot(&invoice)).await?;
        let email = crate::mail::SendInvoiceEmail { invoice_id: invoice.id };
        ordo_jobs::enqueue(tx.as_mut(), &email, ordo_jobs::EnqueueOptions::default()).await?;
        tx.commit().await?;
        Ok(invoice)
    }

    pub async fn invoice(&self, id: Uuid) -> ServiceResult<Invoice> {
        let mut session = self.db.session().await?;
        session.invoice(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))
    }

    /// The invoice as rendered when it was issued.
    pub async fn html(&self, id: Uuid) -> ServiceResult<String> {
        let mut session = self.db.session().await?;
        session.invoice_html(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))
    }

    pub async fn list(&self, order_id: Option<Uuid>, page: &PageRequest) -> ServiceResult<Page<Invoice>> {
        let mut session = self.db.session().await?;
        let rows = session.list_invoices(order_id, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |i| i.id))
    }
}

/// A rate in basis points as a percentage: 1900 → `19 %`, 750 → `7.5 %`.
fn percent(bp: i64) -> String {
    format!("{} %", bp as f64 / 100.0)
}

/// The invoice as a self-contained HTML document (all text escaped).
pub fn render_html(invoice: &Invoice, locale: &str) -> Markup {
    let money = |amount: i64| format!("{} {}", format_amount(amount, invoice.currency), invoice.currency);
    let a = &invoice.billing_address;
    html! {
        (DOCTYPE)
        html lang=(locale) {
            head {
                meta charset="utf-8";
                title { "Invoice " (invoice.number) }
                style { "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}td,th{padding:.3em;border-bottom:1px solid #ddd;text-align:left}.n{text-align:right}" }
            }
            body {
                h1 { "Invoice " (invoice.number) }
                p { "Issued " (invoice.issued_at.format("%Y-%m-%d")) " · Order " (invoice.order_id) }
                address {
                    (invoice.customer_name) br;
                    @if let Some(recipient) = &a.recipient { (recipient) br; }
                    (a.line1) br;
                    @if let Some(line2) = &a.line2 { (line2) br; }
                    @if let Some(postal_code) = &a.postal_code { (postal_code) " " }
                    (a.city) br;
                    @if let Some(region) = &a.region { (region) br; }
                    (a.country)
                }
                table {
                    thead { tr { th { "SKU" } th { "Item" } th.n { "Qty" } th.n { "Unit price" } th.n { "Net" } th.n { "Tax" } th.n { "Total" } } }
                    tbody {
                        @for line in &invoice.lines {
                            tr {
                                td { (line.sku) } td { (line.name) } td.n { (line.quantity) }
                                td.n { (money(line.unit_price)) } td.n { (money(line.subtotal)) }
                                td.n { (money(line.tax)) } td.n { (money(line.total)) }
                            }
                        }
                    }
                }
                h2 { "Tax" }
                table {
                    @for tax in &invoice.tax_breakdown {
                        tr { td { (percent(tax.rate_bp)) } td.n { (money(tax.net)) } td.n { (money(tax.tax)) } }
                    }
                }
                p.n { "Net " (money(invoice.subtotal)) " · Tax " (money(invoice.tax)) }
                p.n { strong { "Total " (money(invoice.total)) } }
            }
        }
    }
}

/// Issues a paid order's invoice. Enqueued in the transaction that records
/// the payment, so the job exists if and only if the order is paid; issuing
/// is idempotent, so a run again after a crash issues nothing twice.
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
        services.invoices.issue_for_order(&Actor::system("invoicing"), self.order_id).await.map_err(job_error)?;
        services.queue.wake(); // the invoice e-mail and the event's fan-out
        Ok(())
    }
}
