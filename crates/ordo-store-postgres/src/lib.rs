//! Ordo's PostgreSQL backend: many stateless Ordo instances share one
//! database. Implements the `ordo-store` traits with runtime-checked queries.
//! The SQL both backends share is written once in `ordo-store-sql`; each
//! module file here invokes its macro with what PostgreSQL does its own way.
//!
//! # Map
//! - this file: the pool, sessions and transactions, LISTEN/NOTIFY, error
//!   mapping, migrations.
//! - `breaker`: fails requests at once while the database is down.
//! - `copy`: bulk loads by `COPY ... FROM STDIN` (seeding).
//! - `audit`: segment assignment by `unnest`, bulk events by `COPY`.
//! - `catalog`: updates that `pg_notify` other processes' caches, `= ANY`
//!   lookups, `COPY`.
//! - `customers`: `COPY`.
//! - `idempotency`, `invoices`, `keys`, `markets`, `returns`: all shared.
//! - `inventory`: locked reads (`FOR UPDATE OF`), reservations and releases
//!   over `unnest` in lock order, `COPY`.
//! - `jobs`: claims with `FOR UPDATE SKIP LOCKED` per queue, batch lease
//!   renewals and completions over `unnest`.
//! - `orders`: line updates over `unnest`, lines by `= ANY`, `COPY`.
//! - `payments`: the order row lock that serialises its refunds.
//! - `webhooks`: subscription lookup with jsonb `?`.
//!
//! PgBouncer in transaction mode is supported: with
//! [`PgOptions::pgbouncer`] set, every statement is unnamed (sqlx names, and
//! so leaves behind on the server connection, every statement it marks
//! persistent, even with its cache off), every statement runs inside a
//! transaction (see [`PgStore::session`]'s implementation), and no session
//! state is set on connections.

use std::ops::DerefMut;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ordo_store::{
    Backend, Change, ChangeListener, Database, JobListener, PoolStats, Session, StoreError, StoreResult, Transaction,
    UniqueKey,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, Row};

use crate::breaker::Breaker;

mod audit;
pub(crate) mod breaker;
mod catalog;
mod copy;
mod customers;
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

/// How to connect. Built by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub url: String,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    /// Prepared statements kept per connection; ignored (zero) behind PgBouncer.
    pub statement_cache_capacity: usize,
    /// Server-side limit on one statement; not sent behind PgBouncer, which
    /// cannot carry per-session settings in transaction mode.
    pub statement_timeout: Option<Duration>,
    /// Connect through PgBouncer in transaction-pooling mode.
    pub pgbouncer: bool,
    /// Statements slower than this are logged at WARN (zero: never).
    pub slow_statement: Duration,
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Whether statements may be prepared once per connection and reused;
    /// never behind PgBouncer.
    persistent: bool,
    /// Fails requests at once while the database is known to be down.
    breaker: Arc<Breaker>,
}

impl PgStore {
    /// Creates the pool. Connections are opened lazily, so an unreachable
    /// database does not stop the server from starting: `/readyz` reports it
    /// and requests get 503 until it is back.
    pub fn connect_lazy(options: &PgOptions) -> StoreResult<Self> {
        let mut connect: PgConnectOptions = options.url.parse().map_err(other)?;
        connect = connect.application_name("ordo");
        connect = slow_statement_log(connect, options.slow_statement);
        if options.pgbouncer {
            // Unnamed statements only, and no startup parameter PgBouncer
            // would refuse.
            connect = connect.statement_cache_capacity(0).extra_float_digits(None);
        } else {
            connect = connect.statement_cache_capacity(options.statement_cache_capacity);
            if let Some(timeout) = options.statement_timeout {
                connect = connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
            }
        }
        let breaker = Breaker::new(connect.clone());
        let discards = breaker.clone();
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(options.idle_timeout)
            // A ping before every checkout costs a round trip per request;
            // broken connections surface as errors and are replaced instead.
            .test_before_acquire(false)
            // Except those older than the last outage: all dead, most likely.
            .before_acquire(move |_, meta| {
                let fresh = !discards.predates_outage(meta.age);
                Box::pin(async move { Ok(fresh) })
            })
            .connect_lazy_with(connect);
        Ok(Self { pool, persistent: !options.pgbouncer, breaker })
    }

