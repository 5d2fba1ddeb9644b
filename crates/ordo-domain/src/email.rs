//! E-mail addresses, normalised so that one mailbox has one spelling.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::FieldError;

/// Longest address accepted (RFC 5321's limit on a forward path).
pub const MAX_LEN: usize = 254;

/// A syntactically valid e-mail address, trimmed and lower-cased.
///
/// Lower-casing the local part is technically lossy (RFC 5321 lets a server
/// treat it case-sensitively), but no mail provider in use does, and treating
/// `Ann@Example.com` and `ann@example.com` as two customers is the bug users
/// actually hit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let normalised = value.trim().to_lowercase();
        if normalised.is_empty() {
            return Err(FieldError::new("required", "must not be empty"));
        }
        if normalised.len() > MAX_LEN {
            return Err(FieldError::new("too_long", format!("must be at most {MAX_LEN} characters")));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            &normalised,
            email_address::Options::default().without_display_text().without_domain_literal(),
        )
        .map_err(|e| FieldError::new("invalid_email", format!("not a valid e-mail address: {e}")))?;
        // Addresses for real customers have a dot in the domain; `a@b` is
        // almost always a typo.
        if !parsed.domain().contains('.') {
            return Err(FieldError::new("invalid_email", "not a valid e-mail address: the domain has no dot"));
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|e| e.message)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::Email,
            )))
            .description(Some("E-mail address, unique across customers; stored trimmed and lower-cased"))
            .examples(["ann@example.com"])
            .into()
    }
}

impl utoipa::ToSchema for Email {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_white_space() {
        assert_eq!(Email::parse("  Ann.Lee@Example.COM ").unwrap().as_str(), "ann.lee@example.com");
        assert_eq!(Email::parse("a+tag@mail.example.org").unwrap().as_str(), "a+tag@mail.example.org");
    }

    #[test]
    fn rejects_invalid_addresses() {
        assert_eq!(Email::parse("").unwrap_err().code, "required");
        for bad in [
            "ann",
            "ann@",
            "@example.com",
            "ann@@example.com",
            "ann@example",
            "Ann <ann@example.com>",
            "a b@example.com",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().code, "invalid_email", "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_LEN));
        assert_eq!(Email::parse(&long).unwrap_err().code, "too_long");
    }
}
