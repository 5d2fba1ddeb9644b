//! Payment records (`/v1/payments`, `/v1/orders/{id}/payments`), refunds
//! (`POST /v1/orders/{id}/refunds`) and the events Stripe sends
//! (`POST /hooks/stripe`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ordo_domain::OrderId;
use ordo_domain::ValidationErrors;
use ordo_domain::page::Page;
use ordo_domain::payment::{Payment, PaymentFilter, PaymentKind, PaymentStatus};
use ordo_service::ServiceError;
use ordo_service::Services;
use ordo_service::payments::{CURSOR_SCOPE, EventReceipt, RefundAsk};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, InvoicesRead, OrdersWrite};
use crate::error::ApiResult;
use crate::error::codes::{
    ILLEGAL_TRANSITION, INTERNAL_ERROR, INVALID_SIGNATURE, NOT_CAPTURABLE, NOT_CAPTURED, NOT_CREDITABLE, NOT_FOUND,
    REFUND_EXCEEDS_CAPTURE, SERVICE_UNAVAILABLE, VALIDATION_FAILED, VERSION_CONFLICT,
};
use crate::extract::{Json, Query};
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(list_payments))
        .routes(routes!(order_payments))
        .routes(routes!(refund_order))
        .routes(routes!(capture_order))
        .routes(routes!(pay_offline))
        .routes(routes!(stripe_event))
}

/// Receive an event from Stripe (the endpoint to give Stripe's webhook
/// settings). Authenticated by its `Stripe-Signature` under
/// `payments.stripe_webhook_secret`, not by an API key: an event that does
/// not verify, or is more than 5 minutes old, is refused. Each event is
/// recorded once (a redelivery is acknowledged again and changes nothing),
/// audited, and put on its order's timeline as `provider_event` when Ordo
/// knows the payment it concerns. 404 while the secret is not set.
#[utoipa::path(
    post,
    path = "/hooks/stripe",
    tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, as Stripe sends it"),
    security(()),
    responses(
        (status = 200, description = "Received (`duplicate`: received before)", body = EventReceipt),
    ),
    extensions(("x-errors" = json!([INVALID_SIGNATURE, NOT_FOUND, VALIDATION_FAILED, SERVICE_UNAVAILABLE, INTERNAL_ERROR]))),
)]
async fn stripe_event(
    State(services): State<Services>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<EventReceipt>> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    Ok(axum::Json(services.payments.receive_stripe_event(signature, &body).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListPayments {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only this order's payments.
    order_id: Option<Uuid>,
    /// Only authorisations, captures, voids or refunds.
    kind: Option<PaymentKind>,
    /// Only pending, succeeded or failed ones.
    status: Option<PaymentStatus>,
}

/// List payment records (authorisations, captures, voids, refunds), oldest
/// first. Finance data: read with `invoices:read`.
#[utoipa::path(
    get,
    path = "/v1/payments",
    tag = "payments",
    params(ListPayments),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "A page of payment records", body = Page<Payment>),
    ),
)]
async fn list_payments(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Query(query): Query<ListPayments>,
) -> ApiResult<axum::Json<Page<Payment>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    let filter =
        PaymentFilter { order_id: query.order_id.map(OrderId::from_uuid), kind: query.kind, status: query.status };
    Ok(axum::Json(services.payments.list(&filter, &page).await?))
}

