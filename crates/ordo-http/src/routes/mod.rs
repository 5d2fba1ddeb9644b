//! One module per resource; each exports `routes()`. Shared request pieces
//! (ids, pages, preconditions) live here.

use std::str::FromStr;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ordo_domain::page::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, PreconditionSource};
use crate::extract::{IfMatch, IfNoneMatch, etag};

pub(crate) mod admin;
pub(crate) mod audit;
pub(crate) mod customers;
pub(crate) mod exports;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod imports;
pub(crate) mod inventory;
pub(crate) mod invoices;
pub(crate) mod jobs;
pub(crate) mod ledger;
pub(crate) mod markets;
pub(crate) mod orders;
pub(crate) mod payments;
pub(crate) mod products;
pub(crate) mod reports;
pub(crate) mod returns;
pub(crate) mod schema;
pub(crate) mod settlements;
pub(crate) mod webhooks;

/// The optional body of an archive or an order's lifecycle step: the
/// version the client last read.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedVersion {
    /// Act only if the entity is still at this version.
    pub(crate) version: Option<i64>,
}

/// Parses an id from the path.
pub(crate) fn parse_id<T: FromStr>(value: &str) -> ApiResult<T> {
    value.parse().map_err(|_| ApiError::invalid_id(value))
}

/// Parses `limit` and `cursor` for the list named `scope`.
pub(crate) fn parse_page(scope: &str, limit: Option<i64>, cursor: Option<&str>) -> ApiResult<PageRequest> {
    PageRequest::parse(scope, limit, cursor)
        .map_err(|(field, e)| ApiError::invalid_query(field.into(), e.code, e.message))
}

/// Resolves the version a client expects from `If-Match` and a body
/// `version`. With `required`, one of them must be sent (428 otherwise).
pub(crate) fn precondition(
    if_match: Option<IfMatch>,
    body_version: Option<i64>,
    required: bool,
) -> ApiResult<(Option<i64>, PreconditionSource)> {
    match (if_match, body_version) {
        (Some(IfMatch::Weak), _) => Err(ApiError::precondition_failed(
            "If-Match compares entity tags strongly (RFC 9110), so a weak tag never matches: send the ETag as received",
        )),
        (Some(IfMatch::Version(header)), Some(body)) if header != body => Err(ApiError::invalid_header(
            "If-Match",
            format!("names version {header} but the body names version {body}"),
        )),
        (Some(IfMatch::Version(v)), _) => Ok((Some(v), PreconditionSource::IfMatch)),
        (Some(IfMatch::Any), Some(v)) | (None, Some(v)) => Ok((Some(v), PreconditionSource::Body)),
        (Some(IfMatch::Any), None) => Ok((None, PreconditionSource::IfMatch)),
        (None, None) if required => Err(ApiError::precondition_required()),
        (None, None) => Ok((None, PreconditionSource::None)),
    }
}

/// 201 Created with `Location`, and the entity with its version as `ETag`.
pub(crate) fn created_response<T: Serialize>(location: &str, version: i64, entity: T) -> Response {
    let mut response = entity_response(version, entity);
    *response.status_mut() = axum::http::StatusCode::CREATED;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A JSON body with `status` and a `Location` header: a background
/// job's resource (202 while it works, or 200/201 when it was there
/// already).
pub(crate) fn located_response<T: Serialize>(status: axum::http::StatusCode, location: &str, body: T) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `Cache-Control` of catalog reads (`catalog.http_cache_control`).
#[derive(Debug, Clone)]
pub(crate) struct CatalogCaching(pub(crate) HeaderValue);

impl CatalogCaching {
    /// The answer to a catalog read whose entity tag is `etag`: 304 with no
    /// body when the client's copy is current (`If-None-Match`), else
    /// `fresh()`; either way with the entity tag and `Cache-Control`.
    pub(crate) fn answer(
        &self,
        etag: &str,
        if_none_match: &IfNoneMatch,
        fresh: impl FnOnce() -> ApiResult<Response>,
    ) -> ApiResult<Response> {
        let mut response =
            if if_none_match.matches(etag) { axum::http::StatusCode::NOT_MODIFIED.into_response() } else { fresh()? };
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(etag) {
            headers.insert(header::ETAG, value);
        }
        headers.insert(header::CACHE_CONTROL, self.0.clone());
        Ok(response)
    }
}

/// A JSON entity with its version as `ETag`.
pub(crate) fn entity_response<T: Serialize>(version: i64, entity: T) -> Response {
    with_etag(version, axum::Json(entity).into_response())
}

fn with_etag(version: i64, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
