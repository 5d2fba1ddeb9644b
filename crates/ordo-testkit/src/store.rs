//! Test support at the storage trait boundary: a fresh database of either
//! backend opened exactly as the server opens it ([`ordo::storage::open`],
//! then `migrate()`), with no HTTP server, for the store contract suite
//! (`crates/ordo-store/tests/contract`).
//!
//! Each case is an `async fn name(t: &StoreCtx)`; [`crate::store_tests!`]
//! runs it as `sqlite::name`, `postgres::name` and `same_answers::name`. The
//! last runs it on both backends and asserts that everything the case
//! [`StoreCtx::record`]ed is identical, which is why a case takes its ids
//! from [`StoreCtx::id`] and its times from [`StoreCtx::at`]: both are the
//! same sequence on every run.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use ordo_store::{Database, Session, Transaction};
use uuid::Uuid;

use crate::{Backend, TestDb};

/// A fresh, migrated store and what it recorded.
#[derive(Debug)]
pub struct StoreCtx {
    pub db: Arc<dyn Database>,
    pub backend: Backend,
    next_id: AtomicU64,
    transcript: Mutex<Vec<String>>,
    /// Dropped last: the PostgreSQL database is dropped with it.
    _test_db: TestDb,
}

/// 2025-01-01T00:00:00.123456Z, where [`StoreCtx::at`] counts from.
const BASE_MICROS: i64 = 1_735_689_600_123_456;

impl StoreCtx {
    /// A fresh store of `backend`, or `None` when PostgreSQL is not
    /// configured (and not required; see the crate docs).
    pub async fn open(backend: Backend) -> Option<Self> {
        let test_db = TestDb::create(backend).await?;
        let config = test_db.config();
        let db = ordo::storage::open(&config.database).await.expect("open the store as the server does");
        db.migrate().await.expect("migrate");
        assert_eq!(db.pending_migrations().await.expect("pending migrations"), 0);
        let expected = match backend {
            Backend::Sqlite => ordo_store::Backend::Sqlite,
            Backend::Postgres => ordo_store::Backend::Postgres,
        };
        assert_eq!(db.backend(), expected);
        Some(Self { db, backend, next_id: AtomicU64::new(1), transcript: Mutex::new(Vec::new()), _test_db: test_db })
    }

    /// The next id of a sequence that is the same on every run and backend,
    /// increasing (so id order is creation order) and shaped like a UUIDv7.
    pub fn id(&self) -> Uuid {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        // 48-bit "time" 0x0194_0000_0000, version 7, variant 10, counter below.
        Uuid::from_u128((0x0194_0000_0000_u128 << 80) | (0x7_u128 << 76) | (0x8_u128 << 60) | u128::from(n))
    }

    /// [`BASE_MICROS`] plus `seconds` (a fixed point in the past, with a
    /// microsecond part, so truncation to milliseconds would show).
    pub fn at(&self, seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(BASE_MICROS).expect("valid base") + Duration::seconds(seconds)
    }

    /// A session outside any transaction.
    pub async fn session(&self) -> Box<dyn Session> {
        self.db.session().await.expect("session")
    }

    /// A transaction.
    pub async fn begin(&self) -> Box<dyn Transaction> {
        self.db.begin().await.expect("begin")
    }

    /// Notes `value` as an answer both backends must give identically
    /// (compared by `same_answers::*`); returns it for chaining.
    pub fn record<T: Debug>(&self, label: &str, value: T) -> T {
        self.transcript.lock().expect("transcript").push(format!("{label}: {value:#?}"));
        value
    }

    /// Everything recorded so far.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript.lock().expect("transcript").clone()
    }
}

/// Asserts that two backends recorded the same answers, naming the first
/// difference.
#[track_caller]
pub fn assert_same_answers(sqlite: &[String], postgres: &[String]) {
    for (i, (s, p)) in sqlite.iter().zip(postgres).enumerate() {
        assert_eq!(s, p, "answer #{i} differs between SQLite (left) and PostgreSQL (right)");
    }
    assert_eq!(sqlite.len(), postgres.len(), "SQLite and PostgreSQL recorded a different number of answers");
}

/// Runs each named `async fn name(t: &StoreCtx)` against a fresh store of
/// each backend, as `sqlite::name` and `postgres::name`, and once on both
/// as `same_answers::name`, which asserts that the two recorded the same
/// answers. PostgreSQL cases skip (or fail, with
/// `ORDO_TEST_REQUIRE_POSTGRES=1`) as in [`crate::backend_tests!`].
/// Attributes before a name (`#[ignore = "why"] name`) go on all three.
#[macro_export]
macro_rules! store_tests {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn $name() {
                    let t = $crate::store::StoreCtx::open($crate::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(&t).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn $name() {
                    let Some(t) = $crate::store::StoreCtx::open($crate::Backend::Postgres).await else { return };
                    super::$name(&t).await;
                }
            )*
        }
        mod same_answers {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                $(#[$attr])*
                async fn $name() {
                    let Some(pg) = $crate::store::StoreCtx::open($crate::Backend::Postgres).await else { return };
                    let lite = $crate::store::StoreCtx::open($crate::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(&lite).await;
                    super::$name(&pg).await;
                    $crate::store::assert_same_answers(&lite.transcript(), &pg.transcript());
                }
            )*
        }
    };
}