    /// Obtains a connection (or a transaction) from the pool through the
    /// breaker: at once an error while the database is known to be down;
    /// otherwise the pool's answer, or an error as soon as a probe finds the
    /// database down while the pool still waits (see [`breaker`]).
    async fn guarded<T>(&self, acquire: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> StoreResult<T> {
        if self.breaker.is_open() {
            return Err(down());
        }
        let mut acquire = std::pin::pin!(acquire);
        let result = loop {
            match tokio::time::timeout(breaker::SUSPECT_AFTER, &mut acquire).await {
                Ok(result) => break result,
                // Still waiting: probe (again; a database shutting down may
                // have answered the last probe), and give up at once if the
                // breaker opens meanwhile.
                Err(_) => {
                    self.breaker.suspect();
                    tokio::select! {
                        result = &mut acquire => break result,
                        () = self.breaker.opened() => return Err(down()),
                        () = tokio::time::sleep(breaker::SUSPECT_AFTER) => {}
                    }
                }
            }
        };
        result.map_err(|e| {
            if connection_failure(&e) {
                self.breaker.suspect();
            }
            map_err(e)
        })
    }

    /// The underlying pool, for tests and tools that need raw access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Begins a transaction (with `statement`, or a plain `BEGIN`) on a pooled
/// connection, the `BEGIN` round trip run as a task of its own.
///
/// sqlx 0.8's PostgreSQL `begin` is not cancel-safe (launchbadge/sqlx#4393,
/// fixed in 0.9): a caller dropped while its `BEGIN` is in flight leaves the
/// connection inside a transaction nothing will end, and the pool hands that
/// connection on. The next borrower's reads run in it, and its first error
/// fails every later use of the connection (`BeginFailed`, or "current
/// transaction is aborted") until the connection is closed. Callers are
/// dropped at any await: a client that goes away, a timeout, an aborted
/// task. As a task the round trip always finishes, and a transaction that
/// nobody takes is dropped, which rolls it back. Acquiring stays with the
/// caller, so a caller that gives up waiting for a connection takes none.
async fn begin_detached(
    pool: &PgPool,
    statement: Option<&'static str>,
) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let conn = pool.acquire().await?;
    tokio::spawn(sqlx::Transaction::begin(conn, statement.map(std::borrow::Cow::Borrowed)))
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
}

#[async_trait]
impl Database for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn session(&self) -> StoreResult<Box<dyn Session>> {
        if !self.persistent {
            // sqlx sends an unnamed statement's Parse and its Bind in two
            // round trips, each ending in Sync; outside a transaction
            // PgBouncer may route them to two server connections. A
            // read-only transaction pins one server connection for the
            // session; dropping it rolls back when the connection returns
            // to the pool.
            let started = Instant::now();
            let conn = self.guarded(begin_detached(&self.pool, Some("BEGIN READ ONLY"))).await?;
            record_acquire("read", started);
            return Ok(Box::new(PgSession { conn, persistent: false }));
        }
        let started = Instant::now();
        let conn = self.guarded(self.pool.acquire()).await?;
        record_acquire("read", started);
        Ok(Box::new(PgSession { conn, persistent: true }))
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let started = Instant::now();
        let conn = self.guarded(begin_detached(&self.pool, None)).await?;
        record_acquire("write", started);
        Ok(Box::new(PgSession { conn, persistent: self.persistent }))
    }

    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.guarded(self.pool.acquire()).await?;
        // A connection made before an outage may hang rather than fail:
        // readiness answers as soon as the breaker knows.
        let answered = {
            let mut query = std::pin::pin!(simple_query(&mut conn, "SELECT 1"));
            match tokio::time::timeout(breaker::SUSPECT_AFTER, &mut query).await {
                Ok(answered) => answered,
                Err(_) => {
                    self.breaker.suspect();
                    tokio::select! {
                        answered = &mut query => answered,
                        () = self.breaker.opened() => return Err(down()),
                    }
                }
            }
        };
        if answered.as_ref().is_err_and(connection_failure) {
            self.breaker.suspect();
        }
        answered.map_err(map_err)?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.guarded(self.pool.acquire()).await?;
        MIGRATOR.run_direct(&mut *conn).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(e),
            e => other(e),
        })
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        // Before the first migration the bookkeeping table does not exist.
        // The simple-query protocol, as it is safe behind PgBouncer.
        let mut conn = self.guarded(self.pool.acquire()).await?;
        let applied: Vec<i64> = match simple_query(&mut conn, "SELECT version FROM _sqlx_migrations WHERE success")
            .await
        {
            Ok(rows) => rows.iter().map(|row| row.try_get::<i64, _>(0)).collect::<Result<_, _>>().map_err(map_err)?,
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Vec::new(),
            Err(e) => return Err(map_err(e)),
        };
        Ok(MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_stats(&self) -> PoolStats {
        ordo_store_sql::pool_stats(&self.pool)
    }

    async fn announce_jobs(&self) -> StoreResult<()> {
        if self.breaker.is_open() {
            return Err(down());
        }
        // Outside a transaction, a notification writes no WAL and waits for
        // no flush; the simple protocol keeps it to one round trip (and safe
        // behind PgBouncer, where no worker listens but others may).
        sqlx::raw_sql("NOTIFY ordo_jobs").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn job_listener(&self) -> StoreResult<Option<Box<dyn JobListener>>> {
        if !self.persistent {
            return Ok(None); // behind PgBouncer: no session to LISTEN on
        }
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(map_err)?;
        listener.listen("ordo_jobs").await.map_err(map_err)?;
        Ok(Some(Box::new(PgJobListener(listener))))
    }

    async fn change_listener(&self) -> StoreResult<Option<Box<dyn ChangeListener>>> {
        if !self.persistent {
            return Ok(None); // behind PgBouncer: no session to LISTEN on
        }
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(map_err)?;
        listener.listen("ordo_changes").await.map_err(map_err)?;
        Ok(Some(Box::new(PgChangeListener(listener))))
    }
}

/// LISTEN for committed changes on a dedicated connection.
struct PgChangeListener(PgListener);

#[async_trait]
impl ChangeListener for PgChangeListener {
    async fn recv(&mut self) -> StoreResult<Change> {
        loop {
            // `None`: the connection was lost (and is re-established on the
            // next call); notifications sent meanwhile are gone.
            let Some(notification) = self.0.try_recv().await.map_err(map_err)? else { return Ok(Change::Unknown) };
            match notification.payload().split_once(':') {
                Some(("product", id)) => match uuid::Uuid::parse_str(id) {
                    Ok(id) => return Ok(Change::Product(id)),
                    Err(_) => {
                        tracing::warn!(payload = notification.payload(), "ignoring a malformed change notification");
                    }
                },
                _ => {
                    tracing::warn!(payload = notification.payload(), "ignoring an unknown change notification");
                }
            }
        }
    }
}

/// LISTEN on a dedicated connection (not taken from the pool's budget for
/// queries).
struct PgJobListener(PgListener);

#[async_trait]
impl JobListener for PgJobListener {
    async fn recv(&mut self) -> StoreResult<()> {
        self.0.recv().await.map(|_| ()).map_err(map_err)
    }
}

/// A connection, in a transaction or not: `C` is a pooled connection or a
/// `sqlx::Transaction`, both of which dereference to a `PgConnection`.
struct PgSession<C> {
    conn: C,
    /// Passed to every query's `persistent`.
    persistent: bool,
}

impl<C: DerefMut<Target = PgConnection> + Send> Session for PgSession<C> {}

impl<C: DerefMut<Target = PgConnection> + Send> ordo_store_sql::SqlSession for PgSession<C> {
    type Db = Postgres;

    fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    fn persistent(&self) -> bool {
        self.persistent
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        map_err(e)
    }
}

#[async_trait]
impl Transaction for PgSession<sqlx::Transaction<'static, Postgres>> {
    #[tracing::instrument(target = "ordo_db", name = "transaction.commit", skip_all)]
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.conn.commit().await.map_err(map_err)
    }
}

