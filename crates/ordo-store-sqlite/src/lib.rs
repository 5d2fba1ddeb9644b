//! Ordo's embedded SQLite backend: the zero-setup default, one node. The
//! SQL both backends share is written once in `ordo-store-sql`; each module
//! file here invokes its macro with what SQLite does its own way.
//!
//! # Map
//! - this file: the writer and reader pools, sessions and transactions, the
//!   writer's health after a full disk, error mapping, migrations.
//! - `group_commit`: write transactions as savepoints of a shared
//!   transaction, several to a commit.
//! - `audit`: segment assignment by `CASE` over `IN` lists, bulk events.
//! - `catalog`: plain updates (one process: no notifications), `IN` lookups.
//! - `customers`: multi-row `INSERT`s.
//! - `idempotency`, `invoices`, `keys`, `markets`, `returns`: all shared.
//! - `inventory`: reads without row locks (the write transaction holds the
//!   database's one write lock), one guarded `UPDATE` per move.
//! - `jobs`: claims in the one writer's transaction, one statement per lease
//!   and completion.
//! - `orders`: one `UPDATE` per line, lines by `IN`, multi-row `INSERT`s.
//! - `payments`: all shared (the write lock serialises refunds).
//! - `webhooks`: subscription lookup with `json_each`.
//!
//! SQLite allows one writer at a time, so the store keeps two pools: a single
//! writer connection whose transactions start with `BEGIN IMMEDIATE` (taking
//! the write lock up front, so a read-then-write transaction can never fail
//! to upgrade), and a pool of read-only connections that WAL mode lets run
//! alongside it. Writers queue in-process for the one connection instead of
//! spinning on `SQLITE_BUSY`, and those that queue together share a commit
//! (and its fsync): see `group_commit`.
//!
//! A full disk: a write that fails with `SQLITE_FULL` (or an I/O error) is
//! a 503, not a 500. SQLite may roll the transaction back by itself on such
//! an error, which leaves sqlx counting a transaction that no longer exists
//! (every later `BEGIN` then failed); a writer connection that comes back
//! still "in a transaction" is closed and replaced, so writes resume by
//! themselves once there is space. Until a write succeeds again, readiness
//! says the writer is failing ([`WriterHealth`]).

use std::ops::DerefMut;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ordo_store::{Backend, Database, PoolStats, Session, StoreError, StoreResult, Transaction, UniqueKey};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Sqlite};

mod audit;
mod catalog;
mod customers;
mod group_commit;
mod idempotency;
mod imports;
mod inventory;
mod invoices;
mod jobs;
mod keys;
mod ledger;
mod markets;
mod orders;
mod payments;
mod reports;
mod returns;
mod settlements;
mod webhooks;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How an acknowledged commit is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss (the default).
    Full,
    /// `synchronous=NORMAL`: a commit survives a crash of Ordo but the last
    /// transactions may be lost on power loss. Faster.
    Normal,
}

/// How to open the database. Built by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    /// Read-only connections next to the one writer.
    pub max_readers: u32,
    /// How long a request waits for a connection.
    pub acquire_timeout: Duration,
    /// How long a statement waits on a lock held by another process.
    pub busy_timeout: Duration,
    pub statement_cache_capacity: usize,
    pub durability: Durability,
    /// Statements slower than this are logged at WARN (zero: never).
    pub slow_statement: Duration,
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    /// Write transactions, grouped to share their commits.
    committer: group_commit::Committer,
    readers: SqlitePool,
    health: Arc<WriterHealth>,
    /// The database file, whose filesystem's free space readiness checks.
    path: PathBuf,
}

/// Free space a failing writer needs before it is ready again: a small
/// write can succeed in space SQLite already holds while real work cannot.
const MIN_FREE_BYTES: u64 = 1024 * 1024;

