//! `/v1/ledger/settlements`: provider settlement reports imported and
//! reconciled against Ordo's payments, with their items as JSON or CSV.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use ordo_domain::page::Page;
use ordo_domain::settlement::{Format, ItemStatus, SettlementItem, SettlementRun};
use ordo_service::Services;
use ordo_service::settlements::{ITEMS_CURSOR_SCOPE, RUNS_CURSOR_SCOPE};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, LedgerManage, LedgerRead};
use crate::error::codes::{NOT_FOUND, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::{parse_id, parse_page};

/// The upload route (see [`crate::upload`]).
pub(crate) const UPLOAD_PATH: &str = "/v1/ledger/settlements";

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(import_settlement, list_runs))
        .routes(routes!(get_run))
        .routes(routes!(list_items))
        .routes(routes!(items_csv))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportQuery {
    /// The payment provider whose report it is (`stripe`, `test`, ...).
    #[param(pattern = "^[a-z0-9_-]{1,40}$")]
    provider: String,
    /// The file's layout.
    format: Format,
}

/// Import a provider's settlement report (`Content-Type: text/csv`) and
/// reconcile it in the background. Every line is checked first: a
/// malformed file is refused whole with an error per row (the first 100),
/// and nothing is stored. The same file imported again answers its earlier
/// run with 200 and changes nothing, so no `Idempotency-Key` is needed
/// (none is honoured here). Audited as `settlement.imported`.
#[utoipa::path(
    post,
    path = "/v1/ledger/settlements",
    tag = "ledger",
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv", description = "The report, in the `format` given"),
    security(("api_key" = ["ledger:manage"])),
    responses(
        (status = 202, description = "Imported; reconciling", body = SettlementRun, headers(("Location" = String))),
        (status = 200, description = "This file was imported before: its run", body = SettlementRun),
    ),
    extensions(("x-errors" = json!([VALIDATION_FAILED, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE]))),
)]
async fn import_settlement(
    auth: Authorized<LedgerManage>,
    State(services): State<Services>,
    Query(query): Query<ImportQuery>,
    request: Request,
) -> ApiResult<Response> {
    if crate::upload::media_type(&request).as_deref() != Some("text/csv") {
        return Err(ApiError::unsupported_media_type_of("send the settlement report with `Content-Type: text/csv`"));
    }
    let file = crate::upload::spool(request).await?;
    let (run, created) = services.settlements.import(&auth.actor(), &query.provider, query.format, file).await?;
    let status = if created { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok(crate::routes::located_response(status, &format!("/v1/ledger/settlements/{}", run.id), run))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListRuns {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
}

/// Reconciliation runs, newest first.
#[utoipa::path(
    get,
    path = "/v1/ledger/settlements",
    tag = "ledger",
    params(ListRuns),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "A page of runs", body = Page<SettlementRun>)),
)]
async fn list_runs(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Query(query): Query<ListRuns>,
) -> ApiResult<axum::Json<Page<SettlementRun>>> {
    let page = parse_page(RUNS_CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.settlements.runs(&page).await?))
}

/// A reconciliation run: its progress while running, its items per status
/// once done.
#[utoipa::path(
    get,
    path = "/v1/ledger/settlements/{id}",
    tag = "ledger",
    params(("id" = Uuid, Path, description = "The run's id")),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "The run", body = SettlementRun)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_run(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SettlementRun>> {
    Ok(axum::Json(services.settlements.run(parse_id::<Uuid>(&id)?).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListItems {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only items of this status.
    status: Option<ItemStatus>,
}

/// A run's items in line order: each report line, and each payment missing
/// from the report, with what reconciling found.
#[utoipa::path(
    get,
    path = "/v1/ledger/settlements/{id}/items",
    tag = "ledger",
    params(("id" = Uuid, Path, description = "The run's id"), ListItems),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "A page of items", body = Page<SettlementItem>)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn list_items(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(query): Query<ListItems>,
) -> ApiResult<axum::Json<Page<SettlementItem>>> {
    let page = parse_page(ITEMS_CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.settlements.items(parse_id::<Uuid>(&id)?, query.status, &page).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ItemsCsvQuery {
    /// Only items of this status.
    status: Option<ItemStatus>,
}

/// Items fetched per query while streaming the CSV.
const CSV_BATCH: i64 = 2_000;

/// A run's items as CSV (RFC 4180), streamed: every item, however many.
#[utoipa::path(
    get,
    path = "/v1/ledger/settlements/{id}/items.csv",
    tag = "ledger",
    params(("id" = Uuid, Path, description = "The run's id"), ItemsCsvQuery),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "The items", content_type = "text/csv", body = String)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn items_csv(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(query): Query<ItemsCsvQuery>,
) -> ApiResult<Response> {
    let id = parse_id::<Uuid>(&id)?;
    services.settlements.run(id).await?;
    let status = query.status;
    let header = csv_rows(&[], true);
    let batches = futures::stream::unfold(Some(0_i64), move |after| {
        let services = services.clone();
        async move {
            let after = after?;
            match services.settlements.item_batch(id, status, after, CSV_BATCH).await {
                Ok(items) if items.is_empty() => None,
                Ok(items) => {
                    let next = (items.len() as i64 == CSV_BATCH).then(|| items.last().map_or(after, |i| i.line));
                    Some((Ok::<_, std::io::Error>(csv_rows(&items, false)), next))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let body = futures::stream::once(async move { Ok(header) }).chain(batches);
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
        (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"settlement-items.csv\"")),
    ];
    Ok((headers, Body::from_stream(body)).into_response())
}

fn csv_rows(items: &[SettlementItem], header: bool) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    if header {
        let _ = out.write_record([
            "line",
            "line_id",
            "kind",
            "reference",
            "status",
            "amount",
            "fee",
            "currency",
            "occurred_at",
            "payment_id",
            "expected",
            "clearing",
        ]);
    }
    for i in items {
        let _ = out.write_record([
            i.line.to_string(),
            i.line_id.clone().unwrap_or_default(),
            i.kind.as_str().to_owned(),
            i.reference.clone().unwrap_or_default(),
            i.status.as_str().to_owned(),
            i.amount.to_string(),
            i.fee.to_string(),
            i.currency.code().to_owned(),
            i.occurred_at.to_rfc3339(),
            i.payment_id.map(|p| p.to_string()).unwrap_or_default(),
            i.expected.map(|e| e.to_string()).unwrap_or_default(),
            i.clearing.to_string(),
        ]);
    }
    out.into_inner().unwrap_or_default()
}
