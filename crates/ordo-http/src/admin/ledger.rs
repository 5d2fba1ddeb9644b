//! The ledger: the trial balance at any instant, per account, market and
//! currency, with its totals; and the reconciliation runs of providers'
//! settlement reports, each with its items by what reconciling found.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveTime;
use maud::{Markup, html};
use ordo_domain::auth::Permission;
use ordo_domain::money::Currency;
use ordo_domain::settlement::{Format, ItemStatus, RunStatus};
use ordo_service::Services;
use serde::Deserialize;

use super::page::{self, csrf_field, money, parse_day, shell, status, when};
use super::{AdminResult, Staff};
use crate::auth::{LedgerManage, LedgerRead};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::routes::{parse_id, parse_page};

/// Where the settlement upload form posts: an upload path, so the upload
/// limit applies.
pub(crate) const UPLOAD_PATH: &str = "/admin/ledger/settlements";

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/ledger", get(trial_balance))
        // The report is counted against the upload limit as it is spooled,
        // not held to the body limit of forms.
        .route(UPLOAD_PATH, get(runs).post(import).layer(DefaultBodyLimit::disable()))
        .route("/admin/ledger/settlements/{id}", get(run))
}

/// Links between the ledger's pages.
fn tabs(current: &str) -> Markup {
    html! {
        p.tabs {
            @for (href, label) in [("/admin/ledger", "Trial balance"), ("/admin/ledger/settlements", "Reconciliation")] {
                a href=(href) aria-current=[(href == current).then_some("page")] { (label) } " "
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct BalanceQuery {
    /// The end of this day (`YYYY-MM-DD`); now if absent.
    on: Option<String>,
}

async fn trial_balance(
    Staff { staff, .. }: Staff<LedgerRead>,
    State(services): State<Services>,
    Query(query): Query<BalanceQuery>,
) -> AdminResult<Response> {
    let at = match query.on.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let day = parse_day(v).map_err(|m| ApiError::invalid_query("on".into(), "invalid_date", m))?;
            day.succ_opt().map(|d| d.and_time(NaiveTime::MIN).and_utc())
        }
    };
    let balance = services.ledger.trial_balance(at).await?;
    let amount = |value: i64, code: &str| match Currency::parse(code) {
        Ok(currency) => money(value, currency),
        Err(_) => format!("{value} {code}"),
    };
    let content = html! {
        h1 { "Trial balance" }
        (tabs("/admin/ledger"))
        form.filters method="get" action="/admin/ledger" {
            label { "At the end of" input type="date" name="on" value=[query.on.as_deref()]; }
            button type="submit" { "Show" }
        }
        p.hint { "As of " (when(balance.at)) ". Debit balances are positive, credit balances negative." }
        @if balance.accounts.is_empty() { p { "Nothing is posted yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Account" } th { "SKR03" } th { "Market" } th.num { "Balance" } } }
                tbody { @for a in &balance.accounts { tr {
                    td { (a.balance.account) br; small { (a.description) } }
                    td { (a.skr03) }
                    td { (a.balance.market) }
                    td.num { (money(a.balance.balance, a.balance.currency)) }
                } } }
            } }
            h2 { "Totals" }
            div.table-wrap { table {
                thead { tr { th { "Currency" } th.num { "Debits" } th.num { "Credits" } } }
                tbody { @for t in &balance.totals { tr {
                    td { (t.currency) } td.num { (amount(t.debits, &t.currency)) } td.num { (amount(t.credits, &t.currency)) }
                } } }
            } }
        }
    };
    Ok(shell(&staff, "/admin/ledger", "Trial balance", &content).into_response())
}

#[derive(Debug, Default, Deserialize)]
struct RunsQuery {
    cursor: Option<String>,
}