/// Records how long obtaining a connection took (for a transaction,
/// including its `BEGIN`): the pool's pressure as callers feel it.
fn record_acquire(kind: &'static str, started: Instant) {
    metrics::histogram!("db_pool_acquire_duration_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
}

/// Logs statements slower than `threshold` at WARN (as `sqlx::query`).
fn slow_statement_log(connect: PgConnectOptions, threshold: Duration) -> PgConnectOptions {
    if threshold.is_zero() {
        connect.log_slow_statements(log::LevelFilter::Off, Duration::MAX)
    } else {
        connect.log_slow_statements(log::LevelFilter::Warn, threshold)
    }
}

/// Runs `sql` over the simple-query protocol (a query without arguments):
/// one round trip, safe behind PgBouncer. Through `Executor`'s boxed
/// futures, which `Send` async traits and spawned tasks accept where
/// `raw_sql`'s generic ones trip the compiler's lifetime inference.
fn simple_query<'c>(
    conn: &'c mut PgConnection,
    sql: &'static str,
) -> futures::future::BoxFuture<'c, Result<Vec<sqlx::postgres::PgRow>, sqlx::Error>> {
    sqlx::Executor::fetch_all(conn, sql)
}

/// The error while the breaker is open.
fn down() -> StoreError {
    StoreError::Unavailable(Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "the database is down; waiting for it to answer again",
    )))
}

/// Whether `e` says the database could not be reached (as opposed to a
/// query's own failure).
fn connection_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08") || code.starts_with("57P0")
        }
        _ => false,
    }
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Other(Box::new(e))
}

/// Maps a driver error to the store's error kinds.
fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::Database(ref db) => {
            if db.is_unique_violation() {
                match db.constraint() {
                    Some("products_sku_key") => return StoreError::Duplicate(UniqueKey::ProductSku),
                    Some("customers_email_key") => return StoreError::Duplicate(UniqueKey::CustomerEmail),
                    Some("audit_seals_pkey") => return StoreError::Duplicate(UniqueKey::AuditSegment),
                    Some("markets_pkey") => return StoreError::Duplicate(UniqueKey::MarketCode),
                    Some("locations_code_key") => return StoreError::Duplicate(UniqueKey::LocationCode),
                    Some("orders_idempotency_key") => return StoreError::Duplicate(UniqueKey::OrderIdempotencyKey),
                    _ => {}
                }
            }
            // Class 08: connection exceptions; 57P0x: the server is shutting
            // down or starting; 53300: too many connections.
            let code = db.code().unwrap_or_default();
            if code.starts_with("08") || code.starts_with("57P0") || code == "53300" {
                StoreError::Unavailable(Box::new(e))
            } else {
                other(e)
            }
        }
        e => other(e),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}
