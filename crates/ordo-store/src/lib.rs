//! Ordo's storage interface: what the services need from a database, with no
//! SQL in sight. Each backend crate (`ordo-store-sqlite`,
//! `ordo-store-postgres`) implements these traits; only the binary picks one.
//!
//! A business module owns its tables and gets one repository trait here
//! ([`CatalogRepo`], [`CustomerRepo`], ...). A [`Session`] is a connection
//! that can run every module's repository, so work that must be atomic across
//! modules runs in one [`Transaction`] that each module's functions take part
//! in.
//!
//! Modules, one per business module's tables (their traits are re-exported
//! here):
//!
//! - `audit`: [`AuditRepo`], the audit trail and its seals.
//! - `catalog`: [`CatalogRepo`], products.
//! - `customers`: [`CustomerRepo`], customers.
//! - `error`: [`StoreError`], small on purpose, and [`UniqueKey`].
//! - `idempotency`: [`IdempotencyRepo`], idempotency keys.
//! - `imports`: [`ImportRepo`], bulk imports and the rows they refused.
//! - `inventory`: [`InventoryRepo`], locations, stock levels and damaged stock.
//! - `invoices`: [`InvoiceRepo`], invoices, credit notes and their counters.
//! - `jobs`: [`JobRepo`], the job queue, its attempts and cron ticks.
//! - `keys`: [`KeyRepo`], API keys.
//! - `markets`: [`MarketRepo`], markets.
//! - `orders`: [`OrderRepo`], orders, their lines and timeline.
//! - `payments`: [`PaymentRepo`], payment records and their totals.
//! - `reports`: [`ReportRepo`], reports and the queries they are compiled from.
//! - `returns`: [`ReturnRepo`], returns (RMA).
//! - `ledger`: [`LedgerRepo`], the journal and daily balances.
//! - `settlements`: [`SettlementRepo`], settlement reports and their reconciliation.
//! - `webhooks`: [`WebhookRepo`], domain events, webhooks and deliveries.

use std::fmt;

use async_trait::async_trait;

mod audit;
mod catalog;
mod customers;
mod error;
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

pub use audit::AuditRepo;
pub use catalog::CatalogRepo;
pub use customers::CustomerRepo;
pub use error::{StoreError, StoreResult, UniqueKey};
pub use idempotency::IdempotencyRepo;
pub use imports::ImportRepo;
pub use inventory::{InventoryRepo, RankedStock, StockMove};
pub use invoices::InvoiceRepo;
pub use jobs::{CancelOutcome, JobRepo};
pub use keys::KeyRepo;
pub use ledger::{Expected, LedgerRepo};
pub use markets::MarketRepo;
pub use orders::{NewPlacement, OrderRepo};
pub use payments::PaymentRepo;
pub use reports::{Cursor, PaymentRow, ReceivableRow, ReportRepo, SalesRow, StockMovementRow};
pub use returns::ReturnRepo;
pub use settlements::{ChunkBody, SettlementRepo};
pub use webhooks::WebhookRepo;

/// Which kind of database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A database: hands out sessions and transactions.
#[async_trait]
pub trait Database: Send + Sync + fmt::Debug + 'static {
    fn backend(&self) -> Backend;

    /// A connection outside any transaction, for reads: each statement
    /// commits on its own, with no BEGIN/COMMIT round trips.
    async fn session(&self) -> StoreResult<Box<dyn Session>>;

    /// A read-write transaction. Dropping it without [`Transaction::commit`]
    /// rolls it back.
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>>;

    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;

    /// How many of this build's migrations the database has not applied.
    async fn pending_migrations(&self) -> StoreResult<usize>;

    /// Closes every connection, waiting for those in use to be returned.
    async fn close(&self);

    /// Connections now: open, idle, and the most allowed.
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }

    /// Tells every process's idle workers that jobs were enqueued
    /// (PostgreSQL's NOTIFY, sent outside any transaction: a transaction
    /// that notifies holds a database-wide lock through its commit, which
    /// would serialise every order placement). A no-op where workers cannot
    /// listen.
    async fn announce_jobs(&self) -> StoreResult<()> {
        Ok(())
    }

    /// A listener that wakes when jobs are enqueued by any process, where
    /// the backend can tell (PostgreSQL's LISTEN on a dedicated session
    /// connection; not behind PgBouncer in transaction mode). `None`: poll.
    async fn job_listener(&self) -> StoreResult<Option<Box<dyn JobListener>>> {
        Ok(None)
    }

    /// A listener for changes to cached records committed by any process
    /// (PostgreSQL's LISTEN; not behind PgBouncer in transaction mode).
    /// `None`: only this process's own writes are seen, which is all there
    /// is on the single-node SQLite backend.
    async fn change_listener(&self) -> StoreResult<Option<Box<dyn ChangeListener>>> {
        Ok(None)
    }
}

/// What a [`ChangeListener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The product with this id changed.
    Product(uuid::Uuid),
    /// Changes may have been missed (the connection was lost): forget
    /// everything cached.
    Unknown,
}

/// Hears committed changes to cached records.
#[async_trait]
pub trait ChangeListener: Send {
    /// Completes on the next change.
    async fn recv(&mut self) -> StoreResult<Change>;
}

/// The connection pool's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Wakes when jobs may be waiting.
#[async_trait]
pub trait JobListener: Send {
    /// Completes on the next wake-up.
    async fn recv(&mut self) -> StoreResult<()>;
}

/// One connection that can run every module's repository.
pub trait Session:
    CatalogRepo
    + CustomerRepo
    + KeyRepo
    + AuditRepo
    + MarketRepo
    + InventoryRepo
    + OrderRepo
    + PaymentRepo
    + ReturnRepo
    + ReportRepo
    + ImportRepo
    + LedgerRepo
    + SettlementRepo
    + IdempotencyRepo
    + JobRepo
    + InvoiceRepo
    + WebhookRepo
    + Send
{
}

/// A session inside a transaction.
#[async_trait]
pub trait Transaction: Session {
    async fn commit(self: Box<Self>) -> StoreResult<()>;
}
