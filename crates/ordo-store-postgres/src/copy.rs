//! Bulk loads with `COPY ... FROM STDIN`, PostgreSQL's fastest way in.
//!
//! sqlx streams raw `COPY` data ([`PgConnection::copy_in_raw`]) but has no
//! row encoder, and no well-kept crate encodes rows for it without bringing
//! a second PostgreSQL driver along, so this writes the text format itself:
//! tab-separated fields, one row per line, `\N` for NULL, and backslash
//! escapes for the four characters that would break a field.

use std::fmt::Write as _;

use ordo_domain::Timestamp;
use ordo_store::StoreResult;
use serde::Serialize;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::{corrupt, map_err};

/// Data is sent in chunks of about this many bytes.
const CHUNK: usize = 1 << 20;

/// Rows for one `COPY table (columns) FROM STDIN`.
pub(crate) struct CopyIn {
    statement: String,
    data: String,
    /// Whether the row being written has no field yet.
    row_start: bool,
    rows: u64,
}

impl CopyIn {
    /// `target` is `table (column, ...)`.
    pub(crate) fn new(target: &str) -> Self {
        Self { statement: format!("COPY {target} FROM STDIN"), data: String::new(), row_start: true, rows: 0 }
    }

    fn separate(&mut self) {
        if !self.row_start {
            self.data.push('\t');
        }
        self.row_start = false;
    }

    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.separate();
        for c in value.chars() {
            match c {
                '\\' => self.data.push_str("\\\\"),
                '\t' => self.data.push_str("\\t"),
                '\n' => self.data.push_str("\\n"),
                '\r' => self.data.push_str("\\r"),
                c => self.data.push(c),
            }
        }
        self
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.separate();
        self.data.push_str("\\N");
        self
    }

    pub(crate) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.separate();
        let _ = write!(self.data, "{value}");
        self
    }

    pub(crate) fn bool(&mut self, value: bool) -> &mut Self {
        self.separate();
        self.data.push(if value { 't' } else { 'f' });
        self
    }

    pub(crate) fn uuid(&mut self, value: &Uuid) -> &mut Self {
        self.separate();
        let _ = write!(self.data, "{value}");
        self
    }

    pub(crate) fn opt_uuid(&mut self, value: Option<&Uuid>) -> &mut Self {
        match value {
            Some(value) => self.uuid(value),
            None => self.null(),
        }
    }

    /// Microseconds, in UTC: exactly what a bound `Timestamp` stores.
    pub(crate) fn timestamp(&mut self, value: Timestamp) -> &mut Self {
        self.separate();
        let _ = write!(self.data, "{}", value.format("%Y-%m-%d %H:%M:%S%.6f+00"));
        self
    }

    pub(crate) fn opt_timestamp(&mut self, value: Option<Timestamp>) -> &mut Self {
        match value {
            Some(value) => self.timestamp(value),
            None => self.null(),
        }
    }

    /// A `json`/`jsonb` field.
    pub(crate) fn json(&mut self, value: &impl Serialize) -> StoreResult<&mut Self> {
        let text = serde_json::to_string(value).map_err(|e| corrupt("COPY json field", e))?;
        Ok(self.text(&text))
    }

    pub(crate) fn end_row(&mut self) {
        self.data.push('\n');
        self.row_start = true;
        self.rows += 1;
    }

    /// Sends the rows; returns how many.
    pub(crate) async fn send(self, conn: &mut PgConnection) -> StoreResult<u64> {
        if self.rows == 0 {
            return Ok(0);
        }
        let mut copy = conn.copy_in_raw(&self.statement).await.map_err(map_err)?;
        let mut rest = self.data.as_bytes();
        while !rest.is_empty() {
            // Split on a row boundary: nothing requires it, but it keeps a
            // chunk's rows whole in the server's error messages.
            let end = if rest.len() <= CHUNK {
                rest.len()
            } else {
                rest[CHUNK..].iter().position(|&b| b == b'\n').map_or(rest.len(), |i| CHUNK + i + 1)
            };
            if let Err(e) = copy.send(&rest[..end]).await {
                let _ = copy.abort("bulk load failed").await;
                return Err(map_err(e));
            }
            rest = &rest[end..];
        }
        copy.finish().await.map_err(map_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_and_separated() {
        let mut copy = CopyIn::new("t (a, b, c, d)");
        copy.text("tab\there\\ and\nnew line\r").null().int(-5).bool(true);
        copy.end_row();
        copy.opt_text(None).opt_uuid(Some(&Uuid::nil())).json(&serde_json::json!({"k": "v\t"})).unwrap();
        copy.end_row();
        assert_eq!(
            copy.data,
            "tab\\there\\\\ and\\nnew line\\r\t\\N\t-5\tt\n\\N\t00000000-0000-0000-0000-000000000000\t{\"k\":\"v\\\\t\"}\n"
        );
        assert_eq!(copy.rows, 2);
    }

    #[test]
    fn timestamps_keep_their_microseconds_in_utc() {
        let at = chrono::DateTime::from_timestamp_micros(1_764_625_046_123_456).unwrap();
        let mut copy = CopyIn::new("t (a)");
        copy.timestamp(at);
        assert_eq!(copy.data, "2025-12-01 21:37:26.123456+00");
    }
}
