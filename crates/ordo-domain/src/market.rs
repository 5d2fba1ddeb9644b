//! Markets: where Ordo sells. A market is configuration data (a currency,
//! tax rates, a shipping charge, a locale), so a new country needs no code
//! change.
//!
//! # Tax
//!
//! Each product has a tax class (`standard`, `reduced` or `zero`); each
//! market has a rate for the first two (`zero` is 0 everywhere). Tax is
//! computed per order line and on the shipping charge, as `net × rate /
//! 10 000` rounded half away from zero to the currency's minor unit (see
//! [`tax_on`]); an order's or an invoice's tax at a rate is the sum of its
//! lines' tax at that rate. That is the one rounding rule.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::money::{AmountOverflow, Currency, MAX_ORDER_AMOUNT};
use crate::payment::CapturePolicy;
use crate::record::RecordMeta;
use crate::validation::{FieldError, ValidationErrors, required_text};

/// Tax rates are basis points: 1900 is 19 %.
pub const MAX_TAX_RATE_BP: i64 = 10_000;

/// A product's tax class; each market says what rate each class pays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaxClass {
    /// The market's standard rate (`tax_rate_bp`).
    #[default]
    Standard,
    /// The market's reduced rate (`reduced_tax_rate_bp`), e.g. food and books.
    Reduced,
    /// Zero-rated: no tax in any market.
    Zero,
}

as_str!(TaxClass { Standard = "standard", Reduced = "reduced", Zero = "zero" });

/// What a market charges for shipping an order: a flat net fee, taxed at a
/// tax class's rate, waived from a goods amount on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShippingRate {
    /// Net fee per order, in the market's minor units.
    #[schema(example = 495)]
    pub fee: i64,
    /// Orders whose goods come to at least this net amount ship free.
    #[schema(example = 5000)]
    pub free_from: Option<i64>,
    /// The tax class the fee is taxed at.
    #[serde(default)]
    pub tax_class: TaxClass,
}

/// A market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Market {
    /// Unique code, e.g. `DE` or `US-CA`.
    #[schema(example = "DE")]
    pub code: String,
    pub name: String,
    /// Orders in this market are priced and paid in this currency.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    /// The standard tax rate in basis points (1900 = 19 %), applied to net
    /// prices of products in the `standard` class.
    #[schema(example = 1900)]
    pub tax_rate_bp: i64,
    /// The reduced rate, for products in the `reduced` class.
    #[schema(example = 700)]
    pub reduced_tax_rate_bp: i64,
    /// The shipping charge added to each order; none: shipping is free.
    pub shipping: Option<ShippingRate>,
    /// BCP 47 locale for documents, e.g. `de-DE`.
    #[schema(example = "de-DE")]
    pub locale: String,
    /// When its orders' payments are captured: `at_payment` (all at once,
    /// when authorised) or `at_fulfilment` (shipment by shipment).
    pub capture_policy: CapturePolicy,
    /// Who sells in this market, as its invoices name the seller.
    pub seller: Option<Seller>,
    #[serde(flatten)]
    pub meta: RecordMeta,
}

/// The seller's legal details, printed on every invoice and credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Seller {
    /// The registered legal name, e.g. `Ordo Shop GmbH`.
    pub legal_name: String,
    pub address: crate::customer::Address,
    /// The seller's VAT identification number.
    #[schema(example = "DE999999999")]
    pub vat_id: Option<String>,
}

/// A validated market to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMarket {
    pub code: String,
    pub name: String,
    pub currency: Currency,
    pub tax_rate_bp: i64,
    pub reduced_tax_rate_bp: i64,
    pub shipping: Option<ShippingRate>,
    pub locale: String,
    pub capture_policy: CapturePolicy,
    pub seller: Option<Seller>,
}

/// Validated changes to a market; the code and currency never change (they
/// are frozen on every order placed in it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketChanges {
    pub name: Option<String>,
    pub tax_rate_bp: Option<i64>,
    pub reduced_tax_rate_bp: Option<i64>,
    /// `Some(None)` makes shipping free.
    pub shipping: Option<Option<ShippingRate>>,
    pub locale: Option<String>,
    /// Applies to orders paid from then on.
    pub capture_policy: Option<CapturePolicy>,
    /// Applies to documents issued from then on.
    pub seller: Option<Seller>,
}

