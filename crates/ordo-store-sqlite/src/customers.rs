//! Customers: the shared queries of `ordo_store_sql::customers`, and the
//! bulk insert as multi-row `INSERT`s.

use crate::{SqliteSession, rows_per_insert};

ordo_store_sql::customer_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "customers.insert_customers", skip_all)]
    async fn insert_customers(&mut self, customers: &[Customer]) -> StoreResult<()> {
        for chunk in customers.chunks(rows_per_insert(8)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("INSERT INTO customers ({COLUMNS}) "));
            insert.push_values(chunk, |mut row, c| {
                row.push_bind(c.id.as_uuid())
                    .push_bind(c.email.as_str())
                    .push_bind(&c.name)
                    .push_bind(Json(&c.addresses))
                    .push_bind(c.meta.version)
                    .push_bind(Ts(c.meta.created_at))
                    .push_bind(Ts(c.meta.updated_at))
                    .push_bind(c.meta.archived_at.map(Ts));
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        Ok(())
    }
});
