//! SQL of the audit trail.

use ordo_domain::audit::{AuditEvent, AuditSeal};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::Ts;

pub const COLUMNS: &str = "id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash, segment, seq";

#[derive(Debug, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub occurred_at: Ts,
    pub actor_key_id: Option<Uuid>,
    pub actor_name: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub request_id: Option<String>,
    pub before: Option<Json<Value>>,
    pub after: Option<Json<Value>>,
    pub hash: String,
    pub segment: Option<i64>,
    pub seq: Option<i64>,
}

impl EventRow {
    pub fn into_event(self) -> (AuditEvent, Option<i64>) {
        let event = AuditEvent {
            id: self.id,
            occurred_at: self.occurred_at.0,
            actor_key_id: self.actor_key_id,
            actor_name: self.actor_name,
            action: self.action,
            entity_type: self.entity_type,
            entity_id: self.entity_id,
            request_id: self.request_id,
            before: self.before.map(|j| j.0),
            after: self.after.map(|j| j.0),
            hash: self.hash,
            segment: self.segment,
        };
        (event, self.seq)
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct SealRow {
    pub segment: i64,
    pub sealed_at: Ts,
    pub event_count: i64,
    pub first_event_id: Uuid,
    pub last_event_id: Uuid,
    pub previous_hash: String,
    pub hash: String,
}

impl From<SealRow> for AuditSeal {
    fn from(row: SealRow) -> Self {
        AuditSeal {
            segment: row.segment,
            sealed_at: row.sealed_at.0,
            event_count: row.event_count,
            first_event_id: row.first_event_id,
            last_event_id: row.last_event_id,
            previous_hash: row.previous_hash,
            hash: row.hash,
        }
    }
}

pub const SEAL_COLUMNS: &str = "segment, sealed_at, event_count, first_event_id, last_event_id, previous_hash, hash";

/// The columns of [`bind_audit_row!`].
pub const AUDIT_COLUMNS: &str =
    "id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash";

/// Binds an audit event's row to `$row` (a `sqlx::query_builder::Separated`),
/// in [`AUDIT_COLUMNS`] order.
#[macro_export]
macro_rules! bind_audit_row {
    ($row:expr, $event:expr) => {{
        let e: &::ordo_domain::audit::AuditEvent = $event;
        $row.push_bind(e.id)
            .push_bind($crate::Ts(e.occurred_at))
            .push_bind(e.actor_key_id)
            .push_bind(&e.actor_name)
            .push_bind(&e.action)
            .push_bind(&e.entity_type)
            .push_bind(&e.entity_id)
            .push_bind(&e.request_id)
            .push_bind(e.before.as_ref().map(::sqlx::types::Json))
            .push_bind(e.after.as_ref().map(::sqlx::types::Json))
            .push_bind(&e.hash);
    }};
}

/// Implements `AuditRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! audit_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::audit::{AuditEvent, AuditFilter, AuditSeal};
            use ::ordo_domain::page::PageRequest;
            use ::serde_json::Value;
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use ::ordo_store::{AuditRepo, StoreResult};
            use $crate::audit::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> $session<C> {
            async fn events(&mut self, sql: &str, bind: Option<Timestamp>) -> StoreResult<Vec<AuditEvent>> {
                let mut query = ::sqlx::query_as::<_, EventRow>(sql);
                if let Some(ts) = bind {
                    query = query.bind(Ts(ts));
                }
                let rows = query.persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                Ok(rows.into_iter().map(|r| r.into_event().0).collect())
            }
            }

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> AuditRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "audit.insert_audit_event", skip_all)]
                async fn insert_audit_event(&mut self, e: &AuditEvent) -> StoreResult<()> {
                    let mut insert =
                        ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES ("));
                    $crate::bind_audit_row!(insert.separated(", "), e);
                    insert.push(")");
                    insert.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.insert_audit_events", skip_all)]
                async fn insert_audit_events(&mut self, events: &[AuditEvent]) -> StoreResult<()> {
                    // Eleven binds a row: within both backends' bind limits.
                    for chunk in events.chunks(500) {
                        let mut insert =
                            ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("INSERT INTO audit_events ({AUDIT_COLUMNS}) "));
                        insert.push_values(chunk, |mut row, e| $crate::bind_audit_row!(row, e));
                        insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
                    }
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.list_audit_events", skip_all)]
                async fn list_audit_events(&mut self, filter: &AuditFilter, page: &PageRequest) -> StoreResult<Vec<AuditEvent>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {COLUMNS} FROM audit_events WHERE TRUE"));
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(entity_type) = &filter.entity_type {
                        query.push(" AND entity_type = ").push_bind(entity_type);
                    }
                    if let Some(entity_id) = &filter.entity_id {
                        query.push(" AND entity_id = ").push_bind(entity_id);
                    }
                    if let Some(actor) = filter.actor_key_id {
                        query.push(" AND actor_key_id = ").push_bind(actor);
                    }
                    if let Some(from) = filter.from {
                        query.push(" AND occurred_at >= ").push_bind(Ts(from));
                    }
                    if let Some(to) = filter.to {
                        query.push(" AND occurred_at < ").push_bind(Ts(to));
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<EventRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(|r| r.into_event().0).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.latest_audit_seal", skip_all)]
                async fn latest_audit_seal(&mut self) -> StoreResult<Option<AuditSeal>> {
                    let row: Option<SealRow> =
                        ::sqlx::query_as(&format!("SELECT {SEAL_COLUMNS} FROM audit_seals ORDER BY segment DESC LIMIT 1"))
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(row.map(AuditSeal::from))
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.unsealed_audit_events", skip_all)]
                async fn unsealed_audit_events(&mut self, limit: i64) -> StoreResult<Vec<AuditEvent>> {
                    self.events(
                        &format!("SELECT {COLUMNS} FROM audit_events WHERE segment IS NULL ORDER BY id LIMIT {limit}"),
                        None,
                    )
                    .await
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.unsealed_audit_events_before", skip_all)]
                async fn unsealed_audit_events_before(&mut self, before: Timestamp) -> StoreResult<Vec<AuditEvent>> {
                    self.events(
                        &format!("SELECT {COLUMNS} FROM audit_events WHERE segment IS NULL AND occurred_at < $1 ORDER BY id"),
                        Some(before),
                    )
                    .await
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.insert_audit_seal", skip_all)]
                async fn insert_audit_seal(&mut self, seal: &AuditSeal) -> StoreResult<()> {
                    ::sqlx::query(&format!("INSERT INTO audit_seals ({SEAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                        .bind(seal.segment)
                        .bind(Ts(seal.sealed_at))
                        .bind(seal.event_count)
                        .bind(seal.first_event_id)
                        .bind(seal.last_event_id)
                        .bind(&seal.previous_hash)
                        .bind(&seal.hash)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.audit_seals", skip_all)]
                async fn audit_seals(&mut self) -> StoreResult<Vec<AuditSeal>> {
                    let rows: Vec<SealRow> = ::sqlx::query_as(&format!("SELECT {SEAL_COLUMNS} FROM audit_seals ORDER BY segment"))
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(AuditSeal::from).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "audit.audit_segment_events", skip_all)]
                async fn audit_segment_events(&mut self, segment: i64) -> StoreResult<Vec<(AuditEvent, Option<i64>)>> {
                    let rows: Vec<EventRow> = ::sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM audit_events WHERE segment = $1 ORDER BY seq NULLS LAST, id"
                    ))
                    .bind(segment)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(EventRow::into_event).collect())
                }
            }
        };
    };
}
