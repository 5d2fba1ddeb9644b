//! SQL of the audit trail: the shared queries of `ordo_store_sql::audit`, and the ones
//! in this backend's dialect.

use crate::PgSession;
use crate::copy::CopyIn;

ordo_store_sql::audit_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "audit.assign_audit_segment", skip_all)]
    async fn assign_audit_segment(&mut self, segment: i64, ids: &[Uuid]) -> StoreResult<u64> {
        let seqs: Vec<i64> = (1..=ids.len() as i64).collect();
        let result = sqlx::query(
            // The rows are locked in id order first: two sealers with
            // overlapping segments would otherwise lock them in the order
            // of their join plans and could deadlock (seen in CI). A row
            // another sealer assigned meanwhile drops out, and the caller
            // sees fewer rows than it asked for.
            "WITH locked AS (
                 SELECT id FROM audit_events WHERE id = ANY($2) AND segment IS NULL ORDER BY id FOR UPDATE
             )
             UPDATE audit_events AS e SET segment = $1, seq = u.seq
               FROM unnest($2::uuid[], $3::bigint[]) AS u(id, seq)
              WHERE e.id = u.id AND e.id IN (SELECT id FROM locked) AND e.segment IS NULL",
        )
        .bind(segment)
        .bind(ids)
        .bind(&seqs)
        .persistent(self.persistent())
        .execute(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(result.rows_affected())
    }

    #[tracing::instrument(target = "ordo_db", name = "audit.insert_sealed_audit_events", skip_all)]
    async fn insert_sealed_audit_events(&mut self, segment: i64, events: &[AuditEvent]) -> StoreResult<()> {
        let mut copy = CopyIn::new(
            "audit_events (id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash, segment, seq)",
        );
        for (seq, e) in (1_i64..).zip(events) {
            copy.uuid(&e.id).timestamp(e.occurred_at).opt_uuid(e.actor_key_id.as_ref()).text(&e.actor_name);
            copy.text(&e.action).text(&e.entity_type).text(&e.entity_id).opt_text(e.request_id.as_deref());
            match &e.before {
                Some(before) => copy.json(before)?,
                None => copy.null(),
            };
            match &e.after {
                Some(after) => copy.json(after)?,
                None => copy.null(),
            };
            copy.text(&e.hash).int(segment).int(seq).end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }
});
