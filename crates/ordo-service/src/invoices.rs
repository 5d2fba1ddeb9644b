//! Invoices: issued (once) for a paid order, numbered without gaps per
//! market and year, rendered to HTML and stored. The [`IssueInvoice`] job,
//! enqueued with the payment, issues them. Credit notes, which correct an
//! invoice downwards, are issued by refunds, returns and cancellations
//! ([`issue_credit_note`], in their transactions), in their own sequence.
//! Both are rendered to HTML and to PDF ([`pdf`]) when issued.

use std::sync::Arc;

use async_trait::async_trait;
use maud::{DOCTYPE, Markup, html};
use ordo_domain::audit::Actor;
use ordo_domain::credit_note::{self, CreditNote, CreditNoteLine, CreditReason};
use ordo_domain::customer::Address;
use ordo_domain::invoice::{self, Invoice, TaxLine, format_amount};
use ordo_domain::market::Seller;
use ordo_domain::order::Order;
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{OrderId, time};
use ordo_jobs::{Job, JobError, JobRun};
use ordo_store::{Database, Transaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Services;
use crate::files::{Files, Link};

pub mod pdf;
use crate::error::job_error;
use crate::{ServiceError, ServiceResult, audit};

/// Where an invoice's PDF is kept on object storage.
fn invoice_key(id: Uuid) -> String {
    format!("invoices/{id}.pdf")
}

/// Names the invoices list in its cursors.
pub const CURSOR_SCOPE: &str = "invoices";
/// Names the credit notes list in its cursors.
pub const CREDIT_NOTES_CURSOR_SCOPE: &str = "credit_notes";
const ENTITY: &str = "invoice";
const CREDIT_NOTE: &str = "credit_note";

#[derive(Debug, Clone)]
pub struct InvoiceService {
    db: Arc<dyn Database>,
    files: Files,
}

impl InvoiceService {
    pub fn new(db: Arc<dyn Database>, files: Files) -> Self {
        Self { db, files }
    }

    /// Issues the order's invoice unless it has one, then stores its PDF on
    /// object storage: idempotent, so the job that calls it may run more
    /// than once (a PDF not stored is stored by the retry).
    pub async fn issue_for_order(&self, actor: &Actor, order_id: OrderId) -> ServiceResult<Invoice> {
        let mut tx = self.db.begin().await?;
        let invoice = issue_in(tx.as_mut(), actor, order_id).await?;
        tx.commit().await?;
        let pdf = self.pdf(invoice.id).await?;
        self.files.put(&invoice_key(invoice.id), pdf.into()).await?;
        Ok(invoice)
    }

    /// A short-lived download link to the invoice's PDF on object storage
    /// (stored now if it is not there yet: an invoice issued before files
    /// were). `origin` is where a local link points if no public URL is set.
    pub async fn pdf_link(&self, id: Uuid, origin: &str) -> ServiceResult<Link> {
        self.stored_link(&invoice_key(id), origin, || self.pdf(id)).await
    }

    /// A short-lived download link to the credit note's PDF, stored on
    /// object storage the first time one is asked for.
    pub async fn credit_note_pdf_link(&self, id: Uuid, origin: &str) -> ServiceResult<Link> {
        self.stored_link(&format!("credit-notes/{id}.pdf"), origin, || self.credit_note_pdf(id)).await
    }

    /// A link to the document at `key`, stored first from `render` if it
    /// is not on the file store yet.
    async fn stored_link<F>(&self, key: &str, origin: &str, render: impl FnOnce() -> F) -> ServiceResult<Link>
    where
        F: std::future::Future<Output = ServiceResult<Vec<u8>>>,
    {
        if !self.files.exists(key).await? {
            self.files.put(key, render().await?.into()).await?;
        }
        Ok(self.files.link(key, origin, time::now()).await?)
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

    /// The invoice as PDF, as rendered when it was issued (rendered now, in
    /// its market's locale, for an invoice issued before PDFs were).
    pub async fn pdf(&self, id: Uuid) -> ServiceResult<Vec<u8>> {
        let mut session = self.db.session().await?;
        if let Some(pdf) = session.invoice_pdf(id).await? {
            return Ok(pdf);
        }
        let invoice = session.invoice(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        let locale = session.market(&invoice.market).await?.map_or_else(|| "en".to_owned(), |m| m.locale);
        Ok(pdf::invoice(&invoice, &locale))
    }

    /// The credit note as PDF, as [`Self::pdf`] gives an invoice's.
    pub async fn credit_note_pdf(&self, id: Uuid) -> ServiceResult<Vec<u8>> {
        let mut session = self.db.session().await?;
        if let Some(pdf) = session.credit_note_pdf(id).await? {
            return Ok(pdf);
        }
        let note = session.credit_note(id).await?.ok_or_else(|| ServiceError::not_found(CREDIT_NOTE, id))?;
        let locale = session.market(&note.market).await?.map_or_else(|| "en".to_owned(), |m| m.locale);
        Ok(pdf::credit_note(&note, &locale))
    }

    pub async fn list(&self, order_id: Option<Uuid>, page: &PageRequest) -> ServiceResult<Page<Invoice>> {
        let mut session = self.db.session().await?;
        let rows = session.list_invoices(order_id, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |i| i.id))
    }

    pub async fn credit_note(&self, id: Uuid) -> ServiceResult<CreditNote> {
        let mut session = self.db.session().await?;
        session.credit_note(id).await?.ok_or_else(|| ServiceError::not_found(CREDIT_NOTE, id))
    }

    /// The credit note as rendered when it was issued.
    pub async fn credit_note_html(&self, id: Uuid) -> ServiceResult<String> {
        let mut session = self.db.session().await?;
        session.credit_note_html(id).await?.ok_or_else(|| ServiceError::not_found(CREDIT_NOTE, id))
    }

    pub async fn list_credit_notes(
        &self,
        order_id: Option<Uuid>,
        page: &PageRequest,
    ) -> ServiceResult<Page<CreditNote>> {
        let mut session = self.db.session().await?;
        let rows = session.list_credit_notes(order_id, page).await?;
        Ok(Page::from_rows(CREDIT_NOTES_CURSOR_SCOPE, page, rows, |n| n.id))
    }
}

/// Issues the order's invoice in `tx` unless it has one (then returns that
/// one). Takes the order's money lock first, so that the invoice job and a
/// refund that needs the invoice never both issue one.
pub(crate) async fn issue_in(tx: &mut dyn Transaction, actor: &Actor, order_id: OrderId) -> ServiceResult<Invoice> {
    tx.lock_order_payments(order_id).await?;
    if let Some(existing) = tx.invoice_for_order(*order_id.as_uuid()).await? {
        return Ok(existing);
    }
    let order = tx.order(order_id).await?.ok_or_else(|| ServiceError::not_found("order", order_id))?;
    let customer =
        tx.customer(order.customer_id).await?.ok_or_else(|| ServiceError::not_found("customer", order.customer_id))?;
    let issued_at = time::now();
    let seq = tx.next_invoice_number(&order.market, invoice::year_of(issued_at)).await?;
    let number = invoice::number(&order.market, invoice::year_of(issued_at), seq);
    let market = tx.market(&order.market).await?;
    let seller = market.as_ref().and_then(|m| m.seller.clone());
    let locale = market.map_or_else(|| "en".to_owned(), |m| m.locale);
    let invoice = Invoice::for_order(&order, number, &customer.name, customer.email.as_str(), seller, issued_at);
    let pdf = pdf::invoice(&invoice, &locale);
    tx.insert_invoice(&invoice, &render_html(&invoice, &locale).into_string(), &pdf).await?;
    crate::ledger::post(tx, ordo_domain::ledger::for_invoice(&invoice)).await?;
    audit::record(tx, actor, "invoice.issued", ENTITY, invoice.id, None, &invoice).await?;
    crate::webhooks::record(tx, "invoice.issued", invoice.order_id, audit::snapshot(&invoice)).await?;
    let email = crate::mail::SendInvoiceEmail { invoice_id: invoice.id };
    ordo_jobs::enqueue(tx, &email, ordo_jobs::EnqueueOptions::default()).await?;
    Ok(invoice)
}

/// What a credit note credits.
#[derive(Debug, Clone)]
pub(crate) enum Credit {
    /// Units of order lines, priced by [`credit_note::credit_lines`], and
    /// the shipping ([`credit_note::shipping_line`]).
    Lines(Vec<CreditNoteLine>),
    /// An amount, tax included, shared over the tax rates
    /// ([`credit_note::amount_lines`]).
    Amount(i64),
}

/// Issues, in `tx` (under the order's money lock, which the caller holds),
/// the credit note correcting the order's invoice by `credit` (issuing the
/// invoice first if the invoice job has not yet), with its audit entry,
/// `credit_note.issued` event and `credit_note_issued` on the timeline.
/// Never credits more than the invoice has left after earlier credit
/// notes: lines worth more than that become one amount line of what is
/// left. `None` when nothing is left to credit.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn issue_credit_note(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &Order,
    reason: CreditReason,
    refund_id: Option<Uuid>,
    return_id: Option<Uuid>,
    credit: Credit,
) -> ServiceResult<Option<CreditNote>> {
    let invoice = issue_in(tx, actor, order.id).await?;
    let notes = tx.order_credit_notes(invoice.order_id).await?;
    let left = invoice.total - notes.iter().map(|n| n.total).sum::<i64>();
    let by_amount = |amount: i64| {
        credit_note::amount_lines(amount.min(left), &credit_note::left_by_rate(&invoice, &notes), order.tax_rate_bp)
    };
    let lines = match credit {
        Credit::Lines(lines) if lines.iter().map(|l| l.total).sum::<i64>() <= left => lines,
        Credit::Lines(lines) => by_amount(lines.iter().map(|l| l.total).sum()),
        Credit::Amount(amount) => by_amount(amount),
    };
    if lines.iter().map(|l| l.total).sum::<i64>() <= 0 {
        return Ok(None);
    }
    let issued_at = time::now();
    let year = credit_note::year_of(issued_at);
    let seq = tx.next_credit_note_number(&order.market, year).await?;
    let number = credit_note::number(&order.market, year, seq);
    let note = CreditNote::new(order, &invoice, number, reason, refund_id, return_id, lines, issued_at);
    let locale = tx.market(&order.market).await?.map_or_else(|| "en".to_owned(), |m| m.locale);
    let pdf = pdf::credit_note(&note, &locale);
    tx.insert_credit_note(&note, &render_credit_note_html(&note, &locale).into_string(), &pdf).await?;
    crate::ledger::post(tx, ordo_domain::ledger::for_credit_note(&note)).await?;
    audit::record(tx, actor, "credit_note.issued", CREDIT_NOTE, note.id, None, &note).await?;
    crate::webhooks::record(tx, "credit_note.issued", *order.id.as_uuid(), audit::snapshot(&note)).await?;
    let step = ordo_domain::order::OrderEvent {
        id: Uuid::now_v7(),
        order_id: order.id,
        occurred_at: issued_at,
        kind: "credit_note_issued".to_owned(),
        from_status: Some(order.status),
        to_status: order.status,
        actor_name: actor.name.clone(),
        detail: Some(serde_json::json!({"credit_note_id": note.id, "number": note.number, "total": note.total})),
    };
    tx.insert_order_event(&step).await?;
    metrics::counter!("ordo_credit_notes_total", "reason" => reason.as_str()).increment(1);
    Ok(Some(note))
}

/// A rate in basis points as a percentage: 1900 → `19 %`, 750 → `7.5 %`.
fn percent(bp: i64) -> String {
    format!("{} %", bp as f64 / 100.0)
}

/// A document's HTML page: its title, and `body` under it.
fn html_page(locale: &str, title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(locale) {
            head {
                meta charset="utf-8";
                title { (title) }
                style { "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%}td,th{padding:.3em;border-bottom:1px solid #ddd;text-align:left}.n{text-align:right}" }
            }
            body { h1 { (title) } (body) }
        }
    }
}

