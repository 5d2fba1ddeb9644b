//! `/v1/products`: the catalog.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ordo_domain::catalog::{self, NewProduct, Prices, Product, ProductChanges, ProductFilter};
use ordo_domain::market::TaxClass;
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::sku::SkuPrefix;
use ordo_domain::{ProductId, Sku, ValidationErrors};
use ordo_service::Services;
use ordo_service::catalog::CURSOR_SCOPE;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, CatalogRead, CatalogWrite};
use crate::error::codes::{ARCHIVED, NOT_FOUND, PRECONDITION_REQUIRED, SKU_TAKEN, VALIDATION_FAILED, VERSION_CONFLICT};
use crate::error::{ApiError, ApiResult};
use crate::extract::{IfNoneMatch, Json, OptionalIfMatch, Query, etag, nullable};
use crate::routes::{CatalogCaching, ExpectedVersion, entity_response, parse_id, parse_page, precondition};

/// The catalog's routes; its reads answer with `caching`'s `Cache-Control`.
pub(crate) fn routes(caching: CatalogCaching) -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, update_product))
        .routes(routes!(archive_product))
        .layer(Extension(caching))
}

/// A price in one currency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceInput {
    /// Amount in minor units (cents): 0 to 10^12.
    #[schema(example = 1999)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    #[schema(schema_with = crate::routes::schema::currency)]
    currency: String,
}

fn parse_prices(errors: &mut ValidationErrors, prices: &[PriceInput]) -> Option<Prices> {
    let raw: Vec<(i64, String)> = prices.iter().map(|p| (p.amount, p.currency.clone())).collect();
    match Prices::parse(&raw) {
        Ok(prices) => Some(prices),
        Err(e) => {
            errors.merge("prices", e);
            None
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProduct {
    #[schema(example = "TEE-BLK-M")]
    #[schema(schema_with = crate::routes::schema::sku)]
    sku: String,
    #[schema(example = "T-shirt, black, M")]
    #[schema(schema_with = crate::routes::schema::text_200)]
    name: String,
    #[schema(schema_with = crate::routes::schema::optional_text_10000_or_null)]
    description: Option<String>,
    /// At most one price per currency.
    #[serde(default)]
    #[schema(max_items = 64)]
    prices: Vec<PriceInput>,
    /// Whether the product can be sold; defaults to `true`.
    #[serde(default = "yes")]
    active: bool,
    /// Which of each market's tax rates it is sold at; `standard` when
    /// absent.
    #[serde(default)]
    tax_class: TaxClass,
}

fn yes() -> bool {
    true
}

impl TryFrom<CreateProduct> for NewProduct {
    type Error = ValidationErrors;

    fn try_from(body: CreateProduct) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let sku = errors.check("sku", Sku::parse(&body.sku));
        let name = errors.check("name", catalog::parse_name(&body.name));
        let description = errors.check("description", catalog::parse_description(body.description.as_deref()));
        let prices = parse_prices(&mut errors, &body.prices);
        match (sku, name, description, prices) {
            (Some(sku), Some(name), Some(description), Some(prices)) if errors.is_empty() => {
                Ok(NewProduct { sku, name, description, prices, active: body.active, tax_class: body.tax_class })
            }
            _ => Err(errors),
        }
    }
}

/// Changes to a product. Absent fields stay as they are. The SKU cannot
/// change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateProduct {
    /// The version last read; required unless `If-Match` is sent.
    version: Option<i64>,
    #[schema(schema_with = crate::routes::schema::text_200_or_null)]
    name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(schema_with = crate::routes::schema::optional_text_10000_or_null)]
    description: Option<Option<String>>,
    /// Replaces all prices.
    #[schema(max_items = 64)]
    prices: Option<Vec<PriceInput>>,
    active: Option<bool>,
    /// Applies to orders placed from now on.
    tax_class: Option<TaxClass>,
}

impl TryFrom<UpdateProduct> for ProductChanges {
    type Error = ValidationErrors;

