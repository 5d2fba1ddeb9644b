//! The worker loop: claim, run, heartbeat, rescue, drain.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ordo_domain::job::{JobAttempt, JobRecord};
use ordo_domain::time;
use ordo_store::{Database, StoreError};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{AbortHandle, JoinSet};
use tracing::Instrument;
use uuid::Uuid;

use crate::{Handler, JobRun, Queue, Registry, Shutdown};

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases and attempt history.
    pub id: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// Most jobs claimed ahead of free slots, so that a slot that frees
    /// starts its next job without waiting for a claim's round trip. The
    /// worker claims ahead at most twice as many as it finished since its
    /// previous claim (short jobs fill the buffer, long ones leave it near
    /// empty), renews their leases with the running ones', and hands back
    /// any that waited a whole heartbeat, and at once any on its last
    /// attempt. 0: claim only for free slots.
    pub prefetch: usize,
    /// How long a claim holds a job without a heartbeat. A crashed worker's
    /// jobs run again this long after its last heartbeat.
    pub lease: Duration,
    /// How often leases are renewed and expired ones rescued.
    pub heartbeat: Duration,
    /// How often to look for due jobs when nothing wakes the worker.
    pub poll_interval: Duration,
    /// On shutdown, how long jobs in flight may take before they are handed
    /// back.
    pub shutdown_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: format!("worker-{}-{}", std::process::id(), Uuid::now_v7().simple()),
            concurrency: 8,
            prefetch: 128,
            lease: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            poll_interval: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Runs registered jobs until shut down.
pub struct Worker<C> {
    queue: Queue,
    registry: Arc<Registry<C>>,
    context: Arc<C>,
    config: WorkerConfig,
}

impl<C> std::fmt::Debug for Worker<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("config", &self.config).field("registry", &self.registry).finish_non_exhaustive()
    }
}

/// A job this worker holds.
struct Held {
    attempt_id: Uuid,
    abort: AbortHandle,
}

/// Jobs claimed ahead of free slots, oldest first, each with when it was
/// claimed.
type Ready = VecDeque<(JobRecord, Instant)>;

/// A claim running beside the jobs.
type Claiming = tokio::task::JoinHandle<Result<Vec<JobRecord>, StoreError>>;

