//! Returns (RMA): `POST /v1/orders/{id}/returns` requests one;
//! `/v1/returns/{id}/approve`, `/reject` and `/receive` move it on; the
//! lists read them.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use ordo_domain::OrderId;
use ordo_domain::page::Page;
use ordo_domain::returns::{Disposition, Return, ReturnFilter, ReturnStatus};
use ordo_service::Services;
use ordo_service::returns::{CURSOR_SCOPE, Receipt};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, OrdersRead, OrdersWrite};
use crate::error::ApiResult;
use crate::error::codes::{ILLEGAL_TRANSITION, NOT_FOUND, NOT_RETURNABLE, VALIDATION_FAILED, VERSION_CONFLICT};
use crate::extract::{Json, Query};
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(request_return, order_returns))
        .routes(routes!(list_returns))
        .routes(routes!(get_return))
        .routes(routes!(approve_return))
        .routes(routes!(reject_return))
        .routes(routes!(receive_return))
}

/// Units of one order line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnitsOfLine {
    /// The order line's number (1, 2, ...).
    #[schema(minimum = 1, maximum = 200)]
    pub(crate) line: i32,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub(crate) quantity: i64,
}

/// A return to request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnRequest {
    /// Shipped units to return, at most what each line shipped less what
    /// other returns (not rejected) take.
    #[schema(min_items = 1, max_items = 200)]
    lines: Vec<UnitsOfLine>,
    /// Why, as the customer tells it (at most 500 characters).
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// Request the return of shipped units of an order. The return starts
/// `requested` (`return.requested`); it is approved or rejected, and an
/// approved one is received. Send an `Idempotency-Key`: a retried request
/// requests once.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/returns",
    tag = "returns",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    request_body = ReturnRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 201, description = "The return, requested", body = Return),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, NOT_RETURNABLE, VALIDATION_FAILED]))),
)]
async fn request_return(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<ReturnRequest>,
) -> ApiResult<(StatusCode, axum::Json<Return>)> {
    let id: OrderId = parse_id(&id)?;
    let units: Vec<(i32, i64)> = body.lines.iter().map(|l| (l.line, l.quantity)).collect();
    let r = services.returns.request(&auth.actor(), id, &units, body.reason.as_deref()).await?;
    Ok((StatusCode::CREATED, axum::Json(r)))
}

/// An order's returns, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/returns",
    tag = "returns",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    security(("api_key" = ["orders:read"])),
    responses(
        (status = 200, description = "The order's returns", body = Vec<Return>),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn order_returns(
    _auth: Authorized<OrdersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Return>>> {
    let id: OrderId = parse_id(&id)?;
    Ok(axum::Json(services.returns.of_order(id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListReturns {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only this order's returns.
    order_id: Option<Uuid>,
    /// Only returns in this status.
    status: Option<ReturnStatus>,
}

/// List returns, oldest first (for example the `approved` ones a warehouse
/// waits for).
#[utoipa::path(
    get,
    path = "/v1/returns",
    tag = "returns",
    params(ListReturns),
    security(("api_key" = ["orders:read"])),
    responses(
        (status = 200, description = "A page of returns", body = Page<Return>),
    ),
)]
async fn list_returns(
    _auth: Authorized<OrdersRead>,
    State(services): State<Services>,
    Query(query): Query<ListReturns>,
) -> ApiResult<axum::Json<Page<Return>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    let filter = ReturnFilter { order_id: query.order_id.map(OrderId::from_uuid), status: query.status };
    Ok(axum::Json(services.returns.list(&filter, &page).await?))
}

/// One return.
#[utoipa::path(
    get,
    path = "/v1/returns/{id}",
    tag = "returns",
    params(("id" = uuid::Uuid, Path, description = "Return id")),
    security(("api_key" = ["orders:read"])),
    responses(
        (status = 200, description = "The return", body = Return),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_return(
    _auth: Authorized<OrdersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Return>> {
    let id: Uuid = parse_id(&id)?;
    Ok(axum::Json(services.returns.get(id).await?))
}

/// Approve a requested return (`return.approved`): the customer may send
/// the units back.
#[utoipa::path(
    post,
    path = "/v1/returns/{id}/approve",
    tag = "returns",
    params(("id" = uuid::Uuid, Path, description = "Return id")),
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The return, approved", body = Return),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, ILLEGAL_TRANSITION, VERSION_CONFLICT]))),
)]
async fn approve_return(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Return>> {
    let id: Uuid = parse_id(&id)?;
    Ok(axum::Json(services.returns.approve(&auth.actor(), id).await?))
}

/// Why a return is rejected.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rejection {
    /// At most 500 characters.
    #[schema(max_length = 500)]
    reason: Option<String>,
}

/// Reject a requested return (`return.rejected`): its units may be
/// returned again by another request.
#[utoipa::path(
    post,
    path = "/v1/returns/{id}/reject",
    tag = "returns",
    params(("id" = uuid::Uuid, Path, description = "Return id")),
    request_body(content = Option<Rejection>, description = "An optional `reason`"),
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The return, rejected", body = Return),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, ILLEGAL_TRANSITION, VERSION_CONFLICT, VALIDATION_FAILED]))),
)]
async fn reject_return(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    body: Option<Json<Rejection>>,
) -> ApiResult<axum::Json<Return>> {
    let id: Uuid = parse_id(&id)?;
    let reason = body.and_then(|Json(b)| b.reason);
    Ok(axum::Json(services.returns.reject(&auth.actor(), id, reason.as_deref()).await?))
}

/// A line's disposition where it differs from the return's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineDisposition {
    #[schema(minimum = 1, maximum = 200)]
    line: i32,
    disposition: Disposition,
}

/// Where and how a return is received.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiveRequest {
    /// The location the units arrive at.
    location_id: Uuid,
    /// `sellable` (back to on-hand stock) or `damaged` (to damaged stock,
    /// never sold): for every line not named in `lines`.
    disposition: Disposition,
    /// Lines whose disposition differs.
    #[schema(max_items = 200)]
    lines: Option<Vec<LineDisposition>>,
}

/// Receive an approved return at a location (`return.received`): its units
/// go to sellable or damaged stock there; the units not credited yet are
/// credited on a credit note (`credit_note.issued`) and refunded as far as
/// captured money is left (`refund.created`; the return's `refund_id` and
/// `refunded` say what). Send an `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/v1/returns/{id}/receive",
    tag = "returns",
    params(("id" = uuid::Uuid, Path, description = "Return id")),
    request_body = ReceiveRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The return, received", body = Return),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, ILLEGAL_TRANSITION, VERSION_CONFLICT, VALIDATION_FAILED]))),
)]
async fn receive_return(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<ReceiveRequest>,
) -> ApiResult<axum::Json<Return>> {
    let id: Uuid = parse_id(&id)?;
    let lines: HashMap<i32, Disposition> =
        body.lines.unwrap_or_default().into_iter().map(|l| (l.line, l.disposition)).collect();
    let receipt = Receipt { location_id: body.location_id, disposition: body.disposition, lines };
    Ok(axum::Json(services.returns.receive(&auth.actor(), id, &receipt).await?))
}
