//! The machine's limit for SQLite writes, which the benchmark suite
//! measures Ordo's order placement against: single-row insert
//! transactions through the same pools, with the same journal mode,
//! durability (`synchronous`) and `BEGIN IMMEDIATE` as the store uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ordo_store::StoreResult;

use crate::{SqliteOptions, SqliteStore, map_err};

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
) -> StoreResult<InsertRate> {
    let store = SqliteStore::open(options).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS limit_inserts (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&store.writer)
        .await
        .map_err(map_err)?;
    let committed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (writer, committed) = (store.writer.clone(), committed.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
                sqlx::query("INSERT INTO limit_inserts (payload) VALUES ($1)")
                    .bind("a row about the size of an order's")
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                committed.fetch_add(1, Ordering::Relaxed);
            }
            StoreResult::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| ordo_store::StoreError::Other(Box::new(e)))??;
    }
    let seconds = started.elapsed().as_secs_f64();
    store.writer.close().await;
    store.readers.close().await;
    Ok(InsertRate { transactions: committed.load(Ordering::Relaxed), seconds })
}
