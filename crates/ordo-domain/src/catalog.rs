//! The catalog: products, identified by SKU, with a price per currency.

use serde::Serialize;
use utoipa::ToSchema;

use crate::id::ProductId;
use crate::market::TaxClass;
use crate::money::{Currency, Money};
use crate::record::{RecordError, RecordMeta};
use crate::sku::{Sku, SkuPrefix};
use crate::time::Timestamp;
use crate::validation::{FieldError, ValidationErrors, optional_text, required_text};

pub const NAME_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
pub const PRICES_MAX: usize = 64;

/// A product as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Product {
    pub id: ProductId,
    /// Unique across all products, archived ones included; never changes.
    pub sku: Sku,
    pub name: String,
    pub description: Option<String>,
    /// At most one price per currency, ordered by currency code.
    pub prices: Prices,
    /// Whether the product can be sold.
    pub active: bool,
    /// Which of its market's tax rates it is sold at.
    pub tax_class: TaxClass,
    #[serde(flatten)]
    pub meta: RecordMeta,
}

/// Prices of one product: each within [`crate::money::MAX_AMOUNT`], at most
/// one per currency, kept sorted by currency code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(transparent)]
pub struct Prices(#[schema(inline)] Vec<Money>);

impl Prices {
    /// Checks raw `(amount, currency code)` pairs, reporting each bad entry
    /// by its index.
    pub fn parse(raw: &[(i64, String)]) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if raw.len() > PRICES_MAX {
            errors.add("", "too_many", format!("at most {PRICES_MAX} prices"));
            return Err(errors);
        }
        let mut prices: Vec<Money> = Vec::with_capacity(raw.len());
        for (i, (amount, code)) in raw.iter().enumerate() {
            let Some(currency) = errors.check(&format!("[{i}].currency"), Currency::parse(code)) else {
                continue;
            };
            if prices.iter().any(|p| p.currency == currency) {
                errors.add(format!("[{i}].currency"), "duplicate_currency", format!("{currency} is priced twice"));
                continue;
            }
            if let Some(price) = errors.check(&format!("[{i}].amount"), Money::price(*amount, currency)) {
                prices.push(price);
            }
        }
        prices.sort_by(|a, b| a.currency.code().cmp(b.currency.code()));
        errors.into_result(|| Self(prices))
    }

    /// Wraps prices read back from storage, which were checked on the way in.
    pub fn from_stored(mut prices: Vec<Money>) -> Self {
        prices.sort_by(|a, b| a.currency.code().cmp(b.currency.code()));
        Self(prices)
    }

    pub fn as_slice(&self) -> &[Money] {
        &self.0
    }

    /// The price in `currency`, if the product has one.
    pub fn get(&self, currency: Currency) -> Option<Money> {
        self.0.iter().copied().find(|p| p.currency == currency)
    }
}

/// A validated product to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub description: Option<String>,
    pub prices: Prices,
    pub active: bool,
    pub tax_class: TaxClass,
}

/// Validated changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub prices: Option<Prices>,
    pub active: Option<bool>,
    /// Applies to orders placed from then on.
    pub tax_class: Option<TaxClass>,
}

/// Filters for listing products.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    pub active: Option<bool>,
    pub sku_prefix: Option<SkuPrefix>,
    pub updated_since: Option<Timestamp>,
    /// Only products last changed before this instant.
    pub updated_before: Option<Timestamp>,
    /// `false` (the default) lists live products, `true` archived ones.
    pub archived: bool,
}

/// Parses a product name.
pub fn parse_name(value: &str) -> Result<String, FieldError> {
    required_text(value, NAME_MAX)
}

/// Parses a description; blank means none.
pub fn parse_description(value: Option<&str>) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some(text) => optional_text(text, DESCRIPTION_MAX).map(|t| (!t.is_empty()).then_some(t)),
    }
}

impl Product {
    /// A new product, version 1.
    pub fn create(id: ProductId, new: NewProduct, now: Timestamp) -> Self {
        Self {
            id,
            sku: new.sku,
            name: new.name,
            description: new.description,
            prices: new.prices,
            active: new.active,
            tax_class: new.tax_class,
            meta: RecordMeta::new(now),
        }
    }

