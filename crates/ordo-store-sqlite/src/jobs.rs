//! SQL of the job queue. Claims are one `UPDATE ... RETURNING` inside the
//! single-writer transaction, so no two workers take the same job.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::job::{JobAttempt, JobRecord, JobState, NewJob, QueueStat};
use ordo_domain::page::PageRequest;
use ordo_store::{CancelOutcome, JobRepo, StoreResult};
use serde_json::Value;
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::{SqliteSession, corrupt, from_micros, from_micros_opt, map_err, to_micros};

const COLUMNS: &str = "id, queue, name, payload, priority, state, attempt, max_attempts, run_at, attempt_id, locked_by, \
                       lease_expires_at, unique_key, trace_parent, progress_percent, progress_message, last_error, cancel_requested, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: Uuid,
    queue: String,
    name: String,
    payload: Json<Value>,
    priority: i16,
    state: String,
    attempt: i32,
    max_attempts: i32,
    run_at: i64,
    attempt_id: Option<Uuid>,
    locked_by: Option<String>,
    lease_expires_at: Option<i64>,
    unique_key: Option<String>,
    trace_parent: Option<String>,
    progress_percent: Option<i16>,
    progress_message: Option<String>,
    last_error: Option<String>,
    cancel_requested: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<JobRow> for JobRecord {
    type Error = ordo_store::StoreError;

    fn try_from(r: JobRow) -> StoreResult<Self> {
        Ok(JobRecord {
            id: r.id,
            queue: r.queue,
            name: r.name,
            payload: r.payload.0,
            priority: r.priority,
            state: JobState::parse(&r.state).ok_or_else(|| corrupt("jobs.state", &r.state))?,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            run_at: from_micros("run_at", r.run_at)?,
            attempt_id: r.attempt_id,
            locked_by: r.locked_by,
            lease_expires_at: from_micros_opt("lease_expires_at", r.lease_expires_at)?,
            unique_key: r.unique_key,
            trace_parent: r.trace_parent,
            progress_percent: r.progress_percent,
            progress_message: r.progress_message,
            last_error: r.last_error,
            cancel_requested: r.cancel_requested,
            created_at: from_micros("created_at", r.created_at)?,
            updated_at: from_micros("updated_at", r.updated_at)?,
        })
    }
}

fn records(rows: Vec<JobRow>) -> StoreResult<Vec<JobRecord>> {
    rows.into_iter().map(JobRecord::try_from).collect()
}

