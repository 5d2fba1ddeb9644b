//! SQL of the audit trail.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::audit::{AuditEvent, AuditFilter, AuditSeal};
use ordo_domain::page::PageRequest;
use ordo_store::{AuditRepo, StoreResult};
use serde_json::Value;
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::{SqliteSession, from_micros, map_err, rows_per_insert, to_micros};

const COLUMNS: &str = "id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash, segment, seq";

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    occurred_at: i64,
    actor_key_id: Option<Uuid>,
    actor_name: String,
    action: String,
    entity_type: String,
    entity_id: String,
    request_id: Option<String>,
    before: Option<Json<Value>>,
    after: Option<Json<Value>>,
    hash: String,
    segment: Option<i64>,
    seq: Option<i64>,
}

impl EventRow {
    fn into_event(self) -> StoreResult<(AuditEvent, Option<i64>)> {
        let event = AuditEvent {
            id: self.id,
            occurred_at: from_micros("occurred_at", self.occurred_at)?,
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
        Ok((event, self.seq))
    }
}

#[derive(sqlx::FromRow)]
struct SealRow {
    segment: i64,
    sealed_at: i64,
    event_count: i64,
    first_event_id: Uuid,
    last_event_id: Uuid,
    previous_hash: String,
    hash: String,
}

impl TryFrom<SealRow> for AuditSeal {
    type Error = ordo_store::StoreError;

    fn try_from(row: SealRow) -> StoreResult<Self> {
        Ok(AuditSeal {
            segment: row.segment,
            sealed_at: from_micros("sealed_at", row.sealed_at)?,
            event_count: row.event_count,
            first_event_id: row.first_event_id,
            last_event_id: row.last_event_id,
            previous_hash: row.previous_hash,
            hash: row.hash,
        })
    }
}

const SEAL_COLUMNS: &str = "segment, sealed_at, event_count, first_event_id, last_event_id, previous_hash, hash";

impl<C: DerefMut<Target = SqliteConnection> + Send> SqliteSession<C> {
    async fn events(&mut self, sql: &str, bind: Option<Timestamp>) -> StoreResult<Vec<AuditEvent>> {
        let mut query = sqlx::query_as::<_, EventRow>(sql);
        if let Some(ts) = bind {
            query = query.bind(to_micros(ts));
        }
        let rows = query.fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter().map(|r| r.into_event().map(|(e, _)| e)).collect()
    }
}

#[async_trait]
impl<C: DerefMut<Target = SqliteConnection> + Send> AuditRepo for SqliteSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "audit.insert_audit_event", skip_all)]
    async fn insert_audit_event(&mut self, e: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(e.id)
        .bind(to_micros(e.occurred_at))
        .bind(e.actor_key_id)
        .bind(&e.actor_name)
        .bind(&e.action)
        .bind(&e.entity_type)
        .bind(&e.entity_id)
        .bind(&e.request_id)
        .bind(e.before.as_ref().map(Json))
        .bind(e.after.as_ref().map(Json))
        .bind(&e.hash)

        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.list_audit_events", skip_all)]
    async fn list_audit_events(&mut self, filter: &AuditFilter, page: &PageRequest) -> StoreResult<Vec<AuditEvent>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM audit_events WHERE TRUE"));
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
            query.push(" AND occurred_at >= ").push_bind(to_micros(from));
        }
        if let Some(to) = filter.to {
            query.push(" AND occurred_at < ").push_bind(to_micros(to));
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let rows: Vec<EventRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter().map(|r| r.into_event().map(|(e, _)| e)).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.latest_audit_seal", skip_all)]
    async fn latest_audit_seal(&mut self) -> StoreResult<Option<AuditSeal>> {
        let row: Option<SealRow> =
            sqlx::query_as(&format!("SELECT {SEAL_COLUMNS} FROM audit_seals ORDER BY segment DESC LIMIT 1"))
                .fetch_optional(self.conn())
                .await
                .map_err(map_err)?;
        row.map(AuditSeal::try_from).transpose()
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

    #[tracing::instrument(target = "ordo_db", name = "audit.assign_audit_segment", skip_all)]
    async fn assign_audit_segment(&mut self, segment: i64, ids: &[Uuid]) -> StoreResult<u64> {
        // A few statements for the whole segment, each numbering up to 500
        // events found through the primary key (`id IN (...)`, the number
        // from a CASE): one UPDATE per event held the writer for about a
        // second per 4 000 events.
        let mut assigned = 0;
        for (chunk_index, chunk) in ids.chunks(500).enumerate() {
            let first_seq = (chunk_index * 500) as i64 + 1;
            let mut update = QueryBuilder::<Sqlite>::new("UPDATE audit_events SET segment = ");
            update.push_bind(segment).push(", seq = CASE id");
            for (offset, id) in chunk.iter().enumerate() {
                update.push(" WHEN ").push_bind(*id).push(" THEN ").push_bind(first_seq + offset as i64);
            }
            update.push(" END WHERE segment IS NULL AND id IN (");
            let mut listed = update.separated(", ");
            for id in chunk {
                listed.push_bind(*id);
            }
            update.push(")");
            assigned += update.build().execute(self.conn()).await.map_err(map_err)?.rows_affected();
        }
        Ok(assigned)
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.insert_sealed_audit_events", skip_all)]
    async fn insert_sealed_audit_events(&mut self, segment: i64, events: &[AuditEvent]) -> StoreResult<()> {
        let numbered: Vec<(i64, &AuditEvent)> = (1_i64..).zip(events).collect();
        for chunk in numbered.chunks(rows_per_insert(13)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO audit_events (id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash, segment, seq) ",
            );
            insert.push_values(chunk, |mut row, (seq, e)| {
                row.push_bind(e.id)
                    .push_bind(to_micros(e.occurred_at))
                    .push_bind(e.actor_key_id)
                    .push_bind(&e.actor_name)
                    .push_bind(&e.action)
                    .push_bind(&e.entity_type)
                    .push_bind(&e.entity_id)
                    .push_bind(&e.request_id)
                    .push_bind(e.before.as_ref().map(Json))
                    .push_bind(e.after.as_ref().map(Json))
                    .push_bind(&e.hash)
                    .push_bind(segment)
                    .push_bind(*seq);
            });
            insert.build().execute(self.conn()).await.map_err(map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.insert_audit_seal", skip_all)]
    async fn insert_audit_seal(&mut self, seal: &AuditSeal) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO audit_seals ({SEAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(seal.segment)
            .bind(to_micros(seal.sealed_at))
            .bind(seal.event_count)
            .bind(seal.first_event_id)
            .bind(seal.last_event_id)
            .bind(&seal.previous_hash)
            .bind(&seal.hash)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.audit_seals", skip_all)]
    async fn audit_seals(&mut self) -> StoreResult<Vec<AuditSeal>> {
        let rows: Vec<SealRow> = sqlx::query_as(&format!("SELECT {SEAL_COLUMNS} FROM audit_seals ORDER BY segment"))
            .fetch_all(self.conn())
            .await
            .map_err(map_err)?;
        rows.into_iter().map(AuditSeal::try_from).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.audit_segment_events", skip_all)]
    async fn audit_segment_events(&mut self, segment: i64) -> StoreResult<Vec<(AuditEvent, Option<i64>)>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE segment = $1 ORDER BY seq IS NULL, seq, id"
        ))
        .bind(segment)
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter().map(EventRow::into_event).collect()
    }
}
