//! Orders: the list with its filters and search, an order's page (lines,
//! payments and refunds, returns, invoices and credit notes, timeline), and
//! the actions on it: confirm, fulfil, cancel, refund, and a return from
//! its request to its receipt.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use ordo_domain::OrderId;
use ordo_domain::auth::Permission;
use ordo_domain::customer::CustomerFilter;
use ordo_domain::email::Email;
use ordo_domain::inventory::Location;
use ordo_domain::order::{Order, OrderFilter, OrderStatus};
use ordo_domain::page::PageRequest;
use ordo_domain::payment::{Payment, PaymentKind, PaymentStatus};
use ordo_domain::returns::{Disposition, Return, ReturnFilter, ReturnStatus, returned_units};
use ordo_service::Services;
use ordo_service::payments::RefundAsk;
use ordo_service::returns::Receipt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::page::{self, csrf_field, money, shell, status, when};
use super::{Action, AdminError, AdminResult, Button, Staff, StaffSession};
use crate::auth::{OrdersRead, OrdersWrite};
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
        .route("/admin/orders/{id}/returns", post(request_return))
        .route("/admin/returns/{id}/approve", post(approve_return))
        .route("/admin/returns/{id}/reject", post(reject_return))
        .route("/admin/returns/{id}/receive", post(receive_return))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    market: Option<String>,
    /// An order id, or a customer's e-mail address.
    q: Option<String>,
    /// Placed on or after this day (`YYYY-MM-DD`, UTC).
    from: Option<String>,
    /// Placed on or before this day.
    to: Option<String>,
    cursor: Option<String>,
}

