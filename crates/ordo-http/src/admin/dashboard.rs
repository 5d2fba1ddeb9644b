//! The dashboard: this process's orders per minute, p99 and error rate over
//! the last half hour, drawn from its own request figures, with the job
//! queue's depth and age, the dead jobs and the product cache's hit rate,
//! for the roles that may see operating figures.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;
use ordo_domain::auth::Permission;
use ordo_domain::job::JobState;
use ordo_service::Services;

use super::page::{shell, sparkline, status};
use super::{AdminResult, SignedIn, Staff};
use crate::stats::Observer;

/// Minutes the charts cover.
const MINUTES: usize = 30;

pub(super) async fn show(
    Staff { staff, .. }: Staff<SignedIn>,
    State(services): State<Services>,
    Extension(observer): Extension<Arc<Observer>>,
) -> AdminResult<Response> {
    if !staff.may(Permission::OpsRead) {
        let content = html! {
            h1 { "Dashboard" }
            p { "Signed in as " (staff.principal.name) " with the " (staff.principal.role) " role." }
            p { a href="/admin/orders" { "Orders" } }
        };
        return Ok(shell(&staff, "/admin", "Dashboard", &content).into_response());
    }
    let minutes = observer.recent.per_minute(MINUTES);
    let last = minutes.iter().rev().nth(1).copied().unwrap_or(minutes[MINUTES - 1]);
    let placed: Vec<f64> = minutes.iter().map(|m| m.orders_placed as f64).collect();
    let p99: Vec<f64> = minutes.iter().map(|m| m.p99_ms).collect();
    let errors: Vec<f64> = minutes
        .iter()
        .map(|m| if m.requests == 0 { 0.0 } else { m.server_errors as f64 / m.requests as f64 })
        .collect();
    let requests: usize = minutes.iter().map(|m| m.requests).sum();
    let server_errors: usize = minutes.iter().map(|m| m.server_errors).sum();
    let queues = services.jobs.stats().await?;
    let dead: i64 = queues.iter().filter(|q| q.state == JobState::Dead).map(|q| q.count).sum();
    let cache = services.catalog.cache_counts();
    let now = Utc::now();
    let content = html! {
        h1 { "Dashboard" }
        p.hint { "This process, the last " (MINUTES) " minutes, one point a minute." }
        div.figures {
            div.figure {
                div.value { (last.orders_placed) }
                div.label { "orders placed in the last full minute" }
                (sparkline(&placed, "orders placed per minute"))
            }
            div.figure {
                div.value { @if last.requests == 0 { "–" } @else { (format!("{:.1} ms", last.p99_ms)) } }
                div.label { "p99 latency, last full minute" }
                (sparkline(&p99, "p99 latency per minute"))
            }
            div.figure {
                div.value { (format!("{:.2} %", if requests == 0 { 0.0 } else { 100.0 * server_errors as f64 / requests as f64 })) }
                div.label { "server errors (" (server_errors) " of " (requests) " requests)" }
                (sparkline(&errors, "server error rate per minute"))
            }
            div.figure {
                div.value { (dead) }
                div.label { a href="/admin/jobs?state=dead" { "dead jobs" } }
            }
            div.figure {
                @match cache {
                    None => { div.value { "off" } div.label { "product cache (catalog.cache_ttl_ms is 0)" } }
                    Some(c) => {
                        div.value { @if c.hits + c.misses == 0 { "–" } @else { (format!("{:.1} %", 100.0 * c.hits as f64 / (c.hits + c.misses) as f64)) } }
                        div.label { "product cache hits (" (c.hits) " of " (c.hits + c.misses) " reads since start)" }
                    }
                }
            }
        }
        h2 { "Job queues" }
        @if queues.is_empty() { p { "No jobs." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Queue" } th { "State" } th.num { "Jobs" } th.num { "Oldest due, seconds" } } }
                tbody { @for q in &queues { tr {
                    td { a href={ "/admin/jobs?queue=" (q.queue) "&state=" (q.state.as_str()) } { (q.queue) } }
                    td { (status(q.state.as_str())) }
                    td.num { (q.count) }
                    td.num { @if let Some(t) = q.oldest_run_at { (format!("{:.1}", (now - t).num_milliseconds().max(0) as f64 / 1000.0)) } }
                } } }
            } }
        }
    };
    Ok(shell(&staff, "/admin", "Dashboard", &content).into_response())
}