/// A market code: 2 to 16 characters `A-Z 0-9 -`, upper-cased.
pub fn parse_code(value: &str) -> Result<String, FieldError> {
    let code = value.trim().to_ascii_uppercase();
    let valid = (2..=16).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(code)
    } else {
        Err(FieldError::new("invalid_market_code", "use 2 to 16 letters, digits and -, starting with a letter"))
    }
}

pub fn parse_name(value: &str) -> Result<String, FieldError> {
    required_text(value, 100)
}

pub fn parse_tax_rate(bp: i64) -> Result<i64, FieldError> {
    if (0..=MAX_TAX_RATE_BP).contains(&bp) {
        Ok(bp)
    } else {
        Err(FieldError::new("out_of_range", format!("a tax rate is 0 to {MAX_TAX_RATE_BP} basis points")))
    }
}

/// A shipping rate: a fee and a threshold of 0 to
/// [`crate::money::MAX_AMOUNT`].
pub fn parse_shipping(rate: ShippingRate) -> Result<ShippingRate, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let in_range = |amount: i64| (0..=crate::money::MAX_AMOUNT).contains(&amount);
    if !in_range(rate.fee) {
        errors.add("fee", "out_of_range", format!("a fee is 0 to {} minor units", crate::money::MAX_AMOUNT));
    }
    if rate.free_from.is_some_and(|from| !in_range(from)) {
        errors.add(
            "free_from",
            "out_of_range",
            format!("a threshold is 0 to {} minor units", crate::money::MAX_AMOUNT),
        );
    }
    errors.into_result(|| rate)
}

/// A BCP 47 language tag such as `de-DE` or `en`: letters and digits in
/// subtags of 1 to 8, joined by `-`, the first being 2 or 3 letters.
pub fn parse_locale(value: &str) -> Result<String, FieldError> {
    let locale = value.trim();
    let mut parts = locale.split('-');
    let first_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if first_ok && rest_ok && locale.len() <= 35 {
        Ok(locale.to_owned())
    } else {
        Err(FieldError::new("invalid_locale", "not a BCP 47 language tag such as de-DE"))
    }
}

impl Market {
    pub fn create(new: NewMarket, now: crate::Timestamp) -> Self {
        Self {
            code: new.code,
            name: new.name,
            currency: new.currency,
            tax_rate_bp: new.tax_rate_bp,
            reduced_tax_rate_bp: new.reduced_tax_rate_bp,
            shipping: new.shipping,
            locale: new.locale,
            capture_policy: new.capture_policy,
            seller: new.seller,
            meta: RecordMeta::new(now),
        }
    }

    /// Applies `changes`; returns whether anything changed.
    pub fn apply(&mut self, changes: MarketChanges, now: crate::Timestamp) -> Result<bool, crate::RecordError> {
        self.meta.ensure_live()?;
        let before = self.clone();
        if let Some(name) = changes.name {
            self.name = name;
        }
        if let Some(rate) = changes.tax_rate_bp {
            self.tax_rate_bp = rate;
        }
        if let Some(rate) = changes.reduced_tax_rate_bp {
            self.reduced_tax_rate_bp = rate;
        }
        if let Some(shipping) = changes.shipping {
            self.shipping = shipping;
        }
        if let Some(locale) = changes.locale {
            self.locale = locale;
        }
        if let Some(policy) = changes.capture_policy {
            self.capture_policy = policy;
        }
        if let Some(seller) = changes.seller {
            self.seller = Some(seller);
        }
        let changed = *self != before;
        if changed {
            self.meta.touch(now);
        }
        Ok(changed)
    }

    /// The rate, in basis points, that `class` pays in this market.
    pub fn rate_of(&self, class: TaxClass) -> i64 {
        match class {
            TaxClass::Standard => self.tax_rate_bp,
            TaxClass::Reduced => self.reduced_tax_rate_bp,
            TaxClass::Zero => 0,
        }
    }

