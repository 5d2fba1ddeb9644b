//! `/v1/locations` and `/v1/stock`: where stock is, how much, and how it
//! moves in (receipts) or is corrected (adjustments).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use ordo_domain::inventory::{self, Location, NewLocation, ReasonCode, SkuStock, StockChange, StockLevel};
use ordo_domain::page::{Cursor, DEFAULT_LIMIT, MAX_LIMIT};
use ordo_domain::sku::SkuPrefix;
use ordo_domain::validation::optional_text;
use ordo_domain::{Sku, ValidationErrors};
use ordo_service::Services;
use ordo_service::inventory::{CURSOR_SCOPE, StockPage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, InventoryRead, InventoryWrite};
use crate::error::codes::{INSUFFICIENT_STOCK, INVALID_ID, LOCATION_CODE_TAKEN, NOT_FOUND, VALIDATION_FAILED};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::routes::{created_response, entity_response, parse_id};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_location, list_locations))
        .routes(routes!(get_location))
        .routes(routes!(receive_stock))
        .routes(routes!(adjust_stock))
        .routes(routes!(list_stock))
        .routes(routes!(get_stock))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateLocation {
    /// Unique, 1 to 32 letters, digits, `-` and `_`; upper-cased.
    #[schema(example = "BER-1")]
    #[schema(schema_with = crate::routes::schema::location_code)]
    code: String,
    #[schema(example = "Berlin warehouse")]
    #[schema(schema_with = crate::routes::schema::text_100)]
    name: String,
    /// Allocation order: orders take stock from the lowest number first (default 100).
    #[serde(default = "default_priority")]
    priority: i32,
}

fn default_priority() -> i32 {
    100
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LocationList {
    /// In allocation order.
    items: Vec<Location>,
}

/// A receipt: goods in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Receipt {
    #[schema(example = "TEE-BLK-M")]
    #[schema(schema_with = crate::routes::schema::sku)]
    sku: String,
    location_id: Uuid,
    /// 1 to 1 000 000 units.
    #[schema(minimum = 1, maximum = 1_000_000)]
    quantity: i64,
    /// Defaults to `received`.
    reason: Option<ReasonCode>,
    #[schema(schema_with = crate::routes::schema::optional_text_500_or_null)]
    note: Option<String>,
}

/// An adjustment: a correction of on-hand stock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Adjustment {
    #[schema(example = "TEE-BLK-M")]
    #[schema(schema_with = crate::routes::schema::sku)]
    sku: String,
    location_id: Uuid,
    /// Units added (positive) or removed (negative); not zero.
    #[schema(minimum = -1_000_000, maximum = 1_000_000)]
    delta: i64,
    reason: ReasonCode,
    #[schema(schema_with = crate::routes::schema::optional_text_500_or_null)]
    note: Option<String>,
}

pub(crate) fn stock_change(
    sku: &str,
    location_id: Uuid,
    delta: Result<i64, ordo_domain::FieldError>,
    delta_field: &str,
    reason: ReasonCode,
    note: Option<&str>,
) -> Result<StockChange, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let sku = errors.check("sku", Sku::parse(sku));
    let delta = errors.check(delta_field, delta);
    let note = errors.check("note", optional_text(note.unwrap_or_default(), 500));
    match (sku, delta, note) {
        (Some(sku), Some(delta), Some(note)) => {
            Ok(StockChange { sku, location_id, delta, reason, note: (!note.is_empty()).then_some(note) })
        }
        _ => Err(errors),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListStock {
    /// SKUs per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only SKUs starting with this prefix.
    #[param(schema_with = crate::routes::schema::sku_prefix)]
    sku_prefix: Option<String>,
}

/// Create a stock location.
#[utoipa::path(
    post,
    path = "/v1/locations",
    tag = "inventory",
    request_body = CreateLocation,
    security(("api_key" = ["inventory:write"])),
    responses(
        (status = 201, description = "Created", body = Location, headers(("Location" = String), ("ETag" = String))),
    ),
    extensions(("x-errors" = json!([LOCATION_CODE_TAKEN, VALIDATION_FAILED]))),
)]
async fn create_location(
    auth: Authorized<InventoryWrite>,
    State(services): State<Services>,
    Json(body): Json<CreateLocation>,
) -> ApiResult<impl IntoResponse> {
    let mut errors = ValidationErrors::new();
    let code = errors.check("code", inventory::parse_location_code(&body.code));
    let name = errors.check("name", inventory::parse_location_name(&body.name));
    let (Some(code), Some(name)) = (code, name) else { return Err(errors.into()) };
    let location =
        services.inventory.create_location(&auth.actor(), NewLocation { code, name, priority: body.priority }).await?;
    Ok(created_response(&format!("/v1/locations/{}", location.id), location.meta.version, location))
}

