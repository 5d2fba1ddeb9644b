//! `/v1/orders`: placement, the lifecycle, queries and the timeline.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ordo_domain::order::{self, Order, OrderEvent, OrderFilter, OrderStatus};
use ordo_domain::page::Page;
use ordo_domain::{CustomerId, OrderId, ValidationErrors};
use ordo_service::Services;
use ordo_service::orders::{CURSOR_SCOPE, PlaceOrder, Placement};
use ordo_service::payments::PaymentToken;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, OrdersRead, OrdersWrite};
use crate::error::codes::{
    ILLEGAL_TRANSITION, INSUFFICIENT_STOCK, NOT_FOUND, PRECONDITION_REQUIRED, VALIDATION_FAILED, VERSION_CONFLICT,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, OptionalIfMatch, Query};
use crate::idempotency::IdempotentRequest;
use crate::routes::customers::AddressInput;
use crate::routes::{ExpectedVersion, created_response, entity_response, parse_id, parse_page, precondition};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(order_events))
        .routes(routes!(confirm_order))
        .routes(routes!(fulfil_order))
        .routes(routes!(complete_order))
        .routes(routes!(cancel_order))
}

/// One requested line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineInput {
    #[schema(example = "TEE-BLK-M")]
    #[schema(schema_with = crate::routes::schema::sku)]
    sku: String,
    /// 1 to 1 000 000.
    #[schema(example = 2)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceOrderRequest {
    #[schema(value_type = String, format = Uuid)]
    customer_id: String,
    /// Market code; the order is priced in its currency at its tax rate.
    #[schema(example = "DE")]
    #[schema(schema_with = crate::routes::schema::market_code)]
    market: String,
    /// 1 to 200 lines, each SKU once.
    #[schema(min_items = 1, max_items = 200)]
    lines: Vec<LineInput>,
    shipping_address: AddressInput,
    /// The address on the invoice, where it differs from the shipping address.
    billing_address: Option<AddressInput>,
    /// The customer's VAT identification number, shown on the invoice
    /// (business customers): country prefix and 2 to 13 letters or digits.
    #[schema(example = "DE123456789")]
    vat_id: Option<String>,
    /// From the payment provider. With a token, the payment is authorised in
    /// the background: the order becomes `paid` or `payment_failed`, and
    /// expires if still unpaid after `orders.unpaid_ttl_ms`. The built-in
    /// test provider approves `tok_approve`, declines `tok_decline`, times
    /// out on `tok_timeout`, fails on `tok_error` and is slow on `tok_slow`.
    #[schema(example = "tok_approve")]
    #[schema(schema_with = crate::routes::schema::payment_token_or_null)]
    payment_token: Option<String>,
}

impl TryFrom<PlaceOrderRequest> for PlaceOrder {
    type Error = ValidationErrors;

    fn try_from(body: PlaceOrderRequest) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let payment_token = match body.payment_token.as_deref().map(PaymentToken::parse).transpose() {
            Ok(token) => token,
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let customer_id = body
            .customer_id
            .parse::<CustomerId>()
            .map_err(|_| errors.add("customer_id", "invalid_id", "not a UUID"))
            .ok();
        let raw: Vec<(String, i64)> = body.lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
        let lines = order::parse_lines(&raw).map_err(|e| errors.merge("lines", e)).ok();
        let address = body.shipping_address.parse().map_err(|e| errors.merge("shipping_address", e)).ok();
        let billing_address = match &body.billing_address {
            Some(a) => a.parse().map_err(|e| errors.merge("billing_address", e)).ok(),
            None => None,
        };
        let vat_id = match body.vat_id.as_deref() {
            Some(v) => errors.check("vat_id", order::parse_vat_id(v)),
            None => None,
        };
        match (customer_id, lines, address) {
            (Some(customer_id), Some(lines), Some(shipping_address)) if errors.is_empty() => Ok(PlaceOrder {
                customer_id,
                market: body.market.trim().to_ascii_uppercase(),
                lines,
                shipping_address,
                billing: order::Billing { address: billing_address, vat_id },
                idempotency_key: None,
                payment_token,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListOrders {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only orders in this status.
    status: Option<OrderStatus>,
    /// Only this customer's orders.
    customer_id: Option<uuid::Uuid>,
    /// Only orders placed at or after this instant (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Only orders placed before this instant (RFC 3339).
    created_to: Option<DateTime<Utc>>,
}

/// One shipped line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShipmentLine {
    /// The line number.
    line: i32,
    /// Units shipped now.
    quantity: i64,
}

/// A (partial) fulfilment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FulfilRequest {
    /// The version last read; required unless `If-Match` is sent.
    version: Option<i64>,
    lines: Vec<ShipmentLine>,
}

/// An order's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Timeline {
    items: Vec<OrderEvent>,
}

/// Place an order: prices frozen from the catalog in the market's currency,
/// tax per line, stock reserved atomically. If any line is short, nothing is
/// written and the answer is 409 `insufficient_stock` naming the SKUs.
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = "orders",
    request_body = PlaceOrderRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 201, description = "Placed", body = Order, headers(("Location" = String), ("ETag" = String))),
    ),
    extensions(("x-errors" = json!([INSUFFICIENT_STOCK, VALIDATION_FAILED]))),
)]
async fn place_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    idempotent: Option<Extension<IdempotentRequest>>,
    Json(body): Json<PlaceOrderRequest>,
) -> Response {
    let placed = async {
        let mut request = PlaceOrder::try_from(body)?;
        // Checked and hashed by the idempotency middleware before this runs;
        // the service records refusals under the key itself.
        request.idempotency_key = idempotent.as_ref().map(|i| i.key.clone());
        let request_hash = idempotent.as_ref().map(|i| i.request_hash.as_str());
        Ok::<_, ApiError>(services.orders.place_order(&auth.actor(), request, request_hash).await?)
    };
    match placed.await {
        Ok(Placement::Placed(order)) => placed_response(&order),
        Ok(Placement::Replayed(answer)) => crate::idempotency::replay(answer),
        Err(e) => e.into_response(),
    }
}