/// A name, its address and its VAT id.
fn address_block(name: &str, a: &Address, vat_id: Option<&str>) -> Markup {
    html! {
        address {
            (name) br;
            @if let Some(recipient) = &a.recipient { (recipient) br; }
            (a.line1) br;
            @if let Some(line2) = &a.line2 { (line2) br; }
            @if let Some(postal_code) = &a.postal_code { (postal_code) " " }
            (a.city) br;
            @if let Some(region) = &a.region { (region) br; }
            (a.country)
            @if let Some(vat_id) = vat_id { br; "VAT ID: " (vat_id) }
        }
    }
}

/// The seller, as the market names it.
fn seller_block(seller: Option<&Seller>) -> Markup {
    html! {
        @if let Some(s) = seller {
            p { "Seller:" }
            (address_block(&s.legal_name, &s.address, s.vat_id.as_deref()))
            p { "Bill to:" }
        }
    }
}

/// The tax breakdown and the totals.
fn totals_block(money: &dyn Fn(i64) -> String, taxes: &[TaxLine], net: i64, tax: i64, total: &Markup) -> Markup {
    html! {
        h2 { "Tax" }
        table {
            @for t in taxes {
                tr { td { (percent(t.rate_bp)) } td.n { (money(t.net)) } td.n { (money(t.tax)) } }
            }
        }
        p.n { "Net " (money(net)) " · Tax " (money(tax)) }
        p.n { strong { (total) } }
    }
}

