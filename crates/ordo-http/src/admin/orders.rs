//! Orders: the list with its filters and search, an order's page (lines,
//! payments, invoices, timeline), and the actions on it.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use ordo_domain::OrderId;
use ordo_domain::auth::Permission;
use ordo_domain::customer::CustomerFilter;
use ordo_domain::email::Email;
use ordo_domain::order::{Order, OrderFilter, OrderStatus};
use ordo_domain::page::PageRequest;
use ordo_domain::payment::{Payment, PaymentKind, PaymentStatus};
use ordo_service::Services;
use ordo_service::payments::RefundAsk;
use serde::{Deserialize, Serialize};

use super::page::{self, csrf_field, money, shell, status, when};
use super::{Action, AdminError, AdminResult, Button, Staff, StaffSession};
use crate::auth::{InvoicesRead, OrdersRead, OrdersWrite};
use crate::error::ApiError;
use crate::routes::parse_page;

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/orders", get(list))
        .route("/admin/orders/{id}", get(show))
        .route("/admin/orders/{id}/confirm", post(confirm))
        .route("/admin/orders/{id}/cancel", post(cancel))
        .route("/admin/orders/{id}/fulfil", post(fulfil))
        .route("/admin/orders/{id}/refund", post(refund))
        .route("/admin/invoices/{id}/pdf", get(invoice_pdf))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    market: Option<String>,
    /// An order id, or a customer's e-mail address.
    q: Option<String>,
    cursor: Option<String>,
}

