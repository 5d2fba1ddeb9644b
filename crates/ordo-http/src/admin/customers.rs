//! Customers: found by e-mail address, and a customer's page, where a role
//! that may write customers edits the name, e-mail address and addresses,
//! or archives the customer.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use ordo_domain::CustomerId;
use ordo_domain::auth::Permission;
use ordo_domain::customer::{self, Address, Customer, CustomerChanges, CustomerFilter, NewCustomer, RawAddress};
use ordo_domain::email::Email;
use ordo_domain::validation::ValidationErrors;
use ordo_service::Services;
use serde::Deserialize;

use super::form::{self, FieldAttrs, Fields, FormState, VersionForm};
use super::page::{self, shell, when};
use super::{Action, AdminResult, Staff, StaffSession};
use crate::auth::{CustomersRead, CustomersWrite};
use crate::error::ApiError;
use crate::routes::{parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/customers", get(list).post(create))
        .route("/admin/customers/new", get(new_form))
        .route("/admin/customers/{id}", get(show).post(update))
        .route("/admin/customers/{id}/archive", post(archive))
}

/// An address's fields, as the form names them after `a<i>_`.
const ADDRESS_FIELDS: [(&str, &str); 7] = [
    ("line1", "Street and number"),
    ("line2", "Line 2"),
    ("postal_code", "Postal code"),
    ("city", "City"),
    ("region", "Region"),
    ("country", "Country (two letters)"),
    ("recipient", "Recipient (if not the customer)"),
];

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    email: Option<String>,
    cursor: Option<String>,
}

fn orders_link(email: &Email) -> String {
    format!("/admin/orders?q={}", form_urlencoded::byte_serialize(email.as_str().as_bytes()).collect::<String>())
}

fn address_line(a: &Address) -> Markup {
    html! { (a.line1) ", " @if let Some(code) = &a.postal_code { (code) " " } (a.city) ", " (a.country) }
}

async fn list(
    Staff { staff, .. }: Staff<CustomersRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
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
        @if staff.may(Permission::CustomersWrite) { p { a href="/admin/customers/new" { "New customer" } } }
        form.filters method="get" action="/admin/customers" role="search" {
            label { "E-mail address" input type="search" name="email" value=[query.email.as_deref()]; }
            button type="submit" { "Find" }
        }
        @if customers.items.is_empty() { p { "No customers match." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Name" } th { "E-mail" } th { "Addresses" } th { "Since" } th { span.visually-hidden { "Orders" } } } }
                tbody { @for c in &customers.items { tr {
                    td { a href={ "/admin/customers/" (c.id) } { (c.name) } }
                    td { (c.email.as_str()) }
                    td { @for a in &c.addresses { div { (address_line(a)) } } }
                    td { (when(c.meta.created_at)) }
                    td { a href=(orders_link(&c.email)) { "Orders" } }
                } } }
            } }
        }
        (page::next_page("/admin/customers", &[("email", query.email.clone())], customers.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/customers", "Customers", &content).into_response())
}

/// The form's fields as the customer has them: `a<i>_<field>` per address.
fn stored(customer: &Customer) -> BTreeMap<String, String> {
    let mut values = BTreeMap::from([
        ("version".to_owned(), customer.meta.version.to_string()),
        ("name".to_owned(), customer.name.clone()),
        ("email".to_owned(), customer.email.as_str().to_owned()),
    ]);
    for (i, a) in customer.addresses.iter().enumerate() {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        for (field, value) in [
            ("recipient", opt(&a.recipient)),
            ("line1", a.line1.clone()),
            ("line2", opt(&a.line2)),
            ("postal_code", opt(&a.postal_code)),
            ("city", a.city.clone()),
            ("region", opt(&a.region)),
            ("country", a.country.to_string()),
        ] {
            values.insert(format!("a{i}_{field}"), value);
        }
    }
    values
}

/// The address indexes a form holds, in order.
fn address_indexes(form: &FormState) -> Vec<usize> {
    let mut indexes: Vec<usize> = form
        .names_with("a")
        .iter()
        .filter_map(|name| name[1..].split_once('_').and_then(|(i, _)| i.parse().ok()))
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    indexes
}

async fn show(
    Staff { staff, .. }: Staff<CustomersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let id: CustomerId = parse_id(&id)?;
    let customer = services.customers.customer(id).await?;
    let form = FormState::new(stored(&customer));
    Ok(customer_page(&staff, &customer, &form, None).into_response())
}

/// The customer form's fields as `form` holds them (with one blank address
/// to add), each with its problem.
fn customer_fields(form: &FormState) -> Markup {
    let indexes = address_indexes(form);
    let blank = indexes.last().map_or(0, |i| i + 1);
    html! {
        (form.input("Name", "name", "text", &FieldAttrs { required: true, maxlength: Some(customer::NAME_MAX), ..FieldAttrs::default() }))
        (form.input("E-mail address", "email", "email", &FieldAttrs { required: true, ..FieldAttrs::default() }))
        @for i in indexes.iter().copied().chain([blank]) {
            fieldset {
                legend { @if i == blank { "Add an address" } @else { "Address " (i + 1) " (clear it to remove it)" } }
                @for (field, label) in ADDRESS_FIELDS {
                    (form.input(label, &format!("a{i}_{field}"), "text", &FieldAttrs::default()))
                }
            }
        }
    }
}

/// Where a problem of the customer form is shown beside its field.
fn placed(field: &str) -> bool {
    ["name", "email"].contains(&field)
        || field.strip_prefix('a').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// The page with the form that creates a customer.
fn new_customer_page(staff: &StaffSession, form: &FormState, problem: Option<&ApiError>) -> page::HtmlPage {
    let content = html! {
        h1 { "New customer" }
        @if let Some(problem) = problem { (page::problem_notice(problem)) }
        (form::create_form(staff, "/admin/customers", form, placed, &customer_fields(form)))
    };
    shell(staff, "/admin/customers", "New customer", &content)
}

async fn new_form(Staff { staff, .. }: Staff<CustomersWrite>) -> AdminResult<Response> {
    Ok(new_customer_page(&staff, &FormState::default(), None).into_response())
}

async fn create(State(services): State<Services>, action: Action<CustomersWrite, Fields>) -> AdminResult<Response> {
    let staff = &action.staff;
    let form = FormState::new(action.form.fields);
    let result = match new_customer(&form) {
        Ok(new) => services.customers.create_customer(&staff.actor(), new).await.map_err(ApiError::from),
        Err(errors) => Err(ApiError::from(errors)),
    };
    let result = result.map(|customer| format!("/admin/customers/{}", customer.id));
    form::answer(result, form, async |form, notice| Ok(new_customer_page(staff, form, notice))).await
}

/// A customer's page: the facts, and for a role that may write customers
/// the edit form as `form` holds it (with one blank address to add), with
/// `problem` above it.
fn customer_page(
    staff: &StaffSession,
    customer: &Customer,
    form: &FormState,
    problem: Option<&ApiError>,
) -> page::HtmlPage {
    let archived = customer.meta.is_archived();
    let content = html! {
        h1 { (customer.name) }
        @if let Some(problem) = problem { (page::problem_notice(problem)) }
        dl.facts {
            dt { "E-mail" } dd { (customer.email.as_str()) " (" a href=(orders_link(&customer.email)) { "orders" } ")" }
            dt { "Addresses" } dd {
                @for a in &customer.addresses { div { (address_line(a)) } }
                @if customer.addresses.is_empty() { "none" }
            }
            dt { "State" } dd { @if archived { "archived" } @else { "live" } }
            dt { "Since" } dd { (when(customer.meta.created_at)) ", changed " (when(customer.meta.updated_at)) ", version " (customer.meta.version) }
        }
        @if staff.may(Permission::CustomersWrite) && !archived {
            (form::edit_and_archive(staff, &format!("/admin/customers/{}", customer.id), form, placed, &customer_fields(form), "Archive customer"))
        }
    };
    shell(staff, "/admin/customers", &customer.name, &content)
}

/// Reads the edit form into the changes it asks for and the version it was
/// read at, or every problem, each named by the form field it concerns.
fn changes(form: &FormState) -> Result<(i64, CustomerChanges), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let version = form.value("version").trim().parse::<i64>().ok();
    if version.is_none() {
        errors.add("version", "required", "the form lost the version it was read at: reload the page");
    }
    let (name, email, addresses) = read_customer(form, &mut errors);
    errors.into_result(|| (version.unwrap_or_default(), CustomerChanges { email, name, addresses: Some(addresses) }))
}

/// Reads the new-customer form, or every problem by its field.
fn new_customer(form: &FormState) -> Result<NewCustomer, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    match read_customer(form, &mut errors) {
        (Some(name), Some(email), addresses) if errors.is_empty() => Ok(NewCustomer { email, name, addresses }),
        _ => Err(errors),
    }
}

