//! `/v1/webhooks`: subscriptions to domain events, and their deliveries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ordo_domain::page::Page;
use ordo_domain::webhook::{Delivery, Webhook};
use ordo_service::Services;
use ordo_service::webhooks::{CURSOR_SCOPE, CreatedWebhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, WebhooksManage};
use crate::error::ApiResult;
use crate::error::codes::{NOT_FOUND, VALIDATION_FAILED};
use crate::extract::{Json, Query};
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(replay_delivery))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    /// An http:// or https:// URL.
    #[schema(example = "https://erp.example/ordo-events")]
    url: String,
    /// Event types to deliver: order.placed, order.paid, order.payment_failed,
    /// order.expired, order.cancelled, order.confirmed, order.fulfilled,
    /// order.completed, invoice.issued.
    #[schema(example = json!(["order.paid", "invoice.issued"]))]
    event_types: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookList {
    items: Vec<Webhook>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListDeliveries {
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
}

/// Subscribe a URL to event types. Deliveries are JSON POSTs signed with
/// `Ordo-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
/// keyed with the secret returned here (once).
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = CreateWebhook,
    security(("api_key" = ["webhooks:manage"])),
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedWebhook),
    ),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn create_webhook(
    auth: Authorized<WebhooksManage>,
    State(services): State<Services>,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<impl IntoResponse> {
    let created = services.webhooks.create(&auth.actor(), &body.url, &body.event_types).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// List webhooks.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    security(("api_key" = ["webhooks:manage"])),
    responses(
        (status = 200, description = "Every webhook", body = WebhookList),
    ),
)]
async fn list_webhooks(
    _auth: Authorized<WebhooksManage>,
    State(services): State<Services>,
) -> ApiResult<axum::Json<WebhookList>> {
    Ok(axum::Json(WebhookList { items: services.webhooks.list().await? }))
}

/// Get a webhook.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    security(("api_key" = ["webhooks:manage"])),
    responses(
        (status = 200, description = "The webhook", body = Webhook),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_webhook(
    _auth: Authorized<WebhooksManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Webhook>> {
    Ok(axum::Json(services.webhooks.get(parse_id(&id)?).await?))
}

/// Delete a webhook: no more deliveries to it.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id")),
    security(("api_key" = ["webhooks:manage"])),
    responses(
        (status = 204, description = "Deleted"),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn delete_webhook(
    auth: Authorized<WebhooksManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    services.webhooks.delete(&auth.actor(), parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's deliveries, oldest first.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Webhook id"), ListDeliveries),
    security(("api_key" = ["webhooks:manage"])),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<Delivery>),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn list_deliveries(
    _auth: Authorized<WebhooksManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(query): Query<ListDeliveries>,
) -> ApiResult<axum::Json<Page<Delivery>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.webhooks.deliveries(parse_id(&id)?, &page).await?))
}

/// Deliver again (for example a failed delivery, once the endpoint is fixed).
#[utoipa::path(
    post,
    path = "/v1/webhooks/deliveries/{id}/replay",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "Delivery id")),
    security(("api_key" = ["webhooks:manage"])),
    responses(
        (status = 200, description = "The delivery, pending again", body = Delivery),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn replay_delivery(
    auth: Authorized<WebhooksManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Delivery>> {
    Ok(axum::Json(services.webhooks.replay(&auth.actor(), parse_id(&id)?).await?))
}
