//! Products with their prices, and customers with their addresses: read
//! pages, filtered and cursor-paginated.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use ordo_domain::catalog::ProductFilter;
use ordo_domain::customer::CustomerFilter;
use ordo_domain::email::Email;
use ordo_domain::sku::SkuPrefix;
use ordo_service::Services;
use serde::Deserialize;

use super::page::{self, money, shell, when};
use super::{AdminResult, Staff};
use crate::auth::{CatalogRead, CustomersRead};
use crate::error::ApiError;
use crate::routes::parse_page;

pub(super) fn routes() -> Router<Services> {
    Router::new().route("/admin/products", get(products)).route("/admin/customers", get(customers))
}

#[derive(Debug, Default, Deserialize)]
struct ProductQuery {
    sku_prefix: Option<String>,
    /// `archived` lists archived products instead of live ones.
    show: Option<String>,
    cursor: Option<String>,
}

async fn products(
    Staff { staff, .. }: Staff<CatalogRead>,
    State(services): State<Services>,
    Query(query): Query<ProductQuery>,
) -> AdminResult<Response> {
    let prefix = match query.sku_prefix.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            Some(SkuPrefix::parse(p).map_err(|e| ApiError::invalid_query("sku_prefix".into(), e.code, e.message))?)
        }
        None => None,
    };
    let archived = query.show.as_deref() == Some("archived");
    let filter = ProductFilter { sku_prefix: prefix, archived, ..ProductFilter::default() };
    let page_request = parse_page(ordo_service::catalog::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let products = services.catalog.list_products(&filter, &page_request).await?;
    let content = html! {
        h1 { "Products" }
        form.filters method="get" action="/admin/products" role="search" {
            label { "SKU starts with" input type="text" name="sku_prefix" value=[query.sku_prefix.as_deref()]; }
            label { "Show"
                select name="show" {
                    option value="live" { "live products" }
                    option value="archived" selected[archived] { "archived products" }
                }
            }
            button type="submit" { "Filter" }
        }
        @if products.items.is_empty() { p { "No products match." } } @else {
            div.table-wrap { table {
                thead { tr { th { "SKU" } th { "Name" } th { "Prices" } th { "Tax class" } th { "Sold" } th { "Changed" } } }
                tbody { @for p in &products.items { tr {
                    td { a href={ "/admin/stock?sku=" (p.sku) } { (p.sku) } }
                    td { (p.name) }
                    td { @for (i, price) in p.prices.as_slice().iter().enumerate() { @if i > 0 { ", " } (money(price.amount, price.currency)) } }
                    td { (p.tax_class.as_str()) }
                    td { @if p.active { "yes" } @else { "no" } }
                    td { (when(p.meta.updated_at)) }
                } } }
            } }
        }
        (page::next_page("/admin/products", &[("sku_prefix", query.sku_prefix.clone()), ("show", query.show.clone())], products.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/products", "Products", &content).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct CustomerQuery {
    email: Option<String>,
    cursor: Option<String>,
}

async fn customers(
    Staff { staff, .. }: Staff<CustomersRead>,
    State(services): State<Services>,
    Query(query): Query<CustomerQuery>,
) -> AdminResult<Response> {
    let email = match query.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(Email::parse(e).map_err(|err| ApiError::invalid_query("email".into(), err.code, err.message))?),
        None => None,
    };
    let filter = CustomerFilter { email, ..CustomerFilter::default() };
    let page_request = parse_page(ordo_service::customers::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let customers = services.customers.list_customers(&filter, &page_request).await?;
    let content = html! {
        h1 { "Customers" }
        form.filters method="get" action="/admin/customers" role="search" {
            label { "E-mail address" input type="search" name="email" value=[query.email.as_deref()]; }
            button type="submit" { "Find" }
        }
        @if customers.items.is_empty() { p { "No customers match." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "E-mail" } th { "Addresses" } th { "Since" } th { span.visually-hidden { "Orders" } } } }
                tbody { @for c in &customers.items { tr {
                    td { (c.name) }
                    td { (c.email.as_str()) }
                    td { @for a in &c.addresses { div { (a.line1) ", " @if let Some(code) = &a.postal_code { (code) " " } (a.city) ", " (a.country) } } }
                    td { (when(c.meta.created_at)) }
                    td { a href={ "/admin/orders?q=" (form_urlencoded::byte_serialize(c.email.as_str().as_bytes()).collect::<String>()) } { "Orders" } }
                } } }
            } }
        }
        (page::next_page("/admin/customers", &[("email", query.email.clone())], customers.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/customers", "Customers", &content).into_response())
}
