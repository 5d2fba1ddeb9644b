//! The machine's limits that the benchmark suite (`bench/`) measures Ordo
//! against (`ordo bench`), built from the same parts as Ordo itself so the
//! ratios compare like with like:
//!
//! - [`hello`]: a bare hello-world handler on the same HTTP server stack
//!   (tokio, hyper, axum, [`ordo_http::serve`]) with no middleware: the
//!   read path's limit.
//! - [`single_row_inserts`]: single-row insert transactions through the
//!   SQLite store's own writer pool, with the same journal mode, durability
//!   (`synchronous`) and `BEGIN IMMEDIATE` as the store uses: the SQLite
//!   write path's limit.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use ordo_store::Database;
use ordo_store_sqlite::{SqliteOptions, SqliteStore};
use tokio::net::TcpListener;

/// Serves `Hello, world!` at `/` on `listener` with the same server loop
/// and settings as `ordo serve`, until `shutdown` completes.
pub async fn hello(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_read_timeout: Duration,
) -> anyhow::Result<()> {
    let router = Router::new().route("/", get(|| async { "Hello, world!" }));
    ordo_http::serve(listener, router, shutdown, header_read_timeout).await?;
    Ok(())
}

/// What [`single_row_inserts`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InsertRate {
    pub transactions: u64,
    pub seconds: f64,
}

impl InsertRate {
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.transactions as f64 / self.seconds } else { 0.0 }
    }
}

/// Commits one-row insert transactions from `concurrency` tasks for
/// `duration`, into a table of its own in the database `options` names (use
/// a scratch file).
pub async fn single_row_inserts(
    options: &SqliteOptions,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<InsertRate> {
    let store = SqliteStore::open(options)
        .await
        .with_context(|| format!("cannot open SQLite database {}", options.path.display()))?;
    let writer = store.writer_pool().clone();
    sqlx::query("CREATE TABLE IF NOT EXISTS limit_inserts (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&writer)
        .await?;
    let committed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (writer, committed) = (writer.clone(), committed.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query("INSERT INTO limit_inserts (payload) VALUES ($1)")
                    .bind("a row about the size of an order's")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                committed.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, sqlx::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seconds = started.elapsed().as_secs_f64();
    store.close().await;
    Ok(InsertRate { transactions: committed.load(Ordering::Relaxed), seconds })
}

/// A job that does nothing: the queue's own cost, as [`queue`] measures it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Noop {
    pub n: u64,
}

/// What no-op jobs count as they run.
#[derive(Debug, Default)]
pub struct NoopCount {
    ran: AtomicU64,
}

#[async_trait::async_trait]
impl ordo_jobs::Job for Noop {
    const NAME: &'static str = "bench.noop";
    /// A queue of its own: the benchmark never runs or counts other jobs.
    const QUEUE: &'static str = "bench";
    type Context = NoopCount;

    async fn run(&self, count: &NoopCount, _run: &ordo_jobs::JobRun) -> Result<(), ordo_jobs::JobError> {
        count.ran.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What [`queue`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueRate {
    pub jobs: u64,
    pub enqueue_seconds: f64,
    /// From the worker's start until the last job is completed (deleted).
    pub process_seconds: f64,
}

impl QueueRate {
    pub fn enqueued_per_second(&self) -> f64 {
        if self.enqueue_seconds > 0.0 { self.jobs as f64 / self.enqueue_seconds } else { 0.0 }
    }

    pub fn processed_per_second(&self) -> f64 {
        if self.process_seconds > 0.0 { self.jobs as f64 / self.process_seconds } else { 0.0 }
    }
}

/// Jobs of the `bench` queue still waiting or running.
async fn bench_jobs_left(db: &Arc<dyn Database>) -> anyhow::Result<i64> {
    let stats = db.session().await?.queue_stats().await?;
    Ok(stats
        .iter()
        .filter(|s| s.queue == <Noop as ordo_jobs::Job>::QUEUE && s.state != ordo_domain::job::JobState::Dead)
        .map(|s| s.count)
        .sum())
}

/// Measures Ordo's job queue on `db` with durability as configured: enqueues
/// `jobs` no-op jobs, `batch` to a transaction (one statement each, through
/// [`ordo_jobs::Queue::enqueue_many`]), then runs one worker configured as
/// `worker` until every one is completed. Uses a queue of its own
/// (`bench`), which must be empty.
pub async fn queue(
    db: Arc<dyn Database>,
    jobs: u64,
    batch: usize,
    worker: ordo_jobs::WorkerConfig,
) -> anyhow::Result<QueueRate> {
    anyhow::ensure!(bench_jobs_left(&db).await? == 0, "the `bench` queue is not empty: use a scratch database");
    let queue = ordo_jobs::Queue::new(db.clone());
    let started = Instant::now();
    let mut next = 0_u64;
    while next < jobs {
        let end = (next + batch.max(1) as u64).min(jobs);
        let batch: Vec<Noop> = (next..end).map(|n| Noop { n }).collect();
        let ids = queue.enqueue_many(&batch, ordo_jobs::EnqueueOptions::default()).await?;
        anyhow::ensure!(ids.len() == batch.len(), "a batch was not enqueued whole");
        next = end;
    }
    let enqueue_seconds = started.elapsed().as_secs_f64();

    let count = Arc::new(NoopCount::default());
    let registry = ordo_jobs::Registry::new().register::<Noop>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let worker = tokio::spawn(ordo_jobs::Worker::new(queue, registry, count.clone(), worker).run(async move {
        let _ = stopped.await;
    }));
    // Every job has run once its count is reached; it is done once its
    // completion is written (completions are batched), so wait for both.
    while count.ran.load(Ordering::Relaxed) < jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while bench_jobs_left(&db).await? > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let process_seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    worker.await?;
    anyhow::ensure!(count.ran.load(Ordering::Relaxed) == jobs, "a job ran twice");
    Ok(QueueRate { jobs, enqueue_seconds, process_seconds })
}