/// The answer to a placed order: on placement, and replayed to a retry
/// with the same `Idempotency-Key` (the order as it was placed).
pub(crate) fn placed_response(order: &Order) -> Response {
    created_response(&format!("/v1/orders/{}", order.id), order.version, order)
}

/// List orders, oldest first, with keyset pagination.
#[utoipa::path(
    get,
    path = "/v1/orders",
    tag = "orders",
    params(ListOrders),
    security(("api_key" = ["orders:read"])),
    responses(
        (status = 200, description = "A page of orders with their lines", body = Page<Order>),
    ),
)]
async fn list_orders(
    _auth: Authorized<OrdersRead>,
    State(services): State<Services>,
    Query(query): Query<ListOrders>,
) -> ApiResult<axum::Json<Page<Order>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    let filter = OrderFilter {
        status: query.status,
        customer_id: query.customer_id.map(CustomerId::from_uuid),
        created_from: query.created_from,
        created_to: query.created_to,
        market: None,
    };
    Ok(axum::Json(services.orders.list_orders(&filter, &page).await?))
}

/// Get an order with its lines.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    security(("api_key" = ["orders:read"])),
    responses(
        (status = 200, description = "The order", body = Order, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_order(
    _auth: Authorized<OrdersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let order = services.orders.order(parse_id::<OrderId>(&id)?).await?;
    Ok(entity_response(order.version, order))
}

/// The order's timeline, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/events",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    security(("api_key" = ["orders:read"])),
    responses(
        (status = 200, description = "The timeline", body = Timeline),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn order_events(
    _auth: Authorized<OrdersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Timeline>> {
    Ok(axum::Json(Timeline { items: services.orders.events(parse_id::<OrderId>(&id)?).await? }))
}

/// Which lifecycle step a route takes.
#[derive(Debug, Clone, Copy)]
enum Step {
    Confirm,
    Complete,
    Cancel,
}

async fn step(
    services: &Services,
    auth: &Authorized<OrdersWrite>,
    id: &str,
    if_match: Option<crate::extract::IfMatch>,
    body: Option<Json<ExpectedVersion>>,
    step: Step,
) -> ApiResult<axum::response::Response> {
    let id = parse_id::<OrderId>(id)?;
    let (expected, source) = precondition(if_match, body.and_then(|Json(b)| b.version), true)?;
    let actor = auth.actor();
    let result = match step {
        Step::Confirm => services.orders.confirm(&actor, id, expected).await,
        Step::Complete => services.orders.complete(&actor, id, expected).await,
        Step::Cancel => services.orders.cancel(&actor, id, expected).await,
    };
    let order = result.map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(order.version, order))
}

/// Confirm a placed order.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/confirm",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`")),
    request_body(content = Option<ExpectedVersion>, description = "`version`, unless `If-Match` is sent"),
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The confirmed order", body = Order, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT, ILLEGAL_TRANSITION, PRECONDITION_REQUIRED]))),
)]
async fn confirm_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    body: Option<Json<ExpectedVersion>>,
) -> ApiResult<impl IntoResponse> {
    step(&services, &auth, &id, if_match, body, Step::Confirm).await
}

/// Complete a fulfilled order.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/complete",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`")),
    request_body(content = Option<ExpectedVersion>, description = "`version`, unless `If-Match` is sent"),
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The completed order", body = Order, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT, ILLEGAL_TRANSITION, PRECONDITION_REQUIRED]))),
)]
async fn complete_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    body: Option<Json<ExpectedVersion>>,
) -> ApiResult<impl IntoResponse> {
    step(&services, &auth, &id, if_match, body, Step::Complete).await
}

/// Cancel a placed or confirmed order, releasing its reserved stock.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/cancel",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`")),
    request_body(content = Option<ExpectedVersion>, description = "`version`, unless `If-Match` is sent"),
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The cancelled order", body = Order, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT, ILLEGAL_TRANSITION, PRECONDITION_REQUIRED]))),
)]
async fn cancel_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    body: Option<Json<ExpectedVersion>>,
) -> ApiResult<impl IntoResponse> {
    step(&services, &auth, &id, if_match, body, Step::Cancel).await
}

/// Ship some or all of a confirmed order's lines: the shipped units leave
/// reserved and on-hand stock.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/fulfil",
    tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`")),
    request_body = FulfilRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The order, partially_fulfilled or fulfilled", body = Order, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT, ILLEGAL_TRANSITION, VALIDATION_FAILED, PRECONDITION_REQUIRED]))),
)]
async fn fulfil_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    Json(body): Json<FulfilRequest>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id::<OrderId>(&id)?;
    let (expected, source) = precondition(if_match, body.version, true)?;
    let shipments = body.lines.iter().map(|l| (l.line, l.quantity)).collect();
    let order = services
        .orders
        .fulfil(&auth.actor(), id, expected, shipments)
        .await
        .map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(order.version, order))
}
