//! Money: an amount in integer minor units (cents, pence, yen) with an ISO
//! 4217 currency. Never floating point, so sums and taxes are exact.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::validation::FieldError;

/// The largest amount a price may hold, in minor units (10^12).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// The largest amount an order, or any of its lines, may come to, in minor
/// units (10^15: ten trillion euros). Below 2^53, so every amount Ordo sends
/// is exact in any JSON parser, JavaScript's doubles included; and far below
/// `i64::MAX`, so sums over many orders (an invoice register, a ledger
/// account) have room to grow. An order over it is refused.
pub const MAX_ORDER_AMOUNT: i64 = 1_000_000_000_000_000;
const _: () = assert!(MAX_ORDER_AMOUNT < 1 << 53, "every amount is exact in a double");

/// A money computation whose result would exceed [`MAX_ORDER_AMOUNT`] (or
/// not fit in `i64` at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the amount would exceed {MAX_ORDER_AMOUNT} minor units")]
pub struct AmountOverflow;

/// `value` if it is within `±`[`MAX_ORDER_AMOUNT`].
fn bounded(value: i128) -> Result<i64, AmountOverflow> {
    if value.abs() <= i128::from(MAX_ORDER_AMOUNT) { Ok(value as i64) } else { Err(AmountOverflow) }
}

/// `unit × quantity`, checked against [`MAX_ORDER_AMOUNT`]. Computed in
/// `i128`, where no product of two `i64` can overflow.
pub fn checked_product(unit: i64, quantity: i64) -> Result<i64, AmountOverflow> {
    bounded(i128::from(unit) * i128::from(quantity))
}

/// The sum of `amounts`, checked against [`MAX_ORDER_AMOUNT`] after every
/// addition. Computed in `i128`, where fewer than 2^64 additions of `i64`
/// cannot overflow.
pub fn checked_sum(amounts: impl IntoIterator<Item = i64>) -> Result<i64, AmountOverflow> {
    amounts.into_iter().try_fold(0_i64, |sum, amount| bounded(i128::from(sum) + i128::from(amount)))
}

/// An ISO 4217 currency in current use (no funds, test or precious-metal
/// codes, no superseded currencies).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses a three-letter code; lower case is accepted and normalised.
    pub fn parse(code: &str) -> Result<Self, FieldError> {
        let upper = code.trim().to_ascii_uppercase();
        let unknown =
            || FieldError::new("unknown_currency", format!("`{code}` is not an ISO 4217 currency in current use"));
        if upper.len() != 3 {
            return Err(unknown());
        }
        let currency = iso_currency::Currency::from_code(&upper).ok_or_else(unknown)?;
        if currency.is_fund()
            || currency.is_special()
            || currency.is_superseded().is_some()
            || currency.exponent().is_none()
        {
            return Err(unknown());
        }
        Ok(Self(currency))
    }

    /// The three-letter code, e.g. `EUR`.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point: 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u16 {
        self.0.exponent().unwrap_or(0)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::parse(&code).map_err(|e| serde::de::Error::custom(e.message))
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217 currency code"))
            .examples(["EUR"])
            .into()
    }
}

impl ToSchema for Currency {}

/// An amount of money in integer minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// Amount in minor units (e.g. cents): `1999` EUR is 19.99 €.
    #[schema(example = 1999)]
    pub amount: i64,
    /// ISO 4217 currency code.
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// A price: between zero and [`MAX_AMOUNT`] minor units.
    pub fn price(amount: i64, currency: Currency) -> Result<Self, FieldError> {
        if amount < 0 {
            return Err(FieldError::new("negative_amount", "amount must not be negative"));
        }
        if amount > MAX_AMOUNT {
            return Err(FieldError::new(
                "amount_too_large",
                format!("amount must be at most {MAX_AMOUNT} minor units"),
            ));
        }
        Ok(Self::new(amount, currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_currency_codes_case_insensitively() {
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
        assert_eq!(Currency::parse("usd").unwrap().code(), "USD");
        assert_eq!(Currency::parse(" jpy ").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
    }

    #[test]
    fn rejects_unknown_and_non_circulating_currencies() {
        for code in ["", "EU", "EURO", "ZZZ", "XXX", "XTS", "XAU", "BOV", "VES", "€"] {
            let err = Currency::parse(code).unwrap_err();
            assert_eq!(err.code, "unknown_currency", "{code}");
        }
    }

    #[test]
    fn prices_are_bounded() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(Money::price(0, eur).unwrap().amount, 0);
        assert_eq!(Money::price(MAX_AMOUNT, eur).unwrap().amount, MAX_AMOUNT);
        assert_eq!(Money::price(-1, eur).unwrap_err().code, "negative_amount");
        assert_eq!(Money::price(MAX_AMOUNT + 1, eur).unwrap_err().code, "amount_too_large");
        assert_eq!(Money::price(i64::MAX, eur).unwrap_err().code, "amount_too_large");
    }

    #[test]
    fn checked_arithmetic_refuses_amounts_over_the_bound() {
        assert_eq!(checked_product(MAX_AMOUNT, 1_000), Ok(MAX_ORDER_AMOUNT));
        assert_eq!(checked_product(MAX_AMOUNT, 1_001), Err(AmountOverflow));
        assert_eq!(checked_product(i64::MAX, i64::MAX), Err(AmountOverflow));
        assert_eq!(checked_product(i64::MIN, -1), Err(AmountOverflow));
        assert_eq!(checked_sum([MAX_ORDER_AMOUNT, 0]), Ok(MAX_ORDER_AMOUNT));
        assert_eq!(checked_sum([MAX_ORDER_AMOUNT, 1]), Err(AmountOverflow));
        assert_eq!(checked_sum([i64::MAX, i64::MAX]), Err(AmountOverflow));
        assert_eq!(checked_sum([]), Ok(0));
    }

    proptest::proptest! {
        #[test]
        fn checked_product_is_the_exact_product_or_refused(unit: i64, quantity: i64) {
            let exact = i128::from(unit) * i128::from(quantity);
            match checked_product(unit, quantity) {
                Ok(value) => proptest::prop_assert_eq!(i128::from(value), exact),
                Err(AmountOverflow) => proptest::prop_assert!(exact.abs() > i128::from(MAX_ORDER_AMOUNT)),
            }
        }

        #[test]
        fn checked_sum_is_the_exact_sum_or_refused(amounts: Vec<i64>) {
            // Refused when any partial sum leaves the bound (the order of
            // addition is the caller's), otherwise exact.
            let mut exact = 0_i128;
            let mut overflowed = false;
            for amount in &amounts {
                exact += i128::from(*amount);
                overflowed |= exact.abs() > i128::from(MAX_ORDER_AMOUNT);
            }
            match checked_sum(amounts) {
                Ok(value) => proptest::prop_assert!(!overflowed && i128::from(value) == exact),
                Err(AmountOverflow) => proptest::prop_assert!(overflowed),
            }
        }
    }

    #[test]
    fn money_serialises_as_minor_units_and_code() {
        let money = Money::new(1999, Currency::parse("EUR").unwrap());
        let json = serde_json::to_value(money).unwrap();
        assert_eq!(json, serde_json::json!({"amount": 1999, "currency": "EUR"}));
        let back: Money = serde_json::from_value(json).unwrap();
        assert_eq!(back, money);
        assert!(serde_json::from_value::<Money>(serde_json::json!({"amount": 1, "currency": "ABC"})).is_err());
    }
}
