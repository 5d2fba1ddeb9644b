//! SQL of the job queue on SQLite: the queries written in its dialect; the
//! shared ones are in `ordo_store_sql::jobs`.

use ordo_domain::job::NewJob;
use ordo_store_sql::Ts;
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};

use crate::SqliteSession;

/// The columns a new job's row is inserted with.
const NEW_JOB_COLUMNS: &str = "INSERT INTO jobs (id, queue, name, payload, priority, state, attempt, max_attempts, run_at, unique_key, trace_parent, created_at, updated_at) ";

/// Skips a job whose unique key is pending.
const SKIP_PENDING: &str =
    " ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND state <> 'dead' DO NOTHING";

/// Binds a new job's row, in the order of [`NEW_JOB_COLUMNS`].
fn bind_new_job<'q, 'a>(row: &mut Separated<'q, 'a, Sqlite, &'static str>, j: &'a NewJob, now: Ts) {
    row.push_bind(j.id)
        .push_bind(j.queue.as_str())
        .push_bind(j.name.as_str())
        .push_bind(Json(&j.payload))
        .push_bind(j.priority)
        .push("'available', 0")
        .push_bind(j.max_attempts)
        .push_bind(Ts(j.run_at))
        .push_bind(j.unique_key.as_deref())
        .push_bind(j.trace_parent.as_deref())
        .push_bind(now)
        .push_bind(now);
}

/// Pushes one multi-row `INSERT` of `jobs` that skips a job whose unique
/// key is pending (`jobs` must not be empty).
pub(crate) fn push_insert_jobs<'a>(q: &mut QueryBuilder<'a, Sqlite>, jobs: &'a [NewJob], now: Ts) {
    q.push(NEW_JOB_COLUMNS);
    q.push_values(jobs, |mut row, j| bind_new_job(&mut row, j, now));
    q.push(SKIP_PENDING);
}

/// Pushes an `INSERT` of `job` that only happens if a webhook subscribes
/// to `event_type`.
pub(crate) fn push_insert_job_if_subscribed<'a>(
    q: &mut QueryBuilder<'a, Sqlite>,
    job: &'a NewJob,
    event_type: &'a str,
    now: Ts,
) {
    q.push(NEW_JOB_COLUMNS).push("SELECT ");
    bind_new_job(&mut q.separated(", "), job, now);
    q.push(" WHERE EXISTS (SELECT 1 FROM webhooks, json_each(webhooks.event_types) AS t WHERE t.value = ");
    q.push_bind(event_type).push(")").push(SKIP_PENDING);
}

ordo_store_sql::job_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "jobs.enqueue_jobs", skip_all, fields(jobs = jobs.len()))]
    async fn enqueue_jobs(&mut self, jobs: &[NewJob]) -> StoreResult<Vec<Uuid>> {
        /// Rows per statement: 11 parameters each, well within SQLite's 32 766.
        const ROWS: usize = 1000;
        let now = Ts(::ordo_domain::time::now());
        let mut enqueued = ::std::collections::HashSet::new();
        for chunk in jobs.chunks(ROWS) {
            let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
            push_insert_jobs(&mut query, chunk, now);
            query.push(" RETURNING id");
            let ids: Vec<Uuid> = query.build_query_scalar().fetch_all(self.conn()).await.map_err(Self::map_err)?;
            enqueued.extend(ids);
        }
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
        let now = Ts(now);
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempt_id = randomblob(16), locked_by = ",
        );
        query.push_bind(worker);
        query.push(", lease_expires_at = ").push_bind(Ts(lease_until));
        query.push(", attempt_started_at = ").push_bind(now);
        query.push(", updated_at = ").push_bind(now);
        query.push(", progress_percent = NULL, progress_message = NULL WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND run_at <= ");
        query.push_bind(now);
        query.push(" AND queue IN (");
        let mut separated = query.separated(", ");
        for queue in queues {
            separated.push_bind(queue.as_str());
        }
        query.push(") ORDER BY priority DESC, run_at, id LIMIT ").push_bind(limit);
        query.push(format!(") RETURNING {COLUMNS}"));
        let rows: Vec<JobRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(Self::map_err)?;
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
        let mut still_held = Vec::with_capacity(held.len());
        for (id, token) in held {
            let row: Option<(Uuid, bool)> = sqlx::query_as(
                "UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND attempt_id = $2 AND state = 'running'
                 RETURNING id, cancel_requested",
            )
            .bind(id)
            .bind(token)
            .bind(Ts(lease_until))
            .fetch_optional(self.conn())
            .await
            .map_err(Self::map_err)?;
            still_held.extend(row);
        }
        Ok(still_held)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.complete_jobs", skip_all)]
    async fn complete_jobs(&mut self, done: &[(Uuid, Uuid)]) -> StoreResult<Vec<Uuid>> {
        // One statement per job: in-process, inside the caller's transaction.
        let mut completed = Vec::with_capacity(done.len());
        for &(id, attempt_id) in done {
            if self.complete_job(id, attempt_id).await? {
                completed.push(id);
            }
        }
        Ok(completed)
    }
});