async fn list(
    Staff { staff, .. }: Staff<OrdersRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    // An order id goes straight to its page.
    if let Some(id) = search.and_then(|q| q.parse::<OrderId>().ok()) {
        return Ok(Redirect::to(&format!("/admin/orders/{id}")).into_response());
    }
    let status_filter = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_query("status".into(), "invalid_status", format!("`{s}` is not an order status"))
        })?),
        None => None,
    };
    let mut filter = OrderFilter {
        status: status_filter,
        market: query.market.clone().filter(|m| !m.is_empty()),
        ..OrderFilter::default()
    };
    let mut unknown_customer = false;
    if let Some(q) = search {
        let email = Email::parse(q).map_err(|e| {
            ApiError::invalid_query(
                "q".into(),
                e.code,
                format!("search by an order id or a customer's e-mail address: {}", e.message),
            )
        })?;
        let customers = services
            .customers
            .list_customers(
                &CustomerFilter { email: Some(email), ..CustomerFilter::default() },
                &PageRequest { limit: 1, after: None },
            )
            .await?;
        match customers.items.first() {
            Some(customer) => filter.customer_id = Some(customer.id),
            None => unknown_customer = true,
        }
    }
    let page_request = parse_page(ordo_service::orders::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let orders = if unknown_customer {
        ordo_domain::page::Page { items: Vec::new(), next_cursor: None }
    } else {
        services.orders.list_orders(&filter, &page_request).await?
    };
    let content = html! {
        h1 { "Orders" }
        form.filters method="get" action="/admin/orders" role="search" {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in OrderStatus::ALL {
                        option value=(s.as_str()) selected[query.status.as_deref() == Some(s.as_str())] { (s.as_str().replace('_', " ")) }
                    }
                }
            }
            label { "Market" input type="text" name="market" size="6" value=[query.market.as_deref()]; }
            label { "Order id or customer e-mail" input type="search" name="q" value=[query.q.as_deref()]; }
            button type="submit" { "Filter" }
        }
        @if orders.items.is_empty() {
            p { "No orders match." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Order" } th { "Placed" } th { "Market" } th { "Status" } th.num { "Total" } } }
                tbody {
                    @for order in &orders.items {
                        tr {
                            td { a href={ "/admin/orders/" (order.id) } { (order.id) } }
                            td { (when(order.created_at)) }
                            td { (order.market) }
                            td { (status(order.status.as_str())) }
                            td.num { (money(order.total, order.currency)) }
                        }
                    }
                }
            } }
        }
        (page::next_page("/admin/orders", &[("status", query.status.clone()), ("market", query.market.clone()), ("q", query.q.clone())], orders.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/orders", "Orders", &content).into_response())
}

async fn show(
    Staff { staff, .. }: Staff<OrdersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    Ok(order_page(&services, &staff, id, None).await?.into_response())
}

/// An order's page, with `problem` (an action refused) at its top.
async fn order_page(
    services: &Services,
    staff: &StaffSession,
    id: OrderId,
    problem: Option<&ApiError>,
) -> AdminResult<page::HtmlPage> {
    let order = services.orders.order(id).await?;
    let events = services.orders.events(id).await?;
    let payments = services.payments.of_order(id).await?;
    let invoices = if staff.may(Permission::InvoicesRead) {
        services.invoices.list(Some(*id.as_uuid()), &PageRequest { limit: 20, after: None }).await?.items
    } else {
        Vec::new()
    };
    let title = format!("Order {}", order.id);
    let content = html! {
        h1 { "Order " (order.id) }
        @if let Some(problem) = problem { (page::problem_notice(problem)) }
        dl.facts {
            dt { "Status" } dd { (status(order.status.as_str())) }
            dt { "Market" } dd { (order.market) }
            dt { "Customer" } dd { (order.customer_id) }
            dt { "Placed" } dd { (when(order.created_at)) }
            dt { "Total" } dd { (money(order.total, order.currency)) " (tax " (money(order.tax, order.currency)) ", shipping " (money(order.shipping.total, order.currency)) ")" }
            dt { "Ship to" } dd {
                (order.shipping_address.line1) ", "
                @if let Some(code) = &order.shipping_address.postal_code { (code) " " }
                (order.shipping_address.city) ", " (order.shipping_address.country)
            }
        }
        @if staff.may(Permission::OrdersWrite) {
            (actions(staff, &order, refundable(&payments)))
        }
        h2 { "Lines" }
        div.table-wrap { table {
            thead { tr { th { "#" } th { "SKU" } th { "Product" } th.num { "Quantity" } th.num { "Shipped" } th.num { "Unit price" } th.num { "Total" } } }
            tbody { @for line in &order.lines { tr {
                td { (line.line) } td { (line.sku) } td { (line.name) }
                td.num { (line.quantity) } td.num { (line.shipped_quantity) }
                td.num { (money(line.unit_price, order.currency)) } td.num { (money(line.total, order.currency)) }
            } } }
        } }
        h2 { "Payments" }
        @if payments.is_empty() { p { "None." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Kind" } th { "Status" } th.num { "Amount" } th { "Provider" } th { "When" } } }
                tbody { @for p in &payments { tr {
                    td { (label(&p.kind)) } td { (status(&label(&p.status))) } td.num { (money(p.amount, p.currency)) }
                    td { (p.provider) } td { (when(p.updated_at)) }
                } } }
            } }
        }
        @if staff.may(Permission::InvoicesRead) {
            h2 { "Invoices" }
            @if invoices.is_empty() { p { "None yet." } } @else {
                ul { @for invoice in &invoices {
                    li { (invoice.number) ", issued " (when(invoice.issued_at)) " — "
                        a href={ "/admin/invoices/" (invoice.id) "/pdf" } { "PDF" } }
                } }
            }
        }
        h2 { "Timeline" }
        div.table-wrap { table {
            thead { tr { th { "When" } th { "What" } th { "Status" } th { "Who" } } }
            tbody { @for event in &events { tr {
                td { (when(event.occurred_at)) } td { (event.kind.replace('_', " ")) }
                td { (status(event.to_status.as_str())) } td { (event.actor_name) }
            } } }
        } }
    };
    Ok(shell(staff, "/admin/orders", &title, &content))
}

/// What is captured and not refunded (nor being refunded).
fn refundable(payments: &[Payment]) -> i64 {
    let sum = |kind: PaymentKind, counts: &dyn Fn(PaymentStatus) -> bool| -> i64 {
        payments.iter().filter(|p| p.kind == kind && counts(p.status)).map(|p| p.amount).sum()
    };
    sum(PaymentKind::Capture, &|s| s == PaymentStatus::Succeeded)
        - sum(PaymentKind::Refund, &|s| s != PaymentStatus::Failed)
}