    /// The net shipping fee of an order whose goods come to `goods_net`,
    /// and the rate it is taxed at.
    pub fn shipping_for(&self, goods_net: i64) -> (i64, i64) {
        match self.shipping {
            Some(rate) if rate.free_from.is_none_or(|from| goods_net < from) => {
                (rate.fee, self.rate_of(rate.tax_class))
            }
            Some(rate) => (0, self.rate_of(rate.tax_class)),
            None => (0, self.tax_rate_bp),
        }
    }
}

/// `net × rate_bp / 10 000`, rounded half away from zero, checked against
/// [`MAX_ORDER_AMOUNT`]. Computed in `i128`, where the product of two `i64`
/// cannot overflow.
pub fn tax_on(net: i64, rate_bp: i64) -> Result<i64, AmountOverflow> {
    let product = i128::from(net) * i128::from(rate_bp);
    let half = 5_000_i128;
    let rounded = if product >= 0 { (product + half) / 10_000 } else { (product - half) / 10_000 };
    match i64::try_from(rounded) {
        Ok(tax) if tax.abs() <= MAX_ORDER_AMOUNT => Ok(tax),
        _ => Err(AmountOverflow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_away_from_zero() {
        assert_eq!(tax_on(1000, 1900), Ok(190));
        assert_eq!(tax_on(1999, 1900), Ok(380)); // 379.81
        assert_eq!(tax_on(50, 1000), Ok(5));
        assert_eq!(tax_on(25, 1000), Ok(3)); // 2.5 rounds up
        assert_eq!(tax_on(-25, 1000), Ok(-3));
        assert_eq!(tax_on(1, 700), Ok(0)); // 0.07
        assert_eq!(tax_on(0, 1900), Ok(0));
        assert_eq!(tax_on(MAX_ORDER_AMOUNT, 10_000), Ok(MAX_ORDER_AMOUNT));
        assert_eq!(tax_on(MAX_ORDER_AMOUNT + 1, 10_000), Err(AmountOverflow));
        assert_eq!(tax_on(i64::MAX, 10_000), Err(AmountOverflow));
        assert_eq!(tax_on(i64::MIN, i64::MAX), Err(AmountOverflow));
    }

    proptest::proptest! {
        /// The tax is the exact `net × rate / 10 000` to within half a
        /// minor unit, rounded away from zero on a tie, or refused when out
        /// of bounds; never a wrapped value.
        #[test]
        fn tax_is_exact_to_half_a_minor_unit(net: i64, rate_bp in 0_i64..=10_000) {
            let exact = i128::from(net) * i128::from(rate_bp); // in 1/10 000 minor units
            match tax_on(net, rate_bp) {
                Ok(tax) => {
                    let error = i128::from(tax) * 10_000 - exact;
                    proptest::prop_assert!(error.abs() <= 5_000);
                    if error.abs() == 5_000 {
                        proptest::prop_assert_eq!(error.signum(), exact.signum(), "ties round away from zero");
                    }
                    proptest::prop_assert!(tax.abs() <= MAX_ORDER_AMOUNT);
                }
                // Rounded, it would be over the bound: at least `MAX + ½`.
                Err(AmountOverflow) => proptest::prop_assert!(exact.abs() >= i128::from(MAX_ORDER_AMOUNT) * 10_000 + 5_000),
            }
        }
    }

    #[test]
    fn codes_and_locales_are_checked() {
        assert_eq!(parse_code(" de ").unwrap(), "DE");
        assert_eq!(parse_code("US-CA").unwrap(), "US-CA");
        for bad in ["D", "1DE", "DE_1", "ABCDEFGHIJKLMNOPQ"] {
            assert!(parse_code(bad).is_err(), "{bad}");
        }
        assert!(parse_locale("de-DE").is_ok() && parse_locale("en").is_ok() && parse_locale("zh-Hant-TW").is_ok());
        for bad in ["", "d", "de_DE", "deutsch-DE", "de-"] {
            assert!(parse_locale(bad).is_err(), "{bad}");
        }
        assert!(parse_tax_rate(10_001).is_err() && parse_tax_rate(-1).is_err());
    }
}
