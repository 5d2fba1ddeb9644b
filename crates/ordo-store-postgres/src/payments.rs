//! Payment records: the shared queries of `ordo_store_sql::payments`, and
//! the order's row lock that serialises its refunds.

use crate::PgSession;

ordo_store_sql::payment_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "payments.lock_order_payments", skip_all)]
    async fn lock_order_payments(&mut self, order_id: OrderId) -> StoreResult<()> {
        sqlx::query("SELECT 1 FROM orders WHERE id = $1 FOR UPDATE")
            .bind(order_id.as_uuid())
            .persistent(self.persistent())
            .fetch_optional(self.conn())
            .await
            .map_err(Self::map_err)?;
        Ok(())
    }
});