/// List stock locations in allocation order.
#[utoipa::path(
    get,
    path = "/v1/locations",
    tag = "inventory",
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "Every location", body = LocationList),
    ),
)]
async fn list_locations(
    _auth: Authorized<InventoryRead>,
    State(services): State<Services>,
) -> ApiResult<axum::Json<LocationList>> {
    Ok(axum::Json(LocationList { items: services.inventory.list_locations().await? }))
}

/// Get a stock location.
#[utoipa::path(
    get,
    path = "/v1/locations/{id}",
    tag = "inventory",
    params(("id" = uuid::Uuid, Path, description = "Location id")),
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "The location", body = Location, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_location(
    _auth: Authorized<InventoryRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let location = services.inventory.location(parse_id(&id)?).await?;
    Ok(entity_response(location.meta.version, location))
}

/// Receive stock: add units at a location (audited).
#[utoipa::path(
    post,
    path = "/v1/stock/receipts",
    tag = "inventory",
    request_body = Receipt,
    security(("api_key" = ["inventory:write"])),
    responses(
        (status = 201, description = "The new stock level", body = StockLevel),
    ),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn receive_stock(
    auth: Authorized<InventoryWrite>,
    State(services): State<Services>,
    Json(body): Json<Receipt>,
) -> ApiResult<impl IntoResponse> {
    let quantity = inventory::parse_receipt_quantity(body.quantity);
    let change = stock_change(
        &body.sku,
        body.location_id,
        quantity,
        "quantity",
        body.reason.unwrap_or(ReasonCode::Received),
        body.note.as_deref(),
    )?;
    let level = services.inventory.change_stock(&auth.actor(), "received", change).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(level)))
}

/// Adjust stock: correct on-hand units at a location (audited). Refused
/// with 409 `insufficient_stock` if it would go below zero or below what is
/// reserved.
#[utoipa::path(
    post,
    path = "/v1/stock/adjustments",
    tag = "inventory",
    request_body = Adjustment,
    security(("api_key" = ["inventory:write"])),
    responses(
        (status = 201, description = "The new stock level", body = StockLevel),
    ),
    extensions(("x-errors" = json!([INSUFFICIENT_STOCK, VALIDATION_FAILED]))),
)]
async fn adjust_stock(
    auth: Authorized<InventoryWrite>,
    State(services): State<Services>,
    Json(body): Json<Adjustment>,
) -> ApiResult<impl IntoResponse> {
    let delta = inventory::parse_adjustment(body.delta);
    let change = stock_change(&body.sku, body.location_id, delta, "delta", body.reason, body.note.as_deref())?;
    let level = services.inventory.change_stock(&auth.actor(), "adjusted", change).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(level)))
}

/// List stock per SKU across locations, by SKU, with keyset pagination.
#[utoipa::path(
    get,
    path = "/v1/stock",
    tag = "inventory",
    params(ListStock),
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "A page of SKUs' stock", body = StockPage),
    ),
)]
async fn list_stock(
    _auth: Authorized<InventoryRead>,
    State(services): State<Services>,
    Query(query): Query<ListStock>,
) -> ApiResult<axum::Json<StockPage>> {
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
        Some(_) => {
            return Err(ApiError::invalid_query(
                "limit".into(),
                "out_of_range",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
    };
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(
            Cursor::decode_key(CURSOR_SCOPE, cursor)
                .map_err(|e| ApiError::invalid_query("cursor".into(), e.code, e.message))?,
        ),
    };
    let prefix = query
        .sku_prefix
        .as_deref()
        .map(SkuPrefix::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query("sku_prefix".into(), e.code, e.message))?;
    Ok(axum::Json(services.inventory.list_stock(prefix.as_ref(), after.as_deref(), limit).await?))
}

/// Stock of one SKU: totals and per location.
#[utoipa::path(
    get,
    path = "/v1/stock/{sku}",
    tag = "inventory",
    params(("sku" = String, Path, description = "SKU", pattern = "^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")),
    security(("api_key" = ["inventory:read"])),
    responses(
        (status = 200, description = "The SKU's stock", body = SkuStock),
    ),
    extensions(("x-errors" = json!([INVALID_ID, NOT_FOUND]))),
)]
async fn get_stock(
    _auth: Authorized<InventoryRead>,
    State(services): State<Services>,
    Path(sku): Path<String>,
) -> ApiResult<axum::Json<SkuStock>> {
    let sku = Sku::parse(&sku)
        .map_err(|e| ApiError::new(&INVALID_ID, format!("`{sku}` is not a valid SKU: {}", e.message)))?;
    Ok(axum::Json(services.inventory.stock_of(&sku).await?))
}
