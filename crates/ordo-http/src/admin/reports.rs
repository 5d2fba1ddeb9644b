//! Reports: run one over a period, watch it compile, download its file.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::Datelike;
use maud::html;
use ordo_domain::report::{ReportFormat, ReportKind, ReportParams, ReportStatus};
use ordo_service::Services;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, csrf_field, shell, status, when};
use super::{Action, AdminResult, Staff};
use crate::auth::ReportsRun;
use crate::error::ApiError;
use crate::routes::{parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new().route("/admin/reports", get(list).post(run)).route("/admin/reports/{id}/download", get(download))
}

/// The reports (not the exports, which have their own section).
const KINDS: [ReportKind; 6] = [
    ReportKind::Sales,
    ReportKind::Tax,
    ReportKind::Documents,
    ReportKind::Payments,
    ReportKind::Aging,
    ReportKind::Stock,
];

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list(
    Staff { staff, .. }: Staff<ReportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let page_request = parse_page(ordo_service::reports::CURSOR_SCOPE, Some(20), query.cursor.as_deref())?;
    let reports = services.reports.list(false, &page_request).await?;
    let today = chrono::Utc::now().date_naive();
    let month_start = today.with_day0(0).unwrap_or(today);
    let running = reports.items.iter().any(|r| r.status == ReportStatus::Running);
    let content = html! {
        h1 { "Reports" }
        form.filters method="post" action="/admin/reports" {
            (csrf_field(&staff))
            label { "Report"
                select name="kind" { @for kind in KINDS { option value=(kind.as_str()) { (kind.as_str()) } } }
            }
            label { "From" input type="date" name="from" value=(month_start) required; }
            label { "To" input type="date" name="to" value=(today) required; }
            label { "Market (optional)" input type="text" name="market" size="6"; }
            label { "Format"
                select name="format" { @for f in [ReportFormat::Csv, ReportFormat::Xlsx, ReportFormat::Jsonl] { option value=(f.as_str()) { (f.as_str()) } } }
            }
            button type="submit" { "Run" }
        }
        @if running {
            p.hint { "Reports compile in the background: " a href="/admin/reports" { "reload" } " to see their progress." }
        }
        @if reports.items.is_empty() { p { "No reports yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Report" } th { "Period" } th { "Status" } th.num { "Progress" } th.num { "Rows" } th { "Asked" } th { "File" } } }
                tbody { @for r in &reports.items { tr {
                    td { (r.params.kind.as_str()) @if let Some(m) = &r.params.market { " (" (m) ")" } }
                    td { (r.params.from) " – " (r.params.to) }
                    td { (status(r.status.as_str())) @if let Some(e) = &r.error { br; small.problem { (e) } } }
                    td.num { (r.progress) " %" }
                    td.num { (r.rows) }
                    td { (when(r.created_at)) br; small { (r.created_by) } }
                    td { @if r.status == ReportStatus::Succeeded {
                        a href={ "/admin/reports/" (r.id) "/download" } { "Download " (r.params.format.as_str()) }
                    } }
                } } }
            } }
        }
        (page::next_page("/admin/reports", &[], reports.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/reports", "Reports", &content).into_response())
}

#[derive(Debug, Deserialize)]
struct RunForm {
    kind: String,
    from: String,
    to: String,
    #[serde(default)]
    market: String,
    #[serde(default)]
    format: String,
}

async fn run(State(services): State<Services>, action: Action<ReportsRun, RunForm>) -> AdminResult<Response> {
    let form = &action.form;
    let kind = ReportKind::parse(&form.kind)
        .filter(|k| KINDS.contains(k))
        .ok_or_else(|| ApiError::invalid_body("kind".into(), format!("kind: `{}` is not a report", form.kind)))?;
    let date = |field: &str, value: &str| {
        page::parse_day(value).map_err(|m| ApiError::invalid_body(field.to_owned(), format!("{field}: {m}")))
    };
    let format = match form.format.as_str() {
        "" => ReportFormat::default(),
        f => ReportFormat::parse(f).ok_or_else(|| {
            ApiError::invalid_body("format".into(), format!("format: `{f}` is not csv, xlsx or jsonl"))
        })?,
    };
    let market = Some(form.market.trim().to_owned()).filter(|m| !m.is_empty());
    let params = ReportParams { kind, from: date("from", &form.from)?, to: date("to", &form.to)?, market, format };
    services.reports.create(&action.staff.actor(), params).await?;
    Ok(Redirect::to("/admin/reports").into_response())
}

/// Sends the browser to the report's file by a short-lived signed link.
async fn download(
    _staff: Staff<ReportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    let link = services.reports.link(false, id, &crate::routes::files::origin(&headers)).await?;
    Ok(Redirect::to(&link.url).into_response())
}
