//! Stock: levels per SKU and location, and receiving or adjusting stock at
//! a location with a reason.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use ordo_domain::auth::Permission;
use ordo_domain::inventory::{self, Location, ReasonCode, SkuStock};
use ordo_domain::page::Cursor;
use ordo_domain::sku::Sku;
use ordo_service::Services;
use ordo_service::inventory::CURSOR_SCOPE;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, csrf_field, shell};
use super::{Action, AdminError, AdminResult, Staff, StaffSession};
use crate::auth::{InventoryRead, InventoryWrite};
use crate::error::ApiError;
use crate::routes::inventory::stock_change;

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/stock", get(list))
        .route("/admin/stock/receipts", post(receive))
        .route("/admin/stock/adjustments", post(adjust))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    /// One SKU to show with its forms.
    sku: Option<String>,
    cursor: Option<String>,
}

async fn list(
    Staff { staff, .. }: Staff<InventoryRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    Ok(stock_page(&services, &staff, &query, None).await?.into_response())
}

async fn stock_page(
    services: &Services,
    staff: &StaffSession,
    query: &ListQuery,
    problem: Option<&ApiError>,
) -> AdminResult<page::HtmlPage> {
    let locations = services.inventory.list_locations().await?;
    let one = match query.sku.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(sku) => {
            let sku = Sku::parse(sku).map_err(|e| ApiError::invalid_query("sku".into(), e.code, e.message))?;
            Some(services.inventory.stock_of(&sku).await?)
        }
        None => None,
    };
    let after = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => Some(
            Cursor::decode_key(CURSOR_SCOPE, cursor)
                .map_err(|e| ApiError::invalid_query("cursor".into(), e.code, e.message))?,
        ),
        None => None,
    };
    let all = services.inventory.list_stock(None, after.as_deref(), 50).await?;
    let content = html! {
        h1 { "Stock" }
        @if let Some(problem) = problem {
            (super::page::problem_notice(problem))
        }
        form.filters method="get" action="/admin/stock" role="search" {
            label { "SKU" input type="text" name="sku" value=[query.sku.as_deref()] required; }
            button type="submit" { "Show" }
        }
        @if let Some(stock) = &one {
            h2 { (stock.sku) }
            (levels(std::slice::from_ref(stock), &locations))
            @if staff.may(Permission::InventoryWrite) {
                (forms(staff, stock, &locations))
            }
        }
        h2 { "All SKUs" }
        @if all.items.is_empty() { p { "No stock yet." } } @else { (levels(&all.items, &locations)) }
        (page::next_page("/admin/stock", &[], all.next_cursor.as_deref()))
    };
    Ok(shell(staff, "/admin/stock", "Stock", &content))
}

fn levels(stocks: &[SkuStock], locations: &[Location]) -> Markup {
    let name = |id: Uuid| locations.iter().find(|l| l.id == id).map_or_else(|| id.to_string(), |l| l.code.clone());
    html! {
        div.table-wrap { table {
            thead { tr { th { "SKU" } th { "Location" } th.num { "On hand" } th.num { "Reserved" } th.num { "Available" } } }
            tbody {
                @for stock in stocks {
                    @for level in &stock.locations {
                        tr {
                            td { a href={ "/admin/stock?sku=" (stock.sku) } { (stock.sku) } }
                            td { (name(level.location_id)) }
                            td.num { (level.on_hand) } td.num { (level.reserved) } td.num { (level.available) }
                        }
                    }
                }
            }
        } }
    }
}

fn location_select(locations: &[Location]) -> Markup {
    html! {
        select name="location_id" required {
            @for l in locations.iter().filter(|l| !l.meta.is_archived()) { option value=(l.id) { (l.code) " — " (l.name) } }
        }
    }
}

fn forms(staff: &StaffSession, stock: &SkuStock, locations: &[Location]) -> Markup {
    html! {
        h2 { "Receive" }
        form.filters method="post" action="/admin/stock/receipts" {
            (csrf_field(staff))
            input type="hidden" name="sku" value=(stock.sku);
            label { "Location" (location_select(locations)) }
            label { "Quantity" input type="number" name="quantity" min="1" required; }
            label { "Note" input type="text" name="note" maxlength="500"; }
            button type="submit" { "Receive" }
        }
        h2 { "Adjust" }
        form.filters method="post" action="/admin/stock/adjustments" {
            (csrf_field(staff))
            input type="hidden" name="sku" value=(stock.sku);
            label { "Location" (location_select(locations)) }
            label { "Change (+ or −)" input type="number" name="delta" required; }
            label { "Reason"
                select name="reason" {
                    @for (value, label) in [("count_correction", "count correction"), ("damaged", "damaged"), ("lost", "lost"), ("found", "found"), ("returned", "returned")] {
                        option value=(value) { (label) }
                    }
                }
            }
            label { "Note" input type="text" name="note" maxlength="500"; }
            button type="submit" { "Adjust" }
        }
    }
}

#[derive(Debug, Deserialize)]
struct ReceiptForm {
    sku: String,
    location_id: String,
    quantity: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Deserialize)]
struct AdjustmentForm {
    sku: String,
    location_id: String,
    delta: String,
    reason: ReasonCode,
    #[serde(default)]
    note: String,
}

/// A whole number from a form field, or a problem naming the field.
fn whole(field: &str, value: &str) -> Result<i64, ApiError> {
    value.trim().parse().map_err(|_| page::invalid(field, format!("`{value}` is not a whole number")))
}

async fn receive(
    State(services): State<Services>,
    action: Action<InventoryWrite, ReceiptForm>,
) -> AdminResult<Response> {
    let form = &action.form;
    let result = async {
        let location_id: Uuid = crate::routes::parse_id(&form.location_id)?;
        let quantity = inventory::parse_receipt_quantity(whole("quantity", &form.quantity)?);
        let change = stock_change(&form.sku, location_id, quantity, "quantity", ReasonCode::Received, Some(&form.note))
            .map_err(ApiError::validation)?;
        services.inventory.change_stock(&action.staff.actor(), "received", change).await.map_err(ApiError::from)
    }
    .await;
    after_change(&services, &action.staff, &form.sku, result).await
}

async fn adjust(
    State(services): State<Services>,
    action: Action<InventoryWrite, AdjustmentForm>,
) -> AdminResult<Response> {
    let form = &action.form;
    let result = async {
        let location_id: Uuid = crate::routes::parse_id(&form.location_id)?;
        let delta = inventory::parse_adjustment(whole("delta", &form.delta)?);
        let change = stock_change(&form.sku, location_id, delta, "delta", form.reason, Some(&form.note))
            .map_err(ApiError::validation)?;
        services.inventory.change_stock(&action.staff.actor(), "adjusted", change).await.map_err(ApiError::from)
    }
    .await;
    after_change(&services, &action.staff, &form.sku, result).await
}

/// Back to the SKU's stock, or its page with what was refused.
async fn after_change(
    services: &Services,
    staff: &StaffSession,
    sku: &str,
    result: Result<inventory::StockLevel, ApiError>,
) -> AdminResult<Response> {
    let query = ListQuery { sku: Some(sku.to_owned()), cursor: None };
    match result {
        Ok(_) => {
            let query = form_urlencoded::Serializer::new(String::new()).append_pair("sku", sku).finish();
            Ok(Redirect::to(&format!("/admin/stock?{query}")).into_response())
        }
        Err(problem) if problem.status().is_server_error() => Err(AdminError::Problem(problem)),
        Err(problem) => {
            let page = stock_page(services, staff, &query, Some(&problem)).await?;
            Ok((problem.status(), page).into_response())
        }
    }
}
