//! Ordo's durable job queue.
//!
//! - [`Job`]: a serialisable struct with its name, queue, priority, attempts
//!   and backoff as constants, and a `run` method. Handlers must be
//!   idempotent: a job runs at least once.
//! - [`enqueue`]: inside the caller's transaction (the transactional outbox:
//!   the job exists if and only if the change that asked for it committed),
//!   or [`Queue::enqueue`] on its own.
//! - [`Worker`]: claims due jobs in batches, runs them concurrently under a
//!   lease renewed by heartbeat, and finishes each only with its attempt's
//!   fencing token, so a job whose lease was lost and rescued can never
//!   complete twice. Failures retry with exponential backoff and full
//!   jitter; after the last attempt a job is dead, kept with its error and
//!   attempt history. A job that must wait for other work says so
//!   ([`JobError::wait`]) and runs again later without using up an attempt.
//!   Expired leases (a crashed worker) are rescued. On shutdown a worker
//!   stops claiming, lets jobs in flight finish within a deadline, and hands
//!   back the rest.
//! - [`Job::ended`] and [`Job::revived`]: a job that mirrors its state in
//!   records of its own (a webhook delivery's status) hears, in the same
//!   transaction, when the queue ends it without success (dead, or
//!   cancelled) or runs a dead one again ([`JobLifecycle`]), so the two can
//!   never disagree.
//!
//! Modules:
//!
//! - this file: [`Job`], [`JobError`], [`enqueue`], [`Queue`], the
//!   [`Registry`] of handlers and the [`JobLifecycle`] hooks.
//! - `worker`: [`Worker`] and [`WorkerConfig`]: the loop that claims, runs,
//!   heartbeats, rescues and drains.
//! - `schedule`: [`Schedule`]: when periodic jobs run, on a period or a
//!   cron expression.
//!
//! Ordo's own jobs live beside the use cases they serve, in `ordo-service`,
//! and are registered in `ordo_service::registry`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::job::{JobRecord, NewJob, backoff};
use ordo_domain::time;
use ordo_store::{Database, StoreError, Transaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

mod schedule;
mod worker;

pub use schedule::{Schedule, ScheduleError};
pub use worker::{Worker, WorkerConfig};

/// Why a job's attempt did not finish it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    /// `false`: do not retry; the job is dead at once.
    pub retryable: bool,
    /// The job could not run yet (it waits for other work): run it again
    /// later without counting this attempt.
    pub waiting: bool,
}

impl JobError {
    /// The attempt failed; retry after a backoff while attempts remain.
    pub fn retry(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, waiting: false }
    }

    /// The attempt failed in a way no retry can mend: the job is dead.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: false, waiting: false }
    }

    /// The job must wait for other work before it can do its own: it runs
    /// again after a wait that grows with how long it has waited (a
    /// quarter of it, from [`WAIT_MIN`] to [`WAIT_MAX`]), and the attempt
    /// does not count towards its maximum. Waiting is not failing.
    pub fn wait(message: impl Into<String>) -> Self {
        Self { message: message.into(), retryable: true, waiting: true }
    }
}

/// Shortest and longest wait of a job that must wait ([`JobError::wait`]).
pub const WAIT_MIN: Duration = Duration::from_millis(250);
pub const WAIT_MAX: Duration = Duration::from_secs(30);

/// How long a job that has been waiting for `waited` waits next: a quarter
/// of that, within [`WAIT_MIN`] and [`WAIT_MAX`], so a short wait is
/// checked again soon and a long one costs few runs.
pub fn wait_delay(waited: Duration) -> Duration {
    (waited / 4).clamp(WAIT_MIN, WAIT_MAX)
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self::retry(format!("{e}: {}", std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default()))
    }
}

/// What a running job may do besides its work.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub id: Uuid,
    pub attempt: i32,
    pub attempt_id: Uuid,
    /// When the job was due (for a periodic job: its tick).
    pub run_at: ordo_domain::Timestamp,
    db: Arc<dyn Database>,
}

