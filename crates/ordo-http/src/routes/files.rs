//! `GET /files/{key}`: a stored file, through a signed download link (the
//! local file store's; an S3 store's links point at S3 itself).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use ordo_domain::time;
use ordo_service::Services;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiResult;
use crate::error::codes::{INVALID_PATH, INVALID_QUERY, LINK_REFUSED, NOT_FOUND, SERVICE_UNAVAILABLE};
use crate::extract::Query;

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new().routes(routes!(download))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Signed {
    /// When the link expires, in Unix seconds.
    #[param(minimum = 0, maximum = 253_402_300_799_i64)]
    expires: i64,
    /// The link's HMAC-SHA256 signature, hex.
    #[param(pattern = "^[0-9A-Fa-f]{0,128}$")]
    signature: String,
}

/// Download a stored file through a link from a `.../link` operation (for
/// example `GET /v1/invoices/{id}/link`). Authorised by the link's
/// signature, not by an API key, until it expires: a link that is
/// tampered with or expired gets 403.
#[utoipa::path(
    get,
    path = "/files/{key}",
    tag = "files",
    params(
        ("key" = String, Path, description = "The file's key, as in the link", pattern = "^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}$"),
        Signed
    ),
    security(()),
    responses(
        (status = 200, description = "The file", content((String = "application/octet-stream"))),
    ),
    extensions(("x-errors" = json!([INVALID_PATH, INVALID_QUERY, LINK_REFUSED, NOT_FOUND, SERVICE_UNAVAILABLE]))),
)]
async fn download(
    State(services): State<Services>,
    Path(key): Path<String>,
    Query(signed): Query<Signed>,
) -> ApiResult<Response> {
    let file = services
        .files
        .open_link(&key, signed.expires, &signed.signature, time::now())
        .await
        .map_err(ordo_service::ServiceError::from)?;
    let name = key.rsplit('/').next().unwrap_or("file").replace('"', "");
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&key)));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    let body = Body::from_stream(file.bytes.map_err(std::io::Error::other));
    Ok((headers, body).into_response())
}

/// The media type of a stored file, from its extension.
fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("pdf") => "application/pdf",
        Some("csv") => "text/csv; charset=utf-8",
        Some("jsonl") => "application/jsonl",
        Some("json") => "application/json",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Where this server was reached, for links to it: the proxy's
/// `X-Forwarded-Proto` and `X-Forwarded-Host` if set, else plain HTTP to
/// the request's `Host`.
pub(crate) fn origin(headers: &HeaderMap) -> String {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty());
    let scheme = text("x-forwarded-proto").filter(|p| matches!(*p, "http" | "https")).unwrap_or("http");
    let host = text("x-forwarded-host").or_else(|| text("host")).unwrap_or("localhost");
    format!("{scheme}://{host}")
}
