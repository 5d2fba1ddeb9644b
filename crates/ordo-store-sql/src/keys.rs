//! SQL of API keys.

use ordo_domain::auth::{AdminSession, ApiKey};
use uuid::Uuid;

use crate::{Ts, corrupt, ts};

pub const COLUMNS: &str = "id, name, role, secret_hash, created_at, last_used_at, expires_at, revoked_at";

#[derive(Debug, sqlx::FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub name: String,
    pub role: String,
    pub secret_hash: Vec<u8>,
    pub created_at: Ts,
    pub last_used_at: Option<Ts>,
    pub expires_at: Option<Ts>,
    pub revoked_at: Option<Ts>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = ordo_store::StoreError;

    fn try_from(row: KeyRow) -> Result<Self, Self::Error> {
        Ok(ApiKey {
            id: row.id,
            name: row.name,
            role: row.role.parse().map_err(|e| corrupt("api_keys.role", e))?,
            secret_hash: row.secret_hash.try_into().map_err(|_| corrupt("api_keys.secret_hash", "not 32 bytes"))?,
            created_at: row.created_at.0,
            last_used_at: ts::opt(row.last_used_at),
            expires_at: ts::opt(row.expires_at),
            revoked_at: ts::opt(row.revoked_at),
        })
    }
}

pub const SESSION_COLUMNS: &str = "id_hash, key_id, csrf_token, created_at, expires_at";

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id_hash: Vec<u8>,
    pub key_id: Uuid,
    pub csrf_token: String,
    pub created_at: Ts,
    pub expires_at: Ts,
}

impl TryFrom<SessionRow> for AdminSession {
    type Error = ordo_store::StoreError;

    fn try_from(row: SessionRow) -> Result<Self, Self::Error> {
        Ok(AdminSession {
            id_hash: row.id_hash.try_into().map_err(|_| corrupt("admin_sessions.id_hash", "not 32 bytes"))?,
            key_id: row.key_id,
            csrf_token: row.csrf_token,
            created_at: row.created_at.0,
            expires_at: row.expires_at.0,
        })
    }
}

/// Implements `KeyRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! key_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::auth::{AdminSession, ApiKey, ApiKeyId};
            use ::uuid::Uuid;
            use ::ordo_store::{KeyRepo, StoreResult};
            use $crate::keys::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> KeyRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "keys.insert_api_key", skip_all)]
                async fn insert_api_key(&mut self, key: &ApiKey) -> StoreResult<()> {
                    ::sqlx::query(&format!("INSERT INTO api_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                        .bind(key.id)
                        .bind(&key.name)
                        .bind(key.role.as_str())
                        .bind(key.secret_hash.as_slice())
                        .bind(Ts(key.created_at))
                        .bind(key.last_used_at.map(Ts))
                        .bind(key.expires_at.map(Ts))
                        .bind(key.revoked_at.map(Ts))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.api_key", skip_all)]
                async fn api_key(&mut self, id: ApiKeyId) -> StoreResult<Option<ApiKey>> {
                    let row: Option<KeyRow> = ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(ApiKey::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.list_api_keys", skip_all)]
                async fn list_api_keys(&mut self) -> StoreResult<Vec<ApiKey>> {
                    let rows: Vec<KeyRow> = ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    rows.into_iter().map(ApiKey::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.any_api_key", skip_all)]
                async fn any_api_key(&mut self) -> StoreResult<bool> {
                    ::sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
                        .persistent(self.persistent())
                        .fetch_one(self.conn())
                        .await
                        .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.touch_api_key", skip_all)]
                async fn touch_api_key(&mut self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
                    // The later of the two, never moved back by a late writer.
                    ::sqlx::query(
                        "UPDATE api_keys
                            SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $2 THEN $2 ELSE last_used_at END
                          WHERE id = $1",
                    )
                    .bind(id)
                    .bind(Ts(at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.revoke_api_key", skip_all)]
                async fn revoke_api_key(&mut self, id: ApiKeyId, at: Timestamp) -> StoreResult<Option<ApiKey>> {
                    let before = self.api_key(id).await?;
                    ::sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                        .bind(id)
                        .bind(Ts(at))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(before)
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.insert_admin_session", skip_all)]
                async fn insert_admin_session(&mut self, session: &AdminSession) -> StoreResult<()> {
                    ::sqlx::query(&format!("INSERT INTO admin_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                        .bind(session.id_hash.as_slice())
                        .bind(session.key_id)
                        .bind(&session.csrf_token)
                        .bind(Ts(session.created_at))
                        .bind(Ts(session.expires_at))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.admin_session", skip_all)]
                async fn admin_session(&mut self, id_hash: &[u8; 32]) -> StoreResult<Option<AdminSession>> {
                    let row: Option<SessionRow> =
                        ::sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM admin_sessions WHERE id_hash = $1"))
                            .bind(id_hash.as_slice())
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    row.map(AdminSession::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.delete_admin_session", skip_all)]
                async fn delete_admin_session(&mut self, id_hash: &[u8; 32]) -> StoreResult<bool> {
                    let done = ::sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
                        .bind(id_hash.as_slice())
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(done.rows_affected() > 0)
                }

                #[tracing::instrument(target = "ordo_db", name = "keys.sweep_admin_sessions", skip_all)]
                async fn sweep_admin_sessions(&mut self, now: Timestamp) -> StoreResult<u64> {
                    let done = ::sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
                        .bind(Ts(now))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(done.rows_affected())
                }
            }
        };
    };
}
