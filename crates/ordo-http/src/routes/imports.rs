//! `/v1/imports`: bulk imports of products, customers and stock from CSV
//! or JSON Lines, applied in the background in chunks, with their progress,
//! cancellation and error report.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use ordo_domain::import::{BadRows, Import, ImportFormat, ImportKind};
use ordo_domain::page::Page;
use ordo_service::Services;
use ordo_service::imports::{CURSOR_SCOPE, ImportRequest};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, ImportsRun};
use crate::error::codes::{
    IMPORT_FINISHED, NOT_FOUND, PAYLOAD_TOO_LARGE, SERVICE_UNAVAILABLE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::routes::{parse_id, parse_page};

/// The upload route (see [`crate::upload`]).
pub(crate) const UPLOAD_PATH: &str = "/v1/imports";

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(create_import, list_imports))
        .routes(routes!(get_import))
        .routes(routes!(cancel_import))
        .routes(routes!(import_errors))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CreateQuery {
    /// What the file holds.
    kind: ImportKind,
    /// Check every row against the data and count what would change,
    /// changing nothing (default `false`).
    dry_run: Option<bool>,
    /// A file with bad rows: `refuse` (the default) checks every row
    /// first and imports none if any is bad; `skip` imports the good rows.
    bad_rows: Option<BadRows>,
    /// Rows applied per transaction, 1 to 10,000 (the configured
    /// `imports.chunk_rows` if absent).
    #[param(minimum = 1, maximum = 10000)]
    chunk_rows: Option<i32>,
}

/// Import a file of products, customers or stock, sent as the body
/// (`Content-Type: text/csv`, or `application/x-ndjson` for JSON Lines),
/// UTF-8, up to `server.upload_limit_bytes`.
///
/// - `products`: CSV columns `sku`, `name` (required), `description`,
///   `active`, `tax_class`, and `price_<currency>` per currency in major
///   units (`price_EUR` = `19.90`); JSON Lines rows take the fields of
///   `POST /v1/products`. A new SKU is created; a known one is changed.
/// - `customers`: CSV columns `email`, `name` (required) and one address
///   in `address_line1`, `address_line2`, `address_city`,
///   `address_region`, `address_postal_code`, `address_country`,
///   `address_recipient`; JSON Lines rows take the fields of
///   `POST /v1/customers`. A new e-mail address is created; a known one
///   is changed, its addresses replaced when given.
/// - `stock`: `sku`, `location` (the location's code) and either `on_hand`
///   (a count: on hand becomes it) or `received` (a receipt), plus `note`.
///
/// Blank optional fields leave a record's value as it is. The file is
/// checked whole first: one that is not UTF-8, names an unknown or
/// duplicate column, lacks a required one, or has no rows is refused
/// (422) and nothing is stored. Then it is stored and applied in the
/// background (202), a chunk of rows per transaction, each change audited
/// as through the API. A row the API would refuse is listed in the error
/// report (`/errors`). With `bad_rows=refuse` (the default) every row is
/// checked against the data first (`stage` `checking`), and a file with a
/// bad row ends `failed` having changed nothing; with `bad_rows=skip` the
/// good rows are applied around the bad ones. The same file imported again
/// (same kind, content and `dry_run`) answers its earlier import with 200
/// and changes nothing. Audited as `import.created`.
#[utoipa::path(
    post,
    path = "/v1/imports",
    tag = "imports",
    params(CreateQuery),
    request_body(
        content((String = "text/csv"), (String = "application/x-ndjson")),
        description = "The file: CSV with a header row, or JSON Lines"
    ),
    security(("api_key" = ["imports:run"])),
    responses(
        (status = 202, description = "Stored; being applied", body = Import, headers(("Location" = String))),
        (status = 200, description = "This file was imported before: its import", body = Import),
    ),
    extensions(("x-errors" = json!([VALIDATION_FAILED, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE, SERVICE_UNAVAILABLE]))),
)]
async fn create_import(
    auth: Authorized<ImportsRun>,
    State(services): State<Services>,
    Query(query): Query<CreateQuery>,
    request: Request,
) -> ApiResult<Response> {
    let format = match crate::upload::media_type(&request).as_deref() {
        Some("text/csv") => ImportFormat::Csv,
        Some("application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" | "application/jsonlines") => {
            ImportFormat::Jsonl
        }
        _ => {
            return Err(ApiError::unsupported_media_type_of(
                "send the file with `Content-Type: text/csv` (CSV) or `application/x-ndjson` (JSON Lines)",
            ));
        }
    };
    let file = crate::upload::spool(request).await?;
    let request = ImportRequest {
        kind: query.kind,
        format,
        dry_run: query.dry_run.unwrap_or(false),
        bad_rows: query.bad_rows.unwrap_or_default(),
        chunk_rows: query.chunk_rows,
    };
    let (import, created) = services.imports.create(&auth.actor(), request, file).await?;
    let status = if created { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok(crate::routes::located_response(status, &format!("/v1/imports/{}", import.id), import))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListImports {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
}

/// Imports, newest first.
#[utoipa::path(
    get,
    path = "/v1/imports",
    tag = "imports",
    params(ListImports),
    security(("api_key" = ["imports:run"])),
    responses((status = 200, description = "A page of imports", body = Page<Import>)),
)]
async fn list_imports(
    _auth: Authorized<ImportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListImports>,
) -> ApiResult<axum::Json<Page<Import>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.imports.list(&page).await?))
}

/// An import: its progress (`rows_done` of `rows`) and what its rows did
/// (`created`, `updated`, `unchanged`, `rejected`).
#[utoipa::path(
    get,
    path = "/v1/imports/{id}",
    tag = "imports",
    params(("id" = Uuid, Path, description = "The import's id")),
    security(("api_key" = ["imports:run"])),
    responses((status = 200, description = "The import", body = Import)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_import(
    _auth: Authorized<ImportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Import>> {
    Ok(axum::Json(services.imports.find(parse_id::<Uuid>(&id)?).await?))
}

/// Cancel a running import: it stops after the chunk being applied; the
/// chunks committed stand. Audited as `import.cancelled`.
#[utoipa::path(
    post,
    path = "/v1/imports/{id}/cancel",
    tag = "imports",
    params(("id" = Uuid, Path, description = "The import's id")),
    security(("api_key" = ["imports:run"])),
    responses((status = 200, description = "The cancelled import", body = Import)),
    extensions(("x-errors" = json!([NOT_FOUND, IMPORT_FINISHED]))),
)]
async fn cancel_import(
    auth: Authorized<ImportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Import>> {
    Ok(axum::Json(services.imports.cancel(&auth.actor(), parse_id::<Uuid>(&id)?).await?))
}

/// The import's error report so far, as CSV (`row,field,code,message`):
/// one line per problem, in row order. Rows count from 1 after a CSV
/// header; in JSON Lines, the row is the line number.
#[utoipa::path(
    get,
    path = "/v1/imports/{id}/errors",
    tag = "imports",
    params(("id" = Uuid, Path, description = "The import's id")),
    security(("api_key" = ["imports:run"])),
    responses((status = 200, description = "The error report", content_type = "text/csv", body = String)),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn import_errors(
    _auth: Authorized<ImportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_id::<Uuid>(&id)?;
    let body = services.imports.error_report(id).await?.map_err(|e| std::io::Error::other(e.to_string()));
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
        (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"import-errors.csv\"")),
    ];
    Ok((headers, Body::from_stream(body)).into_response())
}