/// The invoice as a self-contained HTML document (all text escaped).
pub fn render_html(invoice: &Invoice, locale: &str) -> Markup {
    let money = |amount: i64| format!("{} {}", format_amount(amount, invoice.currency), invoice.currency);
    let body = html! {
        p { "Issued " (invoice.issued_at.format("%Y-%m-%d")) " · Order " (invoice.order_id) }
        (seller_block(invoice.seller.as_ref()))
        (address_block(&invoice.customer_name, &invoice.billing_address, invoice.customer_vat_id.as_deref()))
        table {
            thead { tr { th { "SKU" } th { "Item" } th.n { "Qty" } th.n { "Unit price" } th.n { "Net" } th.n { "Rate" } th.n { "Tax" } th.n { "Total" } } }
            tbody {
                @for line in &invoice.lines {
                    tr {
                        td { (line.sku.as_deref().unwrap_or("")) } td { (line.name) } td.n { (line.quantity) }
                        td.n { (money(line.unit_price)) } td.n { (money(line.subtotal)) } td.n { (percent(line.tax_rate_bp)) }
                        td.n { (money(line.tax)) } td.n { (money(line.total)) }
                    }
                }
            }
        }
        (totals_block(&money, &invoice.tax_breakdown, invoice.subtotal, invoice.tax, &html! { "Total " (money(invoice.total)) }))
    };
    html_page(locale, &format!("Invoice {}", invoice.number), &body)
}

