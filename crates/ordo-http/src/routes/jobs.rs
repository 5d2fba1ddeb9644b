//! `/v1/jobs`: the background job queue, for operators.

use axum::extract::{Path, State};
use chrono::Utc;
use ordo_domain::job::{JobRecord, JobState};
use ordo_domain::page::Page;
use ordo_service::Services;
use ordo_service::jobs::{CURSOR_SCOPE, JobDetail};
use ordo_store::CancelOutcome;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, JobsManage, JobsRead};
use crate::error::ApiResult;
use crate::error::codes::{JOB_NOT_DEAD, NOT_FOUND};
use crate::extract::Query;
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(queue_stats))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
        .routes(routes!(discard_job))
        .routes(routes!(cancel_job))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListJobs {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    queue: Option<String>,
    state: Option<JobState>,
}

/// Depth of one queue in one state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueDepth {
    queue: String,
    state: JobState,
    count: i64,
    /// For `available`: how long the oldest due job has waited, in seconds.
    oldest_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueStats {
    items: Vec<QueueDepth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CancelResult {
    /// `removed` (it was waiting or dead) or `requested` (it is running; its
    /// worker stops it at its next heartbeat).
    outcome: &'static str,
}

/// List jobs that are waiting, running or dead (finished jobs leave the queue).
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(ListJobs),
    security(("api_key" = ["jobs:read"])),
    responses(
        (status = 200, description = "A page of jobs", body = Page<JobRecord>),
    ),
)]
async fn list_jobs(
    _auth: Authorized<JobsRead>,
    State(services): State<Services>,
    Query(query): Query<ListJobs>,
) -> ApiResult<axum::Json<Page<JobRecord>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.jobs.list(query.queue.as_deref(), query.state, &page).await?))
}

/// Queue depth per queue and state, and the age of the oldest waiting job.
#[utoipa::path(
    get,
    path = "/v1/jobs/stats",
    tag = "jobs",
    security(("api_key" = ["jobs:read"])),
    responses(
        (status = 200, description = "Depth per queue and state", body = QueueStats),
    ),
)]
async fn queue_stats(
    _auth: Authorized<JobsRead>,
    State(services): State<Services>,
) -> ApiResult<axum::Json<QueueStats>> {
    let now = Utc::now();
    let items = services
        .jobs
        .stats()
        .await?
        .into_iter()
        .map(|s| QueueDepth {
            oldest_age_seconds: s.oldest_run_at.map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0),
            queue: s.queue,
            state: s.state,
            count: s.count,
        })
        .collect();
    Ok(axum::Json(QueueStats { items }))
}

/// A job with its attempts, errors and progress.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    security(("api_key" = ["jobs:read"])),
    responses(
        (status = 200, description = "The job", body = JobDetail),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn get_job(
    _auth: Authorized<JobsRead>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobDetail>> {
    Ok(axum::Json(services.jobs.job(parse_id(&id)?).await?))
}

/// Retry a dead job with a fresh set of attempts.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/retry",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    security(("api_key" = ["jobs:manage"])),
    responses(
        (status = 200, description = "The job, available again", body = JobRecord),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, JOB_NOT_DEAD]))),
)]
async fn retry_job(
    auth: Authorized<JobsManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobRecord>> {
    Ok(axum::Json(services.jobs.retry(&auth.actor(), parse_id(&id)?).await?))
}

/// Discard a dead job.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/discard",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    security(("api_key" = ["jobs:manage"])),
    responses(
        (status = 200, description = "The discarded job, as it was", body = JobRecord),
    ),
    extensions(("x-errors" = json!([NOT_FOUND, JOB_NOT_DEAD]))),
)]
async fn discard_job(
    auth: Authorized<JobsManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<JobRecord>> {
    Ok(axum::Json(services.jobs.discard(&auth.actor(), parse_id(&id)?).await?))
}

/// Cancel a job: removed if waiting or dead; stopped by its worker if running.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    security(("api_key" = ["jobs:manage"])),
    responses(
        (status = 200, description = "What happened", body = CancelResult),
    ),
    extensions(("x-errors" = json!([NOT_FOUND]))),
)]
async fn cancel_job(
    auth: Authorized<JobsManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<CancelResult>> {
    let outcome = match services.jobs.cancel(&auth.actor(), parse_id(&id)?).await? {
        CancelOutcome::Removed => "removed",
        CancelOutcome::Requested | CancelOutcome::NotFound => "requested",
    };
    Ok(axum::Json(CancelResult { outcome }))
}