#[async_trait]
impl<C: DerefMut<Target = SqliteConnection> + Send> JobRepo for SqliteSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "jobs.enqueue_job", skip_all)]
    async fn enqueue_job(&mut self, j: &NewJob) -> StoreResult<bool> {
        let result = sqlx::query(
            "INSERT INTO jobs (id, queue, name, payload, priority, state, attempt, max_attempts, run_at, unique_key, trace_parent, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'available', 0, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (name, unique_key) WHERE unique_key IS NOT NULL AND state <> 'dead' DO NOTHING",
        )
        .bind(j.id)
        .bind(&j.queue)
        .bind(&j.name)
        .bind(Json(&j.payload))
        .bind(j.priority)
        .bind(j.max_attempts)
        .bind(to_micros(j.run_at))
        .bind(&j.unique_key)
        .bind(&j.trace_parent)
        .bind(to_micros(ordo_domain::time::now()))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
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
        let now = to_micros(now);
        let mut query = QueryBuilder::<Sqlite>::new(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, attempt_id = randomblob(16), locked_by = ",
        );
        query.push_bind(worker);
        query.push(", lease_expires_at = ").push_bind(to_micros(lease_until));
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
        let rows: Vec<JobRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
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
            .bind(to_micros(lease_until))
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
            still_held.extend(row);
        }
        Ok(still_held)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.complete_job", skip_all)]
    async fn complete_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM jobs WHERE id = $1 AND attempt_id = $2 AND state = 'running'")
            .bind(id)
            .bind(attempt_id)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
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

    #[tracing::instrument(target = "ordo_db", name = "jobs.fail_job", skip_all)]
    async fn fail_job(
        &mut self,
        id: Uuid,
        attempt_id: Uuid,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE jobs SET state = CASE WHEN $4 IS NULL THEN 'dead' ELSE 'available' END,
                    run_at = COALESCE($4, run_at), attempt_id = NULL, locked_by = NULL, lease_expires_at = NULL,
                    last_error = $3, updated_at = $5
              WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt_id)
        .bind(error)
        .bind(retry_at.map(to_micros))
        .bind(to_micros(ordo_domain::time::now()))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.release_job", skip_all)]
    async fn release_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE jobs SET state = 'available', attempt = attempt - 1, attempt_id = NULL, locked_by = NULL,
                    lease_expires_at = NULL, updated_at = $3
              WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt_id)
        .bind(to_micros(ordo_domain::time::now()))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.snooze_job", skip_all)]
    async fn snooze_job(&mut self, id: Uuid, attempt_id: Uuid, run_at: Timestamp, reason: &str) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = $3, attempt_id = NULL, locked_by = NULL,
                    lease_expires_at = NULL, progress_message = $4, updated_at = $5
              WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt_id)
        .bind(to_micros(run_at))
        .bind(reason)
        .bind(to_micros(ordo_domain::time::now()))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.insert_job_attempt", skip_all)]
    async fn insert_job_attempt(&mut self, a: &JobAttempt) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO job_attempts (attempt_id, job_id, attempt, worker, started_at, finished_at, outcome, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(a.attempt_id)
        .bind(a.job_id)
        .bind(a.attempt)
        .bind(&a.worker)
        .bind(to_micros(a.started_at))
        .bind(to_micros(a.finished_at))
        .bind(&a.outcome)
        .bind(&a.error)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.expired_jobs", skip_all)]
    async fn expired_jobs(&mut self, now: Timestamp) -> StoreResult<Vec<JobRecord>> {
        let rows: Vec<JobRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'running' AND lease_expires_at < $1 ORDER BY id LIMIT 1000"
        ))
        .bind(to_micros(now))
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        records(rows)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.job", skip_all)]
    async fn job(&mut self, id: Uuid) -> StoreResult<Option<JobRecord>> {
        let row: Option<JobRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        row.map(JobRecord::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.job_attempts", skip_all)]
    async fn job_attempts(&mut self, id: Uuid) -> StoreResult<Vec<JobAttempt>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(Uuid, Uuid, i32, String, i64, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT job_id, attempt_id, attempt, worker, started_at, finished_at, outcome, error
               FROM job_attempts WHERE job_id = $1 ORDER BY attempt, finished_at",
        )
        .bind(id)
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter()
            .map(|(job_id, attempt_id, attempt, worker, started_at, finished_at, outcome, error)| {
                Ok(JobAttempt {
                    job_id,
                    attempt,
                    attempt_id,
                    worker,
                    started_at: from_micros("started_at", started_at)?,
                    finished_at: from_micros("finished_at", finished_at)?,
                    outcome,
                    error,
                })
            })
            .collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.list_jobs", skip_all)]
    async fn list_jobs(
        &mut self,
        queue: Option<&str>,
        state: Option<JobState>,
        page: &PageRequest,
    ) -> StoreResult<Vec<JobRecord>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM jobs WHERE TRUE"));
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        if let Some(queue) = queue {
            query.push(" AND queue = ").push_bind(queue);
        }
        if let Some(state) = state {
            query.push(" AND state = ").push_bind(state.as_str());
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let rows: Vec<JobRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
        records(rows)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.retry_dead_job", skip_all)]
    async fn retry_dead_job(&mut self, id: Uuid, now: Timestamp) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE jobs SET state = 'available', attempt = 0, run_at = $2, updated_at = $2 WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(to_micros(now))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.discard_dead_job", skip_all)]
    async fn discard_dead_job(&mut self, id: Uuid) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'dead'")
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.cancel_job", skip_all)]
    async fn cancel_job(&mut self, id: Uuid) -> StoreResult<CancelOutcome> {
        let removed = sqlx::query("DELETE FROM jobs WHERE id = $1 AND state IN ('available', 'dead')")
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        if removed.rows_affected() == 1 {
            return Ok(CancelOutcome::Removed);
        }
        let requested = sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'")
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(if requested.rows_affected() == 1 { CancelOutcome::Requested } else { CancelOutcome::NotFound })
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.set_job_progress", skip_all)]
    async fn set_job_progress(
        &mut self,
        id: Uuid,
        attempt_id: Uuid,
        percent: i16,
        message: Option<&str>,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE jobs SET progress_percent = $3, progress_message = $4 WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
        )
        .bind(id)
        .bind(attempt_id)
        .bind(percent)
        .bind(message)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.queue_stats", skip_all)]
    async fn queue_stats(&mut self) -> StoreResult<Vec<QueueStat>> {
        let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT queue, state, count(*), min(CASE WHEN state = 'available' THEN run_at END)
               FROM jobs GROUP BY queue, state ORDER BY queue, state",
        )
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter()
            .map(|(queue, state, count, oldest_run_at)| {
                let state = JobState::parse(&state).ok_or_else(|| corrupt("jobs.state", &state))?;
                Ok(QueueStat { queue, state, count, oldest_run_at: from_micros_opt("run_at", oldest_run_at)? })
            })
            .collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "jobs.claim_cron_tick", skip_all)]
    async fn claim_cron_tick(&mut self, name: &str, tick: Timestamp) -> StoreResult<bool> {
        let result = sqlx::query("INSERT INTO cron_ticks (name, tick_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(to_micros(tick))
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        let claimed = result.rows_affected() == 1;
        if claimed {
            // Ticks older than a day can no longer be claimed twice: forget them.
            sqlx::query("DELETE FROM cron_ticks WHERE name = $1 AND tick_at < $2")
                .bind(name)
                .bind(to_micros(tick - chrono::Duration::days(1)))
                .execute(self.conn())
                .await
                .map_err(map_err)?;
        }
        Ok(claimed)
    }
}
