//! Probes for orchestrators: `/healthz` (the process is alive) and
//! `/readyz` (it can reach its database).

use std::time::Duration;

use axum::extract::State;
use ordo_service::Services;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::codes::SERVICE_UNAVAILABLE;
use crate::error::{ApiError, ApiResult};

/// How long readiness waits for the database before calling it down.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    /// The storage backend, on readiness.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "sqlite")]
    database: Option<String>,
}

/// Liveness: answers as long as the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok", database: None })
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The database answers", body = Health),
    ),
    extensions(("x-errors" = json!([SERVICE_UNAVAILABLE]))),
)]
async fn readyz(State(services): State<Services>) -> ApiResult<axum::Json<Health>> {
    match tokio::time::timeout(READY_TIMEOUT, services.db.ping()).await {
        Ok(Ok(())) => Ok(axum::Json(Health { status: "ready", database: Some(services.db.backend().to_string()) })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::unavailable("the database is unreachable"))
        }
        Err(_) => Err(ApiError::unavailable("the database did not answer in time")),
    }
}
