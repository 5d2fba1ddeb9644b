//! `/v1/customers`: customer accounts and their addresses.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use ordo_domain::customer::{
    self, Address, AddressSource, Customer, CustomerChanges, CustomerFilter, NewCustomer, RawAddress,
};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{CustomerId, Email, ValidationErrors};
use ordo_service::Services;
use ordo_service::customers::CURSOR_SCOPE;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, CustomersRead, CustomersWrite};
use crate::error::codes::{
    ARCHIVED, EMAIL_TAKEN, NOT_FOUND, PRECONDITION_REQUIRED, VALIDATION_FAILED, VERSION_CONFLICT,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, OptionalIfMatch, Query};
use crate::routes::{ExpectedVersion, entity_response, parse_id, parse_page, precondition};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(archive_customer))
}

/// A postal address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddressInput {
    #[schema(schema_with = crate::routes::schema::optional_text_200_or_null)]
    pub(crate) recipient: Option<String>,
    #[schema(example = "Hauptstraße 1")]
    #[schema(schema_with = crate::routes::schema::text_200)]
    pub(crate) line1: String,
    #[schema(schema_with = crate::routes::schema::optional_text_200_or_null)]
    pub(crate) line2: Option<String>,
    #[schema(example = "Berlin")]
    #[schema(schema_with = crate::routes::schema::text_200)]
    pub(crate) city: String,
    #[schema(schema_with = crate::routes::schema::optional_text_200_or_null)]
    pub(crate) region: Option<String>,
    #[schema(example = "10115")]
    #[schema(schema_with = crate::routes::schema::optional_text_20_or_null)]
    pub(crate) postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    #[schema(example = "DE")]
    #[schema(schema_with = crate::routes::schema::country)]
    pub(crate) country: String,
}

impl AddressSource for AddressInput {
    fn raw(&self) -> RawAddress<'_> {
        RawAddress {
            recipient: self.recipient.as_deref(),
            line1: &self.line1,
            line2: self.line2.as_deref(),
            city: &self.city,
            region: self.region.as_deref(),
            postal_code: self.postal_code.as_deref(),
            country: &self.country,
        }
    }
}

impl AddressInput {
    /// The address, or every problem with it.
    pub(crate) fn parse(&self) -> Result<Address, ValidationErrors> {
        Address::parse(&self.raw())
    }
}

