//! Stock-keeping units: the codes people and systems use to name a product.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::FieldError;

/// Longest SKU accepted.
pub const MAX_LEN: usize = 64;

/// A SKU: 1 to 64 characters from `A-Z a-z 0-9 - _ . /`, starting with a
/// letter or digit. Case is kept and significant: `ab-1` and `AB-1` are two
/// SKUs, as they are in the systems SKUs usually come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

fn is_sku_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

impl Sku {
    /// Parses a SKU, trimming surrounding white space.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let value = value.trim();
        check_sku_chars(value)?;
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(FieldError::new("invalid_sku", "a SKU must start with a letter or a digit"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_sku_chars(value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new("required", "must not be empty"));
    }
    if value.len() > MAX_LEN {
        return Err(FieldError::new("too_long", format!("must be at most {MAX_LEN} characters")));
    }
    if let Some(bad) = value.chars().find(|c| !is_sku_char(*c)) {
        return Err(FieldError::new("invalid_sku", format!("`{bad}` is not allowed; use letters, digits and - _ . /")));
    }
    Ok(())
}

/// The half-open range `[low, high)` of SKUs that start with a prefix, so a
/// prefix filter is an index range scan on both backends with no `LIKE`
/// escaping and no collation surprises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuPrefix {
    pub low: String,
    pub high: String,
}

impl SkuPrefix {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let low = value.trim();
        check_sku_chars(low)?;
        // SKU characters are ASCII below 0x7F, so bumping the last byte gives
        // the first string after every string with this prefix.
        let mut high = low.as_bytes().to_vec();
        if let Some(last) = high.last_mut() {
            *last += 1;
        }
        let high = String::from_utf8(high).map_err(|_| FieldError::new("invalid_sku", "invalid prefix"))?;
        Ok(Self { low: low.to_owned(), high })
    }
}

impl TryFrom<String> for Sku {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).map_err(|e| e.message)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> Self {
        sku.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for Sku {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$"))
            .description(Some("Stock-keeping unit, unique across products; case-sensitive"))
            .examples(["TEE-BLK-M"])
            .into()
    }
}

impl utoipa::ToSchema for Sku {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_sku_shapes() {
        for sku in ["A", "TEE-BLK-M", "sku_01.2/b", "0042"] {
            assert_eq!(Sku::parse(sku).unwrap().as_str(), sku);
        }
        assert_eq!(Sku::parse("  TEE-1 ").unwrap().as_str(), "TEE-1");
        assert_eq!(Sku::parse(&"X".repeat(MAX_LEN)).unwrap().as_str().len(), MAX_LEN);
    }

    #[test]
    fn rejects_bad_skus_with_a_reason() {
        assert_eq!(Sku::parse("").unwrap_err().code, "required");
        assert_eq!(Sku::parse("   ").unwrap_err().code, "required");
        assert_eq!(Sku::parse(&"X".repeat(MAX_LEN + 1)).unwrap_err().code, "too_long");
        for bad in ["TEE 1", "TEE%", "tée", "-TEE", "a\nb", "_x"] {
            assert_eq!(Sku::parse(bad).unwrap_err().code, "invalid_sku", "{bad}");
        }
    }

    #[test]
    fn prefix_range_covers_exactly_the_prefixed_skus() {
        let range = SkuPrefix::parse("TEE-").unwrap();
        assert_eq!(range.low, "TEE-");
        assert_eq!(range.high, "TEE.");
        let inside = |s: &str| s >= range.low.as_str() && s < range.high.as_str();
        assert!(inside("TEE-"));
        assert!(inside("TEE-BLK-M"));
        assert!(inside("TEE-zzz/zz"));
        assert!(!inside("TEE"));
        assert!(!inside("TEE.1"));
        assert!(!inside("TEF"));
        assert!(SkuPrefix::parse("TE E").is_err());
    }
}
