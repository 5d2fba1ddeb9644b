//! The job queue: jobs by state (dead letters first), and retrying,
//! discarding or cancelling one.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use ordo_domain::auth::Permission;
use ordo_domain::job::JobState;
use ordo_service::Services;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, csrf_field, shell, status, when};
use super::{Action, AdminResult, Button, Staff};
use crate::auth::{JobsManage, JobsRead};
use crate::error::ApiError;
use crate::routes::{parse_id, parse_page};

pub(super) fn routes() -> Router<Services> {
    Router::new()
        .route("/admin/jobs", get(list))
        .route("/admin/jobs/{id}/retry", post(retry))
        .route("/admin/jobs/{id}/discard", post(discard))
        .route("/admin/jobs/{id}/cancel", post(cancel))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    /// `dead` (the default), `available` or `running`.
    state: Option<String>,
    queue: Option<String>,
    cursor: Option<String>,
}

async fn list(
    Staff { staff, .. }: Staff<JobsRead>,
    State(services): State<Services>,
    Query(query): Query<ListQuery>,
) -> AdminResult<Response> {
    let state_name = query.state.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "dead".to_owned());
    let state = JobState::parse(&state_name).ok_or_else(|| {
        ApiError::invalid_query("state".into(), "invalid_state", format!("`{state_name}` is not a job state"))
    })?;
    let queue = query.queue.as_deref().filter(|q| !q.is_empty());
    let page_request = parse_page(ordo_service::jobs::CURSOR_SCOPE, Some(50), query.cursor.as_deref())?;
    let jobs = services.jobs.list(queue, Some(state), &page_request).await?;
    let may_manage = staff.may(Permission::JobsManage);
    let content = html! {
        h1 { "Jobs" }
        form.filters method="get" action="/admin/jobs" {
            label { "State"
                select name="state" {
                    @for s in [JobState::Dead, JobState::Available, JobState::Running] {
                        option value=(s.as_str()) selected[s == state] { (s.as_str()) }
                    }
                }
            }
            label { "Queue" input type="text" name="queue" value=[queue]; }
            button type="submit" { "Show" }
        }
        @if jobs.items.is_empty() {
            p { "No " (state.as_str()) " jobs." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Job" } th { "Queue" } th { "State" } th.num { "Attempt" } th { "Last error" } th { "Updated" }
                    @if may_manage { th { span.visually-hidden { "Actions" } } } } }
                tbody { @for job in &jobs.items { tr {
                    td { (job.name) br; small { (job.id) } }
                    td { (job.queue) }
                    td { (status(job.state.as_str())) }
                    td.num { (job.attempt) " / " (job.max_attempts) }
                    td { (job.last_error.as_deref().unwrap_or("")) }
                    td { (when(job.updated_at)) }
                    @if may_manage { td { div.actions {
                        @if job.state == JobState::Dead {
                            form method="post" action={ "/admin/jobs/" (job.id) "/retry" } {
                                (csrf_field(&staff)) button type="submit" aria-label={ "Retry " (job.name) " " (job.id) } { "Retry" }
                            }
                            form method="post" action={ "/admin/jobs/" (job.id) "/discard" } {
                                (csrf_field(&staff)) button.danger type="submit" aria-label={ "Discard " (job.name) " " (job.id) } { "Discard" }
                            }
                        } @else {
                            form method="post" action={ "/admin/jobs/" (job.id) "/cancel" } {
                                (csrf_field(&staff)) button.danger type="submit" aria-label={ "Cancel " (job.name) " " (job.id) } { "Cancel" }
                            }
                        }
                    } } }
                } } }
            } }
        }
        (page::next_page("/admin/jobs", &[("state", Some(state_name.clone())), ("queue", query.queue.clone())], jobs.next_cursor.as_deref()))
    };
    Ok(shell(&staff, "/admin/jobs", "Jobs", &content).into_response())
}

async fn retry(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<JobsManage, Button>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    services.jobs.retry(&action.staff.actor(), id).await?;
    Ok(Redirect::to("/admin/jobs?state=dead").into_response())
}

async fn discard(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<JobsManage, Button>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    services.jobs.discard(&action.staff.actor(), id).await?;
    Ok(Redirect::to("/admin/jobs?state=dead").into_response())
}

async fn cancel(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<JobsManage, Button>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    services.jobs.cancel(&action.staff.actor(), id).await?;
    Ok(Redirect::to("/admin/jobs?state=available").into_response())
}