impl JobRun {
    /// Records progress (0 to 100, and a message), visible through the API.
    pub async fn progress(&self, percent: i16, message: Option<&str>) -> Result<(), JobError> {
        let mut tx = self.db.begin().await?;
        tx.set_job_progress(self.id, self.attempt_id, percent.clamp(0, 100), message).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A kind of background job.
#[async_trait]
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Unique name; picks the handler when the job is claimed.
    const NAME: &'static str;
    const QUEUE: &'static str = "default";
    /// Higher runs first.
    const PRIORITY: i16 = 0;
    const MAX_ATTEMPTS: i32 = 20;
    /// Backoff for retry `n` is random in `[0, min(CAP, BASE × 2^(n-1)))`.
    const BACKOFF_BASE: Duration = Duration::from_secs(1);
    const BACKOFF_CAP: Duration = Duration::from_secs(3600);
    /// An attempt that runs longer fails (and is retried like any failed
    /// attempt): a hung call must not hold its job, renewing its lease,
    /// forever. Its future is dropped, so it stops at its next await.
    const MAX_RUN_TIME: Duration = Duration::from_secs(300);

    /// What the handler needs (services, clients...), shared by all jobs a
    /// worker runs.
    type Context: Send + Sync + 'static;

    /// While a job with this name and key is pending, enqueueing another is
    /// a no-op.
    fn unique_key(&self) -> Option<String> {
        None
    }

    async fn run(&self, ctx: &Self::Context, run: &JobRun) -> Result<(), JobError>;

    /// Runs in the transaction that ends the job without success: its last
    /// attempt failed (or was fatal, or its lease expired), or it was
    /// cancelled. A job that mirrors its state in records of its own settles
    /// them here, so they never say "in progress" for work no job will do.
    async fn ended(&self, _tx: &mut dyn Transaction, _reason: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// Runs in the transaction that makes a dead job run again.
    async fn revived(&self, _tx: &mut dyn Transaction) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Options for one enqueue.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnqueueOptions {
    /// Run no earlier than this (a scheduled job).
    pub run_at: Option<ordo_domain::Timestamp>,
}

/// The row that enqueues `job`.
fn new_job<J: Job>(job: &J, options: EnqueueOptions, trace_parent: Option<String>) -> Result<NewJob, StoreError> {
    Ok(NewJob {
        id: Uuid::now_v7(),
        queue: J::QUEUE.to_owned(),
        name: J::NAME.to_owned(),
        payload: serde_json::to_value(job).map_err(|e| StoreError::Other(Box::new(e)))?,
        priority: J::PRIORITY,
        max_attempts: J::MAX_ATTEMPTS,
        run_at: options.run_at.unwrap_or_else(time::now),
        unique_key: job.unique_key(),
        trace_parent,
    })
}

/// The row that enqueues `job` from the current trace, for a store call
/// that writes it together with other rows (a placement's statement).
pub fn prepare<J: Job>(job: &J, options: EnqueueOptions) -> Result<NewJob, StoreError> {
    new_job(job, options, ordo_telemetry::current_traceparent())
}

/// Enqueues `job` in the caller's transaction. Returns its id, or `None`
/// when a pending job with the same unique key exists.
pub async fn enqueue<J: Job>(
    tx: &mut dyn Transaction,
    job: &J,
    options: EnqueueOptions,
) -> Result<Option<Uuid>, StoreError> {
    let new = new_job(job, options, ordo_telemetry::current_traceparent())?;
    Ok(tx.enqueue_job(&new).await?.then_some(new.id))
}

/// Enqueues `jobs` in the caller's transaction, in one statement (a few
/// for many thousands) rather than one each. Returns the ids enqueued, in
/// `jobs`' order; a job whose unique key is pending (or taken earlier in
/// `jobs`) is left out.
pub async fn enqueue_many<J: Job>(
    tx: &mut dyn Transaction,
    jobs: &[J],
    options: EnqueueOptions,
) -> Result<Vec<Uuid>, StoreError> {
    let trace_parent = ordo_telemetry::current_traceparent();
    let rows = jobs.iter().map(|job| new_job(job, options, trace_parent.clone())).collect::<Result<Vec<_>, _>>()?;
    tx.enqueue_jobs(&rows).await
}

/// Enqueues outside other work, and wakes workers: this process's
/// directly, other processes' through [`Database::announce_jobs`].
#[derive(Debug, Clone)]
pub struct Queue {
    db: Arc<dyn Database>,
    wake: Arc<Notify>,
    /// Asks the announcer task (started on first use) to tell other
    /// processes; `None` inside where no task can be started or nobody
    /// could listen.
    announcer: Arc<OnceLock<Option<mpsc::Sender<()>>>>,
}

/// Announcements at most this often: a burst of enqueues costs one.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(5);

impl Queue {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db, wake: Arc::new(Notify::new()), announcer: Arc::default() }
    }

    /// Starts the task that sends announcements, coalesced, until every
    /// clone of this queue is dropped.
    fn start_announcer(&self) -> Option<mpsc::Sender<()>> {
        if self.db.backend() != ordo_store::Backend::Postgres {
            return None; // one process per database: waking locally is enough
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (sender, mut requests) = mpsc::channel::<()>(1);
        let db = self.db.clone();
        runtime.spawn(async move {
            while requests.recv().await.is_some() {
                if let Err(e) = db.announce_jobs().await {
                    tracing::debug!(error = %e, "could not announce enqueued jobs; other workers will poll");
                }
                tokio::time::sleep(ANNOUNCE_EVERY).await;
            }
        });
        Some(sender)
    }

    /// Enqueues `job` in its own transaction.
    pub async fn enqueue<J: Job>(&self, job: &J, options: EnqueueOptions) -> Result<Option<Uuid>, StoreError> {
        let mut tx = self.db.begin().await?;
        let id = enqueue(tx.as_mut(), job, options).await?;
        tx.commit().await?;
        self.wake();
        Ok(id)
    }

    /// Enqueues `jobs` in one transaction (see [`enqueue_many`]).
    pub async fn enqueue_many<J: Job>(&self, jobs: &[J], options: EnqueueOptions) -> Result<Vec<Uuid>, StoreError> {
        let mut tx = self.db.begin().await?;
        let ids = enqueue_many(tx.as_mut(), jobs, options).await?;
        tx.commit().await?;
        self.wake();
        Ok(ids)
    }

    /// Tells workers that jobs may be waiting: call it after a transaction
    /// that enqueued some has committed. This process's workers wake at
    /// once; other processes' soon after (a few milliseconds, coalesced),
    /// and at their next poll if the announcement is lost.
    pub fn wake(&self) {
        self.wake.notify_one();
        if let Some(announcer) = self.announcer.get_or_init(|| self.start_announcer()) {
            // Full: an announcement is already due, which covers this one.
            let _ = announcer.try_send(());
        }
    }

    pub(crate) fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub(crate) fn db(&self) -> &Arc<dyn Database> {
        &self.db
    }
}

/// Runs one job type's handler on a stored payload.
#[async_trait]
trait Handler<C>: Lifecycle {
    async fn handle(&self, payload: serde_json::Value, ctx: &C, run: &JobRun) -> Result<(), JobError>;
    fn retry_delay(&self, attempt: i32) -> Duration;
}

/// One job type's [`Job::ended`] and [`Job::revived`] on a stored payload;
/// needs no context, so the job administration can call it too.
#[async_trait]
trait Lifecycle: Send + Sync {
    async fn ended(
        &self,
        payload: &serde_json::Value,
        tx: &mut dyn Transaction,
        reason: &str,
    ) -> Result<(), StoreError>;
    async fn revived(&self, payload: &serde_json::Value, tx: &mut dyn Transaction) -> Result<(), StoreError>;
}

struct TypedHandler<J>(std::marker::PhantomData<fn() -> J>);

#[async_trait]
impl<J: Job> Handler<J::Context> for TypedHandler<J> {
    async fn handle(&self, payload: serde_json::Value, ctx: &J::Context, run: &JobRun) -> Result<(), JobError> {
        let job: J =
            serde_json::from_value(payload).map_err(|e| JobError::fatal(format!("unreadable payload: {e}")))?;
        match tokio::time::timeout(J::MAX_RUN_TIME, job.run(ctx, run)).await {
            Ok(result) => result,
            Err(_) => Err(JobError::retry(format!("ran longer than its maximum run time of {:?}", J::MAX_RUN_TIME))),
        }
    }

    fn retry_delay(&self, attempt: i32) -> Duration {
        backoff(attempt, J::BACKOFF_BASE, J::BACKOFF_CAP, random_unit())
    }
}

#[async_trait]
impl<J: Job> Lifecycle for TypedHandler<J> {
    async fn ended(
        &self,
        payload: &serde_json::Value,
        tx: &mut dyn Transaction,
        reason: &str,
    ) -> Result<(), StoreError> {
        // An unreadable payload has nothing of its own to settle.
        match serde_json::from_value::<J>(payload.clone()) {
            Ok(job) => job.ended(tx, reason).await,
            Err(_) => Ok(()),
        }
    }

    async fn revived(&self, payload: &serde_json::Value, tx: &mut dyn Transaction) -> Result<(), StoreError> {
        match serde_json::from_value::<J>(payload.clone()) {
            Ok(job) => job.revived(tx).await,
            Err(_) => Ok(()),
        }
    }
}

/// Every registered job type's [`Job::ended`] and [`Job::revived`], by
/// name: for whoever ends or revives jobs outside a worker (cancelling,
/// retrying a dead job). Cheap to clone.
#[derive(Clone, Default)]
pub struct JobLifecycle(Arc<HashMap<&'static str, Arc<dyn Lifecycle>>>);

impl std::fmt::Debug for JobLifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JobLifecycle").field(&self.0.keys().collect::<Vec<_>>()).finish()
    }
}

impl JobLifecycle {
    /// Tells `job` it ended without success, in `tx`.
    pub async fn ended(&self, tx: &mut dyn Transaction, job: &JobRecord, reason: &str) -> Result<(), StoreError> {
        match self.0.get(job.name.as_str()) {
            Some(lifecycle) => lifecycle.ended(&job.payload, tx, reason).await,
            None => Ok(()),
        }
    }

