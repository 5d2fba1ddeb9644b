//! File uploads (settlement reports, bulk imports): bodies as large as
//! `server.upload_limit_bytes`, streamed to a temporary file and never held
//! whole in memory, and idempotent by the file's content hash rather than
//! by an `Idempotency-Key`.

use std::io::Write;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, header};
use futures::StreamExt;

use crate::error::{ApiError, ApiResult};
use crate::extract::BodyLimit;

/// The routes that take uploads.
const UPLOAD_PATHS: [&str; 4] = [
    crate::routes::settlements::UPLOAD_PATH,
    crate::routes::imports::UPLOAD_PATH,
    crate::admin::imports::UPLOAD_PATH,
    crate::admin::ledger::UPLOAD_PATH,
];

/// Whether a request is an upload.
pub(crate) fn is_upload(method: &Method, path: &str) -> bool {
    method == Method::POST && UPLOAD_PATHS.contains(&path)
}

/// The request's media type, lower case, without parameters.
pub(crate) fn media_type(request: &Request) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// Streams the request's body into an anonymous temporary file, refusing
/// it past the upload limit.
pub(crate) async fn spool(request: Request) -> ApiResult<std::fs::File> {
    let limit = request.extensions().get::<BodyLimit>().map_or(usize::MAX, |l| l.0);
    spool_body(request.into_body(), limit).await
}

async fn spool_body(body: Body, limit: usize) -> ApiResult<std::fs::File> {
    let unreadable = |e: std::io::Error| ApiError::unreadable_body(format!("the upload cannot be stored: {e}"));
    let mut file = tempfile::tempfile().map_err(unreadable)?;
    let mut stream = body.into_data_stream();
    let mut size = 0_usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::unreadable_body(format!("the upload broke off: {e}")))?;
        size += chunk.len();
        if size > limit {
            return Err(ApiError::payload_too_large(Some(limit)));
        }
        // Local disk writes of a request's chunks: short, and a blocking
        // task per chunk would cost more than it spares.
        file.write_all(&chunk).map_err(unreadable)?;
    }
    file.flush().map_err(unreadable)?;
    Ok(file)
}
