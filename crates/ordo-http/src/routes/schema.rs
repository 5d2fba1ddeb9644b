//! Schemas of request fields, stating what the domain's parsers accept, for
//! `#[schema(schema_with = ...)]` and `#[param(schema_with = ...)]`.
//!
//! The parsers trim surrounding white space (Rust's `char::is_whitespace`)
//! and often accept lower case, so each pattern allows both: a value the
//! pattern refuses is always refused by the server, and a value it allows
//! is refused only for reasons a schema cannot state (an unknown currency,
//! a taken SKU). The tests below hold each pattern against its parser.

use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// What `str::trim` removes (Unicode `White_Space`) and a JSON body may
/// hold: a body's text may have no control characters but tab and line feed
/// (the JSON extractor refuses them first).
const WS: &str = r"[\t\n \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// The same for a query parameter, which may hold no control character.
const QUERY_WS: &str = r"[ \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// A character of free text: anything but a control character, except tab
/// and line feed.
const TEXT: &str = r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]";
/// The first or last character of trimmed free text.
const TEXT_EDGE: &str = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

fn trimmed(core: &str) -> String {
    format!("^{WS}*{core}{WS}*$")
}

fn string(pattern: String, description: &str) -> Object {
    ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern)).description(Some(description)).build()
}

/// Free text of 1 to `max` characters once trimmed, without control
/// characters other than tab and line feed.
fn required_text_pattern(max: usize) -> String {
    trimmed(&format!("{TEXT_EDGE}(?:{TEXT}{{0,{}}}{TEXT_EDGE})?", max - 2))
}

/// Like [`required_text_pattern`], but may be empty.
fn optional_text_pattern(max: usize) -> String {
    trimmed(&format!("(?:{TEXT_EDGE}(?:{TEXT}{{0,{}}}{TEXT_EDGE})?)?", max - 2))
}

fn sku_pattern() -> String {
    trimmed("[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")
}

fn sku_prefix_pattern() -> String {
    format!("^{QUERY_WS}*[A-Za-z0-9._/-]{{1,64}}{QUERY_WS}*$")
}

fn market_code_pattern() -> String {
    trimmed("[A-Za-z][A-Za-z0-9-]{1,15}")
}

fn location_code_pattern() -> String {
    trimmed("[A-Za-z0-9_-]{1,32}")
}

fn currency_pattern() -> String {
    trimmed("[A-Za-z]{3}")
}

fn country_pattern() -> String {
    trimmed("[A-Za-z]{2}")
}

fn locale_pattern() -> String {
    trimmed("[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")
}

pub(crate) fn sku() -> Object {
    string(sku_pattern(), "1 to 64 of `A-Z a-z 0-9 - _ . /`, starting with a letter or digit; case-sensitive")
}

pub(crate) fn sku_prefix() -> Object {
    string(sku_prefix_pattern(), "1 to 64 of `A-Z a-z 0-9 - _ . /`; case-sensitive")
}

pub(crate) fn market_code() -> Object {
    string(market_code_pattern(), "2 to 16 letters, digits and `-`, starting with a letter; upper-cased")
}

pub(crate) fn location_code() -> Object {
    string(location_code_pattern(), "1 to 32 letters, digits, `-` and `_`; upper-cased")
}

pub(crate) fn currency() -> Object {
    string(currency_pattern(), "ISO 4217 code in current use, e.g. `EUR`; lower case is accepted")
}

pub(crate) fn country() -> Object {
    string(country_pattern(), "ISO 3166-1 alpha-2 code, e.g. `DE`; lower case is accepted")
}

pub(crate) fn locale() -> Object {
    string(locale_pattern(), "BCP 47 language tag, e.g. `de-DE`: at most 35 characters")
}

/// A keyset cursor: URL-safe base64, as `next_cursor` gives it; empty
/// means the first page.
pub(crate) fn cursor() -> Object {
    string("^[A-Za-z0-9_-]*$".to_owned(), "`next_cursor` of the previous page (empty: the first page)")
}

/// An e-mail address; matched trimmed and lower-cased.
pub(crate) fn email() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .description(Some("An e-mail address, matched trimmed and lower-cased"))
        .build()
}

pub(crate) fn payment_token() -> Object {
    string(
        "^tok_[A-Za-z0-9_]{1,100}$".to_owned(),
        "`tok_` and 1 to 100 letters, digits or `_`, from the payment provider",
    )
}

