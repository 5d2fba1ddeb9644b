//! Reports and exports: run one over a period, watch it compile, download
//! its file. The two are one page each with the same shape; they differ in
//! their kinds and in the permission they need (`reports:run`,
//! `exports:run`), as in the API.

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
use crate::auth::{ExportsRun, ReportsRun};
use crate::routes::{parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/reports", get(list_reports).post(run_report))
        .route("/admin/reports/{id}/download", get(download_report))
        .route("/admin/exports", get(list_exports).post(run_export))
        .route("/admin/exports/{id}/download", get(download_export))
}

/// Reports or exports: what a page of them lists and runs.
struct Register {
    path: &'static str,
    title: &'static str,
    /// A report or an export, as `ReportService` tells them apart.
    exports: bool,
    kinds: &'static [ReportKind],
}

const REPORTS: Register = Register {
    path: "/admin/reports",
    title: "Reports",
    exports: false,
    kinds: &[
        ReportKind::Sales,
        ReportKind::Tax,
        ReportKind::Documents,
        ReportKind::Payments,
        ReportKind::Aging,
        ReportKind::Stock,
    ],
};

const EXPORTS: Register = Register {
    path: "/admin/exports",
    title: "Exports",
    exports: true,
    kinds: &[ReportKind::Orders, ReportKind::Customers, ReportKind::Products],
};

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    cursor: Option<String>,
}

async fn list_reports(
    Staff { staff, .. }: Staff<ReportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    list(&REPORTS, &staff, &services, &query).await
}

async fn list_exports(
    Staff { staff, .. }: Staff<ExportsRun>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    list(&EXPORTS, &staff, &services, &query).await
}

async fn list(
    register: &Register,
    staff: &super::StaffSession,
    services: &Services,
    query: &ListQuery,
) -> AdminResult<Response> {
    let page_request = parse_page(ordo_service::reports::CURSOR_SCOPE, Some(20), query.cursor.as_deref())?;
    let reports = services.reports.list(register.exports, &page_request).await?;
    let today = chrono::Utc::now().date_naive();
    let month_start = today.with_day0(0).unwrap_or(today);
    let running = reports.items.iter().any(|r| r.status == ReportStatus::Running);
    let content = html! {
        h1 { (register.title) }
        form.filters method="post" action=(register.path) {
            (csrf_field(staff))
            label { @if register.exports { "Export" } @else { "Report" }
                select name="kind" { @for kind in register.kinds { option value=(kind.as_str()) { (kind.as_str()) } } }
            }
            label { "From" input type="date" name="from" value=(month_start) required; }
            label { "To" input type="date" name="to" value=(today) required; }
            label { "Market (optional)" input type="text" name="market" size="6"; }
            label { "Format"
                select name="format" { @for f in [ReportFormat::Csv, ReportFormat::Xlsx, ReportFormat::Jsonl] { option value=(f.as_str()) { (f.as_str()) } } }
            }
            button type="submit" { "Run" }
        }
        (page::live("documents", register.path, running, &html! {
        @if reports.items.is_empty() { p { "None yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Kind" } th { "Period" } th { "Status" } th.num { "Progress" } th.num { "Rows" } th { "Asked" } th { "File" } } }
                tbody { @for r in &reports.items { tr {
                    td { (r.params.kind.as_str()) @if let Some(m) = &r.params.market { " (" (m) ")" } }
                    td { (r.params.from) " – " (r.params.to) }
                    td { (status(r.status.as_str())) @if let Some(e) = &r.error { br; small.problem { (e) } } }
                    td.num { (r.progress) " %" }
                    td.num { (r.rows) }
                    td { (when(r.created_at)) br; small { (r.created_by) } }
                    td { @if r.status == ReportStatus::Succeeded {
                        a href={ (register.path) "/" (r.id) "/download" } { "Download " (r.params.format.as_str()) }
                    } }
                } } }
            } }
        }
        }))
        (page::next_page(register.path, &[], reports.next_cursor.as_deref()))
    };
    Ok(shell(staff, register.path, register.title, &content).into_response())
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

async fn run_report(State(services): State<Services>, action: Action<ReportsRun, RunForm>) -> AdminResult<Response> {
    run(&REPORTS, &services, &action.staff.actor(), &action.form).await
}

async fn run_export(State(services): State<Services>, action: Action<ExportsRun, RunForm>) -> AdminResult<Response> {
    run(&EXPORTS, &services, &action.staff.actor(), &action.form).await
}

async fn run(
    register: &Register,
    services: &Services,
    actor: &ordo_domain::audit::Actor,
    form: &RunForm,
) -> AdminResult<Response> {
    let kind = ReportKind::parse(&form.kind).filter(|k| register.kinds.contains(k)).ok_or_else(|| {
        let what = if register.exports { "an export" } else { "a report" };
        page::invalid("kind", format!("`{}` is not {what}", form.kind))
    })?;
    let date = |field: &str, value: &str| page::parse_day(value).map_err(|m| page::invalid(field, m));
    let format = match form.format.as_str() {
        "" => ReportFormat::default(),
        f => {
            ReportFormat::parse(f).ok_or_else(|| page::invalid("format", format!("`{f}` is not csv, xlsx or jsonl")))?
        }
    };
    let market = Some(form.market.trim().to_owned()).filter(|m| !m.is_empty());
    let params = ReportParams { kind, from: date("from", &form.from)?, to: date("to", &form.to)?, market, format };
    if register.exports {
        services.reports.create_export(actor, params).await?;
    } else {
        services.reports.create(actor, params).await?;
    }
    Ok(Redirect::to(register.path).into_response())
}

async fn download_report(
    _staff: Staff<ReportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AdminResult<Response> {
    download(&REPORTS, &services, &id, &headers).await
}

async fn download_export(
    _staff: Staff<ExportsRun>,
    State(services): State<Services>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AdminResult<Response> {
    download(&EXPORTS, &services, &id, &headers).await
}

/// Sends the browser to the file by a short-lived signed link.
async fn download(register: &Register, services: &Services, id: &str, headers: &HeaderMap) -> AdminResult<Response> {
    let id: Uuid = parse_id(id)?;
    let link = services.reports.link(register.exports, id, &crate::routes::files::origin(headers)).await?;
    Ok(Redirect::to(&link.url).into_response())
}