    /// Tells `job` it will run again after being dead, in `tx`.
    pub async fn revived(&self, tx: &mut dyn Transaction, job: &JobRecord) -> Result<(), StoreError> {
        match self.0.get(job.name.as_str()) {
            Some(lifecycle) => lifecycle.revived(&job.payload, tx).await,
            None => Ok(()),
        }
    }
}

/// A uniformly random number in `[0, 1)`.
fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// A job enqueued on a schedule.
pub(crate) struct Periodic {
    /// Names its ticks: claimed once each, by name, across all workers.
    pub(crate) name: String,
    pub(crate) schedule: Schedule,
    /// Builds the tick's job (with the tick as its unique key).
    pub(crate) job: Arc<dyn Fn(ordo_domain::Timestamp) -> Result<NewJob, StoreError> + Send + Sync>,
}

/// Every job type a worker can run, registered in one place.
pub struct Registry<C> {
    handlers: HashMap<&'static str, Arc<dyn Handler<C>>>,
    lifecycle: HashMap<&'static str, Arc<dyn Lifecycle>>,
    queues: Vec<String>,
    pub(crate) periodic: Vec<Periodic>,
}

impl<C: Send + Sync + 'static> Default for Registry<C> {
    fn default() -> Self {
        Self { handlers: HashMap::new(), lifecycle: HashMap::new(), queues: Vec::new(), periodic: Vec::new() }
    }
}

