//! SQL of API keys: the shared queries of `ordo_store_sql::keys`, and the ones
//! in this backend's dialect.

use crate::SqliteSession;

ordo_store_sql::key_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "keys.touch_api_key", skip_all)]
    async fn touch_api_key(&mut self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, $2), $2) WHERE id = $1")
            .bind(id)
            .bind(Ts(at))
            .execute(self.conn())
            .await
            .map_err(Self::map_err)?;
        Ok(())
    }
});
