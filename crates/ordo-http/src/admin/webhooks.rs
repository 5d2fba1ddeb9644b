//! Webhooks: the endpoints, each one's deliveries with their attempts and
//! last answer, and replaying a delivery.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use ordo_service::Services;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, csrf_field, shell, status, when};
use super::{Action, AdminResult, Button, Staff};
use crate::auth::WebhooksManage;
use crate::routes::{parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/webhooks", get(list))
        .route("/admin/webhooks/{id}", get(deliveries))
        .route("/admin/webhooks/{id}/deliveries/{delivery}/replay", post(replay))
}

async fn list(Staff { staff, .. }: Staff<WebhooksManage>, State(services): State<Services>) -> AdminResult<Response> {
    let webhooks = services.webhooks.list().await?;
    let content = html! {
        h1 { "Webhooks" }
        @if webhooks.is_empty() { p { "No webhooks. Add one with " code { "POST /v1/webhooks" } "." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Endpoint" } th { "Events" } th { "Since" } } }
                tbody { @for w in &webhooks { tr {
                    td { a href={ "/admin/webhooks/" (w.id) } { (w.url) } }
                    td { (w.event_types.join(", ")) }
                    td { (when(w.created_at)) }
                } } }
            } }
        }
    };
    Ok(shell(&staff, "/admin/webhooks", "Webhooks", &content).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct DeliveriesQuery {
    cursor: Option<String>,
}

async fn deliveries(
    Staff { staff, .. }: Staff<WebhooksManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(query): Query<DeliveriesQuery>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let webhook = services.webhooks.get(id).await?;
    let page_request = parse_page(ordo_service::webhooks::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let deliveries = services.webhooks.deliveries(id, &page_request).await?;
    let content = html! {
        h1 { "Deliveries to " (webhook.url) }
        @if deliveries.items.is_empty() { p { "Nothing delivered yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Event" } th { "Order" } th { "Status" } th.num { "Attempts" } th { "Last answer" } th { "Created" } th { span.visually-hidden { "Actions" } } } }
                tbody { @for d in &deliveries.items { tr {
                    td { (d.event_type) }
                    td { a href={ "/admin/orders/" (d.order_id) } { (d.order_id) } }
                    td { (status(d.status.as_str())) }
                    td.num { (d.attempts) }
                    td { @if let Some(code) = d.last_status_code { (code) " " } @if let Some(e) = &d.last_error { small { (e) } } }
                    td { (when(d.created_at)) }
                    td { form method="post" action={ "/admin/webhooks/" (webhook.id) "/deliveries/" (d.id) "/replay" } {
                        (csrf_field(&staff))
                        button.secondary type="submit" aria-label={ "Replay " (d.event_type) " " (d.id) } { "Replay" }
                    } }
                } } }
            } }
        }
        (page::next_page(&format!("/admin/webhooks/{}", webhook.id), &[], deliveries.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/webhooks", "Webhook deliveries", &content).into_response())
}

async fn replay(
    State(services): State<Services>,
    Path((id, delivery)): Path<(String, String)>,
    action: Action<WebhooksManage, Button>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let delivery: Uuid = parse_id(&delivery)?;
    services.webhooks.replay(&action.staff.actor(), delivery).await?;
    Ok(Redirect::to(&format!("/admin/webhooks/{id}")).into_response())
}
