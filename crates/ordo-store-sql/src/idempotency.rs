//! SQL of idempotency keys.

use ordo_domain::idempotency::{Answer, IdempotencyRecord, Outcome, StoredResponse};
use ordo_store::StoreError;
use uuid::Uuid;

use crate::{Ts, corrupt};

pub const COLUMNS: &str = "principal, key, request_hash, response_status, response_type, response_location, response_body, outcome, created_at, expires_at, locked_until";

#[derive(Debug, sqlx::FromRow)]
pub struct Row {
    pub principal: Uuid,
    pub key: String,
    pub request_hash: String,
    pub response_status: Option<i32>,
    pub response_type: Option<String>,
    pub response_location: Option<String>,
    pub response_body: Option<Vec<u8>>,
    /// The use case's outcome as JSON text (a stored response predates
    /// it). Text, not `jsonb`: PostgreSQL never looks inside, and parsing
    /// it into `jsonb` on every keyed placement was work for nothing.
    pub outcome: Option<String>,
    pub created_at: Ts,
    pub expires_at: Ts,
    pub locked_until: Ts,
}

/// An outcome as stored.
pub fn encode(outcome: &Outcome) -> Result<String, StoreError> {
    serde_json::to_string(outcome).map_err(|e| corrupt("idempotency_keys.outcome", e))
}

impl TryFrom<Row> for IdempotencyRecord {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, StoreError> {
        let outcome = row
            .outcome
            .map(|json| serde_json::from_str::<Outcome>(&json))
            .transpose()
            .map_err(|e| corrupt("idempotency_keys.outcome", e))?;
        Ok(IdempotencyRecord {
            principal: row.principal,
            key: row.key,
            request_hash: row.request_hash,
            answer: match (outcome, row.response_status) {
                (Some(outcome), _) => Some(Answer::Outcome(outcome)),
                (None, Some(status)) => Some(Answer::Response(StoredResponse {
                    status: u16::try_from(status).unwrap_or(500),
                    content_type: row.response_type,
                    location: row.response_location,
                    body: row.response_body.unwrap_or_default(),
                })),
                (None, None) => None,
            },
            created_at: row.created_at.0,
            expires_at: row.expires_at.0,
            locked_until: row.locked_until.0,
        })
    }
}

/// The columns an answer goes to: the outcome's, or the stored response's.
pub fn split(answer: Option<&Answer>) -> (Option<&Outcome>, Option<&StoredResponse>) {
    match answer {
        Some(Answer::Outcome(outcome)) => (Some(outcome), None),
        Some(Answer::Response(response)) => (None, Some(response)),
        None => (None, None),
    }
}

/// Pushes to `$q` (a `sqlx::QueryBuilder`) the update that stores
/// `$answer` on the key `$principal`/`$key`; evaluates to a
/// `StoreResult<()>` (the outcome is encoded first).
#[macro_export]
macro_rules! push_answer_update {
    ($q:expr, $principal:expr, $key:expr, $answer:expr) => {{
        let (outcome, response) = $crate::idempotency::split(Some($answer));
        match outcome.map($crate::idempotency::encode).transpose() {
            Ok(outcome) => {
                $q.push("UPDATE idempotency_keys SET response_status = ");
                $q.push_bind(response.map(|a| i32::from(a.status)));
                $q.push(", response_type = ").push_bind(response.and_then(|a| a.content_type.as_deref()));
                $q.push(", response_location = ").push_bind(response.and_then(|a| a.location.as_deref()));
                $q.push(", response_body = ").push_bind(response.map(|a| a.body.as_slice()));
                $q.push(", outcome = ").push_bind(outcome);
                $q.push(" WHERE principal = ").push_bind($principal).push(" AND key = ").push_bind($key);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }};
}

/// Implements `IdempotencyRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! idempotency_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::idempotency::{Answer, IdempotencyRecord, Outcome, StoredResponse};
            use ::uuid::Uuid;
            use ::ordo_store::{IdempotencyRepo, StoreResult};
            use $crate::idempotency::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> IdempotencyRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "idempotency.insert_idempotency_key", skip_all)]
                async fn insert_idempotency_key(&mut self, r: &IdempotencyRecord) -> StoreResult<bool> {
                    let (outcome, response) = split(r.answer.as_ref());
                    let result = ::sqlx::query(
                        "INSERT INTO idempotency_keys (principal, key, request_hash, created_at, expires_at, locked_until,
                                                       response_status, response_type, response_location, response_body, outcome)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                    )
                    .bind(r.principal)
                    .bind(&r.key)
                    .bind(&r.request_hash)
                    .bind(Ts(r.created_at))
                    .bind(Ts(r.expires_at))
                    .bind(Ts(r.locked_until))
                    .bind(response.map(|a| i32::from(a.status)))
                    .bind(response.and_then(|a| a.content_type.as_deref()))
                    .bind(response.and_then(|a| a.location.as_deref()))
                    .bind(response.map(|a| a.body.as_slice()))
                    .bind(outcome.map($crate::idempotency::encode).transpose()?)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "idempotency.idempotency_key", skip_all)]
                async fn idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<Option<IdempotencyRecord>> {
                    let row: Option<Row> =
                        ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM idempotency_keys WHERE principal = $1 AND key = $2"))
                            .bind(principal)
                            .bind(key)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    row.map(IdempotencyRecord::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "idempotency.replace_idempotency_key", skip_all)]
                async fn replace_idempotency_key(
                    &mut self,
                    r: &IdempotencyRecord,
                    seen_created_at: Timestamp,
                    seen_locked_until: Timestamp,
                ) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE idempotency_keys
                            SET request_hash = $3, response_status = NULL, response_type = NULL, response_location = NULL,
                                response_body = NULL, outcome = NULL, created_at = $4, expires_at = $5, locked_until = $6
                          WHERE principal = $1 AND key = $2 AND created_at = $7 AND locked_until = $8",
                    )
                    .bind(r.principal)
                    .bind(&r.key)
                    .bind(&r.request_hash)
                    .bind(Ts(r.created_at))
                    .bind(Ts(r.expires_at))
                    .bind(Ts(r.locked_until))
                    .bind(Ts(seen_created_at))
                    .bind(Ts(seen_locked_until))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "idempotency.complete_idempotency_key", skip_all)]
                async fn complete_idempotency_key(&mut self, principal: Uuid, key: &str, answer: &Answer) -> StoreResult<()> {
                    let mut update = ::sqlx::QueryBuilder::<::sqlx::$db>::new("");
                    $crate::push_answer_update!(update, principal, key, answer)?;
                    update.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "idempotency.delete_idempotency_key", skip_all)]
                async fn delete_idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<()> {
                    ::sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2")
                        .bind(principal)
                        .bind(key)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "idempotency.sweep_idempotency_keys", skip_all)]
                async fn sweep_idempotency_keys(&mut self, now: Timestamp) -> StoreResult<u64> {
                    let result = ::sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
                        .bind(Ts(now))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(result.rows_affected())
                }
            }
        };
    };
}
