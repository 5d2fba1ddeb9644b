//! SQL of the audit trail: the shared queries of `ordo_store_sql::audit`, and the ones
//! in this backend's dialect.

use crate::{SqliteSession, rows_per_insert};

ordo_store_sql::audit_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "audit.assign_audit_segment", skip_all)]
    async fn assign_audit_segment(&mut self, segment: i64, ids: &[Uuid]) -> StoreResult<u64> {
        // A few statements for the whole segment, each numbering up to 500
        // events found through the primary key (`id IN (...)`, the number
        // from a CASE): one UPDATE per event held the writer for about a
        // second per 4 000 events.
        let mut assigned = 0;
        for (chunk_index, chunk) in ids.chunks(500).enumerate() {
            let first_seq = (chunk_index * 500) as i64 + 1;
            let mut update = sqlx::QueryBuilder::<sqlx::Sqlite>::new("UPDATE audit_events SET segment = ");
            update.push_bind(segment).push(", seq = CASE id");
            for (offset, id) in chunk.iter().enumerate() {
                update.push(" WHEN ").push_bind(*id).push(" THEN ").push_bind(first_seq + offset as i64);
            }
            update.push(" END WHERE segment IS NULL AND id IN (");
            let mut listed = update.separated(", ");
            for id in chunk {
                listed.push_bind(*id);
            }
            update.push(")");
            assigned += update.build().execute(self.conn()).await.map_err(Self::map_err)?.rows_affected();
        }
        Ok(assigned)
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.insert_sealed_audit_events", skip_all)]
    async fn insert_sealed_audit_events(&mut self, segment: i64, events: &[AuditEvent]) -> StoreResult<()> {
        let numbered: Vec<(i64, &AuditEvent)> = (1_i64..).zip(events).collect();
        for chunk in numbered.chunks(rows_per_insert(13)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "INSERT INTO audit_events ({}, segment, seq) ",
                ordo_store_sql::audit::AUDIT_COLUMNS
            ));
            insert.push_values(chunk, |mut row, (seq, e)| {
                ordo_store_sql::bind_audit_row!(row, e);
                row.push_bind(segment).push_bind(*seq);
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        Ok(())
    }
});
