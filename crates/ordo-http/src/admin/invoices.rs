//! Invoices and credit notes: the registers, newest first, each document
//! opening as the PDF it was issued as.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use ordo_service::Services;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, money, shell, when};
use super::{AdminResult, Staff};
use crate::auth::InvoicesRead;
use crate::routes::{files, parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/invoices", get(invoices))
        .route("/admin/credit-notes", get(credit_notes))
        .route("/admin/invoices/{id}/pdf", get(invoice_pdf))
        .route("/admin/credit-notes/{id}/pdf", get(credit_note_pdf))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

/// Links between the two registers.
fn tabs(current: &str) -> Markup {
    html! {
        p.tabs {
            @for (href, label) in [("/admin/invoices", "Invoices"), ("/admin/credit-notes", "Credit notes")] {
                a href=(href) aria-current=[(href == current).then_some("page")] { (label) } " "
            }
        }
    }
}

async fn invoices(
    Staff { staff, .. }: Staff<InvoicesRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let page_request = parse_page(ordo_service::invoices::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let invoices = services.invoices.list(None, &page_request).await?;
    let content = html! {
        h1 { "Invoices" }
        (tabs("/admin/invoices"))
        @if invoices.items.is_empty() { p { "No invoices yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Number" } th { "Issued" } th { "Customer" } th { "Order" } th.num { "Tax" } th.num { "Total" } th { "File" } } }
                tbody { @for i in &invoices.items { tr {
                    td { (i.number) } td { (when(i.issued_at)) } td { (i.customer_name) br; small { (i.customer_email) } }
                    td { a href={ "/admin/orders/" (i.order_id) } { (i.order_id) } }
                    td.num { (money(i.tax, i.currency)) } td.num { (money(i.total, i.currency)) }
                    td { a href={ "/admin/invoices/" (i.id) "/pdf" } { "PDF" } }
                } } }
            } }
        }
        (page::next_page("/admin/invoices", &[], invoices.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/invoices", "Invoices", &content).into_response())
}

async fn credit_notes(
    Staff { staff, .. }: Staff<InvoicesRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let page_request =
        parse_page(ordo_service::invoices::CREDIT_NOTES_CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let notes = services.invoices.list_credit_notes(None, &page_request).await?;
    let content = html! {
        h1 { "Credit notes" }
        (tabs("/admin/credit-notes"))
        @if notes.items.is_empty() { p { "No credit notes yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Number" } th { "Issued" } th { "Why" } th { "Corrects" } th { "Order" } th.num { "Total" } th { "File" } } }
                tbody { @for n in &notes.items { tr {
                    td { (n.number) } td { (when(n.issued_at)) } td { (n.reason.as_str()) }
                    td { a href={ "/admin/invoices/" (n.invoice_id) "/pdf" } { (n.invoice_number) } }
                    td { a href={ "/admin/orders/" (n.order_id) } { (n.order_id) } }
                    td.num { "−" (money(n.total, n.currency)) }
                    td { a href={ "/admin/credit-notes/" (n.id) "/pdf" } { "PDF" } }
                } } }
            } }
        }
        (page::next_page("/admin/credit-notes", &[], notes.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/invoices", "Credit notes", &content).into_response())
}

/// Sends the browser to an invoice's PDF by a short-lived signed link.
async fn invoice_pdf(
    _staff: Staff<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let link = services.invoices.pdf_link(id, &files::origin(&headers)).await?;
    Ok(Redirect::to(&link.url).into_response())
}

/// Sends the browser to a credit note's PDF by a short-lived signed link.
async fn credit_note_pdf(
    _staff: Staff<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let link = services.invoices.credit_note_pdf_link(id, &files::origin(&headers)).await?;
    Ok(Redirect::to(&link.url).into_response())
}
