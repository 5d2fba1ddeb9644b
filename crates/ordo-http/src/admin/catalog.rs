//! Products with their prices: the list, filtered and cursor-paginated,
//! and a product's page, where a role that may write the catalog edits its
//! name, description, tax class, whether it sells and its prices, or
//! archives it. Customers are in `customers`.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use ordo_domain::ProductId;
use ordo_domain::auth::Permission;
use ordo_domain::catalog::{self, NewProduct, Prices, Product, ProductChanges, ProductFilter};
use ordo_domain::market::TaxClass;
use ordo_domain::money::Currency;
use ordo_domain::sku::{Sku, SkuPrefix};
use ordo_domain::validation::ValidationErrors;
use ordo_service::Services;
use serde::Deserialize;

use super::form::{self, FieldAttrs, Fields, FormState, VersionForm};
use super::page::{self, money, shell, when};
use super::{Action, AdminResult, Staff, StaffSession};
use crate::auth::{CatalogRead, CatalogWrite};
use crate::error::ApiError;
use crate::routes::{parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/products", get(products).post(create))
        .route("/admin/products/new", get(new_form))
        .route("/admin/products/{id}", get(product).post(update))
        .route("/admin/products/{id}/archive", post(archive))
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
        @if staff.may(Permission::CatalogWrite) { p { a href="/admin/products/new" { "New product" } } }
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
                    td { a href={ "/admin/products/" (p.id) } { (p.sku) } }
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

/// The form's fields as the product has them: `price_<CODE>` per price.
fn stored(product: &Product) -> BTreeMap<String, String> {
    let mut values = BTreeMap::from([
        ("version".to_owned(), product.meta.version.to_string()),
        ("name".to_owned(), product.name.clone()),
        ("description".to_owned(), product.description.clone().unwrap_or_default()),
        ("tax_class".to_owned(), product.tax_class.as_str().to_owned()),
        ("active".to_owned(), if product.active { "on".to_owned() } else { String::new() }),
    ]);
    for price in product.prices.as_slice() {
        values.insert(format!("price_{}", price.currency.code()), page::major_units(price.amount, price.currency));
    }
    values
}

async fn product(
    Staff { staff, .. }: Staff<CatalogRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let id: ProductId = parse_id(&id)?;
    let product = services.catalog.product(id).await?;
    let form = FormState::new(stored(&product.product));
    Ok(product_page(&staff, &product.product, &form, None).into_response())
}

/// Where a problem of the product form is shown beside its field.
fn placed(field: &str) -> bool {
    ["sku", "name", "description", "tax_class", "new_currency", "new_price"].contains(&field)
        || field.starts_with("price_")
}

/// The product form's fields but the SKU (which never changes), as `form`
/// holds them, with each one's problem.
fn product_fields(form: &FormState) -> Markup {
    let prices = form.names_with("price_");
    html! {
        (form.input("Name", "name", "text", &FieldAttrs { required: true, maxlength: Some(catalog::NAME_MAX), ..FieldAttrs::default() }))
        (form.input("Description", "description", "textarea", &FieldAttrs { maxlength: Some(catalog::DESCRIPTION_MAX), ..FieldAttrs::default() }))
        (form.select("Tax class", "tax_class", &[("standard", "standard"), ("reduced", "reduced"), ("zero", "zero")]))
        label.check { input type="checkbox" name="active" checked[form.value("active") == "on"]; "Can be sold" }
        fieldset {
            legend { @if prices.is_empty() { "Price" } @else { "Prices (leave one empty to remove it)" } }
            @for name in &prices {
                (form.input(&name["price_".len()..], name, "text", &FieldAttrs { size: Some(10), inputmode: Some("decimal"), ..FieldAttrs::default() }))
            }
            (form.input(if prices.is_empty() { "Currency" } else { "Add a currency" }, "new_currency", "text", &FieldAttrs { size: Some(4), maxlength: Some(3), ..FieldAttrs::default() }))
            (form.input("its price", "new_price", "text", &FieldAttrs { size: Some(10), inputmode: Some("decimal"), ..FieldAttrs::default() }))
        }
    }
}

/// A product's page: its facts, and for a role that may write the catalog,
/// the edit form as `form` holds it, with `problem` above it.
fn product_page(
    staff: &StaffSession,
    product: &Product,
    form: &FormState,
    problem: Option<&ApiError>,
) -> page::HtmlPage {
    let may_write = staff.may(Permission::CatalogWrite);
    let archived = product.meta.is_archived();
    let content = html! {
        h1 { (product.sku) " — " (product.name) }
        @if let Some(problem) = problem { (page::problem_notice(problem)) }
        dl.facts {
            dt { "SKU" } dd { (product.sku) " (" a href={ "/admin/stock?sku=" (product.sku) } { "stock" } ")" }
            dt { "State" } dd { @if archived { "archived" } @else if product.active { "sold" } @else { "not sold" } }
            dt { "Prices" } dd { @for (i, price) in product.prices.as_slice().iter().enumerate() { @if i > 0 { ", " } (money(price.amount, price.currency)) } }
            dt { "Changed" } dd { (when(product.meta.updated_at)) ", version " (product.meta.version) }
        }
        @if may_write && !archived {
            (form::edit_and_archive(staff, &format!("/admin/products/{}", product.id), form, placed, &product_fields(form), "Archive product"))
        }
    };
    shell(staff, "/admin/products", &product.name, &content)
}

/// The page with the form that creates a product.
fn new_product_page(staff: &StaffSession, form: &FormState, problem: Option<&ApiError>) -> page::HtmlPage {
    let fields = html! {
        (form.input("SKU (never changes)", "sku", "text", &FieldAttrs { required: true, maxlength: Some(ordo_domain::sku::MAX_LEN), ..FieldAttrs::default() }))
        (product_fields(form))
    };
    let content = html! {
        h1 { "New product" }
        @if let Some(problem) = problem { (page::problem_notice(problem)) }
        (form::create_form(staff, "/admin/products", form, placed, &fields))
    };
    shell(staff, "/admin/products", "New product", &content)
}

/// What the product form says, each part checked; problems are named by
/// the form field they concern.
struct ProductFields {
    name: Option<String>,
    description: Option<Option<String>>,
    tax_class: Option<TaxClass>,
    active: bool,
    prices: Option<Prices>,
}

fn read_product(fields: &BTreeMap<String, String>, errors: &mut ValidationErrors) -> ProductFields {
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let name = errors.check("name", catalog::parse_name(field("name")));
    let description = errors.check("description", catalog::parse_description(Some(field("description"))));
    let tax_class = TaxClass::parse(field("tax_class"));
    if tax_class.is_none() {
        errors.add("tax_class", "invalid_tax_class", "standard, reduced or zero");
    }
    // Each price by the field it came from, to name that field's problems.
    let mut raw: Vec<(i64, String)> = Vec::new();
    let mut origin: Vec<&str> = Vec::new();
    for (name, value) in fields.iter().filter(|(k, _)| k.starts_with("price_")) {
        let code = &name["price_".len()..];
        if value.trim().is_empty() {
            continue;
        }
        match Currency::parse(code) {
            Ok(currency) => match page::parse_amount(value, currency) {
                Ok(amount) => {
                    raw.push((amount, code.to_owned()));
                    origin.push(name);
                }
                Err(message) => errors.add(name.clone(), "invalid_amount", message),
            },
            Err(e) => errors.add(name.clone(), e.code, e.message),
        }
    }
    let (new_currency, new_price) = (field("new_currency").trim(), field("new_price").trim());
    if !(new_currency.is_empty() && new_price.is_empty()) {
        match Currency::parse(&new_currency.to_ascii_uppercase()) {
            Ok(currency) => match page::parse_amount(new_price, currency) {
                Ok(amount) => {
                    raw.push((amount, currency.code().to_owned()));
                    origin.push("new_currency");
                }
                Err(message) => errors.add("new_price", "invalid_amount", message),
            },
            Err(e) => errors.add("new_currency", e.code, e.message),
        }
    }
    let prices = match Prices::parse(&raw) {
        Ok(prices) => Some(prices),
        Err(bad) => {
            for e in bad.into_errors() {
                // `[i].currency` or `[i].amount`: the field price `i` came from.
                let index = e.field.trim_start_matches('[').split(']').next().and_then(|i| i.parse::<usize>().ok());
                let at =
                    index.and_then(|i| origin.get(i)).map_or_else(|| "new_currency".to_owned(), |f| (*f).to_owned());
                let at = if at == "new_currency" && e.field.ends_with("amount") { "new_price".to_owned() } else { at };
                errors.add(at, e.code, e.message);
            }
            None
        }
    };
    ProductFields { name, description, tax_class, active: field("active") == "on", prices }
}

/// Reads the edit form into the changes it asks for and the version it was
/// read at, or every problem, each named by the form field it concerns.
fn changes(fields: &BTreeMap<String, String>) -> Result<(i64, ProductChanges), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let version = fields.get("version").and_then(|v| v.trim().parse::<i64>().ok());
    if version.is_none() {
        errors.add("version", "required", "the form lost the version it was read at: reload the page");
    }
    let read = read_product(fields, &mut errors);
    errors.into_result(|| {
        (
            version.unwrap_or_default(),
            ProductChanges {
                name: read.name,
                description: Some(read.description.flatten()),
                prices: read.prices,
                active: Some(read.active),
                tax_class: read.tax_class,
            },
        )
    })
}