    /// Applies `changes`. Returns whether anything changed: an update that
    /// changes nothing keeps the version, so retrying it is harmless.
    pub fn apply(&mut self, changes: ProductChanges, now: Timestamp) -> Result<bool, RecordError> {
        self.meta.ensure_live()?;
        let before = self.clone();
        if let Some(name) = changes.name {
            self.name = name;
        }
        if let Some(description) = changes.description {
            self.description = description;
        }
        if let Some(prices) = changes.prices {
            self.prices = prices;
        }
        if let Some(active) = changes.active {
            self.active = active;
        }
        if let Some(class) = changes.tax_class {
            self.tax_class = class;
        }
        let changed = *self != before;
        if changed {
            self.meta.touch(now);
        }
        Ok(changed)
    }

    /// Archives the product: it stops being sellable and becomes read-only.
    /// Archiving an archived product changes nothing and returns `false`.
    pub fn archive(&mut self, now: Timestamp) -> bool {
        let archived = self.meta.archive(now);
        if archived {
            self.active = false;
        }
        archived
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now;

    fn product() -> Product {
        let new = NewProduct {
            sku: Sku::parse("TEE-1").unwrap(),
            name: "Tee".into(),
            description: None,
            prices: Prices::parse(&[(1999, "EUR".into())]).unwrap(),
            active: true,
            tax_class: TaxClass::Standard,
        };
        Product::create(ProductId::generate(), new, now())
    }

    #[test]
    fn prices_report_each_bad_entry_by_index() {
        let raw = vec![(100, "EUR".to_owned()), (-5, "USD".to_owned()), (1, "EUR".to_owned()), (1, "NOPE".to_owned())];
        let errors = Prices::parse(&raw).unwrap_err();
        let got: Vec<_> = errors.errors().iter().map(|e| (e.field.as_str(), &*e.code)).collect();
        assert_eq!(
            got,
            [
                ("[1].amount", "negative_amount"),
                ("[2].currency", "duplicate_currency"),
                ("[3].currency", "unknown_currency")
            ]
        );
    }

    #[test]
    fn prices_are_sorted_by_currency() {
        let prices = Prices::parse(&[(5, "USD".into()), (4, "EUR".into()), (600, "JPY".into())]).unwrap();
        let codes: Vec<_> = prices.as_slice().iter().map(|p| p.currency.code()).collect();
        assert_eq!(codes, ["EUR", "JPY", "USD"]);
        assert_eq!(prices.get(Currency::parse("JPY").unwrap()).unwrap().amount, 600);
    }

    #[test]
    fn update_bumps_version_only_when_something_changes() {
        let mut p = product();
        let same = ProductChanges { name: Some("Tee".into()), ..Default::default() };
        assert!(!p.apply(same, now()).unwrap());
        assert_eq!(p.meta.version, 1);
        let rename =
            ProductChanges { name: Some("Shirt".into()), description: Some(Some("Soft".into())), ..Default::default() };
        assert!(p.apply(rename, now()).unwrap());
        assert_eq!((p.meta.version, p.name.as_str(), p.description.as_deref()), (2, "Shirt", Some("Soft")));
    }

    #[test]
    fn archived_products_are_read_only() {
        let mut p = product();
        assert!(p.archive(now()));
        assert!(!p.active);
        assert_eq!(p.meta.version, 2);
        assert!(!p.archive(now()), "archiving twice changes nothing");
        assert_eq!(p.meta.version, 2);
        let err = p.apply(ProductChanges { active: Some(true), ..Default::default() }, now()).unwrap_err();
        assert_eq!(err, RecordError::Archived);
    }

    #[test]
    fn names_and_descriptions_are_trimmed_and_bounded() {
        assert_eq!(parse_name("  Tee ").unwrap(), "Tee");
        assert_eq!(parse_name(" ").unwrap_err().code, "required");
        assert_eq!(parse_name(&"x".repeat(NAME_MAX + 1)).unwrap_err().code, "too_long");
        assert_eq!(parse_description(Some("  ")).unwrap(), None);
        assert_eq!(parse_description(Some("a\u{0}b")).unwrap_err().code, "invalid_characters");
    }
}