/// The customer form's name, e-mail address and addresses, each checked,
/// problems named by their field. An address whose fields are all blank is
/// left out (that removes it).
fn read_customer(form: &FormState, errors: &mut ValidationErrors) -> (Option<String>, Option<Email>, Vec<Address>) {
    let name = errors.check("name", customer::parse_name(form.value("name")));
    let email = errors.check("email", Email::parse(form.value("email")));
    let mut addresses = Vec::new();
    for i in address_indexes(form) {
        if ADDRESS_FIELDS.iter().all(|(f, _)| form.value(&format!("a{i}_{f}")).trim().is_empty()) {
            continue;
        }
        let values: BTreeMap<&str, &str> =
            ADDRESS_FIELDS.iter().map(|(f, _)| (*f, form.value(&format!("a{i}_{f}")))).collect();
        let optional = |f: &str| values.get(f).copied().filter(|v| !v.trim().is_empty());
        let raw = RawAddress {
            recipient: optional("recipient"),
            line1: values["line1"],
            line2: optional("line2"),
            postal_code: optional("postal_code"),
            city: values["city"],
            region: optional("region"),
            country: values["country"],
        };
        match Address::parse(&raw) {
            Ok(address) => addresses.push(address),
            Err(bad) => {
                for e in bad.into_errors() {
                    errors.add(format!("a{i}_{}", e.field), e.code, e.message);
                }
            }
        }
    }
    (name, email, addresses)
}

async fn update(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<CustomersWrite, Fields>,
) -> AdminResult<Response> {
    let id: CustomerId = parse_id(&id)?;
    let staff = &action.staff;
    let form = FormState::new(action.form.fields);
    let result = match changes(&form) {
        Ok((version, changes)) => {
            services.customers.update_customer(&staff.actor(), id, Some(version), changes).await.map_err(ApiError::from)
        }
        Err(errors) => Err(ApiError::from(errors)),
    };
    let result = result.map(|customer| format!("/admin/customers/{}", customer.id));
    form::answer(result, form, async |form, notice| {
        let current = services.customers.customer(id).await?;
        Ok(customer_page(staff, &current, form, notice))
    })
    .await
}

async fn archive(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<CustomersWrite, VersionForm>,
) -> AdminResult<Response> {
    let id: CustomerId = parse_id(&id)?;
    services.customers.archive_customer(&action.staff.actor(), id, action.form.version()).await?;
    Ok(Redirect::to(&format!("/admin/customers/{id}")).into_response())
}
