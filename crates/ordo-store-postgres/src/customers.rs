//! Customers: the shared queries of `ordo_store_sql::customers`, and the
//! bulk insert by `COPY`.

use crate::PgSession;
use crate::copy::CopyIn;

ordo_store_sql::customer_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "customers.insert_customers", skip_all)]
    async fn insert_customers(&mut self, customers: &[Customer]) -> StoreResult<()> {
        let mut copy = CopyIn::new(&format!("customers ({COLUMNS})"));
        for c in customers {
            copy.uuid(c.id.as_uuid()).text(c.email.as_str()).text(&c.name).json(&c.addresses)?;
            copy.int(c.meta.version).timestamp(c.meta.created_at).timestamp(c.meta.updated_at);
            copy.opt_timestamp(c.meta.archived_at).end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }
});
