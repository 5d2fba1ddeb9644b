//! SQL of the job queue. Claims use `FOR UPDATE SKIP LOCKED`, so workers: the shared queries of `ordo_store_sql::jobs`, and the ones
//! in this backend's dialect.

use crate::PgSession;

ordo_store_sql::job_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "jobs.claim_jobs", skip_all)]
    async fn claim_jobs(
        &mut self,
        queues: &[String],
        worker: &str,
        limit: i64,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempt_id = gen_random_uuid(), locked_by = $2,
                    lease_expires_at = $4, attempt_started_at = $5, updated_at = $5, progress_percent = NULL, progress_message = NULL
              WHERE id IN (
                    -- Each queue's first jobs from its own index range, so a
                    -- claim reads a few rows however long the backlog is;
                    -- then the best of them across the queues.
                    SELECT j.id FROM unnest($1::text[]) AS q(queue)
                     CROSS JOIN LATERAL (
                        SELECT id, priority, run_at FROM jobs
                         WHERE state = 'available' AND queue = q.queue AND run_at <= $5
                         ORDER BY priority DESC, run_at, id
                         LIMIT $3
                           FOR UPDATE SKIP LOCKED) AS j
                     ORDER BY j.priority DESC, j.run_at, j.id
                     LIMIT $3)
             RETURNING {COLUMNS}"
        ))
        .bind(queues)
        .bind(worker)
        .bind(limit)
        .bind(Ts(lease_until))
        .bind(Ts(now))
        .persistent(self.persistent())
        .fetch_all(self.conn())
        .await
        .map_err(Self::map_err)?;
        let mut jobs = records(rows)?;
        jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.run_at.cmp(&b.run_at)).then(a.id.cmp(&b.id)));
        Ok(jobs)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.renew_job_leases", skip_all)]
    async fn renew_job_leases(
        &mut self,
        held: &[(Uuid, Uuid)],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<(Uuid, bool)>> {
        let ids: Vec<Uuid> = held.iter().map(|(id, _)| *id).collect();
        let tokens: Vec<Uuid> = held.iter().map(|(_, token)| *token).collect();
        sqlx::query_as(
            "UPDATE jobs SET lease_expires_at = $3
               FROM unnest($1::uuid[], $2::uuid[]) AS h(id, attempt_id)
              WHERE jobs.id = h.id AND jobs.attempt_id = h.attempt_id AND jobs.state = 'running'
             RETURNING jobs.id, jobs.cancel_requested",
        )
        .bind(&ids)
        .bind(&tokens)
        .bind(Ts(lease_until))
        .persistent(self.persistent())
        .fetch_all(self.conn())
        .await
        .map_err(Self::map_err)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.complete_jobs", skip_all)]
    async fn complete_jobs(&mut self, done: &[(Uuid, Uuid)]) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<Uuid> = done.iter().map(|(id, _)| *id).collect();
        let attempts: Vec<Uuid> = done.iter().map(|(_, attempt)| *attempt).collect();
        sqlx::query_scalar(
            "DELETE FROM jobs USING unnest($1::uuid[], $2::uuid[]) AS d(id, attempt_id)
              WHERE jobs.id = d.id AND jobs.attempt_id = d.attempt_id AND jobs.state = 'running'
             RETURNING jobs.id",
        )
        .bind(&ids)
        .bind(&attempts)
        .persistent(self.persistent())
        .fetch_all(self.conn())
        .await
        .map_err(Self::map_err)
    }
});