impl<C> Registry<C> {
    /// The lifecycle hooks of the job type `name`, if registered.
    pub(crate) fn lifecycle_of(&self, name: &str) -> Option<&dyn Lifecycle> {
        self.lifecycle.get(name).map(AsRef::as_ref)
    }
}

impl<C> std::fmt::Debug for Registry<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("jobs", &self.handlers.keys().collect::<Vec<_>>()).finish()
    }
}

impl<C: Send + Sync + 'static> Registry<C> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `J`; its queue is served by workers using this registry.
    #[must_use]
    pub fn register<J: Job<Context = C>>(mut self) -> Self {
        self.handlers.insert(J::NAME, Arc::new(TypedHandler::<J>(std::marker::PhantomData)));
        self.lifecycle.insert(J::NAME, Arc::new(TypedHandler::<J>(std::marker::PhantomData)));
        if !self.queues.iter().any(|q| q == J::QUEUE) {
            self.queues.push(J::QUEUE.to_owned());
        }
        self
    }

    /// Registers `J` and enqueues `J::default()` once per period.
    #[must_use]
    pub fn every<J: Job<Context = C> + Default>(self, every: Duration) -> Self {
        self.on::<J>(Schedule::Every(every))
    }

    /// Registers `J` and enqueues `J::default()` at each tick of
    /// `schedule`: exactly once per tick however many workers run, because
    /// each tick is claimed in the database before its job is enqueued.
    #[must_use]
    pub fn on<J: Job<Context = C> + Default>(self, schedule: Schedule) -> Self {
        self.on_named(J::NAME.to_owned(), schedule, |_| J::default())
    }

    /// Registers `J` and enqueues `make(tick)` at each tick of `schedule`,
    /// as [`Self::on`] does; `name` names this schedule's ticks, so one job
    /// type can run on several schedules (each with its own name).
    #[must_use]
    pub fn on_named<J: Job<Context = C>>(
        mut self,
        name: String,
        schedule: Schedule,
        make: impl Fn(ordo_domain::Timestamp) -> J + Send + Sync + 'static,
    ) -> Self {
        self = self.register::<J>();
        let schedule_name = name.clone();
        self.periodic.push(Periodic {
            name,
            schedule,
            job: Arc::new(move |tick| {
                Ok(NewJob {
                    id: Uuid::now_v7(),
                    queue: J::QUEUE.to_owned(),
                    name: J::NAME.to_owned(),
                    payload: serde_json::to_value(make(tick)).map_err(|e| StoreError::Other(Box::new(e)))?,
                    priority: J::PRIORITY,
                    max_attempts: J::MAX_ATTEMPTS,
                    run_at: tick,
                    // Per schedule and tick: schedules of one job type may tick together.
                    unique_key: Some(format!("{schedule_name}@{}", tick.timestamp_micros())),
                    trace_parent: None,
                })
            }),
        });
        self
    }

    pub fn queues(&self) -> &[String] {
        &self.queues
    }

    /// The registered jobs' lifecycle hooks.
    pub fn lifecycle(&self) -> JobLifecycle {
        JobLifecycle(Arc::new(self.lifecycle.clone()))
    }
}

/// Completes when `shutdown` does, for workers' select loops.
pub(crate) type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
