//! `/v1/markets`: markets as configuration (currency, tax rates, shipping,
//! locale).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use ordo_domain::market::{self, Market, MarketChanges, NewMarket, Seller, ShippingRate, TaxClass};
use ordo_domain::payment::CapturePolicy;
use ordo_domain::{Currency, ValidationErrors};
use ordo_service::Services;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, MarketsRead, MarketsWrite};
use crate::error::codes::{
    ARCHIVED, MARKET_EXISTS, NOT_FOUND, PRECONDITION_REQUIRED, VALIDATION_FAILED, VERSION_CONFLICT,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, OptionalIfMatch, nullable};
use crate::routes::{created_response, entity_response, precondition};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new().routes(routes!(create_market, list_markets)).routes(routes!(get_market, update_market))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateMarket {
    /// 2 to 16 letters, digits and `-`; upper-cased.
    #[schema(example = "DE")]
    #[schema(schema_with = crate::routes::schema::market_code)]
    code: String,
    #[schema(example = "Germany")]
    #[schema(schema_with = crate::routes::schema::text_100)]
    name: String,
    /// ISO 4217 currency of the market's orders; never changes.
    #[schema(example = "EUR")]
    #[schema(schema_with = crate::routes::schema::currency)]
    currency: String,
    /// The standard tax rate in basis points (1900 = 19 %), 0 to 10000.
    #[schema(example = 1900)]
    #[schema(minimum = 0, maximum = 10_000)]
    tax_rate_bp: i64,
    /// The reduced rate, for products of the `reduced` tax class; the
    /// standard rate when absent.
    #[schema(example = 700)]
    #[schema(minimum = 0, maximum = 10_000)]
    reduced_tax_rate_bp: Option<i64>,
    /// The shipping charge added to each order; shipping is free when
    /// absent.
    shipping: Option<ShippingInput>,
    /// BCP 47 locale, e.g. `de-DE`.
    #[schema(example = "de-DE")]
    #[schema(schema_with = crate::routes::schema::locale)]
    locale: String,
    /// When orders are captured: `at_payment` (the default) or
    /// `at_fulfilment` (shipment by shipment).
    capture_policy: Option<CapturePolicy>,
    /// The seller's legal details, printed on the market's invoices and
    /// credit notes.
    seller: Option<SellerInput>,
}

/// What a market charges to ship an order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShippingInput {
    /// Net fee per order, in the market's minor units.
    #[schema(example = 495, minimum = 0, maximum = 1_000_000_000_000_i64)]
    fee: i64,
    /// Orders whose goods come to at least this net amount ship free.
    #[schema(example = 5000, minimum = 0, maximum = 1_000_000_000_000_i64)]
    free_from: Option<i64>,
    /// The tax class the fee is taxed at; `standard` when absent.
    tax_class: Option<TaxClass>,
}

impl ShippingInput {
    fn parse(&self, errors: &mut ValidationErrors) -> Option<ShippingRate> {
        let rate =
            ShippingRate { fee: self.fee, free_from: self.free_from, tax_class: self.tax_class.unwrap_or_default() };
        market::parse_shipping(rate).map_err(|e| errors.merge("shipping", e)).ok()
    }
}

/// The seller's legal details.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SellerInput {
    /// The registered legal name, 1 to 200 characters.
    #[schema(example = "Ordo Shop GmbH")]
    #[schema(schema_with = crate::routes::schema::text_200)]
    legal_name: String,
    address: crate::routes::customers::AddressInput,
    /// A VAT identification number: country prefix and 2 to 13 letters or digits.
    #[schema(example = "DE999999999")]
    vat_id: Option<String>,
}

impl SellerInput {
    fn parse(&self, errors: &mut ValidationErrors) -> Option<Seller> {
        let legal_name =
            errors.check("seller.legal_name", ordo_domain::validation::required_text(&self.legal_name, 200));
        let address = self.address.parse().map_err(|e| errors.merge("seller.address", e)).ok();
        let vat_id = match self.vat_id.as_deref().map(ordo_domain::order::parse_vat_id) {
            Some(result) => errors.check("seller.vat_id", result).map(Some),
            None => Some(None),
        };
        Some(Seller { legal_name: legal_name?, address: address?, vat_id: vat_id? })
    }
}

impl TryFrom<CreateMarket> for NewMarket {
    type Error = ValidationErrors;

    fn try_from(body: CreateMarket) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let code = errors.check("code", market::parse_code(&body.code));
        let name = errors.check("name", market::parse_name(&body.name));
        let currency = errors.check("currency", Currency::parse(&body.currency));
        let tax_rate_bp = errors.check("tax_rate_bp", market::parse_tax_rate(body.tax_rate_bp));
        let reduced = body.reduced_tax_rate_bp.map(|r| errors.check("reduced_tax_rate_bp", market::parse_tax_rate(r)));
        let shipping = body.shipping.as_ref().map(|s| s.parse(&mut errors));
        let locale = errors.check("locale", market::parse_locale(&body.locale));
        let seller = body.seller.as_ref().map(|s| s.parse(&mut errors));
        match (code, name, currency, tax_rate_bp, locale) {
            (Some(code), Some(name), Some(currency), Some(tax_rate_bp), Some(locale)) if errors.is_empty() => {
                Ok(NewMarket {
                    code,
                    name,
                    currency,
                    tax_rate_bp,
                    reduced_tax_rate_bp: reduced.flatten().unwrap_or(tax_rate_bp),
                    shipping: shipping.flatten(),
                    locale,
                    capture_policy: body.capture_policy.unwrap_or_default(),
                    seller: seller.flatten(),
                })
            }
            _ => Err(errors),
        }
    }
}