impl<C: Send + Sync + 'static> Worker<C> {
    pub fn new(queue: Queue, registry: Registry<C>, context: Arc<C>, config: WorkerConfig) -> Self {
        Self { queue, registry: Arc::new(registry), context, config }
    }

    fn db(&self) -> &Arc<dyn Database> {
        self.queue.db()
    }

    /// How long a claim or a renewal holds a job.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(30))
    }

    /// Claims and runs jobs until `shutdown` completes, then drains.
    ///
    /// Claims run beside the jobs, one at a time: while one is out, slots
    /// that free start jobs claimed ahead, so short jobs do not wait for a
    /// round trip each batch.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let mut shutdown: Shutdown = Box::pin(shutdown);
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks: JoinSet<Uuid> = JoinSet::new();
        let mut held: HashMap<Uuid, Held> = HashMap::new();
        let mut ready = Ready::new();
        let mut heartbeat = tokio::time::interval(self.config.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wake = self.queue.waker();
        let listener = self.listen(wake.clone());
        let (completions, completed) = mpsc::unbounded_channel();
        let completer = tokio::spawn(complete(self.db().clone(), completed));
        let mut due: HashMap<usize, Option<ordo_domain::Timestamp>> = HashMap::new();
        // The claim out now, and how many jobs it asked for.
        let mut claiming: Option<(usize, Claiming)> = None;
        // Jobs finished since the last claim was sent: how many to claim
        // ahead next time.
        let mut finished = 0usize;
        // When a claim last found fewer due jobs than it asked for: the next
        // waits for a wake-up or the poll interval.
        let mut drained_at: Option<Instant> = None;
        // A wake-up came while a claim was out: what it announced may have
        // been committed after that claim looked.
        let mut woken = false;
        tracing::info!(worker = %self.config.id, queues = ?self.registry.queues(), "worker started");
        loop {
            if let Err(e) = self.schedule(&mut due).await {
                tracing::warn!(error = %e, "could not enqueue periodic jobs");
            }
            while !ready.is_empty() {
                let Ok(permit) = slots.clone().try_acquire_owned() else { break };
                let Some((job, _)) = ready.pop_front() else { break };
                self.start(job, permit, &completions, &mut tasks, &mut held);
            }
            self.hand_back_last_attempts(&mut ready).await;
            let poll = self.config.poll_interval;
            if drained_at.is_some_and(|at| at.elapsed() >= poll) {
                drained_at = None;
            }
            // Twice what finished while the last claim was out: a worker
            // that ran out of jobs during a claim asks for more each time,
            // up to `prefetch`; one running long jobs asks for few.
            let ahead = finished.saturating_mul(2).min(self.config.prefetch);
            let want = (slots.available_permits() + ahead).saturating_sub(ready.len());
            if claiming.is_none() && drained_at.is_none() && want > 0 {
                finished = 0;
                claiming = Some((want, tokio::spawn(self.claim(want))));
            }
            let wait = drained_at.map_or(poll, |at| poll.saturating_sub(at.elapsed()));
            tokio::select! {
                () = &mut shutdown => break,
                _ = heartbeat.tick() => self.beat(&mut held, &mut ready).await,
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    finished += forget(&mut held, &done);
                    // Every other job that has finished too, at once.
                    while let Some(done) = tasks.try_join_next() {
                        finished += forget(&mut held, &done);
                    }
                }
                claimed = async { (&mut claiming.as_mut().expect("guarded").1).await }, if claiming.is_some() => {
                    let asked = claiming.take().map_or(0, |(asked, _)| asked);
                    let found = self.claimed(claimed, &mut ready);
                    drained_at = (found < asked && !woken).then(Instant::now);
                    woken = false;
                }
                () = wake.notified() => {
                    woken = claiming.is_some();
                    drained_at = None;
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        // A claim still out has taken its jobs: wait for it, so that they
        // are handed back with the rest rather than left to their leases.
        if let Some((_, claim)) = claiming {
            self.claimed(claim.await, &mut ready);
        }
        self.drain(tasks, held, ready, heartbeat).await;
        // Every job has finished or been handed back: write the last
        // completions before stopping.
        drop(completions);
        let _ = completer.await;
        tracing::info!(worker = %self.config.id, "worker stopped");
    }

    /// Takes a claim's answer into `ready`; how many jobs it found.
    fn claimed(
        &self,
        claimed: Result<Result<Vec<JobRecord>, StoreError>, tokio::task::JoinError>,
        ready: &mut Ready,
    ) -> usize {
        match claimed {
            Ok(Ok(jobs)) => {
                let found = jobs.len();
                let now = Instant::now();
                ready.extend(jobs.into_iter().map(|job| (job, now)));
                found
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not claim jobs");
                0
            }
            Err(e) => {
                tracing::warn!(error = %e, "the claim stopped");
                0
            }
        }
    }

    /// Where the backend supports it, wakes the worker when any process
    /// enqueues (PostgreSQL LISTEN/NOTIFY), reconnecting after errors;
    /// polling remains the fallback.
    fn listen(&self, wake: Arc<tokio::sync::Notify>) -> Option<tokio::task::JoinHandle<()>> {
        let db = self.db().clone();
        Some(tokio::spawn(async move {
            loop {
                match db.job_listener().await {
                    Ok(None) => return, // this backend polls
                    Ok(Some(mut listener)) => {
                        while listener.recv().await.is_ok() {
                            wake.notify_one();
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "job listener unavailable; polling"),
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }))
    }

    /// Enqueues each periodic job whose current tick no process has claimed.
    /// `due` keeps, per periodic job (by its place in the registry), when
    /// its schedule next fires (`None`: never again), so a job is looked at
    /// only when a new tick has come.
    async fn schedule(&self, due: &mut HashMap<usize, Option<ordo_domain::Timestamp>>) -> Result<(), StoreError> {
        let now = time::now();
        for (index, periodic) in self.registry.periodic.iter().enumerate() {
            match due.get(&index) {
                Some(None) => continue,
                Some(Some(next)) if now < *next => continue,
                _ => {}
            }
            let Some(tick) = periodic.schedule.tick(now) else {
                // It has not fired yet: wait for its first time.
                due.insert(index, periodic.schedule.next(now));
                continue;
            };
            let mut tx = self.db().begin().await?;
            if tx.claim_cron_tick(&periodic.name, tick).await? {
                tx.enqueue_job(&(periodic.job)(tick)?).await?;
            }
            tx.commit().await?;
            due.insert(index, periodic.schedule.next(tick));
        }
        Ok(())
    }

    /// Claims up to `limit` due jobs, as a future that owns what it needs
    /// so that it can run beside the loop.
    fn claim(&self, limit: usize) -> impl Future<Output = Result<Vec<JobRecord>, StoreError>> + Send + 'static {
        let db = self.db().clone();
        let registry = self.registry.clone();
        let id = self.config.id.clone();
        let lease = self.lease();
        async move {
            let now = time::now();
            let mut tx = db.begin().await?;
            let jobs = tx.claim_jobs(registry.queues(), &id, limit as i64, now + lease, now).await?;
            tx.commit().await?;
            Ok(jobs)
        }
    }

    fn start(
        &self,
        job: JobRecord,
        permit: tokio::sync::OwnedSemaphorePermit,
        completions: &Completions,
        tasks: &mut JoinSet<Uuid>,
        held: &mut HashMap<Uuid, Held>,
    ) {
        let Some(attempt_id) = job.attempt_id else { return };
        let id = job.id;
        let handler = self.registry.handlers.get(job.name.as_str()).cloned();
        let context = self.context.clone();
        let db = self.db().clone();
        let worker = self.config.id.clone();
        let completions = completions.clone();
        // One span per run, joined to the trace of the work that enqueued
        // the job (its stored `traceparent`), when tracing is on.
        let span = tracing::info_span!(
            "job",
            otel.name = %format_args!("job {}", job.name),
            job.name = %job.name,
            job.id = %job.id,
            job.queue = %job.queue,
            job.attempt = job.attempt,
        );
        if let Some(parent) = &job.trace_parent {
            ordo_telemetry::set_parent_from_traceparent(&span, parent);
        }
        let abort = tasks.spawn(
            async move {
                let _permit = permit;
                execute(db, handler, context, job, worker, &completions).await;
                id
            }
            .instrument(span),
        );
        held.insert(id, Held { attempt_id, abort });
    }

    /// Renews leases of held jobs (stopping any whose lease was lost or that
    /// were cancelled), hands back jobs that waited in `ready` a whole
    /// heartbeat (another worker may be free for them) and rescues other
    /// workers' expired ones.
    async fn beat(&self, held: &mut HashMap<Uuid, Held>, ready: &mut Ready) {
        self.hand_back_waiting(ready).await;
        if !ready.is_empty() {
            self.renew_ready(ready).await;
        }
        if !held.is_empty() {
            let pairs: Vec<(Uuid, Uuid)> = held.iter().map(|(id, h)| (*id, h.attempt_id)).collect();
            match self.renew(&pairs).await {
                Ok(still) => {
                    let still: HashMap<Uuid, bool> = still.into_iter().collect();
                    for (id, attempt_id) in pairs {
                        match still.get(&id) {
                            // Finished, and completed (or being completed)
                            // since: not lost.
                            None if held.get(&id).is_some_and(|h| h.abort.is_finished()) => {
                                held.remove(&id);
                            }
                            None => {
                                tracing::warn!(job.id = %id, "lease lost; stopping the job");
                                if let Some(h) = held.remove(&id) {
                                    h.abort.abort();
                                }
                            }
                            Some(true) => {
                                tracing::info!(job.id = %id, "job cancelled; stopping it");
                                if let Some(h) = held.remove(&id) {
                                    h.abort.abort();
                                }
                                if let Err(e) = self.finish_cancelled(id, attempt_id).await {
                                    tracing::warn!(job.id = %id, error = %e, "could not remove the cancelled job");
                                }
                            }
                            Some(false) => {}
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not renew leases"),
            }
        }
        if let Err(e) = rescue(self.db(), &self.registry).await {
            tracing::warn!(error = %e, "could not rescue expired jobs");
        }
    }

    /// Renews the leases of jobs waiting in `ready`, dropping those whose
    /// lease was lost and ending those cancelled.
    async fn renew_ready(&self, ready: &mut Ready) {
        let pairs = attempts(ready.iter());
        let still: HashMap<Uuid, bool> = match self.renew(&pairs).await {
            Ok(still) => still.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not renew the leases of jobs claimed ahead");
                return;
            }
        };
        for (id, attempt_id) in pairs {
            match still.get(&id) {
                Some(false) => {}
                lost_or_cancelled => {
                    ready.retain(|(job, _)| job.id != id);
                    if lost_or_cancelled.is_none() {
                        tracing::warn!(job.id = %id, "lease lost before the job started; dropping it");
                    } else if let Err(e) = self.finish_cancelled(id, attempt_id).await {
                        tracing::warn!(job.id = %id, error = %e, "could not remove the cancelled job");
                    }
                }
            }
        }
    }

    /// Hands back the jobs in `ready` on their last attempt. Had this process
    /// crashed while they waited, their leases would expire and the rescue
    /// would count that as their last attempt: they would go dead without
    /// having run. Handed back, they run where a slot is free (here, once
    /// one is free when a claim returns them).
    async fn hand_back_last_attempts(&self, ready: &mut Ready) {
        let last = |job: &JobRecord| job.attempt >= job.max_attempts;
        if ready.iter().any(|(job, _)| last(job)) {
            let (waiting, rest): (Ready, Ready) = ready.drain(..).partition(|(job, _)| last(job));
            *ready = rest;
            self.hand_back(&attempts(&waiting)).await;
        }
    }

    /// Hands back, in one transaction, the jobs in `ready` claimed a whole
    /// heartbeat ago or more.
    async fn hand_back_waiting(&self, ready: &mut Ready) {
        let stale = ready.iter().take_while(|(_, since)| since.elapsed() >= self.config.heartbeat).count();
        if stale > 0 {
            let stale = attempts(&ready.drain(..stale).collect::<Vec<_>>());
            self.hand_back(&stale).await;
        }
    }

    /// Puts jobs this worker holds (by id and attempt) back in the queue,
    /// their attempts uncounted (cancelled ones are ended instead), in one
    /// transaction. Jobs that cannot be handed back run again after their
    /// leases.
    async fn hand_back(&self, jobs: &[(Uuid, Uuid)]) {
        let handed = async {
            let mut tx = self.db().begin().await?;
            for &(id, attempt_id) in jobs {
                if !self.end_held_if_cancelled(tx.as_mut(), id, attempt_id).await? {
                    tx.release_job(id, attempt_id).await?;
                }
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = handed {
            tracing::warn!(error = %e, jobs = jobs.len(), "could not hand jobs back; their leases will expire");
        }
    }

    async fn renew(&self, pairs: &[(Uuid, Uuid)]) -> Result<Vec<(Uuid, bool)>, StoreError> {
        let lease_until = time::now() + self.lease();
        let mut tx = self.db().begin().await?;
        let still = tx.renew_job_leases(pairs, lease_until).await?;
        tx.commit().await?;
        Ok(still)
    }

    async fn finish_cancelled(&self, id: Uuid, attempt_id: Uuid) -> Result<(), StoreError> {
        let mut tx = self.db().begin().await?;
        self.end_held_if_cancelled(tx.as_mut(), id, attempt_id).await?;
        tx.commit().await
    }

    /// [`end_if_cancelled`] for a job this worker holds.
    async fn end_held_if_cancelled(
        &self,
        tx: &mut dyn ordo_store::Transaction,
        id: Uuid,
        attempt_id: Uuid,
    ) -> Result<bool, StoreError> {
        let Some(job) = tx.job(id).await?.filter(|j| j.cancel_requested) else { return Ok(false) };
        end_if_cancelled(tx, self.registry.lifecycle_of(&job.name), &job, attempt_id).await
    }

    /// Hands back the jobs claimed ahead at once, then lets jobs in flight
    /// finish within the shutdown timeout, renewing their leases meanwhile;
    /// hands back those still running after it.
    async fn drain(
        &self,
        mut tasks: JoinSet<Uuid>,
        mut held: HashMap<Uuid, Held>,
        ready: Ready,
        mut heartbeat: tokio::time::Interval,
    ) {
        if !ready.is_empty() {
            self.hand_back(&attempts(&ready)).await;
        }
        let mut ready = Ready::new();
        let deadline = tokio::time::sleep(self.config.shutdown_timeout);
        tokio::pin!(deadline);
        while !tasks.is_empty() {
            tokio::select! {
                Some(done) = tasks.join_next() => { forget(&mut held, &done); }
                _ = heartbeat.tick() => self.beat(&mut held, &mut ready).await,
                () = &mut deadline => break,
            }
        }
        let still_running: Vec<(Uuid, Uuid)> = held
            .drain()
            .map(|(id, h)| {
                h.abort.abort();
                (id, h.attempt_id)
            })
            .collect();
        if !still_running.is_empty() {
            self.hand_back(&still_running).await;
        }
    }
}

/// The ids and attempts of jobs claimed ahead.
fn attempts<'a>(ready: impl IntoIterator<Item = &'a (JobRecord, Instant)>) -> Vec<(Uuid, Uuid)> {
    ready.into_iter().filter_map(|(job, _)| Some((job.id, job.attempt_id?))).collect()
}

/// Forgets a job whose task ended; 1 if it ran to its end (0 if it was
/// stopped).
fn forget(held: &mut HashMap<Uuid, Held>, done: &Result<Uuid, tokio::task::JoinError>) -> usize {
    let Ok(id) = done else { return 0 };
    held.remove(id);
    1
}

/// Runs one claimed job and records the outcome under its fencing token.
/// Where finished jobs go to be completed, many in one transaction.
type Completions = mpsc::UnboundedSender<(Uuid, Uuid)>;

/// Most jobs completed in one transaction.
const COMPLETION_BATCH: usize = 256;

/// Completes finished jobs: whatever has finished by the time the last
/// batch is written goes into the next, so completions cost one
/// transaction per batch under load and add no delay when idle. A batch
/// that cannot be written leaves its jobs to run again after their leases.
async fn complete(db: Arc<dyn Database>, mut finished: mpsc::UnboundedReceiver<(Uuid, Uuid)>) {
    let mut batch = Vec::with_capacity(COMPLETION_BATCH);
    while finished.recv_many(&mut batch, COMPLETION_BATCH).await > 0 {
        let written = async {
            let mut tx = db.begin().await?;
            let completed = tx.complete_jobs(&batch).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(completed)
        }
        .await;
        match written {
            Ok(completed) if completed.len() < batch.len() => {
                for (id, _) in batch.iter().filter(|(id, _)| !completed.contains(id)) {
                    tracing::warn!(job.id = %id, "finished after losing its lease; another attempt owns the job");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, jobs = batch.len(), "could not record finished jobs; they will run again after their leases");
            }
        }
        batch.clear();
    }
}

async fn execute<C: Send + Sync + 'static>(
    db: Arc<dyn Database>,
    handler: Option<Arc<dyn Handler<C>>>,
    context: Arc<C>,
    job: JobRecord,
    worker: String,
    completions: &Completions,
) {
    let Some(attempt_id) = job.attempt_id else { return };
    let started_at = time::now();
    let run = JobRun { id: job.id, attempt: job.attempt, attempt_id, run_at: job.run_at, db: db.clone() };
    let result = match &handler {
        Some(handler) => handler.handle(job.payload.clone(), &context, &run).await,
        None => Err(crate::JobError::fatal(format!("no handler for job `{}` in this worker", job.name))),
    };
    let elapsed = (time::now() - started_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
    let label = match &result {
        Ok(()) => "succeeded",
        Err(e) if e.waiting => "waited",
        Err(e) if e.retryable && job.attempt < job.max_attempts => "retried",
        Err(_) => "dead",
    };
    metrics::histogram!("ordo_job_duration_seconds", "name" => job.name.clone(), "outcome" => label).record(elapsed);
    metrics::counter!("ordo_job_runs_total", "name" => job.name.clone(), "outcome" => label).increment(1);
    let Err(e) = &result else {
        if completions.send((job.id, attempt_id)).is_err() {
            tracing::warn!(job.id = %job.id, "the worker is gone; the job will run again after its lease");
        }
        return;
    };
    if e.waiting {
        // Not a failure: back to the queue, the attempt uncounted, with no
        // entry in the attempt history.
        let waited = (time::now() - job.created_at).to_std().unwrap_or_default();
        let run_at = time::now() + chrono::Duration::from_std(crate::wait_delay(waited)).unwrap_or_default();
        let snoozed = async {
            let mut tx = db.begin().await?;
            let lifecycle = handler.as_deref().map(|h| h as &dyn crate::Lifecycle);
            if !end_if_cancelled(tx.as_mut(), lifecycle, &job, attempt_id).await? {
                tx.snooze_job(job.id, attempt_id, run_at, &e.message).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = snoozed {
            tracing::warn!(job.id = %job.id, error = %e, "could not put the waiting job back; its lease will expire and it will run again");
        }
        return;
    }
    let outcome = async {
        let mut tx = db.begin().await?;
        let lifecycle = handler.as_deref().map(|h| h as &dyn crate::Lifecycle);
        if end_if_cancelled(tx.as_mut(), lifecycle, &job, attempt_id).await? {
            return tx.commit().await;
        }
        let retry_at = (e.retryable && job.attempt < job.max_attempts).then(|| {
            let delay = handler.as_ref().map_or(Duration::from_secs(60), |h| h.retry_delay(job.attempt));
            time::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(60))
        });
        if tx.fail_job(job.id, attempt_id, &e.message, retry_at).await? {
            tx.insert_job_attempt(&JobAttempt {
                job_id: job.id,
                attempt: job.attempt,
                attempt_id,
                worker: worker.clone(),
                started_at,
                finished_at: time::now(),
                outcome: "failed".into(),
                error: Some(e.message.clone()),
            })
            .await?;
            if retry_at.is_none()
                && let Some(handler) = &handler
            {
                handler.ended(&job.payload, tx.as_mut(), &format!("the job is dead: {}", e.message)).await?;
            }
        }
        if retry_at.is_none() {
            tracing::warn!(job.id = %job.id, job.name = %job.name, error = %e, "job is dead");
        }
        tx.commit().await
    }
    .await;
    if let Err(e) = outcome {
        tracing::warn!(job.id = %job.id, error = %e, "could not record the job's outcome; its lease will expire and it will run again");
    }
}

/// The reason a cancelled job's records are told.
const CANCELLED: &str = "the job was cancelled";

/// Ends an attempt that stops without completing (it failed, waited, was
/// handed back or lost its lease) whose job was asked to cancel while it
/// ran: the job is removed and its records told, in `tx`, rather than
/// queued again with the request still on it. The heartbeat stops a
/// cancelled job only while it runs, so a short attempt that fails between
/// two beats would otherwise carry on retrying for ever. `false` if no
/// cancel was asked.
async fn end_if_cancelled(
    tx: &mut dyn ordo_store::Transaction,
    lifecycle: Option<&dyn crate::Lifecycle>,
    job: &JobRecord,
    attempt_id: Uuid,
) -> Result<bool, StoreError> {
    if !tx.remove_cancelled_job(job.id, attempt_id).await? {
        return Ok(false);
    }
    if let Some(lifecycle) = lifecycle {
        lifecycle.ended(&job.payload, tx, CANCELLED).await?;
    }
    tracing::info!(job.id = %job.id, job.name = %job.name, "job cancelled after its attempt");
    Ok(true)
}

/// Puts running jobs whose lease expired (their worker died) back in the
/// queue, or makes them dead if that was their last attempt.
pub(crate) async fn rescue<C>(db: &Arc<dyn Database>, registry: &Registry<C>) -> Result<u64, StoreError> {
    let now = time::now();
    let mut tx = db.begin().await?;
    let expired = tx.expired_jobs(now).await?;
    let mut rescued = 0;
    for job in expired {
        let Some(attempt_id) = job.attempt_id else { continue };
        if job.cancel_requested
            && end_if_cancelled(tx.as_mut(), registry.lifecycle_of(&job.name), &job, attempt_id).await?
        {
            rescued += 1;
            continue;
        }
        let retry_at = (job.attempt < job.max_attempts).then(|| {
            let delay = registry.handlers.get(job.name.as_str()).map_or(Duration::ZERO, |h| h.retry_delay(job.attempt));
            now + chrono::Duration::from_std(delay).unwrap_or_default()
        });
        if tx.fail_job(job.id, attempt_id, "lease expired: the worker stopped heartbeating", retry_at).await? {
            tx.insert_job_attempt(&JobAttempt {
                job_id: job.id,
                attempt: job.attempt,
                attempt_id,
                worker: job.locked_by.clone().unwrap_or_default(),
                started_at: job.updated_at,
                finished_at: now,
                outcome: "lease_expired".into(),
                error: Some("lease expired".into()),
            })
            .await?;
            if retry_at.is_none()
                && let Some(handler) = registry.handlers.get(job.name.as_str())
            {
                handler.ended(&job.payload, tx.as_mut(), "the job is dead: its last attempt's lease expired").await?;
            }
            rescued += 1;
        }
    }
    tx.commit().await?;
    if rescued > 0 {
        metrics::counter!("ordo_jobs_rescued_total").increment(rescued);
        tracing::info!(rescued, "rescued jobs with expired leases");
    }
    Ok(rescued)
}
