//! The SQL Ordo's two storage backends share, written once: the timestamp
//! column type, the row types with their column lists and their mapping to
//! domain types, and the queries both databases run as they are. The
//! backend crates (`ordo-store-sqlite`, `ordo-store-postgres`) keep what
//! really differs: their pools, error mapping, migrations, and the SQL that
//! is dialect (`COPY` against multi-row `INSERT`, `= ANY($1)` against
//! `IN (...)`, `SKIP LOCKED` against SQLite's one writer, `pg_notify`,
//! `GREATEST` against `MAX`, ...).
//!
//! # Why macros instantiate the shared queries
//!
//! Each repository's shared methods are the body of a `macro_rules!` macro
//! (`customer_repo!`, ...) that a backend invokes once, with its session
//! type, its database type and the methods it writes in its own dialect.
//! The expansion is the same code a hand-written backend has: concrete
//! types, no dynamic dispatch, checked by the compiler per backend.
//!
//! The alternatives were tried by others and ended badly:
//! - `sqlx::Any` maps every value to a small common set of types: it has no
//!   UUID and no `timestamptz`, both of which Ordo's PostgreSQL schema uses
//!   (and the drivers' own types would be lost on both databases).
//! - Code generic over `D: sqlx::Database` needs a higher-ranked bound for
//!   every bound and decoded type and for the executor on every function
//!   (`for<'q> Uuid: Encode<'q, D> + Type<D>`, `for<'c> &'c mut
//!   D::Connection: Executor<'c, Database = D>`, `for<'r> Row: FromRow<'r,
//!   D::Row>`, ...), because Rust does not imply a trait's `where` clauses.
//!   The sqlx issues that asked for it (launchbadge/sqlx #1674 "repository
//!   generic over the database", #3150, #4188) ended with lists of thirty
//!   bounds and lifetime errors that no bound fixes; none ended with a
//!   recommended way.
//!
//! Rows and their mapping need neither: they are plain types here, decoded
//! by both drivers through [`Ts`] (and `sqlx::types::Json`, UUIDs), whose
//! `Type`/`Encode`/`Decode` are implemented for each database.
//!
//! # Map
//! - [`ts`]: [`Ts`], the timestamp column.
//! - [`audit`], [`catalog`], [`customers`], [`idempotency`], [`inventory`],
//!   [`invoices`], [`jobs`], [`keys`], [`markets`], [`orders`],
//!   [`payments`], [`returns`], [`webhooks`]: per module, its rows, columns, mapping and its
//!   repository macro.

pub mod ts;

pub mod audit;
pub mod catalog;
pub mod customers;
pub mod idempotency;
pub mod imports;
pub mod inventory;
pub mod invoices;
pub mod jobs;
pub mod keys;
pub mod ledger;
pub mod markets;
pub mod orders;
pub mod payments;
pub mod reports;
pub mod returns;
pub mod settlements;
pub mod webhooks;

pub use ts::Ts;

#[doc(hidden)]
pub use async_trait::async_trait;

use ordo_store::{PoolStats, StoreError};

/// What the shared queries need of a backend's session: its connection,
/// whether statements may be prepared and kept, and its error mapping.
pub trait SqlSession: Send {
    type Db: sqlx::Database;

    /// The connection (in a transaction or not).
    fn conn(&mut self) -> &mut <Self::Db as sqlx::Database>::Connection;

    /// Passed to every query's `persistent`: false behind PgBouncer.
    fn persistent(&self) -> bool;

    /// Maps a driver error to the store's error kinds.
    fn map_err(e: sqlx::Error) -> StoreError;
}

/// A stored value that the domain refuses: the database holds something
/// Ordo did not write.
pub fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// A pool's size and idle count, the idle count capped at the size.
///
/// sqlx keeps the idle count in an atomic that is decremented before the
/// matching increment can land, so a read racing a connection's return can
/// see it wrapped below zero (`usize::MAX`): caught once as an overflow
/// when two pools' counts were added.
pub fn pool_stats<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> PoolStats {
    let size = pool.size();
    PoolStats {
        size,
        idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(size),
        max: pool.options().get_max_connections(),
    }
}