/// The start of the day a filter field names (UTC), or a 400 page.
fn day_start(
    field: &str,
    value: Option<&str>,
    days_after: u64,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let day = page::parse_day(value).map_err(|m| ApiError::invalid_query(field.to_owned(), "invalid_date", m))?;
    Ok(day.checked_add_days(chrono::Days::new(days_after)).map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
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
        created_from: day_start("from", query.from.as_deref(), 0)?,
        // The `to` day is included: up to the start of the next.
        created_to: day_start("to", query.to.as_deref(), 1)?,
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
            label { "Placed from" input type="date" name="from" value=[query.from.as_deref()]; }
            label { "to" input type="date" name="to" value=[query.to.as_deref()]; }
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
        (page::next_page("/admin/orders", &[
            ("status", query.status.clone()),
            ("market", query.market.clone()),
            ("from", query.from.clone()),
            ("to", query.to.clone()),
            ("q", query.q.clone()),
        ], orders.next_cursor.as_deref()))
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
    refusal: Option<&Refusal<'_>>,
) -> AdminResult<page::HtmlPage> {
    let order = services.orders.order(id).await?;
    let events = services.orders.events(id).await?;
    let payments = services.payments.of_order(id).await?;
    let of_order = ReturnFilter { order_id: Some(id), status: None };
    let returns = services.returns.list(&of_order, &PageRequest { limit: 50, after: None }).await?.items;
    let (invoices, credit_notes) = if staff.may(Permission::InvoicesRead) {
        let first = PageRequest { limit: 20, after: None };
        (
            services.invoices.list(Some(*id.as_uuid()), &first).await?.items,
            services.invoices.list_credit_notes(Some(*id.as_uuid()), &first).await?.items,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let may_write = staff.may(Permission::OrdersWrite);
    // Where an approved return can be received: asked for only when one is.
    let locations = if may_write && returns.iter().any(|r| r.status == ReturnStatus::Approved) {
        services.inventory.list_locations().await?
    } else {
        Vec::new()
    };
    let title = format!("Order {}", order.id);
    let content = html! {
        h1 { "Order " (order.id) }
        @if let Some(refusal) = refusal { (page::problem_notice(refusal.problem)) }
        dl.facts {
            dt { "Status" } dd { (status(order.status.as_str())) }
            dt { "Market" } dd { (order.market) }
            dt { "Customer" } dd {
                @if staff.may(Permission::CustomersRead) {
                    a href={ "/admin/customers/" (order.customer_id) } { (order.customer_id) }
                } @else { (order.customer_id) }
            }
            dt { "Placed" } dd { (when(order.created_at)) }
            dt { "Total" } dd { (money(order.total, order.currency)) " (tax " (money(order.tax, order.currency)) ", shipping " (money(order.shipping.total, order.currency)) ")" }
            dt { "Ship to" } dd {
                (order.shipping_address.line1) ", "
                @if let Some(code) = &order.shipping_address.postal_code { (code) " " }
                (order.shipping_address.city) ", " (order.shipping_address.country)
            }
        }
        @if may_write {
            (actions(staff, &order, refundable(&payments), refusal))
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
        (returns_section(staff, &order, &returns, &locations, refusal))
        @if staff.may(Permission::InvoicesRead) {
            h2 { "Invoices and credit notes" }
            @if invoices.is_empty() && credit_notes.is_empty() { p { "None yet." } } @else {
                div.table-wrap { table {
                    thead { tr { th { "Document" } th { "Issued" } th { "Why" } th.num { "Total" } th { "File" } } }
                    tbody {
                        @for invoice in &invoices { tr {
                            td { "Invoice " (invoice.number) } td { (when(invoice.issued_at)) } td {}
                            td.num { (money(invoice.total, invoice.currency)) }
                            td { a href={ "/admin/invoices/" (invoice.id) "/pdf" } { "PDF" } }
                        } }
                        @for note in &credit_notes { tr {
                            td { "Credit note " (note.number) } td { (when(note.issued_at)) } td { (note.reason.as_str()) }
                            td.num { "−" (money(note.total, note.currency)) }
                            td { a href={ "/admin/credit-notes/" (note.id) "/pdf" } { "PDF" } }
                        } }
                    }
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
fn actions(staff: &StaffSession, order: &Order, refundable: i64, refusal: Option<&Refusal>) -> Markup {
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
                            (beside(refusal, "fulfil", &format!("line_{}", line.line)))
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
                        (beside(refusal, "refund", "amount"))
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

/// The order's returns with the step each one is at, and the form that
/// requests one for shipped units no other return takes.
fn returns_section(
    staff: &StaffSession,
    order: &Order,
    returns: &[Return],
    locations: &[Location],
    refusal: Option<&Refusal>,
) -> Markup {
    let may_write = staff.may(Permission::OrdersWrite);
    let taken = returned_units(returns);
    let returnable: Vec<(&ordo_domain::order::OrderLine, i64)> = order
        .lines
        .iter()
        .map(|l| (l, l.shipped_quantity - taken.get(&l.line).copied().unwrap_or(0)))
        .filter(|(_, units)| *units > 0)
        .collect();
    if returns.is_empty() && (returnable.is_empty() || !may_write) {
        return html! {};
    }
    html! {
        h2 { "Returns" }
        @if !returns.is_empty() {
            div.table-wrap { table {
                thead { tr { th { "Asked" } th { "Units" } th { "Reason" } th { "Status" } th.num { "Refunded" } th { "Next step" } } }
                tbody { @for r in returns { tr {
                    td { (when(r.created_at)) }
                    td { @for (i, line) in r.lines.iter().enumerate() {
                        @if i > 0 { br; }
                        (line.quantity) " × " (line.sku) " (line " (line.line) ")"
                        @if let Some(d) = line.disposition { " → " (d.as_str()) }
                    } }
                    td { (r.reason.as_deref().unwrap_or("")) @if let Some(why) = &r.rejection_reason { br; small { "Rejected: " (why) } } }
                    td { (status(r.status.as_str())) }
                    td.num { @if r.status == ReturnStatus::Received { (money(r.refunded, order.currency)) } }
                    td { @if may_write { (return_step(staff, r, locations, refusal)) } }
                } } }
            } }
        }
        @if may_write && !returnable.is_empty() {
            form.filters method="post" action={ "/admin/orders/" (order.id) "/returns" } {
                (csrf_field(staff))
                @for (line, units) in &returnable {
                    label { "Return of line " (line.line) " (" (line.sku) ", up to " (units) ")"
                        input type="number" name={ "line_" (line.line) } min="0" max=(units) value="0";
                        (beside(refusal, "return", &format!("line_{}", line.line)))
                    }
                }
                label { "Reason (optional)" input type="text" name="reason" maxlength="500"; }
                button.secondary type="submit" { "Request return" }
            }
        }
    }
}

/// The forms that move a return on: approve or reject a requested one,
/// receive an approved one at a location with each line's disposition.
fn return_step(staff: &StaffSession, r: &Return, locations: &[Location], refusal: Option<&Refusal>) -> Markup {
    html! {
        @match r.status {
            ReturnStatus::Requested => {
                form method="post" action={ "/admin/returns/" (r.id) "/approve" } {
                    (csrf_field(staff)) button type="submit" { "Approve" }
                }
                form.filters method="post" action={ "/admin/returns/" (r.id) "/reject" } {
                    (csrf_field(staff))
                    label { "Why (optional)" input type="text" name="reason" maxlength="500"; }
                    button.danger type="submit" { "Reject" }
                }
            }
            ReturnStatus::Approved => {
                form.filters method="post" action={ "/admin/returns/" (r.id) "/receive" } {
                    (csrf_field(staff))
                    label { "Received at"
                        select name="location_id" required {
                            @for l in locations.iter().filter(|l| !l.meta.is_archived()) { option value=(l.id) { (l.code) " — " (l.name) } }
                        }
                        (beside(refusal, "receive", "location_id"))
                    }
                    @for line in &r.lines {
                        label { "Line " (line.line) " (" (line.sku) ") goes to"
                            select name={ "line_" (line.line) } {
                                option value="sellable" { "sellable stock" }
                                option value="damaged" { "damaged stock" }
                            }
                            (beside(refusal, "receive", &format!("line_{}", line.line)))
                        }
                    }
                    button type="submit" { "Receive" }
                }
            }
            ReturnStatus::Rejected | ReturnStatus::Received => {}
        }
    }
}

/// A serialised enum's name (`capture`, `succeeded`).
fn label(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Answers an action: back to the order's page, or the page with what was
/// refused (and the status the API would answer).
async fn after_action<E: Into<ApiError>>(
    services: &Services,
    staff: &StaffSession,
    id: OrderId,
    action: &'static str,
    result: Result<(), E>,
) -> AdminResult<Response> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/admin/orders/{id}")).into_response()),
        Err(e) => {
            let problem: ApiError = e.into();
            if problem.status().is_server_error() {
                return Err(AdminError::Problem(problem));
            }
            let page = order_page(services, staff, id, Some(&Refusal { action, problem: &problem })).await?;
            Ok((problem.status(), page).into_response())
        }
    }
}

/// An action the services refused: which form (`refund`, `fulfil`…) and
/// the problem, shown at the page's top and beside the fields it names.
pub(super) struct Refusal<'a> {
    action: &'static str,
    problem: &'a ApiError,
}

/// The refusal's problem with `field` of the `action` form, beside it.
fn beside(refusal: Option<&Refusal>, action: &str, field: &str) -> Markup {
    let Some(refusal) = refusal.filter(|r| r.action == action) else { return html! {} };
    html! {
        @for e in refusal.problem.field_errors().iter().filter(|e| e.field == field) {
            span.field-problem role="alert" { (e.message) }
        }
    }
}

async fn confirm(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, Button>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let result = services.orders.confirm(&action.staff.actor(), id, None).await.map(drop);
    after_action(&services, &action.staff, id, "confirm", result).await
}

async fn cancel(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, Button>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let result = services.orders.cancel(&action.staff.actor(), id, None).await.map(drop);
    after_action(&services, &action.staff, id, "cancel", result).await
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
    let result = match page::parse_amount(&action.form.amount, order.currency) {
        Ok(amount) => services
            .payments
            .refund(&action.staff.actor(), id, RefundAsk::Amount(amount))
            .await
            .map(drop)
            .map_err(ApiError::from),
        Err(message) => Err(page::invalid("amount", message)),
    };
    after_action(&services, &action.staff, id, "refund", result).await
}

async fn fulfil(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, FulfilForm>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let result = match line_units(&action.form.lines) {
        Ok(shipments) => {
            services.orders.fulfil(&action.staff.actor(), id, None, shipments).await.map(drop).map_err(ApiError::from)
        }
        Err(problem) => Err(problem),
    };
    after_action(&services, &action.staff, id, "fulfil", result).await
}

/// The order line a form field `line_<n>` is about.
fn line_number(field: &str) -> Option<i32> {
    field.strip_prefix("line_")?.parse().ok()
}

/// The units per line a form names as `line_<n>` (lines left at 0 are
/// left out).
fn line_units(fields: &std::collections::BTreeMap<String, String>) -> Result<Vec<(i32, i64)>, ApiError> {
    let mut units = Vec::new();
    for (name, value) in fields {
        let Some(line) = line_number(name) else { continue };
        let quantity: i64 = value
            .trim()
            .parse()
            .map_err(|_| page::invalid(name.clone(), format!("`{value}` is not a whole number of units")))?;
        if quantity > 0 {
            units.push((line, quantity));
        }
    }
    Ok(units)
}

/// The return form: `line_<n>` = units of line `n`, and a reason.
#[derive(Debug, Deserialize)]
struct ReturnForm {
    #[serde(default)]
    reason: String,
    #[serde(flatten)]
    lines: std::collections::BTreeMap<String, String>,
}

async fn request_return(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, ReturnForm>,
) -> AdminResult<Response> {
    let id: OrderId = crate::routes::parse_id(&id)?;
    let reason = Some(action.form.reason.as_str()).filter(|r| !r.trim().is_empty());
    let result = match line_units(&action.form.lines) {
        Ok(units) => {
            services.returns.request(&action.staff.actor(), id, &units, reason).await.map(drop).map_err(ApiError::from)
        }
        Err(problem) => Err(problem),
    };
    after_action(&services, &action.staff, id, "return", result).await
}

/// A step on a return answers with its order's page, so the return is
/// looked up first (an unknown one is a 404 page).
async fn return_order(services: &Services, id: &str) -> AdminResult<(Uuid, OrderId)> {
    let id: Uuid = crate::routes::parse_id(id)?;
    Ok((id, services.returns.get(id).await?.order_id))
}

async fn approve_return(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, Button>,
) -> AdminResult<Response> {
    let (id, order) = return_order(&services, &id).await?;
    let result = services.returns.approve(&action.staff.actor(), id).await.map(drop);
    after_action(&services, &action.staff, order, "approve", result).await
}

#[derive(Debug, Deserialize)]
struct RejectForm {
    #[serde(default)]
    reason: String,
}

async fn reject_return(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, RejectForm>,
) -> AdminResult<Response> {
    let (id, order) = return_order(&services, &id).await?;
    let reason = Some(action.form.reason.as_str()).filter(|r| !r.trim().is_empty());
    let result = services.returns.reject(&action.staff.actor(), id, reason).await.map(drop);
    after_action(&services, &action.staff, order, "reject", result).await
}

/// The receive form: `location_id`, and `line_<n>` = `sellable` or
/// `damaged` for each line of the return.
#[derive(Debug, Deserialize)]
struct ReceiveForm {
    #[serde(default)]
    location_id: String,
    #[serde(flatten)]
    lines: std::collections::BTreeMap<String, String>,
}

async fn receive_return(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<OrdersWrite, ReceiveForm>,
) -> AdminResult<Response> {
    let (id, order) = return_order(&services, &id).await?;
    let result = match receipt(&action.form) {
        Ok(receipt) => {
            services.returns.receive(&action.staff.actor(), id, &receipt).await.map(drop).map_err(ApiError::from)
        }
        Err(problem) => Err(problem),
    };
    after_action(&services, &action.staff, order, "receive", result).await
}

/// The receipt the receive form asks for.
fn receipt(form: &ReceiveForm) -> Result<Receipt, ApiError> {
    let location_id: Uuid = form
        .location_id
        .trim()
        .parse()
        .map_err(|_| page::invalid("location_id", "choose where the return was received"))?;
    let mut lines = std::collections::HashMap::new();
    for (name, value) in &form.lines {
        let Some(line) = line_number(name) else { continue };
        let disposition = Disposition::parse(value)
            .ok_or_else(|| page::invalid(name.clone(), format!("`{value}` is not sellable or damaged stock")))?;
        lines.insert(line, disposition);
    }
    Ok(Receipt { location_id, disposition: Disposition::Sellable, lines })
}