/// Bytes an unprivileged writer may still use on `path`'s filesystem, where
/// the platform tells.
fn free_space(path: &std::path::Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let stats = rustix::fs::statvfs(folder).ok()?;
        Some(stats.f_bavail.saturating_mul(stats.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Whether the writer can write: failing from a commit that failed for
/// lack of space or an I/O error, or a transaction SQLite rolled back by
/// itself, until readiness finds 1 MiB free on the disk and a probe write
/// succeeds.
#[derive(Debug, Default)]
pub struct WriterHealth {
    failing: AtomicBool,
}

impl WriterHealth {
    /// Marks the writer failing after a write that failed for lack of space
    /// or an I/O error. Only a probe clears it: a commit that wrote nothing
    /// (a worker's empty claim) proves nothing about space.
    fn observe<T>(&self, result: &Result<T, sqlx::Error>) {
        if let Err(e) = result
            && cannot_write(e)
        {
            self.mark_failing();
        }
    }

    fn mark_failing(&self) {
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::error!("the database cannot write (disk full or I/O error); writes answer 503 until it can");
        }
    }

    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}

/// `SQLITE_FULL` (13) or `SQLITE_IOERR` (10), extended codes included.
fn cannot_write(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 10 | 13))
        }
        sqlx::Error::Io(_) => true,
        _ => false,
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file and its parent folder,
    /// in WAL mode.
    pub async fn open(options: &SqliteOptions) -> StoreResult<Self> {
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        }
        let base = SqliteConnectOptions::new()
            .filename(&options.path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout)
            .statement_cache_capacity(options.statement_cache_capacity);
        let base = if options.slow_statement.is_zero() {
            base.log_slow_statements(log::LevelFilter::Off, Duration::MAX)
        } else {
            base.log_slow_statements(log::LevelFilter::Warn, options.slow_statement)
        };
        let health = Arc::new(WriterHealth::default());
        let released = health.clone();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            // SQLite may have rolled back a transaction by itself (on a full
            // disk) that sqlx still counts as open: its ROLLBACK then fails
            // and every later BEGIN with it. A connection still "in a
            // transaction" once its queued rollback has run is replaced.
            // SQLite rolls back by itself only on errors such as a full disk,
            // so the writer is failing until a write succeeds again.
            .after_release(move |conn, _| {
                let health = released.clone();
                Box::pin(async move {
                    if !conn.is_in_transaction() {
                        return Ok(true);
                    }
                    conn.ping().await?; // runs after the queued rollback
                    let sound = !conn.is_in_transaction();
                    if !sound {
                        tracing::warn!("replacing the writer connection: SQLite rolled its transaction back");
                        health.mark_failing();
                    }
                    Ok(sound)
                })
            })
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(map_err)?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(base.read_only(true))
            .await
            .map_err(map_err)?;
        let committer = group_commit::Committer::start(
            writer.clone(),
            health.clone(),
            options.acquire_timeout,
            group_commit::Limits::default(),
        );
        Ok(Self { writer, committer, readers, health, path: options.path.clone() })
    }

    /// The writer pool, for tests and tools that need raw access.
    pub fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }
}