fn parse_addresses(errors: &mut ValidationErrors, input: &[AddressInput]) -> Option<Vec<Address>> {
    match Address::parse_each(input) {
        Ok(addresses) => Some(addresses),
        Err(e) => {
            errors.merge("addresses", e);
            None
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCustomer {
    /// Unique; stored trimmed and lower-cased.
    #[schema(example = "ann@example.com")]
    email: String,
    #[schema(example = "Ann Lee")]
    #[schema(schema_with = crate::routes::schema::text_200)]
    name: String,
    #[serde(default)]
    #[schema(max_items = 32)]
    addresses: Vec<AddressInput>,
}

impl TryFrom<CreateCustomer> for NewCustomer {
    type Error = ValidationErrors;

    fn try_from(body: CreateCustomer) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let email = errors.check("email", Email::parse(&body.email));
        let name = errors.check("name", customer::parse_name(&body.name));
        let addresses = parse_addresses(&mut errors, &body.addresses);
        match (email, name, addresses) {
            (Some(email), Some(name), Some(addresses)) if errors.is_empty() => {
                Ok(NewCustomer { email, name, addresses })
            }
            _ => Err(errors),
        }
    }
}

/// Changes to a customer. Absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateCustomer {
    /// The version last read; required unless `If-Match` is sent.
    version: Option<i64>,
    email: Option<String>,
    #[schema(schema_with = crate::routes::schema::text_200_or_null)]
    name: Option<String>,
    /// Replaces all addresses.
    #[schema(max_items = 32)]
    addresses: Option<Vec<AddressInput>>,
}

impl TryFrom<UpdateCustomer> for CustomerChanges {
    type Error = ValidationErrors;

    fn try_from(body: UpdateCustomer) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let email = body.email.map(|e| errors.check("email", Email::parse(&e)));
        let name = body.name.map(|n| errors.check("name", customer::parse_name(&n)));
        let addresses = body.addresses.map(|a| parse_addresses(&mut errors, &a));
        errors.into_result(|| CustomerChanges {
            email: email.flatten(),
            name: name.flatten(),
            addresses: addresses.flatten(),
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListCustomers {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only the customer with this e-mail address (matched normalised).
    #[param(schema_with = crate::routes::schema::email)]
    email: Option<String>,
    /// Only customers changed at or after this instant (RFC 3339).
    updated_since: Option<DateTime<Utc>>,
    /// List archived customers instead of live ones (default `false`).
    archived: Option<bool>,
}

/// Create a customer.
#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = "customers",
    request_body = CreateCustomer,
    security(("api_key" = ["customers:write"])),
    responses(
        (status = 201, description = "Created", body = Customer, headers(("Location" = String), ("ETag" = String))),
    ),
    extensions(("x-errors" = json!([EMAIL_TAKEN, VALIDATION_FAILED]))),
)]
async fn create_customer(
    auth: Authorized<CustomersWrite>,
    State(services): State<Services>,
    Json(body): Json<CreateCustomer>,
) -> ApiResult<impl IntoResponse> {
    let new = NewCustomer::try_from(body)?;
    let customer = services.customers.create_customer(&auth.actor(), new).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/customers/{}", customer.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, entity_response(customer.meta.version, customer)))
}

/// List customers, oldest first, with keyset pagination.
#[utoipa::path(
    get,
    path = "/v1/customers",
    tag = "customers",
    params(ListCustomers),
    security(("api_key" = ["customers:read"])),
    responses(
        (status = 200, description = "A page of customers", body = Page<Customer>),
    ),
)]
async fn list_customers(
    _auth: Authorized<CustomersRead>,
    State(services): State<Services>,
    Query(query): Query<ListCustomers>,
) -> ApiResult<axum::Json<Page<Customer>>> {
    let page: PageRequest = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    let email = query
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query("email".into(), e.code, e.message))?;
    let filter = CustomerFilter {
        email,
        updated_since: query.updated_since,
        updated_before: None,
        archived: query.archived.unwrap_or(false),
    };
    Ok(axum::Json(services.customers.list_customers(&filter, &page).await?))
}

/// Get a customer.
#[utoipa::path(
    get,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "Customer id")),
    security(("api_key" = ["customers:read"])),
    responses(
        (status = 200, description = "The customer", body = Customer, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_customer(
    _auth: Authorized<CustomersRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let customer = services.customers.customer(parse_id::<CustomerId>(&id)?).await?;
    Ok(entity_response(customer.meta.version, customer))
}

/// Update a customer, if it is still at the version the client read.
#[utoipa::path(
    patch,
    path = "/v1/customers/{id}",
    tag = "customers",
    params(
        ("id" = uuid::Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "`\"<version>\"` as read from `ETag`; alternative to `version` in the body"),
    ),
    request_body = UpdateCustomer,
    security(("api_key" = ["customers:write"])),
    responses(
        (status = 200, description = "The updated customer", body = Customer, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, EMAIL_TAKEN, VERSION_CONFLICT, ARCHIVED, VALIDATION_FAILED, PRECONDITION_REQUIRED]))),
)]
async fn update_customer(
    auth: Authorized<CustomersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    Json(body): Json<UpdateCustomer>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id::<CustomerId>(&id)?;
    let (expected, source) = precondition(if_match, body.version, true)?;
    let changes = CustomerChanges::try_from(body)?;
    let customer = services
        .customers
        .update_customer(&auth.actor(), id, expected, changes)
        .await
        .map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(customer.meta.version, customer))
}

/// Archive a customer: the account becomes read-only and leaves the
/// default list. Archiving twice is harmless.
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/archive",
    tag = "customers",
    params(
        ("id" = uuid::Uuid, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "Archive only if still at this version"),
    ),
    request_body(content = Option<ExpectedVersion>, description = "Optional; `version` archives only if still at this version"),
    security(("api_key" = ["customers:write"])),
    responses(
        (status = 200, description = "The archived customer", body = Customer, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT]))),
)]
async fn archive_customer(
    auth: Authorized<CustomersWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    body: Option<Json<ExpectedVersion>>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id::<CustomerId>(&id)?;
    let body_version = body.and_then(|Json(b)| b.version);
    let (expected, source) = precondition(if_match, body_version, false)?;
    let customer = services
        .customers
        .archive_customer(&auth.actor(), id, expected)
        .await
        .map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(customer.meta.version, customer))
}
