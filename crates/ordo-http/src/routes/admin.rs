//! `/v1/admin/stats`: a quick look at this process without Prometheus.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use chrono::Utc;
use ordo_service::Services;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Authorized, OpsRead};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::stats::{Observer, RouteStats};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new().routes(routes!(stats))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsQuery {
    /// The window, in seconds (1 to 3600, default 300).
    #[param(minimum = 1, maximum = 3600)]
    window_seconds: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueFigures {
    queue: String,
    state: String,
    count: i64,
    oldest_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PoolFigures {
    in_use: u32,
    idle: u32,
    max: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Stats {
    window_seconds: u64,
    /// This process's requests in the window, per route template.
    routes: Vec<RouteStats>,
    queues: Vec<QueueFigures>,
    pool: PoolFigures,
}

/// Per-route counts, error rates and latency percentiles over a recent
/// window (this process), queue depth and age, and the database pool.
#[utoipa::path(
    get,
    path = "/v1/admin/stats",
    tag = "admin",
    params(StatsQuery),
    security(("api_key" = ["ops:read"])),
    responses(
        (status = 200, description = "The figures", body = Stats),
    ),
)]
async fn stats(
    _auth: Authorized<OpsRead>,
    State(services): State<Services>,
    Extension(observer): Extension<Arc<Observer>>,
    Query(query): Query<StatsQuery>,
) -> ApiResult<axum::Json<Stats>> {
    let window = query.window_seconds.unwrap_or(300);
    if !(1..=3600).contains(&window) {
        return Err(ApiError::invalid_query("window_seconds".into(), "out_of_range", "1 to 3600 seconds".into()));
    }
    let now = Utc::now();
    let queues = services
        .jobs
        .stats()
        .await?
        .into_iter()
        .map(|s| QueueFigures {
            oldest_age_seconds: s.oldest_run_at.map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0),
            queue: s.queue,
            state: s.state.as_str().to_owned(),
            count: s.count,
        })
        .collect();
    let pool = services.db.pool_stats();
    Ok(axum::Json(Stats {
        window_seconds: window,
        routes: observer.recent.summary(Duration::from_secs(window)),
        queues,
        pool: PoolFigures { in_use: pool.size.saturating_sub(pool.idle), idle: pool.idle, max: pool.max },
    }))
}