/// Reads the new-product form, or every problem by its field.
fn new_product(fields: &BTreeMap<String, String>) -> Result<NewProduct, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let sku = errors.check("sku", Sku::parse(fields.get("sku").map_or("", String::as_str).trim()));
    let read = read_product(fields, &mut errors);
    match (sku, read.name, read.description, read.tax_class, read.prices) {
        (Some(sku), Some(name), Some(description), Some(tax_class), Some(prices)) if errors.is_empty() => {
            Ok(NewProduct { sku, name, description, prices, active: read.active, tax_class })
        }
        _ => Err(errors),
    }
}

async fn new_form(Staff { staff, .. }: Staff<CatalogWrite>) -> AdminResult<Response> {
    let form = FormState::new(BTreeMap::from([("active".to_owned(), "on".to_owned())]));
    Ok(new_product_page(&staff, &form, None).into_response())
}

async fn create(State(services): State<Services>, action: Action<CatalogWrite, Fields>) -> AdminResult<Response> {
    let staff = &action.staff;
    let form = FormState::new(action.form.fields);
    let result = match new_product(form.values()) {
        Ok(new) => services.catalog.create_product(&staff.actor(), new).await.map_err(ApiError::from),
        Err(errors) => Err(ApiError::from(errors)),
    };
    let result = result.map(|product| format!("/admin/products/{}", product.id));
    form::answer(result, form, async |form, notice| Ok(new_product_page(staff, form, notice))).await
}

async fn update(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<CatalogWrite, Fields>,
) -> AdminResult<Response> {
    let id: ProductId = parse_id(&id)?;
    let staff = &action.staff;
    let form = FormState::new(action.form.fields);
    let result = match changes(form.values()) {
        Ok((version, changes)) => {
            services.catalog.update_product(&staff.actor(), id, Some(version), changes).await.map_err(ApiError::from)
        }
        Err(errors) => Err(ApiError::from(errors)),
    };
    let result = result.map(|product| format!("/admin/products/{}", product.id));
    form::answer(result, form, async |form, notice| {
        let current = services.catalog.product(id).await?;
        Ok(product_page(staff, &current.product, form, notice))
    })
    .await
}

async fn archive(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<CatalogWrite, VersionForm>,
) -> AdminResult<Response> {
    let id: ProductId = parse_id(&id)?;
    services.catalog.archive_product(&action.staff.actor(), id, action.form.version()).await?;
    Ok(Redirect::to(&format!("/admin/products/{id}")).into_response())
}
