//! Multipart forms that carry a file (imports, settlement reports): the
//! CSRF token checked before anything else is read, the text fields, and
//! the file spooled to a temporary file within the upload limit.

use std::collections::BTreeMap;
use std::io::Write;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;

use super::{AdminError, AdminResult, StaffSession};
use crate::error::ApiError;

/// A multipart form as read: its text fields and its file, if it had one.
#[derive(Debug)]
pub(crate) struct Upload {
    fields: BTreeMap<String, String>,
    /// The file's name as the browser gave it, and its content.
    pub(crate) file: Option<(String, std::fs::File)>,
}

impl Upload {
    /// A text field's value ("" if the form had none).
    pub(crate) fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// Reads `form`, whose first field must be the session's CSRF token (the
/// forms put it first): without it nothing else is read. The field named
/// `file` is spooled, refused past `limit` bytes.
pub(crate) async fn read(staff: &StaffSession, mut form: Multipart, limit: usize) -> AdminResult<Upload> {
    let bad_form = |e: MultipartError| AdminError::Problem(ApiError::unreadable_body(e.body_text()));
    let mut csrf_checked = false;
    let mut upload = Upload { fields: BTreeMap::new(), file: None };
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csrf" {
            csrf_checked = staff.session.csrf_matches(&field.text().await.map_err(bad_form)?);
            continue;
        }
        if !csrf_checked {
            return Err(AdminError::Csrf);
        }
        if name != "file" {
            let value = field.text().await.map_err(bad_form)?;
            upload.fields.insert(name, value);
            continue;
        }
        let file_name = field.file_name().unwrap_or_default().to_owned();
        let unreadable = |e: std::io::Error| ApiError::unreadable_body(format!("the upload cannot be stored: {e}"));
        let mut spooled = tempfile::tempfile().map_err(unreadable)?;
        let mut size = 0_usize;
        while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
            size += chunk.len();
            if size > limit {
                return Err(ApiError::payload_too_large(Some(limit)).into());
            }
            spooled.write_all(&chunk).map_err(unreadable)?;
        }
        spooled.flush().map_err(unreadable)?;
        upload.file = Some((file_name, spooled));
    }
    if !csrf_checked {
        return Err(AdminError::Csrf);
    }
    Ok(upload)
}
