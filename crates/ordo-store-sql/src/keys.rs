//! SQL of API keys.

use ordo_domain::auth::ApiKey;
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

/// Implements `KeyRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! key_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::auth::{ApiKey, ApiKeyId};
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
            }
        };
    };
}
