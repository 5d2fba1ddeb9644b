//! Imports: upload a CSV or JSON Lines file, watch it apply, and read the
//! rows it refused beside it.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::StreamExt;
use maud::html;
use ordo_domain::import::{BadRows, ImportFormat, ImportKind, ImportStage, ImportStatus};
use ordo_service::Services;
use ordo_service::imports::ImportRequest;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, csrf_field, shell, status, when};
use super::{AdminResult, Staff};
use crate::auth::ImportsRun;
use crate::extract::BodyLimit;
use crate::routes::{parse_id, parse_page};

/// Where the upload form posts: an upload path, so the upload limit applies.
pub(crate) const UPLOAD_PATH: &str = "/admin/imports";

/// Refused rows shown on an import's page; the rest are in its CSV.
const ERRORS_SHOWN: usize = 100;

pub(super) fn routes() -> Router<Services> {
    Router::new()
        // The upload is counted against the upload limit as it is
        // spooled, not held to the body limit of forms.
        .route(UPLOAD_PATH, get(list).post(upload).layer(DefaultBodyLimit::disable()))
        .route("/admin/imports/{id}", get(show))
        .route("/admin/imports/{id}/errors", get(errors_csv))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list(
    Staff { staff, .. }: Staff<ImportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let page_request = parse_page(ordo_service::imports::CURSOR_SCOPE, Some(20), query.cursor.as_deref())?;
    let imports = services.imports.list(&page_request).await?;
    let content = html! {
        h1 { "Imports" }
        form.filters method="post" action=(UPLOAD_PATH) enctype="multipart/form-data" {
            (csrf_field(&staff))
            label { "What"
                select name="kind" { @for kind in [ImportKind::Products, ImportKind::Customers, ImportKind::Stock] { option value=(kind.as_str()) { (kind.as_str()) } } }
            }
            label { "Bad rows"
                select name="bad_rows" {
                    option value="refuse" { "refuse the file" }
                    option value="skip" { "skip them, apply the rest" }
                }
            }
            label { "File (CSV or JSON Lines)" input type="file" name="file" accept=".csv,.jsonl,.ndjson,text/csv" required; }
            button type="submit" { "Import" }
        }
        @if imports.items.is_empty() { p { "No imports yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Import" } th { "Status" } th.num { "Progress" } th.num { "Rows" } th.num { "Refused" } th { "Asked" } } }
                tbody { @for i in &imports.items { tr {
                    td { a href={ "/admin/imports/" (i.id) } { (i.kind.as_str()) " (" (i.format.as_str()) ")" } }
                    td { (status(i.status.as_str())) }
                    td.num { (i.progress) " %" }
                    td.num { (i.rows) }
                    td.num { (i.counts.rejected) }
                    td { (when(i.created_at)) br; small { (i.created_by) } }
                } } }
            } }
        }
        (page::next_page(UPLOAD_PATH, &[], imports.next_cursor.as_deref()))
    };
    Ok(shell(&staff, UPLOAD_PATH, "Imports", &content).into_response())
}

/// Takes the multipart form (the CSRF token first, so a form from elsewhere
/// is refused before its file is read) and starts the import.
async fn upload(
    Staff { staff, .. }: Staff<ImportsRun>,
    State(services): State<Services>,
    limit: Option<axum::Extension<BodyLimit>>,
    form: Multipart,
) -> AdminResult<Response> {
    let upload = super::upload::read(&staff, form, limit.map_or(usize::MAX, |l| l.0.0)).await?;
    let kind = upload.field("kind");
    let kind = match kind {
        "" => return Err(page::invalid("kind", "say what the file holds").into()),
        value => ImportKind::parse(value)
            .ok_or_else(|| page::invalid("kind", format!("`{value}` is not products, customers or stock")))?,
    };
    let bad_rows = match upload.field("bad_rows") {
        "" => BadRows::default(),
        value => BadRows::parse(value)
            .ok_or_else(|| page::invalid("bad_rows", format!("`{value}` is not refuse or skip")))?,
    };
    let (file_name, file) = upload.file.ok_or_else(|| page::invalid("file", "choose a file to import"))?;
    let format = match file_name.rsplit('.').next() {
        Some("jsonl" | "ndjson") => ImportFormat::Jsonl,
        _ => ImportFormat::Csv,
    };
    let request = ImportRequest { kind, format, dry_run: false, bad_rows, chunk_rows: None };
    let (import, _) = services.imports.create(&staff.actor(), request, file).await?;
    Ok(Redirect::to(&format!("/admin/imports/{}", import.id)).into_response())
}

async fn show(
    Staff { staff, .. }: Staff<ImportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let import = services.imports.find(id).await?;
    // The first refused rows, read from the error report's CSV.
    let mut refused: Vec<[String; 4]> = Vec::new();
    if import.counts.rejected > 0 || import.status == ImportStatus::Failed {
        let mut report = services.imports.error_report(id).await?;
        let mut text = Vec::new();
        while let Some(chunk) = report.next().await {
            text.extend_from_slice(&chunk?);
            if text.iter().filter(|b| **b == b'\n').count() > ERRORS_SHOWN {
                break;
            }
        }
        let mut reader = csv::Reader::from_reader(text.as_slice());
        for record in reader.records().take(ERRORS_SHOWN).flatten() {
            if record.len() == 4 {
                refused.push([0, 1, 2, 3].map(|i| record[i].to_owned()));
            }
        }
    }
    let running = import.status == ImportStatus::Running;
    let title = format!("Import of {}", import.kind.as_str());
    let url = format!("/admin/imports/{}", import.id);
    let content = html! {
        h1 { (title) }
        (page::live("import", &url, running, &html! {
        dl.facts {
            dt { "Status" } dd { (status(import.status.as_str())) " " (import.stage.as_str()) }
            dt { "Progress" } dd { (import.progress) " %" }
            dt { "Rows" } dd {
                (import.rows)
                @if import.stage == ImportStage::Checking {
                    " (checked: " (import.counts.created + import.counts.updated + import.counts.unchanged) " good, "
                    (import.counts.rejected) " refused; nothing applied)"
                } @else {
                    " (" (import.counts.created) " created, " (import.counts.updated) " updated, "
                    (import.counts.unchanged) " unchanged, " (import.counts.rejected) " refused)"
                }
            }
            dt { "Bad rows" } dd { (import.bad_rows.as_str()) }
            dt { "Asked" } dd { (when(import.created_at)) " by " (import.created_by) }
        }
        @if let Some(error) = &import.error {
            div.notice role="alert" { (error) }
        }
        @if !refused.is_empty() {
            h2 { "Refused rows" }
            div.table-wrap { table {
                thead { tr { th.num { "Row" } th { "Field" } th { "Problem" } } }
                tbody { @for [row, field, code, message] in &refused { tr {
                    td.num { (row) } td { (field) } td { (message) " " small { "(" (code) ")" } }
                } } }
            } }
            p { a href={ "/admin/imports/" (import.id) "/errors" } { "All refused rows (CSV)" } }
        }
        }))
    };
    Ok(shell(&staff, UPLOAD_PATH, &title, &content).into_response())
}

async fn errors_csv(
    _staff: Staff<ImportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let report = services.imports.error_report(id).await?;
    let body = axum::body::Body::from_stream(report.map(|chunk| chunk.map_err(std::io::Error::other)));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"import-errors.csv\"")),
        ],
        body,
    )
        .into_response())
}
