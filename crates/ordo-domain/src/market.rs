//! Markets: where Ordo sells. A market is configuration data (a currency, a
//! tax rate, a locale), so a new country needs no code change.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::money::{AmountOverflow, Currency, MAX_ORDER_AMOUNT};
use crate::payment::CapturePolicy;
use crate::record::RecordMeta;
use crate::validation::{FieldError, required_text};

/// Tax rates are basis points: 1900 is 19 %.
pub const MAX_TAX_RATE_BP: i64 = 10_000;

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
    /// Tax rate in basis points (1900 = 19 %), applied to net prices.
    #[schema(example = 1900)]
    pub tax_rate_bp: i64,
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

    /// Tax on a net amount, in minor units: `net × rate / 10 000`, rounded
    /// half away from zero to the currency's minor unit. Computed per order
    /// line, so each line's tax is exact and the order's tax is their sum.
    pub fn tax_on(&self, net: i64) -> Result<i64, AmountOverflow> {
        tax_on(net, self.tax_rate_bp)
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
