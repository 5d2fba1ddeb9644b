//! SQL of idempotency keys.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::idempotency::{Answer, IdempotencyRecord, Outcome, StoredResponse};
use ordo_store::{IdempotencyRepo, StoreResult};
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{SqliteSession, from_micros, map_err, to_micros};

const COLUMNS: &str = "principal, key, request_hash, response_status, response_type, response_location, response_body, outcome, created_at, expires_at, locked_until";

#[derive(sqlx::FromRow)]
struct Row {
    principal: Uuid,
    key: String,
    request_hash: String,
    response_status: Option<i32>,
    response_type: Option<String>,
    response_location: Option<String>,
    response_body: Option<Vec<u8>>,
    /// The use case's outcome (a stored response predates it).
    outcome: Option<Json<Outcome>>,
    created_at: i64,
    expires_at: i64,
    locked_until: i64,
}

impl TryFrom<Row> for IdempotencyRecord {
    type Error = ordo_store::StoreError;

    fn try_from(row: Row) -> StoreResult<Self> {
        Ok(IdempotencyRecord {
            principal: row.principal,
            key: row.key,
            request_hash: row.request_hash,
            answer: match (row.outcome, row.response_status) {
                (Some(Json(outcome)), _) => Some(Answer::Outcome(outcome)),
                (None, Some(status)) => Some(Answer::Response(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    content_type: row.response_type,
                    location: row.response_location,
                    body: row.response_body.unwrap_or_default(),
                })),
                (None, None) => None,
            },
            created_at: from_micros("created_at", row.created_at)?,
            expires_at: from_micros("expires_at", row.expires_at)?,
            locked_until: from_micros("locked_until", row.locked_until)?,
        })
    }
}

#[async_trait]
impl<C: DerefMut<Target = SqliteConnection> + Send> IdempotencyRepo for SqliteSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "idempotency.insert_idempotency_key", skip_all)]
    async fn insert_idempotency_key(&mut self, r: &IdempotencyRecord) -> StoreResult<bool> {
        let (outcome, response) = split(r.answer.as_ref());
        let result = sqlx::query(
            "INSERT INTO idempotency_keys (principal, key, request_hash, created_at, expires_at, locked_until,
                                           response_status, response_type, response_location, response_body, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(r.principal)
        .bind(&r.key)
        .bind(&r.request_hash)
        .bind(to_micros(r.created_at))
        .bind(to_micros(r.expires_at))
        .bind(to_micros(r.locked_until))
        .bind(response.map(|a| i32::from(a.status)))
        .bind(response.and_then(|a| a.content_type.as_deref()))
        .bind(response.and_then(|a| a.location.as_deref()))
        .bind(response.map(|a| a.body.as_slice()))
        .bind(outcome.map(Json))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "idempotency.idempotency_key", skip_all)]
    async fn idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM idempotency_keys WHERE principal = $1 AND key = $2"))
                .bind(principal)
                .bind(key)
                .fetch_optional(self.conn())
                .await
                .map_err(map_err)?;
        row.map(IdempotencyRecord::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "idempotency.replace_idempotency_key", skip_all)]
    async fn replace_idempotency_key(
        &mut self,
        r: &IdempotencyRecord,
        seen_created_at: Timestamp,
        seen_locked_until: Timestamp,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE idempotency_keys
                SET request_hash = $3, response_status = NULL, response_type = NULL, response_location = NULL,
                    response_body = NULL, outcome = NULL, created_at = $4, expires_at = $5, locked_until = $6
              WHERE principal = $1 AND key = $2 AND created_at = $7 AND locked_until = $8",
        )
        .bind(r.principal)
        .bind(&r.key)
        .bind(&r.request_hash)
        .bind(to_micros(r.created_at))
        .bind(to_micros(r.expires_at))
        .bind(to_micros(r.locked_until))
        .bind(to_micros(seen_created_at))
        .bind(to_micros(seen_locked_until))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "idempotency.complete_idempotency_key", skip_all)]
    async fn complete_idempotency_key(&mut self, principal: Uuid, key: &str, answer: &Answer) -> StoreResult<()> {
        let (outcome, response) = split(Some(answer));
        sqlx::query(
            "UPDATE idempotency_keys
                SET response_status = $3, response_type = $4, response_location = $5, response_body = $6, outcome = $7
              WHERE principal = $1 AND key = $2",
        )
        .bind(principal)
        .bind(key)
        .bind(response.map(|a| i32::from(a.status)))
        .bind(response.and_then(|a| a.content_type.as_deref()))
        .bind(response.and_then(|a| a.location.as_deref()))
        .bind(response.map(|a| a.body.as_slice()))
        .bind(outcome.map(Json))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "idempotency.delete_idempotency_key", skip_all)]
    async fn delete_idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2")
            .bind(principal)
            .bind(key)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "idempotency.sweep_idempotency_keys", skip_all)]
    async fn sweep_idempotency_keys(&mut self, now: Timestamp) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
            .bind(to_micros(now))
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected())
    }
}

/// The columns an answer goes to: the outcome's, or the stored response's.
fn split(answer: Option<&Answer>) -> (Option<&Outcome>, Option<&StoredResponse>) {
    match answer {
        Some(Answer::Outcome(outcome)) => (Some(outcome), None),
        Some(Answer::Response(response)) => (None, Some(response)),
        None => (None, None),
    }
}