/// Changes to a market. The code and currency never change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateMarket {
    /// The version last read; required unless `If-Match` is sent.
    version: Option<i64>,
    #[schema(schema_with = crate::routes::schema::text_100_or_null)]
    name: Option<String>,
    /// Applies to orders placed from now on.
    #[schema(minimum = 0, maximum = 10_000)]
    tax_rate_bp: Option<i64>,
    /// Applies to orders placed from now on.
    #[schema(minimum = 0, maximum = 10_000)]
    reduced_tax_rate_bp: Option<i64>,
    /// Replaces the shipping charge for orders placed from now on; `null`
    /// makes shipping free.
    #[serde(default, deserialize_with = "nullable")]
    shipping: Option<Option<ShippingInput>>,
    #[schema(schema_with = crate::routes::schema::locale_or_null)]
    locale: Option<String>,
    /// Applies to orders paid from now on.
    capture_policy: Option<CapturePolicy>,
    /// Replaces the seller's legal details, for documents issued from now on.
    seller: Option<SellerInput>,
}

impl TryFrom<UpdateMarket> for MarketChanges {
    type Error = ValidationErrors;

    fn try_from(body: UpdateMarket) -> Result<Self, Self::Error> {
        let mut errors = ValidationErrors::new();
        let name = body.name.map(|n| errors.check("name", market::parse_name(&n)));
        let tax_rate_bp = body.tax_rate_bp.map(|r| errors.check("tax_rate_bp", market::parse_tax_rate(r)));
        let reduced = body.reduced_tax_rate_bp.map(|r| errors.check("reduced_tax_rate_bp", market::parse_tax_rate(r)));
        let shipping = match &body.shipping {
            None => None,
            Some(None) => Some(None),
            Some(Some(input)) => input.parse(&mut errors).map(Some),
        };
        let locale = body.locale.map(|l| errors.check("locale", market::parse_locale(&l)));
        let seller = body.seller.as_ref().map(|s| s.parse(&mut errors));
        errors.into_result(|| MarketChanges {
            name: name.flatten(),
            tax_rate_bp: tax_rate_bp.flatten(),
            reduced_tax_rate_bp: reduced.flatten(),
            shipping,
            locale: locale.flatten(),
            capture_policy: body.capture_policy,
            seller: seller.flatten(),
        })
    }
}

/// Every market.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MarketList {
    items: Vec<Market>,
}

/// Create a market.
#[utoipa::path(
    post,
    path = "/v1/markets",
    tag = "markets",
    request_body = CreateMarket,
    security(("api_key" = ["markets:write"])),
    responses(
        (status = 201, description = "Created", body = Market, headers(("Location" = String), ("ETag" = String))),
    ),
    extensions(("x-errors" = json!([MARKET_EXISTS, VALIDATION_FAILED]))),
)]
async fn create_market(
    auth: Authorized<MarketsWrite>,
    State(services): State<Services>,
    Json(body): Json<CreateMarket>,
) -> ApiResult<impl IntoResponse> {
    let market = services.markets.create_market(&auth.actor(), NewMarket::try_from(body)?).await?;
    Ok(created_response(&format!("/v1/markets/{}", market.code), market.meta.version, market))
}

/// List every market, by code.
#[utoipa::path(
    get,
    path = "/v1/markets",
    tag = "markets",
    security(("api_key" = ["markets:read"])),
    responses(
        (status = 200, description = "Every market", body = MarketList),
    ),
)]
async fn list_markets(
    _auth: Authorized<MarketsRead>,
    State(services): State<Services>,
) -> ApiResult<axum::Json<MarketList>> {
    Ok(axum::Json(MarketList { items: services.markets.list_markets().await? }))
}

/// Get a market.
#[utoipa::path(
    get,
    path = "/v1/markets/{code}",
    tag = "markets",
    params(("code" = String, Path, description = "Market code, any case", pattern = "^[A-Za-z][A-Za-z0-9-]{1,15}$")),
    security(("api_key" = ["markets:read"])),
    responses(
        (status = 200, description = "The market", body = Market, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_market(
    _auth: Authorized<MarketsRead>,
    State(services): State<Services>,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let market = services.markets.market(&code.to_ascii_uppercase()).await?;
    Ok(entity_response(market.meta.version, market))
}

/// Update a market's name, tax rate or locale.
#[utoipa::path(
    patch,
    path = "/v1/markets/{code}",
    tag = "markets",
    params(("code" = String, Path, description = "Market code, any case", pattern = "^[A-Za-z][A-Za-z0-9-]{1,15}$"), ("If-Match" = Option<String>, Header, description = "`\"<version>\"`")),
    request_body = UpdateMarket,
    security(("api_key" = ["markets:write"])),
    responses(
        (status = 200, description = "The updated market", body = Market, headers(("ETag" = String))),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, VERSION_CONFLICT, ARCHIVED, VALIDATION_FAILED, PRECONDITION_REQUIRED]))),
)]
async fn update_market(
    auth: Authorized<MarketsWrite>,
    State(services): State<Services>,
    Path(code): Path<String>,
    OptionalIfMatch(if_match): OptionalIfMatch,
    Json(body): Json<UpdateMarket>,
) -> ApiResult<impl IntoResponse> {
    let (expected, source) = precondition(if_match, body.version, true)?;
    let changes = MarketChanges::try_from(body)?;
    let market = services
        .markets
        .update_market(&auth.actor(), &code.to_ascii_uppercase(), expected, changes)
        .await
        .map_err(|e| ApiError::from_service(e, source))?;
    Ok(entity_response(market.meta.version, market))
}