#[async_trait]
impl Database for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn session(&self) -> StoreResult<Box<dyn Session>> {
        let started = Instant::now();
        let conn = self.readers.acquire().await.map_err(map_err)?;
        record_acquire("read", started);
        Ok(Box::new(SqliteSession { conn }))
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        // Waits for the one writer connection: the write queue's length.
        let started = Instant::now();
        let conn = self.committer.begin().await?;
        record_acquire("write", started);
        Ok(Box::new(SqliteSession { conn }))
    }

    /// The readers answer, and the writer can write: while a failed write
    /// left it failing, a probe write must succeed.
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.readers).await.map_err(map_err)?;
        if self.health.is_failing() {
            if let Some(free) = free_space(&self.path).filter(|free| *free < MIN_FREE_BYTES) {
                let full = std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("the database's disk has {free} bytes free; the writer waits for {MIN_FREE_BYTES}"),
                );
                return Err(StoreError::Unavailable(Box::new(full)));
            }
            let probe = async {
                let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query(
                    "INSERT INTO writer_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                )
                .bind(ordo_store_sql::Ts(ordo_domain::time::now()))
                .execute(&mut *tx)
                .await?;
                tx.commit().await
            }
            .await;
            match &probe {
                Ok(()) => {
                    self.health.failing.store(false, Ordering::Relaxed);
                    tracing::info!("the database can write again");
                }
                Err(e) => tracing::debug!(error = %e, "the writer still cannot write"),
            }
            probe.map_err(map_err)?;
        }
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(e),
            e => StoreError::Other(Box::new(e)),
        })
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        // Before the first migration the bookkeeping table does not exist.
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.writer)
            .await
        {
            Ok(versions) => versions,
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Vec::new(),
            Err(e) => return Err(map_err(e)),
        };
        Ok(MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count())
    }

    fn pool_stats(&self) -> PoolStats {
        let (readers, writer) = (ordo_store_sql::pool_stats(&self.readers), ordo_store_sql::pool_stats(&self.writer));
        PoolStats { size: readers.size + writer.size, idle: readers.idle + writer.idle, max: readers.max + writer.max }
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

/// A connection, in a transaction or not.
struct SqliteSession<C> {
    conn: C,
}

impl<C: DerefMut<Target = SqliteConnection> + Send> Session for SqliteSession<C> {}

impl<C: DerefMut<Target = SqliteConnection> + Send> ordo_store_sql::SqlSession for SqliteSession<C> {
    type Db = Sqlite;

    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Always: SQLite has no PgBouncer in front of it.
    fn persistent(&self) -> bool {
        true
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        map_err(e)
    }
}

#[async_trait]
impl Transaction for SqliteSession<group_commit::Lease> {
    /// Returns once the transaction's group has committed.
    #[tracing::instrument(target = "ordo_db", name = "transaction.commit", skip_all)]
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.conn.commit().await
    }
}

/// Records how long obtaining a connection took (for the writer, including
/// `BEGIN IMMEDIATE`): the pool's pressure as callers feel it.
fn record_acquire(kind: &'static str, started: Instant) {
    metrics::histogram!("db_pool_acquire_duration_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
}

/// Maps a driver error to the store's error kinds.
fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Database(ref db) => {
            if db.is_unique_violation() {
                // SQLite names the columns, not the constraint:
                // "UNIQUE constraint failed: products.sku".
                let message = db.message();
                if message.ends_with("products.sku") {
                    return StoreError::Duplicate(UniqueKey::ProductSku);
                }
                if message.ends_with("customers.email") {
                    return StoreError::Duplicate(UniqueKey::CustomerEmail);
                }
                if message.ends_with("audit_seals.segment") {
                    return StoreError::Duplicate(UniqueKey::AuditSegment);
                }
                if message.ends_with("markets.code") {
                    return StoreError::Duplicate(UniqueKey::MarketCode);
                }
                if message.ends_with("orders.idempotency_key") {
                    return StoreError::Duplicate(UniqueKey::OrderIdempotencyKey);
                }
                if message.ends_with("locations.code") {
                    return StoreError::Duplicate(UniqueKey::LocationCode);
                }
            }
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), extended codes included:
            // another process held the lock past the busy timeout.
            // SQLITE_FULL (13) and SQLITE_IOERR (10): the disk is full or
            // failing; retrying later may well succeed.
            let transient =
                db.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13));
            if transient { StoreError::Unavailable(Box::new(e)) } else { StoreError::Other(Box::new(e)) }
        }
        e => StoreError::Other(Box::new(e)),
    }
}

/// Rows per multi-row `INSERT` in bulk loads: within SQLite's limit of
/// 32 766 bound parameters per statement.
fn rows_per_insert(columns: usize) -> usize {
    (32_766 / columns).min(1_000)
}
