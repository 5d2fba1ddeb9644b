//! SQL of the job queue. Claims use `FOR UPDATE SKIP LOCKED`, so workers
//! never wait on each other or take the same job.

use ordo_domain::job::{JobRecord, JobState};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use ordo_store::StoreResult;

use crate::{Ts, corrupt, ts};

pub const COLUMNS: &str = "id, queue, name, payload, priority, state, attempt, max_attempts, run_at, attempt_id, locked_by, \
                       lease_expires_at, unique_key, trace_parent, progress_percent, progress_message, last_error, cancel_requested, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
pub struct JobRow {
    pub id: Uuid,
    pub queue: String,
    pub name: String,
    pub payload: Json<Value>,
    pub priority: i16,
    pub state: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: Ts,
    pub attempt_id: Option<Uuid>,
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<Ts>,
    pub unique_key: Option<String>,
    pub trace_parent: Option<String>,
    pub progress_percent: Option<i16>,
    pub progress_message: Option<String>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
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
            run_at: r.run_at.0,
            attempt_id: r.attempt_id,
            locked_by: r.locked_by,
            lease_expires_at: ts::opt(r.lease_expires_at),
            unique_key: r.unique_key,
            trace_parent: r.trace_parent,
            progress_percent: r.progress_percent,
            progress_message: r.progress_message,
            last_error: r.last_error,
            cancel_requested: r.cancel_requested,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

pub fn records(rows: Vec<JobRow>) -> StoreResult<Vec<JobRecord>> {
    rows.into_iter().map(JobRecord::try_from).collect()
}

/// Implements `JobRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! job_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::job::{JobAttempt, JobRecord, JobState, NewJob, QueueStat};
            use ::ordo_domain::page::PageRequest;
            use ::serde_json::Value;
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use ::ordo_store::{CancelOutcome, JobRepo, StoreResult};
            use $crate::jobs::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> JobRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "jobs.enqueue_job", skip_all)]
                async fn enqueue_job(&mut self, j: &NewJob) -> StoreResult<bool> {
                    // No NOTIFY here: it would hold a database-wide lock through the
                    // caller's commit. Other processes' workers are woken afterwards by
                    // `Database::announce_jobs`.
                    let result = ::sqlx::query(
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
                    .bind(Ts(j.run_at))
                    .bind(&j.unique_key)
                    .bind(&j.trace_parent)
                    .bind(Ts(::ordo_domain::time::now()))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.remove_cancelled_job", skip_all)]
                async fn remove_cancelled_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "DELETE FROM jobs WHERE id = $1 AND attempt_id = $2 AND state = 'running' AND cancel_requested = TRUE",
                    )
                    .bind(id)
                    .bind(attempt_id)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.complete_job", skip_all)]
                async fn complete_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool> {
                    let result = ::sqlx::query("DELETE FROM jobs WHERE id = $1 AND attempt_id = $2 AND state = 'running'")
                        .bind(id)
                        .bind(attempt_id)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.fail_job", skip_all)]
                async fn fail_job(
                    &mut self,
                    id: Uuid,
                    attempt_id: Uuid,
                    error: &str,
                    retry_at: Option<Timestamp>,
                ) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE jobs SET state = CASE WHEN $4 IS NULL THEN 'dead' ELSE 'available' END,
                                run_at = COALESCE($4, run_at), attempt_id = NULL, locked_by = NULL, lease_expires_at = NULL,
                                last_error = $3, updated_at = $5
                          WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
                    )
                    .bind(id)
                    .bind(attempt_id)
                    .bind(error)
                    .bind(retry_at.map(Ts))
                    .bind(Ts(::ordo_domain::time::now()))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.release_job", skip_all)]
                async fn release_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE jobs SET state = 'available', attempt = attempt - 1, attempt_id = NULL, locked_by = NULL,
                                lease_expires_at = NULL, updated_at = $3
                          WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
                    )
                    .bind(id)
                    .bind(attempt_id)
                    .bind(Ts(::ordo_domain::time::now()))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.snooze_job", skip_all)]
                async fn snooze_job(&mut self, id: Uuid, attempt_id: Uuid, run_at: Timestamp, reason: &str) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = $3, attempt_id = NULL, locked_by = NULL,
                                lease_expires_at = NULL, progress_message = $4, updated_at = $5
                          WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
                    )
                    .bind(id)
                    .bind(attempt_id)
                    .bind(Ts(run_at))
                    .bind(reason)
                    .bind(Ts(::ordo_domain::time::now()))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.insert_job_attempt", skip_all)]
                async fn insert_job_attempt(&mut self, a: &JobAttempt) -> StoreResult<()> {
                    ::sqlx::query(
                        "INSERT INTO job_attempts (attempt_id, job_id, attempt, worker, started_at, finished_at, outcome, error)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                    )
                    .bind(a.attempt_id)
                    .bind(a.job_id)
                    .bind(a.attempt)
                    .bind(&a.worker)
                    .bind(Ts(a.started_at))
                    .bind(Ts(a.finished_at))
                    .bind(&a.outcome)
                    .bind(&a.error)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.expired_jobs", skip_all)]
                async fn expired_jobs(&mut self, now: Timestamp) -> StoreResult<Vec<JobRecord>> {
                    let rows: Vec<JobRow> = ::sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM jobs WHERE state = 'running' AND lease_expires_at < $1 ORDER BY id LIMIT 1000"
                    ))
                    .bind(Ts(now))
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    records(rows)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.job", skip_all)]
                async fn job(&mut self, id: Uuid) -> StoreResult<Option<JobRecord>> {
                    let row: Option<JobRow> = ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(JobRecord::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.job_attempts", skip_all)]
                async fn job_attempts(&mut self, id: Uuid) -> StoreResult<Vec<JobAttempt>> {
                    #[allow(clippy::type_complexity)]
                    let rows: Vec<(Uuid, Uuid, i32, String, Ts, Ts, String, Option<String>)> = ::sqlx::query_as(
                        "SELECT job_id, attempt_id, attempt, worker, started_at, finished_at, outcome, error
                           FROM job_attempts WHERE job_id = $1 ORDER BY attempt, finished_at",
                    )
                    .bind(id)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(rows
                        .into_iter()
                        .map(|(job_id, attempt_id, attempt, worker, started_at, finished_at, outcome, error)| JobAttempt {
                            job_id,
                            attempt,
                            attempt_id,
                            worker,
                            started_at: started_at.0,
                            finished_at: finished_at.0,
                            outcome,
                            error,
                        })
                        .collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.list_jobs", skip_all)]
                async fn list_jobs(
                    &mut self,
                    queue: Option<&str>,
                    state: Option<JobState>,
                    page: &PageRequest,
                ) -> StoreResult<Vec<JobRecord>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {COLUMNS} FROM jobs WHERE TRUE"));
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
                    let rows: Vec<JobRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    records(rows)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.retry_dead_job", skip_all)]
                async fn retry_dead_job(&mut self, id: Uuid, now: Timestamp) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE jobs SET state = 'available', attempt = 0, run_at = $2, updated_at = $2 WHERE id = $1 AND state = 'dead'",
                    )
                    .bind(id)
                    .bind(Ts(now))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.discard_dead_job", skip_all)]
                async fn discard_dead_job(&mut self, id: Uuid) -> StoreResult<bool> {
                    let result = ::sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'dead'")
                        .bind(id)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.cancel_job", skip_all)]
                async fn cancel_job(&mut self, id: Uuid) -> StoreResult<CancelOutcome> {
                    let removed = ::sqlx::query("DELETE FROM jobs WHERE id = $1 AND state IN ('available', 'dead')")
                        .bind(id)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    if removed.rows_affected() == 1 {
                        return Ok(CancelOutcome::Removed);
                    }
                    let requested = ::sqlx::query("UPDATE jobs SET cancel_requested = TRUE WHERE id = $1 AND state = 'running'")
                        .bind(id)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
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
                    let result = ::sqlx::query(
                        "UPDATE jobs SET progress_percent = $3, progress_message = $4 WHERE id = $1 AND attempt_id = $2 AND state = 'running'",
                    )
                    .bind(id)
                    .bind(attempt_id)
                    .bind(percent)
                    .bind(message)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.queue_stats", skip_all)]
                async fn queue_stats(&mut self) -> StoreResult<Vec<QueueStat>> {
                    let rows: Vec<(String, String, i64, Option<Ts>)> = ::sqlx::query_as(
                        "SELECT queue, state, count(*), min(CASE WHEN state = 'available' THEN run_at END)
                           FROM jobs GROUP BY queue, state ORDER BY queue, state",
                    )
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    rows.into_iter()
                        .map(|(queue, state, count, oldest_run_at)| {
                            let state = JobState::parse(&state).ok_or_else(|| corrupt("jobs.state", &state))?;
                            Ok(QueueStat { queue, state, count, oldest_run_at: ts::opt(oldest_run_at) })
                        })
                        .collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "jobs.claim_cron_tick", skip_all)]
                async fn claim_cron_tick(&mut self, name: &str, tick: Timestamp) -> StoreResult<bool> {
                    let result = ::sqlx::query("INSERT INTO cron_ticks (name, tick_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                        .bind(name)
                        .bind(Ts(tick))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    let claimed = result.rows_affected() == 1;
                    if claimed {
                        // Ticks older than a day can no longer be claimed twice: forget them.
                        ::sqlx::query("DELETE FROM cron_ticks WHERE name = $1 AND tick_at < $2")
                            .bind(name)
                            .bind(Ts(tick - chrono::Duration::days(1)))
                            .persistent(self.persistent())
                            .execute(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    }
                    Ok(claimed)
                }
            }
        };
    };
}
