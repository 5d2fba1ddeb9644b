//! SQL of the job queue on PostgreSQL: the queries written in its dialect
//! (claims with `FOR UPDATE SKIP LOCKED`, batches as arrays); the shared
//! ones are in `ordo_store_sql::jobs`.

use ordo_domain::job::NewJob;
use ordo_store::{StoreError, StoreResult};
use ordo_store_sql::Ts;
use sqlx::{Postgres, QueryBuilder};

use crate::PgSession;

/// The state check of a statement that finds held jobs by id and attempt:
/// written so that it cannot use the partial index of running jobs. That
/// index keeps an entry for every claim until vacuum removes the dead ones,
/// and the planner, which believes running jobs few, scanned all of them:
/// a completion batch cost about 1 ms and 370 buffers on a busy queue
/// (pg_stat_statements), against 0.04 ms through the primary key.
const HELD: &str = "(jobs.state = 'running') IS TRUE";

/// Pushes an `INSERT` of `jobs` (their columns as arrays, unnested into
/// rows) that skips a job whose unique key is pending; with
/// `if_subscribed`, only if a webhook subscribes to that event type. Used by
/// `enqueue_jobs` and inside a placement's statement.
pub(crate) fn push_insert_jobs<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    jobs: &'a [NewJob],
    if_subscribed: Option<&'a str>,
) -> StoreResult<()> {
    let payloads = jobs
        .iter()
        .map(|j| serde_json::to_string(&j.payload))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Other(Box::new(e)))?;
    let now = Ts(ordo_domain::time::now());
    q.push(
        "INSERT INTO jobs (id, queue, name, payload, priority, state, attempt, max_attempts, run_at, unique_key, trace_parent, created_at, updated_at)
         SELECT id, queue, name, payload::jsonb, priority, 'available', 0, max_attempts, run_at, unique_key, trace_parent, ",
    );
    q.push_bind(now).push(", ").push_bind(now).push(" FROM unnest(");
    q.push_bind(jobs.iter().map(|j| j.id).collect::<Vec<_>>()).push("::uuid[], ");
    q.push_bind(jobs.iter().map(|j| j.queue.as_str()).collect::<Vec<_>>()).push("::text[], ");
    q.push_bind(jobs.iter().map(|j| j.name.as_str()).collect::<Vec<_>>()).push("::text[], ");
    q.push_bind(payloads).push("::text[], ");
    q.push_bind(jobs.iter().map(|j| j.priority).collect::<Vec<_>>()).push("::smallint[], ");
    q.push_bind(jobs.iter().map(|j| j.max_attempts).collect::<Vec<_>>()).push("::integer[], ");
    q.push_bind(jobs.iter().map(|j| j.run_at).collect::<Vec<_>>()).push("::timestamptz[], ");
    q.push_bind(jobs.iter().map(|j| j.unique_key.as_deref()).collect::<Vec<_>>()).push("::text[], ");
    q.push_bind(jobs.iter().map(|j| j.trace_parent.as_deref()).collect::<Vec<_>>())
        .push("::text[]) AS j(id, queue, name, payload, priority, max_attempts, run_at, unique_key, trace_parent)");
    if let Some(event_type) = if_subscribed {
        q.push(" WHERE EXISTS (SELECT 1 FROM webhooks WHERE event_types ? ").push_bind(event_type).push(")");
    }
    q.push(" ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND state <> 'dead' DO NOTHING");
    Ok(())
}

ordo_store_sql::job_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "jobs.enqueue_jobs", skip_all, fields(jobs = jobs.len()))]
    async fn enqueue_jobs(&mut self, jobs: &[NewJob]) -> StoreResult<Vec<Uuid>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        // One statement whatever the batch's size (no NOTIFY, as for one job).
        let mut insert = sqlx::QueryBuilder::new("");
        push_insert_jobs(&mut insert, jobs, None)?;
        insert.push(" RETURNING id");
        let ids: Vec<Uuid> = insert
            .build_query_scalar()
            .persistent(self.persistent())
            .fetch_all(self.conn())
            .await
            .map_err(Self::map_err)?;
        // RETURNING does not promise the rows' order: give back `jobs`' own.
        let enqueued: ::std::collections::HashSet<Uuid> = ids.into_iter().collect();
        Ok(jobs.iter().map(|j| j.id).filter(|id| enqueued.contains(id)).collect())
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.claim_jobs", skip_all)]
    async fn claim_jobs(
        &mut self,
        queues: &[String],
        worker: &str,
        limit: i64,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<JobRecord>> {
        // A claim need not wait for its WAL to reach the disk: if the
        // server crashes before it does, the claim is lost and the job is
        // simply available again (as if never claimed), and the attempt's
        // completion, fenced by its token, finds nothing to complete. Any
        // synchronous commit after it (the job's own work, its completion)
        // flushes it anyway. Not waiting for a fsync per claim made a worker
        // of no-op jobs 6-18 % faster (bench/queue, BENCHMARKS.md).
        sqlx::query("SET LOCAL synchronous_commit = off")
            .persistent(self.persistent())
            .execute(self.conn())
            .await
            .map_err(Self::map_err)?;
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
        sqlx::query_as(&format!(
            "UPDATE jobs SET lease_expires_at = $3
               FROM unnest($1::uuid[], $2::uuid[]) AS h(id, attempt_id)
              WHERE jobs.id = h.id AND jobs.attempt_id = h.attempt_id AND {HELD}
             RETURNING jobs.id, jobs.cancel_requested"
        ))
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
        sqlx::query_scalar(&format!(
            "DELETE FROM jobs USING unnest($1::uuid[], $2::uuid[]) AS d(id, attempt_id)
              WHERE jobs.id = d.id AND jobs.attempt_id = d.attempt_id AND {HELD}
             RETURNING jobs.id"
        ))
        .bind(&ids)
        .bind(&attempts)
        .persistent(self.persistent())
        .fetch_all(self.conn())
        .await
        .map_err(Self::map_err)
    }
});
