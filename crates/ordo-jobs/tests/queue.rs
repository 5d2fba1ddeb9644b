//! The queue against real databases, both backends: jobs run once, failures
//! retry then die with their history, fencing stops a job whose lease was
//! lost, crashed workers' jobs are rescued, and workers drain on shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::job::JobState;
use ordo_domain::page::PageRequest;
use ordo_domain::time;
use ordo_jobs::{EnqueueOptions, Job, JobError, JobRun, Queue, Registry, Schedule, Worker, WorkerConfig};
use ordo_store::{CancelOutcome, Database};
use ordo_testkit::{Backend, TestDb};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

/// What jobs did, shared with the test.
#[derive(Debug, Default)]
struct Effects {
    runs: Mutex<HashMap<u32, u32>>,
    running: Mutex<HashMap<u32, u32>>,
    overlaps: Mutex<u32>,
    /// The queue's database, for jobs that act on themselves.
    store: Mutex<Option<Arc<dyn Database>>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Count {
    n: u32,
    sleep_ms: u64,
}

#[async_trait]
impl Job for Count {
    const NAME: &'static str = "test.count";
    type Context = Effects;

    async fn run(&self, ctx: &Effects, _run: &JobRun) -> Result<(), JobError> {
        {
            let mut running = ctx.running.lock().unwrap();
            let now = running.entry(self.n).or_default();
            *now += 1;
            if *now > 1 {
                *ctx.overlaps.lock().unwrap() += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        *ctx.running.lock().unwrap().get_mut(&self.n).unwrap() -= 1;
        *ctx.runs.lock().unwrap().entry(self.n).or_default() += 1;
        Ok(())
    }
}

/// [`Count`] with one attempt only.
#[derive(Debug, Serialize, Deserialize)]
struct LastChance(Count);

#[async_trait]
impl Job for LastChance {
    const NAME: &'static str = "test.last_chance";
    const MAX_ATTEMPTS: i32 = 1;
    type Context = Effects;

    async fn run(&self, ctx: &Effects, run: &JobRun) -> Result<(), JobError> {
        self.0.run(ctx, run).await
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AlwaysFails;

#[async_trait]
impl Job for AlwaysFails {
    const NAME: &'static str = "test.fails";
    const MAX_ATTEMPTS: i32 = 3;
    const BACKOFF_BASE: Duration = Duration::from_millis(1);
    const BACKOFF_CAP: Duration = Duration::from_millis(5);
    type Context = Effects;

    async fn run(&self, ctx: &Effects, run: &JobRun) -> Result<(), JobError> {
        *ctx.runs.lock().unwrap().entry(0).or_default() += 1;
        Err(JobError::retry(format!("failure on attempt {}", run.attempt)))
    }
}

/// Hangs far longer than it may run.
#[derive(Debug, Serialize, Deserialize)]
struct Hangs;

#[async_trait]
impl Job for Hangs {
    const NAME: &'static str = "test.hangs";
    const MAX_ATTEMPTS: i32 = 2;
    const BACKOFF_BASE: Duration = Duration::from_millis(1);
    const BACKOFF_CAP: Duration = Duration::from_millis(5);
    const MAX_RUN_TIME: Duration = Duration::from_millis(300);
    type Context = Effects;

    async fn run(&self, ctx: &Effects, _run: &JobRun) -> Result<(), JobError> {
        *ctx.runs.lock().unwrap().entry(7).or_default() += 1;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        *ctx.runs.lock().unwrap().entry(8).or_default() += 1;
        Ok(())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Tick;

#[async_trait]
impl Job for Tick {
    const NAME: &'static str = "test.tick";
    type Context = Effects;

    async fn run(&self, ctx: &Effects, run: &JobRun) -> Result<(), JobError> {
        // The tick's millisecond, modulo about eleven days: unique in a test.
        let tick = (run.run_at.timestamp_millis() % 1_000_000_000) as u32;
        *ctx.runs.lock().unwrap().entry(tick).or_default() += 1;
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Unique(String);

#[async_trait]
impl Job for Unique {
    const NAME: &'static str = "test.unique";
    type Context = Effects;

    fn unique_key(&self) -> Option<String> {
        Some(self.0.clone())
    }

    async fn run(&self, _ctx: &Effects, _run: &JobRun) -> Result<(), JobError> {
        Ok(())
    }
}

async fn database(backend: Backend) -> Option<(TestDb, Arc<dyn Database>)> {
    let db = TestDb::create(backend).await?;
    let services = ordo::app::open_services(&db.config()).await.expect("open the database");
    let store = services.db.clone();
    Some((db, store))
}

/// Waits (without failing) until the test opens its gate, then succeeds.
#[derive(Debug, Serialize, Deserialize)]
struct WaitsForGate;

#[async_trait]
impl Job for WaitsForGate {
    const NAME: &'static str = "test.waits";
    const MAX_ATTEMPTS: i32 = 2;
    type Context = Effects;

    async fn run(&self, ctx: &Effects, _run: &JobRun) -> Result<(), JobError> {
        *ctx.runs.lock().unwrap().entry(7).or_default() += 1;
        if ctx.runs.lock().unwrap().contains_key(&1000) { Ok(()) } else { Err(JobError::wait("the gate is shut")) }
    }
}

/// Fails fatally; its `ended` hook records the reason, in the transaction
/// that makes it dead.
#[derive(Debug, Serialize, Deserialize)]
struct DiesAndTells;

#[async_trait]
impl Job for DiesAndTells {
    const NAME: &'static str = "test.dies";
    type Context = Effects;

    async fn run(&self, _ctx: &Effects, _run: &JobRun) -> Result<(), JobError> {
        Err(JobError::fatal("no"))
    }

    async fn ended(&self, tx: &mut dyn ordo_store::Transaction, reason: &str) -> Result<(), ordo_store::StoreError> {
        // A job of its own, as a record the hook writes in the same transaction.
        ordo_jobs::enqueue(tx, &Unique(format!("ended: {reason}")), EnqueueOptions { run_at: Some(far_future()) })
            .await
            .map(drop)
    }
}

/// Is cancelled through the administration while it runs, then fails
/// (`waits: false`) or waits (`waits: true`) at once, well before the
/// worker's next heartbeat could stop it.
#[derive(Debug, Serialize, Deserialize)]
struct CancelledWhileRunning {
    waits: bool,
}

#[async_trait]
impl Job for CancelledWhileRunning {
    const NAME: &'static str = "test.cancelled";
    const BACKOFF_BASE: Duration = Duration::from_millis(1);
    const BACKOFF_CAP: Duration = Duration::from_millis(5);
    type Context = Effects;

    async fn run(&self, ctx: &Effects, run: &JobRun) -> Result<(), JobError> {
        *ctx.runs.lock().unwrap().entry(u32::from(self.waits)).or_default() += 1;
        let store = ctx.store.lock().unwrap().clone().expect("the test's store");
        let mut tx = store.begin().await?;
        assert_eq!(tx.cancel_job(run.id).await?, CancelOutcome::Requested);
        tx.commit().await?;
        if self.waits { Err(JobError::wait("not yet")) } else { Err(JobError::retry("failed")) }
    }

    async fn ended(&self, tx: &mut dyn ordo_store::Transaction, reason: &str) -> Result<(), ordo_store::StoreError> {
        let record = Unique(format!("ended {}: {reason}", self.waits));
        ordo_jobs::enqueue(tx, &record, EnqueueOptions { run_at: Some(far_future()) }).await.map(drop)
    }
}

fn far_future() -> ordo_domain::Timestamp {
    time::now() + chrono::Duration::days(365)
}

fn registry() -> Registry<Effects> {
    Registry::new()
        .register::<Count>()
        .register::<LastChance>()
        .register::<AlwaysFails>()
        .register::<Unique>()
        .register::<WaitsForGate>()
        .register::<DiesAndTells>()
        .register::<Hangs>()
        .register::<CancelledWhileRunning>()
}

fn config(id: &str) -> WorkerConfig {
    WorkerConfig {
        id: id.to_owned(),
        concurrency: 4,
        prefetch: 8,
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        shutdown_timeout: Duration::from_secs(5),
    }
}

/// Starts a worker; returns its stop signal and task.
fn spawn_worker(
    queue: &Queue,
    effects: &Arc<Effects>,
    config: WorkerConfig,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(queue.clone(), registry(), effects.clone(), config);
    let task = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

async fn live_jobs(db: &Arc<dyn Database>) -> Vec<ordo_domain::job::JobRecord> {
    let mut session = db.session().await.unwrap();
    session.list_jobs(None, None, &PageRequest { limit: 500, after: None }).await.unwrap()
}

async fn wait_until<F: AsyncFnMut() -> bool>(mut done: F) {
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(ordo_testkit::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(ordo_testkit::Backend::Postgres).await } )* }
    };
}

both_backends!(
    jobs_run_once_and_leave_the_table,
    two_workers_never_run_the_same_job,
    failures_retry_with_backoff_then_die_with_their_history,
    a_lost_lease_cannot_complete_and_the_job_is_rescued,
    a_crashed_workers_job_runs_again_after_its_lease_expires,
    unique_scheduled_and_cancelled_jobs,
    shutdown_drains_then_hands_back,
    a_periodic_job_runs_once_per_tick_across_workers,
    a_cron_job_runs_once_per_tick_across_workers,
    waiting_uses_no_attempt_and_a_dead_job_tells_its_records,
    a_hung_attempt_fails_after_its_maximum_run_time,
    a_cancel_asked_while_running_ends_the_job_however_its_attempt_ends,
    jobs_claimed_ahead_go_to_a_free_worker_after_a_heartbeat_and_back_on_shutdown,
    a_job_on_its_last_attempt_never_waits_in_a_workers_buffer,
);

/// Jobs in the queue that a worker holds: running, or claimed ahead of a
/// free slot.
async fn claimed_jobs(db: &Arc<dyn Database>) -> Vec<ordo_domain::job::JobRecord> {
    live_jobs(db).await.into_iter().filter(|j| j.state == JobState::Running).collect()
}

/// A worker claims short jobs ahead of its free slots. Those it holds
/// behind a long job go back to the queue after a heartbeat, where another
/// worker runs them long before the long job ends; on shutdown the rest go
/// back at once, their attempts uncounted.
async fn jobs_claimed_ahead_go_to_a_free_worker_after_a_heartbeat_and_back_on_shutdown(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    // Short jobs, so the worker claims ahead; then a long one; then short
    // ones that wait behind it in the worker's buffer.
    for n in 1..=12 {
        queue.enqueue(&Count { n, sleep_ms: 5 }, EnqueueOptions::default()).await.unwrap();
    }
    let long = queue.enqueue(&Count { n: 100, sleep_ms: 30_000 }, EnqueueOptions::default()).await.unwrap().unwrap();
    for n in 101..=104 {
        queue.enqueue(&Count { n, sleep_ms: 5 }, EnqueueOptions::default()).await.unwrap();
    }
    let one_slot = WorkerConfig {
        concurrency: 1,
        heartbeat: Duration::from_millis(400),
        shutdown_timeout: Duration::from_millis(100),
        ..config("one-slot")
    };
    let (stop, task) = spawn_worker(&queue, &effects, one_slot);
    // The long job runs, and the worker of one slot holds more than it.
    wait_until(async || effects.running.lock().unwrap().get(&100) == Some(&1)).await;
    let held = claimed_jobs(&store).await;
    assert!(held.len() > 1 && held.iter().any(|j| j.id == long), "claimed ahead of its one slot: {held:?}");
    // A second worker gets the waiting jobs once a heartbeat hands them back.
    let (stop_free, free) = spawn_worker(&queue, &effects, config("free"));
    wait_until(async || (101..=104).all(|n| effects.runs.lock().unwrap().get(&n) == Some(&1))).await;
    assert_eq!(effects.running.lock().unwrap().get(&100), Some(&1), "the long job still runs");
    stop_free.send(()).unwrap();
    free.await.unwrap();

    // More short jobs while the long one runs: the one-slot worker claims
    // what it can ahead, and on shutdown hands back all it did not finish.
    for n in 200..210 {
        queue.enqueue(&Count { n, sleep_ms: 5 }, EnqueueOptions::default()).await.unwrap();
    }
    stop.send(()).unwrap();
    task.await.unwrap();
    let left = live_jobs(&store).await;
    assert!(left.iter().any(|j| j.id == long), "the long job, cut short, is handed back");
    for job in &left {
        assert_eq!((job.state, job.attempt, job.attempt_id), (JobState::Available, 0, None), "handed back: {job:?}");
    }
    let runs = effects.runs.lock().unwrap();
    assert!(runs.values().all(|&r| r == 1), "no job ran twice: {runs:?}");
    assert_eq!(runs.len() + left.len(), 12 + 1 + 4 + 10, "every job ran once or waits: {runs:?}");
}

/// A job claimed ahead on its last attempt is handed back at once: had the
/// worker crashed with it waiting in its buffer, the rescue would have
/// counted the expired lease as that attempt, and the job, never run, would
/// have gone dead.
async fn a_job_on_its_last_attempt_never_waits_in_a_workers_buffer(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    // Short jobs, so the worker claims ahead; then a long one, and behind
    // it jobs of one attempt mixed with jobs of many.
    for n in 1..=12 {
        queue.enqueue(&Count { n, sleep_ms: 5 }, EnqueueOptions::default()).await.unwrap();
    }
    queue.enqueue(&Count { n: 100, sleep_ms: 30_000 }, EnqueueOptions::default()).await.unwrap();
    let mut last = Vec::new();
    for n in 101..=106 {
        if n % 2 == 0 {
            queue.enqueue(&Count { n, sleep_ms: 5 }, EnqueueOptions::default()).await.unwrap();
        } else {
            let job = LastChance(Count { n, sleep_ms: 5 });
            last.push(queue.enqueue(&job, EnqueueOptions::default()).await.unwrap().unwrap());
        }
    }
    // A heartbeat far off: only the last-attempt rule can hand them back.
    let one_slot = WorkerConfig {
        concurrency: 1,
        heartbeat: Duration::from_secs(60),
        lease: Duration::from_secs(120),
        shutdown_timeout: Duration::from_millis(100),
        ..config("one-slot")
    };
    let (stop, task) = spawn_worker(&queue, &effects, one_slot);
    wait_until(async || effects.running.lock().unwrap().get(&100) == Some(&1)).await;
    // The worker holds jobs of many attempts ahead of its one slot, and
    // none of one attempt.
    wait_until(async || {
        let held = claimed_jobs(&store).await;
        held.len() > 1 && !held.iter().any(|j| last.contains(&j.id))
    })
    .await;
    let waiting: Vec<_> = live_jobs(&store).await.into_iter().filter(|j| last.contains(&j.id)).collect();
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    for job in &waiting {
        assert_eq!((job.state, job.attempt), (JobState::Available, 0), "handed back, attempt uncounted: {job:?}");
    }
    assert!((101..=106).all(|n| !effects.runs.lock().unwrap().contains_key(&n)), "nothing behind the long job ran");
    stop.send(()).unwrap();
    task.await.unwrap();
    // Another worker runs each of them once.
    let free = WorkerConfig { shutdown_timeout: Duration::from_millis(100), ..config("free") };
    let (stop, task) = spawn_worker(&queue, &effects, free);
    wait_until(async || [101, 103, 105].iter().all(|n| effects.runs.lock().unwrap().get(n) == Some(&1))).await;
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// A cancel asked while the job runs used to take effect only at a
/// heartbeat that saw the job running: an attempt that failed or waited
/// before the next beat put the job back in the queue with the request on
/// it, and it ran on (a webhook delivery cancelled by an operator kept
/// retrying). Now the attempt's end removes the job and tells its records.
async fn a_cancel_asked_while_running_ends_the_job_however_its_attempt_ends(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    *effects.store.lock().unwrap() = Some(store.clone());
    let failing = queue.enqueue(&CancelledWhileRunning { waits: false }, EnqueueOptions::default()).await.unwrap();
    let waiting = queue.enqueue(&CancelledWhileRunning { waits: true }, EnqueueOptions::default()).await.unwrap();
    // A heartbeat far apart, so only the attempt's end can honour the cancel.
    let (stop, task) =
        spawn_worker(&queue, &effects, WorkerConfig { heartbeat: Duration::from_secs(30), ..config("w") });
    let (failing, waiting) = (failing.unwrap(), waiting.unwrap());
    wait_until(async || live_jobs(&store).await.iter().all(|j| j.id != failing && j.id != waiting)).await;
    // Each ran once, and was neither retried nor made dead.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*effects.runs.lock().unwrap(), HashMap::from([(0, 1), (1, 1)]));
    let mut told: Vec<_> = live_jobs(&store).await.into_iter().filter_map(|j| j.unique_key).collect();
    told.sort();
    assert_eq!(told, ["ended false: the job was cancelled", "ended true: the job was cancelled"]);
    let mut session = store.session().await.unwrap();
    assert!(session.job_attempts(failing).await.unwrap().is_empty(), "a cancelled attempt is no failure");
    drop(session);
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// The worker's heartbeat renews a running job's lease; a hung job must
/// still end: each attempt fails after the job's maximum run time, and the
/// job dies once its attempts are spent.
async fn a_hung_attempt_fails_after_its_maximum_run_time(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    let id = queue.enqueue(&Hangs, EnqueueOptions::default()).await.unwrap().unwrap();
    let (stop, task) = spawn_worker(&queue, &effects, config("w"));
    wait_until(async || live_jobs(&store).await.first().is_some_and(|j| j.state == JobState::Dead)).await;
    let mut session = store.session().await.unwrap();
    let dead = session.job(id).await.unwrap().unwrap();
    assert_eq!(dead.attempt, 2);
    assert_eq!(dead.last_error.as_deref(), Some("ran longer than its maximum run time of 300ms"));
    let attempts = session.job_attempts(id).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.outcome.as_str()).collect::<Vec<_>>(), ["failed", "failed"]);
    for a in &attempts {
        let ran = (a.finished_at - a.started_at).num_milliseconds();
        assert!((300..3000).contains(&ran), "an attempt ends at its limit, not at its lease: {ran} ms");
    }
    drop(session);
    let runs = effects.runs.lock().unwrap().clone();
    assert_eq!((runs.get(&7), runs.get(&8)), (Some(&2), None), "both attempts started, neither finished");
    let _ = stop.send(());
    let _ = task.await;
}

async fn waiting_uses_no_attempt_and_a_dead_job_tells_its_records(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    let waiting = queue.enqueue(&WaitsForGate, EnqueueOptions::default()).await.unwrap().unwrap();
    let dying = queue.enqueue(&DiesAndTells, EnqueueOptions::default()).await.unwrap().unwrap();
    let (stop, task) = spawn_worker(&queue, &effects, config("w"));
    // It waits more often than it has attempts, and is never dead for it.
    wait_until(async || effects.runs.lock().unwrap().get(&7).is_some_and(|n| *n >= 3)).await;
    let mut session = store.session().await.unwrap();
    let job = session.job(waiting).await.unwrap().unwrap();
    assert_ne!(job.state, JobState::Dead);
    assert!(job.attempt <= 1, "waiting counted no attempt: {job:?}");
    assert!(session.job_attempts(waiting).await.unwrap().is_empty(), "waits are not failures in the history");
    drop(session);
    effects.runs.lock().unwrap().insert(1000, 1); // open the gate
    wait_until(async || live_jobs(&store).await.iter().all(|j| j.id != waiting)).await;

    // The dead job's hook ran in the transaction that made it dead.
    wait_until(async || live_jobs(&store).await.iter().any(|j| j.id == dying && j.state == JobState::Dead)).await;
    let jobs = live_jobs(&store).await;
    let told = jobs.iter().find(|j| j.name == "test.unique").expect("the hook's record");
    assert_eq!(told.unique_key.as_deref(), Some("ended: the job is dead: no"));
    stop.send(()).unwrap();
    task.await.unwrap();
}

async fn jobs_run_once_and_leave_the_table(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    for n in 0..20 {
        queue.enqueue(&Count { n, sleep_ms: 0 }, EnqueueOptions::default()).await.unwrap();
    }
    // The transactional outbox: a job enqueued in a rolled-back transaction never exists.
    let mut tx = store.begin().await.unwrap();
    ordo_jobs::enqueue(tx.as_mut(), &Count { n: 999, sleep_ms: 0 }, EnqueueOptions::default()).await.unwrap();
    drop(tx);
    let (stop, task) = spawn_worker(&queue, &effects, config("w1"));
    wait_until(async || effects.runs.lock().unwrap().len() == 20).await;
    wait_until(async || live_jobs(&store).await.is_empty()).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let runs = effects.runs.lock().unwrap();
    assert!(runs.values().all(|n| *n == 1), "each job ran once: {runs:?}");
    assert!(!runs.contains_key(&999), "the rolled-back enqueue left no job");
}

async fn two_workers_never_run_the_same_job(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    let mut tx = store.begin().await.unwrap();
    for n in 0..120 {
        ordo_jobs::enqueue(tx.as_mut(), &Count { n, sleep_ms: 5 }, EnqueueOptions::default()).await.unwrap();
    }
    tx.commit().await.unwrap();
    let (stop_a, a) = spawn_worker(&queue, &effects, config("a"));
    let (stop_b, b) = spawn_worker(&queue, &effects, config("b"));
    wait_until(async || effects.runs.lock().unwrap().values().sum::<u32>() >= 120).await;
    let _ = (stop_a.send(()), stop_b.send(()));
    let _ = (a.await, b.await);
    let runs = effects.runs.lock().unwrap();
    assert_eq!(runs.len(), 120);
    assert!(runs.values().all(|n| *n == 1), "no job ran twice: {runs:?}");
    assert_eq!(*effects.overlaps.lock().unwrap(), 0, "no job ran in two workers at once");
}

async fn failures_retry_with_backoff_then_die_with_their_history(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    let id = queue.enqueue(&AlwaysFails, EnqueueOptions::default()).await.unwrap().unwrap();
    let (stop, task) = spawn_worker(&queue, &effects, config("w"));
    wait_until(async || live_jobs(&store).await.first().is_some_and(|j| j.state == JobState::Dead)).await;
    let mut session = store.session().await.unwrap();
    let dead = session.job(id).await.unwrap().unwrap();
    assert_eq!((dead.attempt, dead.last_error.as_deref()), (3, Some("failure on attempt 3")));
    let attempts = session.job_attempts(id).await.unwrap();
    assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(attempts.iter().all(|a| a.outcome == "failed" && a.worker == "w"));
    drop(session);
    assert_eq!(effects.runs.lock().unwrap()[&0], 3);

    // A dead job can be retried: it gets a fresh set of attempts.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.retry_dead_job(id, time::now()).await.unwrap());
    tx.commit().await.unwrap();
    queue.wake();
    wait_until(async || effects.runs.lock().unwrap()[&0] == 6).await;
    wait_until(async || live_jobs(&store).await.first().is_some_and(|j| j.state == JobState::Dead)).await;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.discard_dead_job(id).await.unwrap());
    tx.commit().await.unwrap();
    assert!(live_jobs(&store).await.is_empty());
    stop.send(()).unwrap();
    task.await.unwrap();
}

async fn a_lost_lease_cannot_complete_and_the_job_is_rescued(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    queue.enqueue(&Count { n: 1, sleep_ms: 0 }, EnqueueOptions::default()).await.unwrap();
    // A worker claims the job with a lease that runs out at once, then stalls.
    let now = time::now();
    let mut tx = store.begin().await.unwrap();
    let claimed = tx.claim_jobs(&["default".to_owned()], "stalled", 10, now, now).await.unwrap();
    tx.commit().await.unwrap();
    let (id, stale_token) = (claimed[0].id, claimed[0].attempt_id.unwrap());
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Another worker rescues it and runs it.
    let (stop, task) = spawn_worker(&queue, &effects, config("rescuer"));
    wait_until(async || effects.runs.lock().unwrap().get(&1) == Some(&1)).await;
    // The stalled worker wakes up: its token is stale, so it cannot finish the job.
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.complete_job(id, stale_token).await.unwrap(), "fenced: the stale attempt cannot complete");
    assert!(!tx.fail_job(id, stale_token, "late", None).await.unwrap());
    tx.commit().await.unwrap();
    wait_until(async || live_jobs(&store).await.is_empty()).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(effects.runs.lock().unwrap()[&1], 1);
}

async fn a_crashed_workers_job_runs_again_after_its_lease_expires(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    let id = queue.enqueue(&Count { n: 7, sleep_ms: 2_000 }, EnqueueOptions::default()).await.unwrap().unwrap();
    let short =
        WorkerConfig { lease: Duration::from_millis(300), heartbeat: Duration::from_millis(100), ..config("doomed") };
    let (_stop, doomed) = spawn_worker(&queue, &effects, short.clone());
    wait_until(async || effects.running.lock().unwrap().get(&7) == Some(&1)).await;
    // The worker dies mid-job: no heartbeat, no hand-back.
    doomed.abort();
    let _ = doomed.await;
    *effects.running.lock().unwrap().get_mut(&7).unwrap() = 0;
    let (stop, task) = spawn_worker(&queue, &effects, WorkerConfig { id: "survivor".into(), ..short });
    wait_until(async || effects.runs.lock().unwrap().get(&7) == Some(&1)).await;
    wait_until(async || live_jobs(&store).await.is_empty()).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let mut session = store.session().await.unwrap();
    let attempts = session.job_attempts(id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!((attempts[0].outcome.as_str(), attempts[0].worker.as_str()), ("lease_expired", "doomed"));
    assert_eq!(effects.runs.lock().unwrap()[&7], 1, "its effect happened once");
}

async fn unique_scheduled_and_cancelled_jobs(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    assert!(queue.enqueue(&Unique("k".into()), EnqueueOptions::default()).await.unwrap().is_some());
    assert!(
        queue.enqueue(&Unique("k".into()), EnqueueOptions::default()).await.unwrap().is_none(),
        "deduplicated while pending"
    );
    assert!(queue.enqueue(&Unique("other".into()), EnqueueOptions::default()).await.unwrap().is_some());
    let later = time::now() + chrono::Duration::hours(1);
    let scheduled =
        queue.enqueue(&Count { n: 5, sleep_ms: 0 }, EnqueueOptions { run_at: Some(later) }).await.unwrap().unwrap();
    let effects = Arc::new(Effects::default());
    let (stop, task) = spawn_worker(&queue, &effects, config("w"));
    wait_until(async || live_jobs(&store).await.len() == 1).await;
    let left = live_jobs(&store).await;
    assert_eq!((left[0].id, left[0].state), (scheduled, JobState::Available), "the scheduled job waits for its time");
    assert!(
        queue.enqueue(&Unique("k".into()), EnqueueOptions::default()).await.unwrap().is_some(),
        "unique again once finished"
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.cancel_job(scheduled).await.unwrap(), CancelOutcome::Removed);
    assert_eq!(tx.cancel_job(Uuid::now_v7()).await.unwrap(), CancelOutcome::NotFound);
    tx.commit().await.unwrap();
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(effects.runs.lock().unwrap().is_empty());
    let mut session = store.session().await.unwrap();
    let stats = session.queue_stats().await.unwrap();
    assert!(stats.iter().all(|s| s.count >= 0));
}

async fn shutdown_drains_then_hands_back(backend: Backend) {
    let Some((_db, store)) = database(backend).await else { return };
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    queue.enqueue(&Count { n: 1, sleep_ms: 200 }, EnqueueOptions::default()).await.unwrap();
    let slow = queue.enqueue(&Count { n: 2, sleep_ms: 10_000 }, EnqueueOptions::default()).await.unwrap().unwrap();
    let cfg = WorkerConfig { shutdown_timeout: Duration::from_millis(600), ..config("w") };
    let (stop, task) = spawn_worker(&queue, &effects, cfg);
    wait_until(async || effects.running.lock().unwrap().len() == 2).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(effects.runs.lock().unwrap().get(&1), Some(&1), "the short job finished during the drain");
    assert_eq!(effects.runs.lock().unwrap().get(&2), None);
    let mut session = store.session().await.unwrap();
    let handed_back = session.job(slow).await.unwrap().unwrap();
    assert_eq!(
        (handed_back.state, handed_back.attempt, handed_back.attempt_id),
        (JobState::Available, 0, None),
        "handed back, attempt not counted"
    );
}

async fn a_periodic_job_runs_once_per_tick_across_workers(backend: Backend) {
    let every = Schedule::Every(Duration::from_millis(250));
    let Some(runs) = run_two_workers_on(backend, every, Duration::from_millis(1600)).await else { return };
    assert!(runs.len() >= 4, "ticks every 250 ms for 1.6 s: {runs:?}");
    assert!(runs.values().all(|n| *n == 1), "each tick ran exactly once across two workers: {runs:?}");
    assert!(runs.keys().all(|ms| ms % 250 == 0), "ticks fall on multiples of the period: {runs:?}");
}

async fn a_cron_job_runs_once_per_tick_across_workers(backend: Backend) {
    let every_second = Schedule::cron("* * * * * *").unwrap();
    let Some(runs) = run_two_workers_on(backend, every_second, Duration::from_millis(3200)).await else { return };
    assert!(runs.len() >= 3, "fires every second for 3.2 s: {runs:?}");
    assert!(runs.values().all(|n| *n == 1), "each tick ran exactly once across two workers: {runs:?}");
    assert!(runs.keys().all(|ms| ms % 1000 == 0), "ticks fall on whole seconds: {runs:?}");
}

/// Runs two workers with [`Tick`] on `schedule` for `run_for`; returns how
/// often each tick ran (`None`: the backend is not available).
async fn run_two_workers_on(backend: Backend, schedule: Schedule, run_for: Duration) -> Option<HashMap<u32, u32>> {
    let (_db, store) = database(backend).await?;
    let queue = Queue::new(store.clone());
    let effects = Arc::new(Effects::default());
    let start = |id: &str| {
        let (stop, stopped) = oneshot::channel::<()>();
        let registry = Registry::new().on::<Tick>(schedule.clone());
        let worker = Worker::new(queue.clone(), registry, effects.clone(), config(id));
        (
            stop,
            tokio::spawn(worker.run(async move {
                let _ = stopped.await;
            })),
        )
    };
    let (stop_a, a) = start("a");
    let (stop_b, b) = start("b");
    tokio::time::sleep(run_for).await;
    let _ = (stop_a.send(()), stop_b.send(()));
    let _ = (a.await, b.await);
    Some(effects.runs.lock().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_workers_wake_on_notify_from_other_processes() {
    let Some((_db, store)) = database(Backend::Postgres).await else { return };
    let effects = Arc::new(Effects::default());
    // A worker that would otherwise look only once a minute.
    let sleepy =
        WorkerConfig { poll_interval: Duration::from_secs(60), heartbeat: Duration::from_secs(60), ..config("sleepy") };
    let (stop, task) = spawn_worker(&Queue::new(store.clone()), &effects, sleepy);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another "process": its own queue handle, so no in-process wake-up.
    let elsewhere = Queue::new(store.clone());
    let mut tx = store.begin().await.unwrap();
    for n in 0..3 {
        ordo_jobs::enqueue(tx.as_mut(), &Count { n, sleep_ms: 0 }, EnqueueOptions::default()).await.unwrap();
    }
    tx.commit().await.unwrap();
    // As every enqueuer does after its commit: this announces the jobs to
    // other processes' workers, outside the transaction.
    elsewhere.wake();
    drop(elsewhere);
    let started = std::time::Instant::now();
    wait_until(async || effects.runs.lock().unwrap().len() == 3).await;
    assert!(started.elapsed() < Duration::from_secs(10), "woken by NOTIFY, not by polling: {:?}", started.elapsed());
    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn old_cron_ticks_are_pruned_and_each_tick_is_claimed_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some((_db, store)) = database(backend).await else { continue };
        let now = time::now();
        let mut tx = store.begin().await.unwrap();
        let old = now - chrono::Duration::days(3);
        assert!(tx.claim_cron_tick("t", old).await.unwrap());
        assert!(!tx.claim_cron_tick("t", old).await.unwrap(), "a tick is claimed once");
        assert!(tx.claim_cron_tick("t", now).await.unwrap());
        // The old tick was forgotten, so claiming it again succeeds (it is
        // long past; no worker computes it any more).
        assert!(tx.claim_cron_tick("t", old).await.unwrap(), "{backend:?}: the old tick was pruned");
        tx.commit().await.unwrap();
    }
}