    fn try_from(body: UpdateProduct) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let name = body.name.map(|n| errors.check("name", catalog::parse_name(&n)));
        let description =
            body.description.map(|d| errors.check("description", catalog::parse_description(d.as_deref())));
        let prices = body.prices.map(|p| parse_prices(&mut errors, &p));
        errors.into_result(|| ProductChanges {
            name: name.flatten(),
            description: description.flatten(),
            prices: prices.flatten(),
            active: body.active,
            tax_class: body.tax_class,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListProducts {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only active (`true`) or inactive (`false`) products.
    active: Option<bool>,
    /// Only SKUs starting with this prefix (case-sensitive).
    #[param(schema_with = crate::routes::schema::sku_prefix)]
    sku_prefix: Option<String>,
    /// Only products changed at or after this instant (RFC 3339).
    updated_since: Option<DateTime<Utc>>,
    /// List archived products instead of live ones (default `false`).
    archived: Option<bool>,
}

/// Create a product.
#[utoipa::path(
    post,
    path = "/v1/products",
    tag = "catalog",
    request_body = CreateProduct,
    security(("api_key" = ["catalog:write"])),
    responses(
        (status = 201, description = "Created", body = Product, headers(("Location" = String), ("ETag" = String))),
    ),
    extensions(("x-errors" = json!([SKU_TAKEN, VALIDATION_FAILED]))),
)]
async fn create_product(
    auth: Authorized<CatalogWrite>,
    State(services): State<Services>,
    Json(body): Json<CreateProduct>,
) -> ApiResult<impl IntoResponse> {
    let new = NewProduct::try_from(body)?;
    let product = services.catalog.create_product(&auth.actor(), new).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/products/{}", product.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, entity_response(product.meta.version, product)))
}

/// List products, oldest first, with keyset pagination.
///
/// The page carries a weak `ETag` (a digest of its content) and the
/// configured `Cache-Control`; with `If-None-Match` naming the current tag
/// the answer is 304 with no body.
#[utoipa::path(
    get,
    path = "/v1/products",
    tag = "catalog",
    params(
        ListProducts,
        ("If-None-Match" = Option<String>, Header, description = "`ETag`s of copies the client holds"),
    ),
    security(("api_key" = ["catalog:read"])),
    responses(
        (status = 200, description = "A page of products", body = Page<Product>,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current",
            headers(("ETag" = String), ("Cache-Control" = String))),
    ),
)]
async fn list_products(
    _auth: Authorized<CatalogRead>,
    State(services): State<Services>,
    Extension(caching): Extension<CatalogCaching>,
    if_none_match: IfNoneMatch,
    Query(query): Query<ListProducts>,
) -> ApiResult<Response> {
    let page: PageRequest = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    let sku_prefix = query
        .sku_prefix
        .as_deref()
        .map(SkuPrefix::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query("sku_prefix".into(), e.code, e.message))?;
    let filter = ProductFilter {
        active: query.active,
        sku_prefix,
        updated_since: query.updated_since,
        updated_before: None,
        archived: query.archived.unwrap_or(false),
    };
    let page = services.catalog.list_products(&filter, &page).await?;
    let json = serde_json::to_vec(&page).map_err(|e| {
        tracing::error!(error = %e, "products page not serialisable");
        ApiError::internal()
    })?;
    let tag = content_etag(&json);
    caching.answer(&tag, &if_none_match, || Ok(json_body(json)))
}

/// JSON already serialised, as the body of a 200.
fn json_body(json: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

/// A weak entity tag of a serialised representation: the first 16 bytes
/// of its SHA-256, the same in every process.
fn content_etag(json: &[u8]) -> String {
    format!("W/\"{}\"", hex::encode(&Sha256::digest(json)[..16]))
}

/// Get a product.
///
/// The product carries its version as `ETag` and the configured
/// `Cache-Control`; with `If-None-Match` naming the current version the
/// answer is 304 with no body.
#[utoipa::path(
    get,
    path = "/v1/products/{id}",
    tag = "catalog",
    params(
        ("id" = uuid::Uuid, Path, description = "Product id"),
        ("If-None-Match" = Option<String>, Header, description = "`ETag`s of copies the client holds"),
    ),
    security(("api_key" = ["catalog:read"])),
    responses(
        (status = 200, description = "The product", body = Product,
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "The client's copy (`If-None-Match`) is current",
            headers(("ETag" = String), ("Cache-Control" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_product(
    _auth: Authorized<CatalogRead>,
    State(services): State<Services>,
    Extension(caching): Extension<CatalogCaching>,
    if_none_match: IfNoneMatch,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let cached = services.catalog.product(parse_id::<ProductId>(&id)?).await?;
    let version = cached.product.meta.version;
    caching.answer(&etag(version), &if_none_match, || {
        let json = cached.json().map_err(|e| {
            tracing::error!(error = %e, "product not serialisable");
            ApiError::internal()
        })?;
        Ok(json_body(json))
    })
}

/// Update a product, if it is still at the version the client read.
#[utoipa::path(
    patch,
    path = "/v1/products/{id}",
    tag = "catalog",
    params(
        ("id" = uuid::Uuid, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "`\"<version>\"` as read from `ETag`; alternative to `version` in the body"),
    ),
    request_body = UpdateProduct,
    security(("api_key" = ["catalog:write"])),
    responses(
        (status = 200, description = "The updated product", body = Product, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT, ARCHIVED, VALIDATION_FAILED, PRECONDITION_REQUIRED]))),
)]
async fn update_product(
    auth: Authorized<CatalogWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    Json(body): Json<UpdateProduct>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id::<ProductId>(&id)?;
    let (expected, source) = precondition(if_match, body.version, true)?;
    let changes = ProductChanges::try_from(body)?;
    let product = services
        .catalog
        .update_product(&auth.actor(), id, expected, changes)
        .await
        .map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(product.meta.version, product))
}

/// Archive a product: it can no longer be sold or changed, and leaves the
/// default list. Archiving twice is harmless.
#[utoipa::path(
    post,
    path = "/v1/products/{id}/archive",
    tag = "catalog",
    params(
        ("id" = uuid::Uuid, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "Archive only if still at this version"),
    ),
    request_body(content = Option<ExpectedVersion>, description = "Optional; `version` archives only if still at this version"),
    security(("api_key" = ["catalog:write"])),
    responses(
        (status = 200, description = "The archived product", body = Product, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT]))),
)]
async fn archive_product(
    auth: Authorized<CatalogWrite>,
    State(services): State<Services>,
    Path(id): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    body: Option<Json<ExpectedVersion>>,
) -> ApiResult<impl IntoResponse> {
    let id = parse_id::<ProductId>(&id)?;
    let body_version = body.and_then(|Json(b)| b.version);
    let (expected, source) = precondition(if_match, body_version, false)?;
    let product = services
        .catalog
        .archive_product(&auth.actor(), id, expected)
        .await
        .map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(product.meta.version, product))
}
