//! Payment records: the shared queries of `ordo_store_sql::payments`; no
//! lock to take, as the write transaction (`BEGIN IMMEDIATE`) already
//! excludes every other writer.

use crate::SqliteSession;

ordo_store_sql::payment_repo!(SqliteSession, Sqlite {
    async fn lock_order_payments(&mut self, _order_id: OrderId) -> StoreResult<()> {
        Ok(())
    }
});