/// An order's payment records, oldest first.
#[utoipa::path(
    get,
    path = "/v1/orders/{id}/payments",
    tag = "payments",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    security(("api_key" = ["invoices:read"])),
    responses(
        (status = 200, description = "The order's payment records", body = Vec<Payment>),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn order_payments(
    _auth: Authorized<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<Payment>>> {
    let id: OrderId = parse_id(&id)?;
    Ok(axum::Json(services.payments.of_order(id).await?))
}

/// A refund to make: by `amount`, or by `lines`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefundRequest {
    /// In minor units of the order's currency, tax included: 1 up to what
    /// is still refundable (captured minus refunded so far).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    amount: Option<i64>,
    /// Units of order lines, refunded at what they were invoiced.
    #[schema(max_items = 200)]
    lines: Option<Vec<crate::routes::returns::UnitsOfLine>>,
    /// Refund the shipping charge too (whole, once), with or without
    /// `lines`.
    shipping: Option<bool>,
}

/// Refund part or all of an order's captured payment, by amount or by
/// order lines and the shipping charge (at what they were invoiced, tax
/// included). The refund is
/// recorded `pending` at once and made at the provider in the background
/// (`refund.succeeded` or `refund.failed` follow); a credit note correcting
/// the invoice by as much is issued with it (`credit_note.issued`). Send
/// an `Idempotency-Key`: a retried request refunds once.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/refunds",
    tag = "payments",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    request_body = RefundRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 201, description = "The refund, pending", body = Payment),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, NOT_CAPTURED, REFUND_EXCEEDS_CAPTURE, NOT_CREDITABLE, VALIDATION_FAILED]))),
)]
async fn refund_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<RefundRequest>,
) -> ApiResult<(StatusCode, axum::Json<Payment>)> {
    let id: OrderId = parse_id(&id)?;
    let shipping = body.shipping.unwrap_or(false);
    let ask = match (body.amount, body.lines) {
        (Some(amount), None) if body.shipping.is_none() => RefundAsk::Amount(amount),
        (None, lines) if lines.is_some() || shipping => RefundAsk::Lines {
            units: lines.unwrap_or_default().iter().map(|l| (l.line, l.quantity)).collect(),
            shipping,
        },
        _ => {
            return Err(ServiceError::Validation(ValidationErrors::single(
                "amount",
                "amount_or_lines",
                "a refund names either an `amount`, or `lines` and/or `shipping: true`",
            ))
            .into());
        }
    };
    let refund = services.payments.refund(&auth.actor(), id, ask).await?;
    Ok((StatusCode::CREATED, axum::Json(refund)))
}

/// A payment received outside Ordo.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OfflinePaymentRequest {
    /// In minor units: the order's total.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    /// The bank transfer's reference, as on the statement (1 to 140 characters).
    #[schema(min_length = 1, max_length = 140, example = "RF18 5390 0754 7034")]
    reference: String,
    /// Act only if the order is still at this version.
    version: Option<i64>,
}

/// Record a payment received outside Ordo (a bank transfer) for an unpaid
/// order placed without a payment token: of exactly its total, with the
/// transfer's reference. The order becomes `paid` (`order.paid`), the
/// payment is recorded as a succeeded capture by the `offline` provider
/// (`payment.captured`), and the invoice is issued as for any paid order.
/// Money received offline is refunded outside Ordo: refunds through the API
/// answer 409 `not_captured` for it, while returns and cancellations still
/// issue their credit notes. Send an `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/offline-payments",
    tag = "payments",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    request_body = OfflinePaymentRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 200, description = "The order, paid", body = ordo_domain::order::Order),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, ILLEGAL_TRANSITION, VERSION_CONFLICT, VALIDATION_FAILED]))),
)]
async fn pay_offline(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<OfflinePaymentRequest>,
) -> ApiResult<axum::Json<ordo_domain::order::Order>> {
    let id: OrderId = parse_id(&id)?;
    let order = services.orders.pay_offline(&auth.actor(), id, body.version, body.amount, &body.reference).await?;
    Ok(axum::Json(order))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaptureRequest {
    /// In minor units of the order's currency: 1 up to what of the
    /// authorisation is not captured yet. Omitted: all of that.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    amount: Option<i64>,
}

/// Capture part or all of an order's authorised payment now, whatever its
/// market's capture policy. Capturing all that is left releases the
/// authorisation; less keeps the rest for later captures. The capture is
/// recorded `pending` at once and made at the provider in the background
/// (`payment.captured` or `payment.capture_failed` follow). Send an
/// `Idempotency-Key`: a retried request captures once.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/captures",
    tag = "payments",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    request_body = CaptureRequest,
    security(("api_key" = ["orders:write"])),
    responses(
        (status = 201, description = "The capture, pending", body = Payment),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, NOT_CAPTURABLE, ILLEGAL_TRANSITION, VALIDATION_FAILED]))),
)]
async fn capture_order(
    auth: Authorized<OrdersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<CaptureRequest>,
) -> ApiResult<(StatusCode, axum::Json<Payment>)> {
    let id: OrderId = parse_id(&id)?;
    let capture = services.payments.capture(&auth.actor(), id, body.amount).await?;
    Ok((StatusCode::CREATED, axum::Json(capture)))
}
