//! Request extractors that turn every kind of bad input into an [`ApiError`]
//! problem response with the offending field named, instead of axum's plain
//! text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderMap};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Requires a JSON content type; reports syntax errors as 400
/// and shape errors (wrong type, missing or unknown field) as 422 with the
/// field's path.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let limit = req.extensions().get::<BodyLimit>().copied();
        let bytes = Bytes::from_request(req, state).await.map_err(|r| body_rejection(&r, limit))?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The request body limit in force, put in each request's extensions by the
/// router so that a 413 can say what the limit is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

fn body_rejection(rejection: &BytesRejection, limit: Option<BodyLimit>) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(limit.map(|l| l.0))
    } else {
        ApiError::unreadable_body(rejection.body_text())
    }
}

/// Parses a JSON document into `T`, naming the failing field. Text holding
/// control characters (other than tab and line feed) is refused here, for
/// every field at once, before it can reach a domain type or a database
/// (PostgreSQL refuses NUL in text with an error of its own).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_control_character(bytes)
        && let Ok(document) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = control_character_field(&document, String::new())
    {
        return Err(ApiError::from(ordo_domain::ValidationErrors::single(
            field,
            "invalid_characters",
            "must not contain control characters",
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => {
                ApiError::malformed_json(format!("the body is not valid JSON: {inner}"))
            }
            // A shape error can be reported before a syntax error further
            // on; a document that is not JSON at all is a syntax problem.
            serde_json::error::Category::Data if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() => {
                ApiError::malformed_json("the body is not valid JSON")
            }
            serde_json::error::Category::Data => {
                ApiError::invalid_body(field_path(&path), strip_position(&inner.to_string()))
            }
        }
    })?;
    deserializer.end().map_err(|e| ApiError::malformed_json(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// Whether a JSON text may hold a string with a control character other
/// than tab and line feed: an escape such as `\u0000`, `\b`, `\f` or `\r`,
/// or a raw DEL or C1 character (raw C0 characters are not JSON at all).
/// A fast scan over the bytes; a hit is confirmed on the parsed document.
fn has_control_character(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                match bytes.get(i + 1) {
                    Some(b'b' | b'f' | b'r') => return true,
                    Some(b'u') => {
                        let code = bytes
                            .get(i + 2..i + 6)
                            .and_then(|hex| std::str::from_utf8(hex).ok())
                            .and_then(|hex| u32::from_str_radix(hex, 16).ok());
                        if code.and_then(char::from_u32).is_some_and(forbidden) {
                            return true;
                        }
                    }
                    _ => {}
                }
                i += 2; // the escaped character never starts another escape
            }
            0x7f => return true,
            0xc2 if bytes.get(i + 1).is_some_and(|b| (0x80..=0x9f).contains(b)) => return true,
            _ => i += 1,
        }
    }
    false
}

/// A control character refused in request text: tab and line feed are
/// allowed in bodies (multi-line notes and descriptions).
fn forbidden(c: char) -> bool {
    c.is_control() && c != '\t' && c != '\n'
}

/// The path of the first string (or object key) in `value` holding a
/// forbidden control character, as serde_path_to_error would name it.
fn control_character_field(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.chars().any(forbidden).then_some(path),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| control_character_field(item, format!("{path}[{i}]")))
        }
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let field = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            if key.chars().any(forbidden) { Some(field) } else { control_character_field(item, field) }
        }),
        _ => None,
    }
}

/// Whether request text from a path, query or header holds any control
/// character (tab and line feed included: none belongs in one).
pub(crate) fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// serde_path_to_error writes `.` for the document root.
fn field_path(path: &str) -> String {
    if path == "." { String::new() } else { path.to_owned() }
}

/// serde_json appends " at line 1 column 42", which means nothing to a
/// client that sent a compact document.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters. Unknown parameters are refused (a typo such as
/// `?actve=true` must not silently list everything) and the failing
/// parameter is named.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // Before any value reaches a domain type or a database.
        if let Some((field, _)) =
            form_urlencoded::parse(query.as_bytes()).find(|(key, value)| has_control(key) || has_control(value))
        {
            return Err(ApiError::invalid_query(
                field.into_owned(),
                "invalid_characters",
                "must not contain control characters".into(),
            ));
        }
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer).map(Query).map_err(|e| {
            let field = field_path(&e.path().to_string());
            ApiError::invalid_query(field, "invalid_value", e.into_inner().to_string())
        })
    }
}

/// The `If-Match` precondition of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// `If-Match: *`: any current version.
    Any,
    /// `If-Match: "<version>"`, as sent in `ETag`.
    Version(i64),
    /// `If-Match: W/"<version>"`: RFC 9110 compares `If-Match` tags
    /// strongly, and a weak tag never matches strongly, so the update is
    /// refused with 412 whatever the version.
    Weak,
}

/// The `If-Match` header, if sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OptionalIfMatch(pub(crate) Option<IfMatch>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalIfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let invalid = || ApiError::invalid_header("If-Match", "expected `*` or one entity tag such as `\"3\"`");
        let text = value.to_str().map_err(|_| invalid())?.trim();
        if text.is_empty() {
            return Ok(Self(None)); // an empty list of tags (RFC 9110 `#entity-tag`): as if not sent
        }
        if text == "*" {
            return Ok(Self(Some(IfMatch::Any)));
        }
        let (weak, tag) = match text.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, text),
        };
        // An entity tag is quoted (RFC 9110); ours are versions, in digits.
        let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).ok_or_else(invalid)?;
        if !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let version = tag.parse::<i64>().map_err(|_| invalid())?;
        Ok(Self(Some(if weak { IfMatch::Weak } else { IfMatch::Version(version) })))
    }
}

/// The `If-None-Match` header (RFC 9110 §13.1.2), if sent. It never
/// refuses a request: a list that is not understood matches nothing, and
/// the full answer goes out.
#[derive(Debug, Clone, Default)]
pub(crate) struct IfNoneMatch(Option<HeaderValue>);

impl IfNoneMatch {
    /// Whether the client's copy is current: `*`, or `etag` among the
    /// listed tags by weak comparison (`W/"3"` matches `"3"`).
    pub(crate) fn matches(&self, etag: &str) -> bool {
        let Some(text) = self.0.as_ref().and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let opaque = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
        let ours = opaque(etag);
        // Our tags hold no commas, so splitting the list on them cannot make
        // one of ours out of someone else's.
        text.split(',').map(str::trim).any(|tag| tag == "*" || opaque(tag) == ours)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

/// The entity tag of a version, for `ETag`.
pub(crate) fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Deserialises a field that may be absent (leave unchanged), `null`
/// (clear) or a value (set) into `Option<Option<T>>`; use with
/// `#[serde(default, deserialize_with = "nullable")]`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// An optional JSON body: `None` when the request has no body at all.
impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(req, state).await.map(Some);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| body_rejection(&r, None))?;
        if bytes.is_empty() { Ok(None) } else { Err(ApiError::unsupported_media_type()) }
    }
}
