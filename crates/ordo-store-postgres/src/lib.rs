//! Ordo's PostgreSQL backend: many stateless Ordo instances share one
//! database. Implements the `ordo-store` traits with runtime-checked queries;
//! each business module's SQL sits in its own file.
//!
//! PgBouncer in transaction mode is supported: with
//! [`PgOptions::pgbouncer`] set, the statement cache is off (so only unnamed
//! statements are used) and no session state is set on connections.

use std::ops::DerefMut;
use std::time::Duration;

use async_trait::async_trait;
use ordo_store::{Backend, Database, Session, StoreError, StoreResult, Transaction, UniqueKey};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

mod catalog;
mod customers;

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
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Creates the pool. Connections are opened lazily, so an unreachable
    /// database does not stop the server from starting: `/readyz` reports it
    /// and requests get 503 until it is back.
    pub fn connect_lazy(options: &PgOptions) -> StoreResult<Self> {
        let mut connect: PgConnectOptions = options.url.parse().map_err(other)?;
        connect = connect.application_name("ordo");
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
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(options.idle_timeout)
            // A ping before every checkout costs a round trip per request;
            // broken connections surface as errors and are replaced instead.
            .test_before_acquire(false)
            .connect_lazy_with(connect);
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools that need raw access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Database for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn session(&self) -> StoreResult<Box<dyn Session>> {
        let conn = self.pool.acquire().await.map_err(map_err)?;
        Ok(Box::new(PgSession { conn }))
    }

    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let conn = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(PgSession { conn }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => map_err(e),
            e => other(e),
        })
    }

    async fn pending_migrations(&self) -> StoreResult<usize> {
        // Before the first migration the bookkeeping table does not exist.
        let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
        {
            Ok(versions) => versions,
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Vec::new(),
            Err(e) => return Err(map_err(e)),
        };
        Ok(MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// A connection, in a transaction or not: `C` is a pooled connection or a
/// `sqlx::Transaction`, both of which dereference to a `PgConnection`.
struct PgSession<C> {
    conn: C,
}

impl<C: DerefMut<Target = PgConnection> + Send> PgSession<C> {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

impl<C: DerefMut<Target = PgConnection> + Send> Session for PgSession<C> {}

#[async_trait]
impl Transaction for PgSession<sqlx::Transaction<'static, Postgres>> {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.conn.commit().await.map_err(map_err)
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
