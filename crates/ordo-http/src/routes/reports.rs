//! `/v1/reports`: reports compiled in the background into a file on object
//! storage, with their progress, cancellation and a download link.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ordo_domain::page::Page;
use ordo_domain::report::{Report, ReportParams};
use ordo_service::Services;
use ordo_service::files::Link;
use ordo_service::reports::CURSOR_SCOPE;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, ReportsRun};
use crate::error::ApiResult;
use crate::error::codes::{NOT_FOUND, REPORT_FINISHED, REPORT_NOT_READY, SERVICE_UNAVAILABLE, VALIDATION_FAILED};
use crate::extract::{Json, Query};
use crate::routes::files::origin;
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_report, list_reports))
        .routes(routes!(get_report))
        .routes(routes!(cancel_report))
        .routes(routes!(report_link))
}

/// Ask for a report over whole UTC days (`from` to `to`, both included,
/// at most 3,660 days), of one market or all:
///
/// - `sales`: by day × market × SKU, the paid orders placed that day
///   (orders, quantity, net, tax, gross);
/// - `tax`: output tax by market × currency × rate, from the invoices and
///   (negative) credit notes issued in the period, as a VAT return asks;
/// - `documents`: the invoice and credit-note register;
/// - `payments`: every capture and refund made in the period;
/// - `aging`: receivables aging as of the end of `to`: every order that
///   still owes money by the ledger, by how long its invoice has been open;
/// - `stock`: stock on hand and movements per SKU × location: on hand at
///   the start of `from` (`opening`) and the end of `to` (`closing`), and
///   the units `added`, `shipped` and `removed` otherwise in between.
///
/// The file is CSV (RFC 4180, amounts in major units), or with
/// `format: xlsx` an Excel workbook of the same columns (amounts and counts
/// as numbers; a further worksheet per 1,048,575 rows). It is compiled in
/// the background (202; follow `progress`, cancel with `/cancel`), unless
/// a report with the same parameters over unchanged data succeeded before:
/// then it is served that report's file at once (201, `cached: true`).
/// Audited as `report.requested`.
#[utoipa::path(
    post,
    path = "/v1/reports",
    tag = "reports",
    request_body = ReportRequestBody,
    security(("api_key" = ["reports:run"])),
    responses(
        (status = 202, description = "Compiling in the background", body = Report, headers(("Location" = String))),
        (status = 201, description = "Served from an earlier report over unchanged data", body = Report, headers(("Location" = String))),
    ),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn create_report(
    auth: Authorized<ReportsRun>,
    State(services): State<Services>,
    Json(ReportRequest(params)): Json<ReportRequest>,
) -> ApiResult<Response> {
    let report = services.reports.create(&auth.actor(), params).await?;
    let status = if report.cached { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok(crate::routes::located_response(status, &format!("/v1/reports/{}", report.id), report))
}

/// A report's or an export's parameters as a request body: unknown fields
/// are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportRequestBody {
    kind: ordo_domain::report::ReportKind,
    /// The first day (UTC), inclusive.
    #[schema(value_type = String, format = Date, example = "2026-11-01")]
    from: chrono::NaiveDate,
    /// The last day (UTC), inclusive.
    #[schema(value_type = String, format = Date, example = "2026-11-30")]
    to: chrono::NaiveDate,
    /// Only this market; all markets if absent.
    #[schema(example = "DE")]
    market: Option<String>,
    /// `csv` (the default) or `xlsx`; `jsonl` is for exports.
    #[serde(default)]
    format: ordo_domain::report::ReportFormat,
}

/// [`ReportRequestBody`] as the parameters it asks for.
#[derive(Debug, Deserialize)]
#[serde(from = "ReportRequestBody")]
pub(crate) struct ReportRequest(pub(crate) ReportParams);

impl From<ReportRequestBody> for ReportRequest {
    fn from(b: ReportRequestBody) -> Self {
        Self(ReportParams { kind: b.kind, from: b.from, to: b.to, market: b.market, format: b.format })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListReports {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
}

/// Reports, newest first.
#[utoipa::path(
    get,
    path = "/v1/reports",
    tag = "reports",
    params(ListReports),
    security(("api_key" = ["reports:run"])),
    responses((status = 200, description = "A page of reports", body = Page<Report>)),
)]
async fn list_reports(
    _auth: Authorized<ReportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListReports>,
) -> ApiResult<axum::Json<Page<Report>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.reports.list(false, &page).await?))
}

/// A report: its progress while running; its rows, size and SHA-256 once
/// succeeded.
#[utoipa::path(
    get,
    path = "/v1/reports/{id}",
    tag = "reports",
    params(("id" = Uuid, Path, description = "The report's id")),
    security(("api_key" = ["reports:run"])),
    responses((status = 200, description = "The report", body = Report)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_report(
    _auth: Authorized<ReportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Report>> {
    Ok(axum::Json(services.reports.find(false, parse_id::<Uuid>(&id)?).await?))
}

/// Cancel a running report: it stops at its next slice and stores no
/// file. Audited as `report.cancelled`.
#[utoipa::path(
    post,
    path = "/v1/reports/{id}/cancel",
    tag = "reports",
    params(("id" = Uuid, Path, description = "The report's id")),
    security(("api_key" = ["reports:run"])),
    responses((status = 200, description = "The cancelled report", body = Report)),
    extensions(("x-errors" = json!([NOT_FOUND, REPORT_FINISHED]))),
)]
async fn cancel_report(
    auth: Authorized<ReportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Report>> {
    Ok(axum::Json(services.reports.cancel(&auth.actor(), false, parse_id::<Uuid>(&id)?).await?))
}

/// A short-lived download link to a succeeded report's file (see
/// `/v1/invoices/{id}/link` for how links work).
#[utoipa::path(
    get,
    path = "/v1/reports/{id}/link",
    tag = "reports",
    params(("id" = Uuid, Path, description = "The report's id")),
    security(("api_key" = ["reports:run"])),
    responses((status = 200, description = "The link", body = Link)),
    extensions(("x-errors" = json!([NOT_FOUND, REPORT_NOT_READY, SERVICE_UNAVAILABLE]))),
)]
async fn report_link(
    _auth: Authorized<ReportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Link>> {
    Ok(axum::Json(services.reports.link(false, parse_id::<Uuid>(&id)?, &origin(&headers)).await?))
}
