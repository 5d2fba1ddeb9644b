//! The audit trail: events filtered by entity and period, newest pages by
//! cursor, and the chain's verification.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{NaiveDate, NaiveTime};
use maud::html;
use ordo_domain::audit::AuditFilter;
use ordo_service::Services;
use serde::Deserialize;

use super::page::{self, shell, when};
use super::{AdminResult, Staff};
use crate::auth::AuditRead;
use crate::error::ApiError;
use crate::routes::parse_page;

pub(super) fn routes() -> Router<Services> {
    Router::new().route("/admin/audit", get(list)).route("/admin/audit/verify", get(verify))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    entity_type: Option<String>,
    entity_id: Option<String>,
    /// First day, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day, `YYYY-MM-DD`.
    to: Option<String>,
    cursor: Option<String>,
}

fn day(field: &str, value: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => page::parse_day(v).map(Some).map_err(|m| ApiError::invalid_query(field.into(), "invalid_date", m)),
    }
}

async fn list(
    Staff { staff, .. }: Staff<AuditRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let non_empty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let filter = AuditFilter {
        entity_type: non_empty(&query.entity_type),
        entity_id: non_empty(&query.entity_id),
        actor_key_id: None,
        from: day("from", query.from.as_deref())?.map(|d| d.and_time(NaiveTime::MIN).and_utc()),
        to: day("to", query.to.as_deref())?.and_then(|d| d.succ_opt()).map(|d| d.and_time(NaiveTime::MIN).and_utc()),
    };
    let page_request = parse_page(ordo_service::audit::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let events = services.audit.list_events(&filter, &page_request).await?;
    let content = html! {
        h1 { "Audit trail" }
        p { a href="/admin/audit/verify" { "Verify the chain" } }
        form.filters method="get" action="/admin/audit" role="search" {
            label { "Entity type" input type="text" name="entity_type" value=[query.entity_type.as_deref()]; }
            label { "Entity id" input type="text" name="entity_id" value=[query.entity_id.as_deref()]; }
            label { "From" input type="date" name="from" value=[query.from.as_deref()]; }
            label { "To" input type="date" name="to" value=[query.to.as_deref()]; }
            button type="submit" { "Filter" }
        }
        @if events.items.is_empty() { p { "No events match." } } @else {
            div.table-wrap { table {
                thead { tr { th { "When" } th { "Action" } th { "Entity" } th { "Who" } } }
                tbody { @for e in &events.items { tr {
                    td { (when(e.occurred_at)) }
                    td { (e.action) }
                    td { (e.entity_type) " " small { (e.entity_id) } }
                    td { (e.actor_name) }
                } } }
            } }
        }
        (page::next_page("/admin/audit", &[
            ("entity_type", query.entity_type.clone()), ("entity_id", query.entity_id.clone()),
            ("from", query.from.clone()), ("to", query.to.clone()),
        ], events.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/audit", "Audit trail", &content).into_response())
}

async fn verify(Staff { staff, .. }: Staff<AuditRead>, State(services): State<Services>) -> AdminResult<Response> {
    let report = services.audit.verify().await?;
    let content = html! {
        h1 { "Audit chain" }
        @match &report.tamper {
            None => div.notice.ok role="status" { "The chain holds: " (report.segments) " sealed segments (" (report.sealed_events) " events) and " (report.unsealed_events) " events not sealed yet." },
            Some(tamper) => div.notice role="alert" { "The chain is broken: " (format!("{tamper:?}")) },
        }
        dl.facts {
            dt { "Head hash" } dd { code { (report.head_hash) } }
        }
        p { a href="/admin/audit" { "Back to the trail" } }
    };
    Ok(shell(&staff, "/admin/audit", "Audit chain", &content).into_response())
}