/// The same schema, also allowing `null` (for fields where `null` and
/// absence mean the same, or `null` clears).
fn or_null(mut schema: Object) -> Object {
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

macro_rules! or_null {
    ($($name:ident = $schema:ident;)*) => {
        $(pub(crate) fn $name() -> Object { or_null($schema()) })*
    };
}

or_null! {
    text_100_or_null = text_100;
    text_200_or_null = text_200;
    optional_text_20_or_null = optional_text_20;
    optional_text_200_or_null = optional_text_200;
    optional_text_500_or_null = optional_text_500;
    optional_text_10000_or_null = optional_text_10000;
    locale_or_null = locale;
    payment_token_or_null = payment_token;
}

macro_rules! text_schemas {
    ($($name:ident = $kind:ident($max:literal);)*) => {
        $(
            pub(crate) fn $name() -> Object {
                let (pattern, description) = text_schema!($kind, $max);
                string(pattern, description)
            }
        )*
    };
}

macro_rules! text_schema {
    (required, $max:literal) => {
        (
            required_text_pattern($max),
            concat!("1 to ", $max, " characters once trimmed; no control characters but tab and line feed"),
        )
    };
    (optional, $max:literal) => {
        (
            optional_text_pattern($max),
            concat!("At most ", $max, " characters once trimmed; no control characters but tab and line feed"),
        )
    };
}

text_schemas! {
    text_100 = required(100);
    text_200 = required(200);
    optional_text_20 = optional(20);
    optional_text_200 = optional(200);
    optional_text_500 = optional(500);
    optional_text_10000 = optional(10000);
}

#[cfg(test)]
mod tests {
    use ordo_domain::validation::{optional_text, required_text};
    use ordo_domain::{Currency, Sku, inventory, market};

    use super::*;

    /// Strings at the edges of every rule: white space of every kind,
    /// control characters, case, lengths.
    fn samples() -> Vec<String> {
        let mut out: Vec<String> = [
            "",
            " ",
            "a",
            "A",
            "ab",
            "AB",
            "aB-1",
            "A1",
            "1A",
            "-A",
            "A-",
            "de-DE",
            "en",
            "de-",
            "zz-ZZZZZZZZZ",
            "EUR",
            "eur",
            "EU",
            "EURO",
            "DE",
            "de",
            "D",
            "TEE-BLK-M",
            "tee.blk/m_1",
            "_A",
            ".A",
            "a b",
            "a\tb",
            "a\nb",
            "a\rb",
            "a\u{0}b",
            "a\u{85}b",
            "a\u{7f}",
            "\u{a0}a",
            "a\u{2028}",
            "\u{feff}a",
            "a\u{200b}",
            "\u{1c}a",
            "é",
            "ü-1",
            "tok_approve",
            "tok_",
            "tok_a b",
            "TOK_x",
            "ab_c",
            "AB_C",
            "x".repeat(16).as_str(),
            "x".repeat(17).as_str(),
            "x".repeat(32).as_str(),
            "x".repeat(33).as_str(),
            "x".repeat(64).as_str(),
            "x".repeat(65).as_str(),
            "x".repeat(100).as_str(),
            "x".repeat(101).as_str(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let padded: Vec<String> = out
            .iter()
            .flat_map(|s| {
                [" ", "\t", "\n", "\u{b}", "\r", "\u{85}", "\u{a0}", "\u{3000}", "\u{feff}", "\u{1c}", "\u{0}"]
                    .into_iter()
                    .flat_map(move |ws| [format!("{ws}{s}"), format!("{s}{ws}"), format!("{ws}{s}{ws}")])
            })
            .collect();
        out.extend(padded);
        out
    }

    fn agrees(pattern: &str, accepts: impl Fn(&str) -> bool) {
        let regex = regex::Regex::new(pattern).unwrap();
        for sample in samples() {
            assert_eq!(regex.is_match(&sample), accepts(&sample), "{pattern} on {sample:?}");
        }
    }

    /// What the JSON extractor lets through to the parsers.
    fn body_text(s: &str) -> bool {
        !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
    }

    /// What the query extractor lets through.
    fn query_text(s: &str) -> bool {
        !s.chars().any(char::is_control)
    }

    #[test]
    fn patterns_state_what_the_server_accepts() {
        agrees(&sku_pattern(), |s| body_text(s) && Sku::parse(s).is_ok());
        agrees(&sku_prefix_pattern(), |s| query_text(s) && ordo_domain::sku::SkuPrefix::parse(s).is_ok());
        agrees(&market_code_pattern(), |s| body_text(s) && market::parse_code(s).is_ok());
        agrees(&location_code_pattern(), |s| body_text(s) && inventory::parse_location_code(s).is_ok());
        agrees(&locale_pattern(), |s| body_text(s) && market::parse_locale(s).is_ok());
        agrees(&required_text_pattern(100), |s| body_text(s) && required_text(s, 100).is_ok());
        agrees(&optional_text_pattern(20), |s| body_text(s) && optional_text(s, 20).is_ok());
    }

    #[test]
    fn the_if_match_pattern_states_what_the_server_reads() {
        let regex = regex::Regex::new(crate::openapi::IF_MATCH_PATTERN).unwrap();
        for good in ["", "*", "\"1\"", "W/\"1\"", "\"123456789012345678\""] {
            assert!(regex.is_match(good), "{good:?}");
        }
        for bad in ["1", "\"1", "\"-1\"", "\"+1\"", "\"\"", "\"1\", \"2\"", "w/\"1\"", "**"] {
            assert!(!regex.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn codes_the_parsers_accept_match_their_patterns() {
        // Which three- and two-letter codes exist is not the pattern's
        // business; that every accepted one matches is.
        let currency = regex::Regex::new(&currency_pattern()).unwrap();
        let country = regex::Regex::new(&country_pattern()).unwrap();
        for sample in samples() {
            if body_text(&sample) && Currency::parse(&sample).is_ok() {
                assert!(currency.is_match(&sample), "{sample:?}");
            }
            if body_text(&sample) && ordo_domain::customer::CountryCode::parse(&sample).is_ok() {
                assert!(country.is_match(&sample), "{sample:?}");
            }
        }
        assert!(!currency.is_match("EURO") && !country.is_match("DEU"));
    }
}