/// The credit note as a self-contained HTML document (all text escaped).
pub fn render_credit_note_html(note: &CreditNote, locale: &str) -> Markup {
    let money = |amount: i64| format!("{} {}", format_amount(amount, note.currency), note.currency);
    let body = html! {
        p { "Issued " (note.issued_at.format("%Y-%m-%d")) " · Corrects invoice " (note.invoice_number) " · Order " (note.order_id) }
        (seller_block(note.seller.as_ref()))
        (address_block(&note.customer_name, &note.billing_address, note.customer_vat_id.as_deref()))
        table {
            thead { tr { th { "SKU" } th { "Item" } th.n { "Qty" } th.n { "Net" } th.n { "Rate" } th.n { "Tax" } th.n { "Total" } } }
            tbody {
                @for line in &note.lines {
                    tr {
                        td { (line.sku.as_deref().unwrap_or("")) } td { (line.name) } td.n { (line.quantity) }
                        td.n { (money(line.subtotal)) } td.n { (percent(line.tax_rate_bp)) }
                        td.n { (money(line.tax)) } td.n { (money(line.total)) }
                    }
                }
            }
        }
        (totals_block(&money, &note.tax_breakdown, note.subtotal, note.tax, &html! { "Credited " (money(note.total)) }))
    };
    html_page(locale, &format!("Credit note {}", note.number), &body)
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
