//! Storage of the job queue: the `jobs`, `job_attempts` and `cron_ticks`
//! tables. Finished jobs are deleted, so the live table stays small.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::job::{JobAttempt, JobRecord, JobState, NewJob, QueueStat};
use ordo_domain::page::PageRequest;
use uuid::Uuid;

use crate::StoreResult;

/// What happened to a cancellation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was waiting (or dead) and is gone.
    Removed,
    /// It is running; its worker is asked to stop.
    Requested,
    NotFound,
}

#[async_trait]
pub trait JobRepo: Send {
    /// Enqueues a job, in the caller's transaction. Returns `false` when a
    /// pending job with the same name and unique key exists (nothing is
    /// enqueued).
    async fn enqueue_job(&mut self, job: &NewJob) -> StoreResult<bool>;

    /// Enqueues many jobs at once (one statement per thousand or so), in
    /// the caller's transaction. Returns the ids enqueued, in `jobs`' order:
    /// a job whose name and unique key are pending already, or come earlier
    /// in `jobs`, is left out.
    async fn enqueue_jobs(&mut self, jobs: &[NewJob]) -> StoreResult<Vec<Uuid>>;

    /// Takes up to `limit` due jobs of `queues`, highest priority first,
    /// marking them running under a lease with a fresh fencing token.
    /// Concurrent callers never take the same job. A claim may be lost in
    /// a crash (the job is then available again); on PostgreSQL the
    /// transaction that claims does not wait for its commit to reach the
    /// disk.
    async fn claim_jobs(
        &mut self,
        queues: &[String],
        worker: &str,
        limit: i64,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Vec<JobRecord>>;

    /// Extends the leases of jobs still held under these tokens; returns the
    /// ids still held and whether each was asked to cancel.
    async fn renew_job_leases(
        &mut self,
        held: &[(Uuid, Uuid)],
        lease_until: Timestamp,
    ) -> StoreResult<Vec<(Uuid, bool)>>;

    /// Deletes a job held under `attempt_id` that was asked to cancel while
    /// it ran: its attempt ended without completing (it failed, waited or
    /// was handed back), and the request must not outlive the attempt.
    /// `false` if it was not so asked (or is no longer held).
    async fn remove_cancelled_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool>;

    /// Deletes a finished job if still held under `attempt_id`.
    async fn complete_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool>;

    /// Completes many `(id, attempt_id)` jobs at once; returns the ids of
    /// those still held by that attempt (the others lost their lease).
    async fn complete_jobs(&mut self, done: &[(Uuid, Uuid)]) -> StoreResult<Vec<Uuid>>;

    /// Records a failed attempt: back to available at `retry_at`, or dead
    /// when `retry_at` is `None`. Only under `attempt_id`.
    async fn fail_job(
        &mut self,
        id: Uuid,
        attempt_id: Uuid,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool>;

    /// Hands a held job back without counting the attempt (graceful stop).
    async fn release_job(&mut self, id: Uuid, attempt_id: Uuid) -> StoreResult<bool>;

    /// Puts a held job back to wait until `run_at` without counting the
    /// attempt (it found it must wait for other work, which is not a
    /// failure), showing `reason` as its progress message.
    async fn snooze_job(&mut self, id: Uuid, attempt_id: Uuid, run_at: Timestamp, reason: &str) -> StoreResult<bool>;

    async fn insert_job_attempt(&mut self, attempt: &JobAttempt) -> StoreResult<()>;

    /// Running jobs whose lease expired before `now`.
    async fn expired_jobs(&mut self, now: Timestamp) -> StoreResult<Vec<JobRecord>>;

    async fn job(&mut self, id: Uuid) -> StoreResult<Option<JobRecord>>;

    async fn job_attempts(&mut self, id: Uuid) -> StoreResult<Vec<JobAttempt>>;

    async fn list_jobs(
        &mut self,
        queue: Option<&str>,
        state: Option<JobState>,
        page: &PageRequest,
    ) -> StoreResult<Vec<JobRecord>>;

    /// Makes a dead job available again with a fresh set of attempts.
    async fn retry_dead_job(&mut self, id: Uuid, now: Timestamp) -> StoreResult<bool>;

    /// Deletes a dead job.
    async fn discard_dead_job(&mut self, id: Uuid) -> StoreResult<bool>;

    async fn cancel_job(&mut self, id: Uuid) -> StoreResult<CancelOutcome>;

    async fn set_job_progress(
        &mut self,
        id: Uuid,
        attempt_id: Uuid,
        percent: i16,
        message: Option<&str>,
    ) -> StoreResult<bool>;

    /// Depth per queue and state, from the (small) live table.
    async fn queue_stats(&mut self) -> StoreResult<Vec<QueueStat>>;

    /// Claims one tick of a periodic job; `true` for exactly one caller
    /// across all processes.
    async fn claim_cron_tick(&mut self, name: &str, tick: Timestamp) -> StoreResult<bool>;
}
