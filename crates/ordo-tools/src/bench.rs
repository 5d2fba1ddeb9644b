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
