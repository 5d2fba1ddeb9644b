//! SQL of domain events and webhooks: the shared queries of `ordo_store_sql::webhooks`, and the ones
//! in this backend's dialect.

use crate::PgSession;

ordo_store_sql::webhook_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "webhooks.any_webhook_for", skip_all)]
    async fn any_webhook_for(&mut self, event_type: &str) -> StoreResult<bool> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM webhooks WHERE event_types ? $1)")
            .bind(event_type)
            .persistent(self.persistent())
            .fetch_one(self.conn())
            .await
            .map_err(Self::map_err)
    }
});