/// The actions the order's status allows, for a role that may take them.
fn actions(staff: &StaffSession, order: &Order, refundable: i64) -> Markup {
    use OrderStatus::*;
    let confirmable = matches!(order.status, Placed | Paid);
    let cancellable = matches!(order.status, Placed | Paid | Confirmed);
    let fulfillable = matches!(order.status, Confirmed | PartiallyFulfilled);
    html! {
        div.actions {
            @if confirmable {
                form method="post" action={ "/admin/orders/" (order.id) "/confirm" } {
                    (csrf_field(staff)) button type="submit" { "Confirm" }
                }
            }
            @if fulfillable {
                form.filters method="post" action={ "/admin/orders/" (order.id) "/fulfil" } {
                    (csrf_field(staff))
                    @for line in order.lines.iter().filter(|l| l.shipped_quantity < l.quantity) {
                        label { "Ship of line " (line.line) " (" (line.sku) ")"
                            input type="number" name={ "line_" (line.line) } min="0" max=(line.quantity - line.shipped_quantity)
                                value=(line.quantity - line.shipped_quantity);
                        }
                    }
                    button type="submit" { "Fulfil" }
                }
            }
            @if refundable > 0 {
                form.filters method="post" action={ "/admin/orders/" (order.id) "/refund" } {
                    (csrf_field(staff))
                    label { "Refund, in " (order.currency.code()) " (up to " (money(refundable, order.currency)) ")"
                        input type="text" name="amount" inputmode="decimal" required;
                    }
                    button.secondary type="submit" { "Refund" }
                }
            }
            @if cancellable {
                form method="post" action={ "/admin/orders/" (order.id) "/cancel" } {
                    (csrf_field(staff)) button.danger type="submit" { "Cancel order" }
                }
            }
        }
    }
}

/// Sends the browser to an invoice's PDF by a short-lived signed link.
async fn invoice_pdf(
    _staff: Staff<InvoicesRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> AdminResult<Response> {
    let id: uuid::Uuid = crate::routes::parse_id(&id)?;
    let link = services.invoices.pdf_link(id, &crate::routes::files::origin(&headers)).await?;
    Ok(Redirect::to(&link.url).into_response())
}

/// A serialised enum's name (`capture`, `succeeded`).
fn label(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Answers an action: back to the order's page, or the page with what was
/// refused (and the status the API would answer).
async fn after_action(
    services: &Services,
    staff: &StaffSession,
    id: OrderId,
    result: Result<Order, ordo_service::ServiceError>,
) -> AdminResult<Response> {
    match result {
        Ok(order) => Ok(Redirect::to(&format!("/admin/orders/{}", order.id)).into_response()),
        Err(e) => {
            let problem = ApiError::from(e);
            if problem.status().is_server_error() {
                return Err(AdminError::Problem(problem));
            }
            let page = order_page(services, staff, id, Some(&problem)).await?;
            Ok((problem.status(), page).into_response())
        }
    }
}

async fn confirm(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, Button>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let result = services.orders.confirm(&action.staff.actor(), id, None).await;
    after_action(&services, &action.staff, id, result).await
}

async fn cancel(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, Button>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let result = services.orders.cancel(&action.staff.actor(), id, None).await;
    after_action(&services, &action.staff, id, result).await
}

/// The fulfil form: `line_<n>` = units to ship of line `n` (and `csrf`).
#[derive(Debug, Deserialize)]
struct FulfilForm {
    #[serde(flatten)]
    lines: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct RefundForm {
    amount: String,
}

async fn refund(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, RefundForm>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let order = services.orders.order(id).await?;
    let amount = page::parse_amount(&action.form.amount, order.currency)
        .map_err(|message| ApiError::invalid_body("amount".into(), format!("amount: {message}")))?;
    let result = services.payments.refund(&action.staff.actor(), id, RefundAsk::Amount(amount)).await.map(|_| order);
    after_action(&services, &action.staff, id, result).await
}

async fn fulfil(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, FulfilForm>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let mut shipments = Vec::new();
    for (name, value) in &action.form.lines {
        let Some(line) = name.strip_prefix("line_").and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let quantity: i64 = value.trim().parse().map_err(|_| {
            ApiError::invalid_body(name.clone(), format!("{name}: `{value}` is not a whole number of units"))
        })?;
        if quantity > 0 {
            shipments.push((line, quantity));
        }
    }
    let result = services.orders.fulfil(&action.staff.actor(), id, None, shipments).await;
    after_action(&services, &action.staff, id, result).await
}
