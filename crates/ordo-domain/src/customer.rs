//! Customers: who orders, reachable by a unique e-mail address, with the
//! addresses they ship and bill to.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::email::Email;
use crate::id::CustomerId;
use crate::record::{RecordError, RecordMeta};
use crate::time::Timestamp;
use crate::validation::{FieldError, ValidationErrors, optional_text, required_text};

pub const NAME_MAX: usize = 200;
pub const ADDRESSES_MAX: usize = 32;
const LINE_MAX: usize = 200;
const POSTAL_CODE_MAX: usize = 20;

/// A customer as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    /// Unique across all customers, archived ones included.
    pub email: Email,
    pub name: String,
    pub addresses: Vec<Address>,
    #[serde(flatten)]
    pub meta: RecordMeta,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    /// Who receives mail here, if not the customer.
    pub recipient: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    /// State, province or county, where the country uses one.
    pub region: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    #[schema(value_type = String, pattern = "^[A-Z]{2}$", example = "DE")]
    pub country: CountryCode,
}

/// An ISO 3166-1 alpha-2 country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(iso_currency::Country);

impl CountryCode {
    /// Parses a two-letter code; lower case is accepted and normalised.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let upper = value.trim().to_ascii_uppercase();
        let unknown =
            || FieldError::new("unknown_country", format!("`{value}` is not an ISO 3166-1 alpha-2 country code"));
        if upper.len() != 2 {
            return Err(unknown());
        }
        iso_currency::Country::from_str(&upper).map(Self).map_err(|_| unknown())
    }
}

impl std::fmt::Display for CountryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl TryFrom<String> for CountryCode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|e| e.message)
    }
}

impl From<CountryCode> for String {
    fn from(code: CountryCode) -> Self {
        code.to_string()
    }
}

/// Raw address fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct RawAddress<'a> {
    pub recipient: Option<&'a str>,
    pub line1: &'a str,
    pub line2: Option<&'a str>,
    pub city: &'a str,
    pub region: Option<&'a str>,
    pub postal_code: Option<&'a str>,
    pub country: &'a str,
}

fn optional_line(value: Option<&str>, max: usize) -> Result<Option<String>, FieldError> {
    match value {
        None => Ok(None),
        Some(text) => optional_text(text, max).map(|t| (!t.is_empty()).then_some(t)),
    }
}

impl Address {
    /// Validates one address, reporting problems by field name.
    pub fn parse(raw: &RawAddress<'_>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let recipient = errors.check("recipient", optional_line(raw.recipient, LINE_MAX));
        let line1 = errors.check("line1", required_text(raw.line1, LINE_MAX));
        let line2 = errors.check("line2", optional_line(raw.line2, LINE_MAX));
        let city = errors.check("city", required_text(raw.city, LINE_MAX));
        let region = errors.check("region", optional_line(raw.region, LINE_MAX));
        let postal_code = errors.check("postal_code", optional_line(raw.postal_code, POSTAL_CODE_MAX));
        let country = errors.check("country", CountryCode::parse(raw.country));
        match (recipient, line1, line2, city, region, postal_code, country) {
            (Some(recipient), Some(line1), Some(line2), Some(city), Some(region), Some(postal_code), Some(country)) => {
                Ok(Self { recipient, line1, line2, city, region, postal_code, country })
            }
            _ => Err(errors),
        }
    }

    /// Validates a list of addresses, reporting problems as `[i].field`.
    pub fn parse_all(raw: &[RawAddress<'_>]) -> Result<Vec<Self>, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if raw.len() > ADDRESSES_MAX {
            errors.add("", "too_many", format!("at most {ADDRESSES_MAX} addresses"));
            return Err(errors);
        }
        let mut addresses = Vec::with_capacity(raw.len());
        for (i, address) in raw.iter().enumerate() {
            match Self::parse(address) {
                Ok(address) => addresses.push(address),
                Err(e) => errors.merge(&format!("[{i}]"), e),
            }
        }
        errors.into_result(|| addresses)
    }
    /// [`Address::parse_all`] of addresses as given in a request or a row.
    pub fn parse_each<A: AddressSource>(given: &[A]) -> Result<Vec<Self>, ValidationErrors> {
        Self::parse_all(&given.iter().map(AddressSource::raw).collect::<Vec<_>>())
    }
}