/// The reconciliation runs, newest first.
async fn runs(
    Staff { staff, .. }: Staff<LedgerRead>,
    State(services): State<Services>,
    Query(query): Query<RunsQuery>,
) -> AdminResult<Response> {
    let page_request = parse_page(ordo_service::settlements::RUNS_CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let runs = services.settlements.runs(&page_request).await?;
    let running = runs.items.iter().any(|r| r.status == RunStatus::Running);
    let content = html! {
        h1 { "Reconciliation" }
        (tabs("/admin/ledger/settlements"))
        p.hint { "Each run reconciles one settlement report of a payment provider against Ordo's captures and refunds. The same file imported again is its earlier run." }
        @if staff.may(Permission::LedgerManage) {
            form.filters method="post" action=(UPLOAD_PATH) enctype="multipart/form-data" {
                // First, so that a form from elsewhere is refused before its file is read.
                (csrf_field(&staff))
                label { "Provider" input type="text" name="provider" size="10" required pattern="[a-z0-9_-]{1,40}"; }
                label { "Layout"
                    select name="format" { @for f in [Format::Stripe, Format::Generic] { option value=(f.as_str()) { (f.as_str()) } } }
                }
                label { "Settlement report (CSV)" input type="file" name="file" accept=".csv,text/csv" required; }
                button type="submit" { "Import and reconcile" }
            }
        }
        (page::live("runs", "/admin/ledger/settlements", running, &html! {
        @if runs.items.is_empty() { p { "No settlement report is imported yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Imported" } th { "Provider" } th { "Span" } th.num { "Lines" } th { "Status" } th { "Found" } } }
                tbody { @for r in &runs.items { tr {
                    td { a href={ "/admin/ledger/settlements/" (r.id) } { (when(r.created_at)) } br; small { (r.created_by) } }
                    td { (r.provider) " (" (r.format.as_str()) ")" }
                    td { (span(r.window_from, r.window_to)) }
                    td.num { (r.lines) }
                    td { (status(r.status.as_str())) @if r.status == RunStatus::Running { " " (r.progress) " %" } }
                    td { (counts(&r.counts)) }
                } } }
            } }
        }
        }))
        (page::next_page("/admin/ledger/settlements", &[], runs.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/ledger", "Reconciliation", &content).into_response())
}

fn span(from: Option<chrono::DateTime<chrono::Utc>>, to: Option<chrono::DateTime<chrono::Utc>>) -> Markup {
    match (from, to) {
        (Some(from), Some(to)) => html! { (when(from)) " – " (when(to)) },
        _ => html! {},
    }
}

/// Items per status, the ones that need a look first.
fn counts(counts: &std::collections::BTreeMap<String, i64>) -> Markup {
    html! {
        @for s in ItemStatus::ALL {
            @if let Some(n) = counts.get(s.as_str()).filter(|n| **n > 0) {
                (status(s.as_str())) " " (n) " "
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct RunQuery {
    status: Option<String>,
    cursor: Option<String>,
}

/// A run: its figures, and its items of one status or all, in line order.
async fn run(
    Staff { staff, .. }: Staff<LedgerRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Query(query): Query<RunQuery>,
) -> AdminResult<Response> {
    let id: uuid::Uuid = parse_id(&id)?;
    let item_status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(ItemStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_query("status".into(), "invalid_status", format!("`{s}` is not an item status"))
        })?),
    };
    let page_request = parse_page(ordo_service::settlements::ITEMS_CURSOR_SCOPE, Some(100), query.cursor.as_deref())?;
    let run = services.settlements.run(id).await?;
    let items = services.settlements.items(id, item_status, &page_request).await?;
    let base = format!("/admin/ledger/settlements/{id}");
    let running = run.status == RunStatus::Running;
    // While it runs, the page refreshes itself as it is (its filter kept).
    let url = match query.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => format!("{base}?status={s}"),
        None => base.clone(),
    };
    let content = html! {
        h1 { "Reconciliation run" }
        (tabs("/admin/ledger/settlements"))
        (page::live("run", &url, running, &html! {
        dl.facts {
            dt { "Provider" } dd { (run.provider) " (" (run.format.as_str()) ")" }
            dt { "Status" } dd { (status(run.status.as_str())) @if run.status == RunStatus::Running { " " (run.progress) " %" } }
            @if let Some(error) = &run.error { dt { "Why it failed" } dd.problem { (error) } }
            dt { "Report" } dd { (run.lines) " lines, SHA-256 " code { (run.sha256.get(..16).unwrap_or(&run.sha256)) "…" } }
            dt { "Span" } dd { (span(run.window_from, run.window_to)) }
            dt { "Imported" } dd { (when(run.created_at)) " by " (run.created_by) }
            dt { "Found" } dd { (counts(&run.counts)) }
        }
        form.filters method="get" action=(base) {
            label { "Items"
                select name="status" {
                    option value="" { "all" }
                    @for s in ItemStatus::ALL {
                        option value=(s.as_str()) selected[query.status.as_deref() == Some(s.as_str())] { (s.as_str().replace('_', " ")) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        @if items.items.is_empty() { p { "No items." } } @else {
            div.table-wrap { table {
                thead { tr { th.num { "Line" } th { "Provider's id" } th { "Kind" } th { "Reference" } th { "When" } th { "Found" } th.num { "Amount" } th.num { "Ordo has" } th.num { "Fee" } } }
                tbody { @for i in &items.items { tr {
                    td.num { (i.line) }
                    td { (i.line_id.as_deref().unwrap_or("")) }
                    td { (i.kind.as_str()) }
                    td { (i.reference.as_deref().unwrap_or("")) }
                    td { (when(i.occurred_at)) }
                    td { (status(i.status.as_str())) }
                    td.num { (money(i.amount, i.currency)) }
                    td.num { @if let Some(expected) = i.expected { (money(expected, i.currency)) } }
                    td.num { (money(i.fee, i.currency)) }
                } } }
            } }
        }
        (page::next_page(&base, &[("status", query.status.clone())], items.next_cursor.as_deref()))
        }))
    };
    Ok(shell(&staff, "/admin/ledger", "Reconciliation run", &content).into_response())
}

/// Takes the upload form (the CSRF token first) and imports the report;
/// on to its run, new or (the same file again) earlier.
async fn import(
    Staff { staff, .. }: Staff<LedgerManage>,
    State(services): State<Services>,
    limit: Option<axum::Extension<BodyLimit>>,
    form: Multipart,
) -> AdminResult<Response> {
    let upload = super::upload::read(&staff, form, limit.map_or(usize::MAX, |l| l.0.0)).await?;
    let provider = upload.field("provider").trim().to_owned();
    if provider.is_empty()
        || provider.len() > 40
        || !provider.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(page::invalid("provider", "a provider's name: lower-case letters, digits, `_` and `-`").into());
    }
    let format = Format::parse(upload.field("format"))
        .ok_or_else(|| page::invalid("format", format!("`{}` is not stripe or generic", upload.field("format"))))?;
    let (_, file) = upload.file.ok_or_else(|| page::invalid("file", "choose the settlement report to import"))?;
    let (run, _) = services.settlements.import(&staff.actor(), &provider, format, file).await?;
    Ok(Redirect::to(&format!("{UPLOAD_PATH}/{}", run.id)).into_response())
}
