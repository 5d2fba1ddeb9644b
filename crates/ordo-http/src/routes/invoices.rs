//! `/v1/invoices`: invoices issued for paid orders; `/v1/credit-notes`: the
//! credit notes that correct them.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use ordo_domain::credit_note::CreditNote;
use ordo_domain::invoice::Invoice;
use ordo_domain::page::Page;
use ordo_service::Services;
use ordo_service::files::Link;
use ordo_service::invoices::{CREDIT_NOTES_CURSOR_SCOPE, CURSOR_SCOPE};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, InvoicesRead};
use crate::error::ApiResult;
use crate::error::codes::{NOT_FOUND, SERVICE_UNAVAILABLE};
use crate::extract::Query;
use crate::routes::files::origin;
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
        .routes(routes!(invoice_link))
        .routes(routes!(list_credit_notes))
        .routes(routes!(get_credit_note))
        .routes(routes!(credit_note_link))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListInvoices {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only the invoice of this order.
    order_id: Option<Uuid>,
}

/// List invoices, oldest first.
#[utoipa::path(
    get,
    path = "/v1/invoices",
    tag = "invoices",
    params(ListInvoices),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "A page of invoices", body = Page<Invoice>),
    ),
)]
async fn list_invoices(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Query(query): Query<ListInvoices>,
) -> ApiResult<axum::Json<Page<Invoice>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.invoices.list(query.order_id, &page).await?))
}

/// An invoice: JSON; or, as rendered when it was issued, the PDF with
/// `Accept: application/pdf` or the HTML with `Accept: text/html`. The PDF
/// and HTML are in the market's language (English, or German for a `de`
/// locale).
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}",
    tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "The invoice", content((Invoice = "application/json"), (String = "text/html"), (String = "application/pdf"))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_invoice(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: Uuid = parse_id(&id)?;
    match wanted(&headers) {
        Format::Pdf => Ok(pdf_response(services.invoices.pdf(id).await?)),
        Format::Html => Ok(Html(services.invoices.html(id).await?).into_response()),
        Format::Json => Ok(axum::Json(services.invoices.invoice(id).await?).into_response()),
    }
}

/// A short-lived download link to the invoice's PDF on object storage: a
/// URL anyone holding it can fetch, without an API key, until
/// `expires_at` (`files.link_ttl_ms`, 15 minutes by default). On the local
/// file store it points at this server's `/files/...`; on S3 it is S3's
/// presigned URL.
#[utoipa::path(
    get,
    path = "/v1/invoices/{id}/link",
    tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "The link", body = Link),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, SERVICE_UNAVAILABLE]))),
)]
async fn invoice_link(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Link>> {
    let id: Uuid = parse_id(&id)?;
    Ok(axum::Json(services.invoices.pdf_link(id, &origin(&headers)).await?))
}

/// How a document is asked for.
enum Format {
    Json,
    Html,
    Pdf,
}

/// The format the client's `Accept` asks for: JSON unless it names PDF or
/// HTML without naming JSON.
fn wanted(headers: &HeaderMap) -> Format {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.contains("application/json") {
        Format::Json
    } else if accept.contains("application/pdf") {
        Format::Pdf
    } else if accept.contains("text/html") {
        Format::Html
    } else {
        Format::Json
    }
}

fn pdf_response(pdf: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListCreditNotes {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only the credit notes of this order.
    order_id: Option<Uuid>,
}

/// List credit notes, oldest first.
#[utoipa::path(
    get,
    path = "/v1/credit-notes",
    tag = "invoices",
    params(ListCreditNotes),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "A page of credit notes", body = Page<CreditNote>),
    ),
)]
async fn list_credit_notes(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Query(query): Query<ListCreditNotes>,
) -> ApiResult<axum::Json<Page<CreditNote>>> {
    let page = parse_page(CREDIT_NOTES_CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.invoices.list_credit_notes(query.order_id, &page).await?))
}

/// A credit note: JSON; or, as rendered when it was issued, the PDF with
/// `Accept: application/pdf` or the HTML with `Accept: text/html`.
#[utoipa::path(
    get,
    path = "/v1/credit-notes/{id}",
    tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Credit note id")),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "The credit note", content((CreditNote = "application/json"), (String = "text/html"), (String = "application/pdf"))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_credit_note(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: Uuid = parse_id(&id)?;
    match wanted(&headers) {
        Format::Pdf => Ok(pdf_response(services.invoices.credit_note_pdf(id).await?)),
        Format::Html => Ok(Html(services.invoices.credit_note_html(id).await?).into_response()),
        Format::Json => Ok(axum::Json(services.invoices.credit_note(id).await?).into_response()),
    }
}

/// A short-lived download link to the credit note's PDF on object storage,
/// as `GET /v1/invoices/{id}/link` gives an invoice's.
#[utoipa::path(
    get,
    path = "/v1/credit-notes/{id}/link",
    tag = "invoices",
    params(("id" = uuid::Uuid, Path, description = "Credit note id")),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "The link", body = Link),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, SERVICE_UNAVAILABLE]))),
)]
async fn credit_note_link(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Link>> {
    let id: Uuid = parse_id(&id)?;
    Ok(axum::Json(services.invoices.credit_note_pdf_link(id, &origin(&headers)).await?))
}