/// An address as some input carries it (a request body, an import row),
/// to be parsed with [`Address::parse`].
pub trait AddressSource {
    fn raw(&self) -> RawAddress<'_>;
}

/// A validated customer to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub email: Email,
    pub name: String,
    pub addresses: Vec<Address>,
}

/// Validated changes to a customer; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerChanges {
    pub email: Option<Email>,
    pub name: Option<String>,
    pub addresses: Option<Vec<Address>>,
}

/// Filters for listing customers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Exact (normalised) e-mail address.
    pub email: Option<Email>,
    pub updated_since: Option<Timestamp>,
    /// Only customers last changed before this instant.
    pub updated_before: Option<Timestamp>,
    /// `false` (the default) lists live customers, `true` archived ones.
    pub archived: bool,
}

/// Parses a customer's name.
pub fn parse_name(value: &str) -> Result<String, FieldError> {
    required_text(value, NAME_MAX)
}

impl Customer {
    /// A new customer, version 1.
    pub fn create(id: CustomerId, new: NewCustomer, now: Timestamp) -> Self {
        Self { id, email: new.email, name: new.name, addresses: new.addresses, meta: RecordMeta::new(now) }
    }

    /// Applies `changes`. Returns whether anything changed; an update that
    /// changes nothing keeps the version.
    pub fn apply(&mut self, changes: CustomerChanges, now: Timestamp) -> Result<bool, RecordError> {
        self.meta.ensure_live()?;
        let before = self.clone();
        if let Some(email) = changes.email {
            self.email = email;
        }
        if let Some(name) = changes.name {
            self.name = name;
        }
        if let Some(addresses) = changes.addresses {
            self.addresses = addresses;
        }
        let changed = *self != before;
        if changed {
            self.meta.touch(now);
        }
        Ok(changed)
    }

    /// Archives the customer. Returns `false` if it already was.
    pub fn archive(&mut self, now: Timestamp) -> bool {
        self.meta.archive(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(country: &'a str, line1: &'a str) -> RawAddress<'a> {
        RawAddress { line1, city: "Berlin", country, ..Default::default() }
    }

    #[test]
    fn parses_addresses_and_normalises_country() {
        let address = Address::parse(&raw("de", " Hauptstr. 1 ")).unwrap();
        assert_eq!(address.country.to_string(), "DE");
        assert_eq!(address.line1, "Hauptstr. 1");
        assert_eq!(address.line2, None);
    }

    #[test]
    fn reports_address_errors_by_index_and_field() {
        let errors = Address::parse_all(&[raw("DE", "x"), raw("XX", ""), raw("D", "y")]).unwrap_err();
        let got: Vec<_> = errors.errors().iter().map(|e| (e.field.as_str(), &*e.code)).collect();
        assert_eq!(
            got,
            [("[1].line1", "required"), ("[1].country", "unknown_country"), ("[2].country", "unknown_country")]
        );
    }

    #[test]
    fn customer_changes_bump_the_version_once() {
        let new = NewCustomer { email: Email::parse("a@example.com").unwrap(), name: "Ann".into(), addresses: vec![] };
        let mut c = Customer::create(CustomerId::generate(), new, crate::time::now());
        let changes = CustomerChanges { email: Some(Email::parse("B@example.com").unwrap()), ..Default::default() };
        assert!(c.apply(changes, crate::time::now()).unwrap());
        assert_eq!((c.meta.version, c.email.as_str()), (2, "b@example.com"));
        assert!(c.archive(crate::time::now()));
        assert_eq!(c.apply(CustomerChanges::default(), crate::time::now()), Err(RecordError::Archived));
    }
}
