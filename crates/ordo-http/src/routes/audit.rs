//! `/v1/audit-events`: the audit trail.

use axum::extract::State;
use chrono::{DateTime, Utc};
use ordo_domain::audit::{AuditEvent, AuditFilter};
use ordo_domain::page::Page;
use ordo_service::Services;
use ordo_service::audit::CURSOR_SCOPE;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{AuditRead, Authorized};
use crate::error::ApiResult;
use crate::extract::Query;
use crate::routes::parse_page;

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListAuditEvents {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only events about this kind of entity, e.g. `product`.
    entity_type: Option<String>,
    /// Only events about this entity.
    entity_id: Option<String>,
    /// Only events by this API key.
    actor: Option<Uuid>,
    /// Only events at or after this instant (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    to: Option<DateTime<Utc>>,
}

/// List audit events, oldest first, with keyset pagination.
#[utoipa::path(
    get,
    path = "/v1/audit-events",
    tag = "audit",
    params(ListAuditEvents),
    security(("api_key" = ["audit:read"])),
    responses(
        (status = 200, description = "A page of audit events", body = Page<AuditEvent>),
    ),
)]
async fn list_audit_events(
    _auth: Authorized<AuditRead>,
    State(services): State<Services>,
    Query(query): Query<ListAuditEvents>,
) -> ApiResult<axum::Json<Page<AuditEvent>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    let filter = AuditFilter {
        entity_type: query.entity_type,
        entity_id: query.entity_id,
        actor_key_id: query.actor,
        from: query.from,
        to: query.to,
    };
    Ok(axum::Json(services.audit.list_events(&filter, &page).await?))
}
