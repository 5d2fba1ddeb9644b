//! Keyset pagination. Lists are ordered by id (UUIDv7, so creation order) and
//! a page is "the next `limit` rows after this id": every page costs one index
//! range scan however deep the client reads. No OFFSET, no COUNT(*).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::validation::FieldError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// Where a page starts and how many rows it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows wanted, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// Return rows whose id is greater than this one.
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// Validates a client's `limit` and `cursor` for the list named `scope`.
    pub fn parse(scope: &str, limit: Option<i64>, cursor: Option<&str>) -> Result<Self, (&'static str, FieldError)> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=i64::from(MAX_LIMIT)).contains(&n) => n as u32,
            Some(_) => {
                return Err((
                    "limit",
                    FieldError::new("out_of_range", format!("limit must be between 1 and {MAX_LIMIT}")),
                ));
            }
        };
        let after = match cursor {
            None | Some("") => None,
            Some(cursor) => Some(Cursor::decode(scope, cursor).map_err(|e| ("cursor", e))?.0),
        };
        Ok(Self { limit, after })
    }

    /// How many rows to fetch: one more than the page, to learn whether a
    /// next page exists without a second query.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, after: None }
    }
}

/// An opaque position in a list. Clients must treat it as a black box; it is
/// tied to the list it came from, so a customers cursor is refused by the
/// products list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub Uuid);

impl Cursor {
    pub fn encode(scope: &str, id: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(format!("{scope}:{}", id.simple()))
    }

    pub fn decode(scope: &str, cursor: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("invalid_cursor", "the cursor is not one this list returned");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
        let id = text.strip_prefix(scope).and_then(|rest| rest.strip_prefix(':')).ok_or_else(invalid)?;
        Uuid::try_parse(id).map(Self).map_err(|_| invalid())
    }
}

impl Cursor {
    /// A cursor over a list keyed by text (such as SKUs) rather than ids.
    pub fn encode_key(scope: &str, key: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{scope}:{key}"))
    }

    /// The text key of a cursor made by [`Cursor::encode_key`].
    pub fn decode_key(scope: &str, cursor: &str) -> Result<String, FieldError> {
        let invalid = || FieldError::new("invalid_cursor", "the cursor is not one this list returned");
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let key = text.strip_prefix(scope).and_then(|rest| rest.strip_prefix(':')).ok_or_else(invalid)?;
        // No list is keyed by text with control characters: such a cursor
        // was not made here, and its key must not reach a database.
        if key.chars().any(char::is_control) {
            return Err(invalid());
        }
        Ok(key.to_owned())
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `request.fetch_limit()` rows in id order.
    pub fn from_rows(scope: &str, request: &PageRequest, mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> Self {
        let limit = request.limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|row| Cursor::encode(scope, id(row)))
        } else {
            None
        };
        Self { items: rows, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_and_bounds() {
        assert_eq!(PageRequest::parse("p", None, None).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(PageRequest::parse("p", Some(500), None).unwrap().limit, 500);
        assert_eq!(PageRequest::parse("p", Some(1), None).unwrap().limit, 1);
        for bad in [0, -1, 501, i64::MAX] {
            let (field, err) = PageRequest::parse("p", Some(bad), None).unwrap_err();
            assert_eq!((field, &*err.code), ("limit", "out_of_range"));
        }
    }

    #[test]
    fn cursor_round_trips_within_its_scope_only() {
        let id = Uuid::now_v7();
        let cursor = Cursor::encode("products", id);
        assert_eq!(Cursor::decode("products", &cursor).unwrap().0, id);
        assert!(Cursor::decode("customers", &cursor).is_err());
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("products:zz")] {
            assert_eq!(Cursor::decode("products", bad).unwrap_err().code, "invalid_cursor");
        }
    }

    #[test]
    fn text_cursors_round_trip_and_refuse_control_characters() {
        let cursor = Cursor::encode_key("stock", "TEE-BLK-M");
        assert_eq!(Cursor::decode_key("stock", &cursor).unwrap(), "TEE-BLK-M");
        assert!(Cursor::decode_key("products", &cursor).is_err());
        for key in ["\0", "A\u{7f}", "A\nB"] {
            let forged = URL_SAFE_NO_PAD.encode(format!("stock:{key}"));
            assert_eq!(Cursor::decode_key("stock", &forged).unwrap_err().code, "invalid_cursor", "{key:?}");
        }
    }

    #[test]
    fn page_has_a_cursor_only_when_more_rows_exist() {
        let request = PageRequest { limit: 2, after: None };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::from_rows("p", &request, ids.clone(), |id| *id);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(Cursor::decode("p", page.next_cursor.as_deref().unwrap()).unwrap().0, ids[1]);
        let last = Page::from_rows("p", &request, ids[..2].to_vec(), |id| *id);
        assert!(last.next_cursor.is_none());
    }
}
