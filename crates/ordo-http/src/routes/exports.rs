//! `/v1/exports`: orders, customers and products exported in the background
//! into a CSV, JSON Lines or XLSX file on object storage, with their progress,
//! cancellation and a download link. They run as reports do.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use ordo_domain::page::Page;
use ordo_domain::report::Report;
use ordo_service::Services;
use ordo_service::files::Link;
use ordo_service::reports::CURSOR_SCOPE;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, ExportsRun};
use crate::error::ApiResult;
use crate::error::codes::{NOT_FOUND, REPORT_FINISHED, REPORT_NOT_READY, SERVICE_UNAVAILABLE, VALIDATION_FAILED};
use crate::extract::{Json, Query};
use crate::routes::files::origin;
use crate::routes::reports::{ReportRequest, ReportRequestBody};
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_export, list_exports))
        .routes(routes!(get_export))
        .routes(routes!(cancel_export))
        .routes(routes!(export_link))
}

/// Export records over whole UTC days (`from` to `to`, both included, at
/// most 3,660 days):
///
/// - `orders`: the orders placed in the period (of one `market` or all),
///   with their lines: in CSV one row per line, the order's columns
///   repeated; in JSON Lines one order per line, as `GET /v1/orders/{id}`
///   shows it;
/// - `customers`: the live customers created or changed in the period,
///   with their addresses (JSON in one CSV column);
/// - `products`: the live products created or changed in the period, with
///   their prices (JSON in one CSV column).
///
/// `format` is `csv` (RFC 4180), `jsonl` or `xlsx` (the CSV's columns on
/// a worksheet, a further one per 1,048,575 rows). It is written in the
/// background (202; follow `progress`, cancel with `/cancel`), unless an
/// export with the same parameters over unchanged data succeeded before:
/// then it is served that export's file at once (201, `cached: true`).
/// Audited as `export.requested`.
#[utoipa::path(
    post,
    path = "/v1/exports",
    tag = "exports",
    request_body = ReportRequestBody,
    security(("api_key" = ["exports:run"])),
    responses(
        (status = 202, description = "Compiling in the background", body = Report, headers(("Location" = String))),
        (status = 201, description = "Served from an earlier export over unchanged data", body = Report, headers(("Location" = String))),
    ),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn create_export(
    auth: Authorized<ExportsRun>,
    State(services): State<Services>,
    Json(ReportRequest(params)): Json<ReportRequest>,
) -> ApiResult<Response> {
    let report = services.reports.create_export(&auth.actor(), params).await?;
    let status = if report.cached { StatusCode::CREATED } else { StatusCode::ACCEPTED };
    Ok(crate::routes::located_response(status, &format!("/v1/exports/{}", report.id), report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListExports {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
}

/// Exports, newest first.
#[utoipa::path(
    get,
    path = "/v1/exports",
    tag = "exports",
    params(ListExports),
    security(("api_key" = ["exports:run"])),
    responses((status = 200, description = "A page of exports", body = Page<Report>)),
)]
async fn list_exports(
    _auth: Authorized<ExportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListExports>,
) -> ApiResult<axum::Json<Page<Report>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.reports.list(true, &page).await?))
}

/// An export: its progress while running; its rows, size and SHA-256
/// once succeeded.
#[utoipa::path(
    get,
    path = "/v1/exports/{id}",
    tag = "exports",
    params(("id" = Uuid, Path, description = "The export's id")),
    security(("api_key" = ["exports:run"])),
    responses((status = 200, description = "The export", body = Report)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_export(
    _auth: Authorized<ExportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Report>> {
    Ok(axum::Json(services.reports.find(true, parse_id::<Uuid>(&id)?).await?))
}

/// Cancel a running export: it stops at its next page and stores no
/// file. Audited as `export.cancelled`.
#[utoipa::path(
    post,
    path = "/v1/exports/{id}/cancel",
    tag = "exports",
    params(("id" = Uuid, Path, description = "The export's id")),
    security(("api_key" = ["exports:run"])),
    responses((status = 200, description = "The cancelled export", body = Report)),
    extensions(("x-errors" = json!([NOT_FOUND, REPORT_FINISHED]))),
)]
async fn cancel_export(
    auth: Authorized<ExportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Report>> {
    Ok(axum::Json(services.reports.cancel(&auth.actor(), true, parse_id::<Uuid>(&id)?).await?))
}

/// A short-lived download link to a succeeded export's file (see
/// `/v1/invoices/{id}/link` for how links work).
#[utoipa::path(
    get,
    path = "/v1/exports/{id}/link",
    tag = "exports",
    params(("id" = Uuid, Path, description = "The export's id")),
    security(("api_key" = ["exports:run"])),
    responses((status = 200, description = "The link", body = Link)),
    extensions(("x-errors" = json!([NOT_FOUND, REPORT_NOT_READY, SERVICE_UNAVAILABLE]))),
)]
async fn export_link(
    _auth: Authorized<ExportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Link>> {
    Ok(axum::Json(services.reports.link(true, parse_id::<Uuid>(&id)?, &origin(&headers)).await?))
}
