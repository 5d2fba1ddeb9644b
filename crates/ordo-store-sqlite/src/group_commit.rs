//! Group commit: the one writer's transactions, several to a commit.
//!
//! SQLite has one writer, and each `COMMIT` writes the transaction's pages
//! to the WAL and, at `durability = full`, waits for an fsync. With one
//! commit per transaction, a placement, its confirmation job's claim and
//! the job's completion paid three of them. Now one task, the committer,
//! takes the writer connection and runs a *group* of callers' transactions
//! inside one SQLite transaction:
//!
//! - each caller's transaction is a savepoint of the group's, and the
//!   connection is lent to the caller ([`Lease`]) while it works;
//! - a caller that commits is released (`RELEASE`); one that is dropped (a
//!   refusal, an error, a cancelled request) is rolled back to its
//!   savepoint, so one transaction's failure never touches its neighbours;
//! - the group commits as soon as nobody waits for the writer, or when it
//!   reaches its [`Limits`] in transactions or in age;
//! - a caller's commit returns only once the group's `COMMIT` has: a group
//!   that fails to commit fails every transaction in it, so nothing
//!   acknowledged is lost.
//!
//! Under no contention a group is one transaction, as before. Callers see
//! each other's released work inside a group exactly as they would see it
//! committed, because they run one after another on the one connection.
//!
//! Written here because no crate offers it: sqlx pools connections but does
//! not share a commit between transactions, and SQLite leaves batching to
//! the application.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ordo_store::{StoreError, StoreResult};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::{WriterHealth, map_err};

/// When a group stops taking transactions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most transactions in one group.
    pub(crate) transactions: usize,
    /// A group takes no further transactions once it is this old, so that
    /// its first transaction's commit is not held back for long under
    /// steady load.
    pub(crate) age: Duration,
}

impl Default for Limits {
    /// 64 transactions or 4 ms: at a few hundred microseconds a placement,
    /// a group under load holds about ten of them.
    fn default() -> Self {
        Self { transactions: 64, age: Duration::from_millis(4) }
    }
}

/// The handle callers begin write transactions through.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    requests: mpsc::UnboundedSender<oneshot::Sender<StoreResult<Lease>>>,
    acquire_timeout: Duration,
    /// Groups committed since the start (read by the tests).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Committer {
    /// Starts the committer task on the current runtime. It ends when the
    /// last handle is dropped.
    pub(crate) fn start(
        writer: SqlitePool,
        health: Arc<WriterHealth>,
        acquire_timeout: Duration,
        limits: Limits,
    ) -> Self {
        let (requests, queue) = mpsc::unbounded_channel();
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(writer, health, queue, limits, commits.clone()));
        Self { requests, acquire_timeout, commits }
    }

    /// Groups committed since the start.
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// A write transaction: waits for the writer, as long as the pool's
    /// acquire timeout at most.
    pub(crate) async fn begin(&self) -> StoreResult<Lease> {
        let (reply, lease) = oneshot::channel();
        self.requests.send(reply).map_err(|_| closed())?;
        match tokio::time::timeout(self.acquire_timeout, lease).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(_)) => Err(closed()),
            // A lease sent meanwhile is dropped with the receiver and so
            // handed back, rolled back.
            Err(_) => Err(StoreError::Unavailable(Box::new(sqlx::Error::PoolTimedOut))),
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable(Box::new(sqlx::Error::PoolClosed))
}

/// The writer connection, lent to one transaction of a group. Committing
/// or dropping it hands it back to the committer.
#[derive(Debug)]
pub(crate) struct Lease {
    /// The connection and where it goes back to; taken when handed back.
    lent: Option<(PoolConnection<Sqlite>, oneshot::Sender<Returned>)>,
}

#[derive(Debug)]
struct Returned {
    conn: PoolConnection<Sqlite>,
    /// `Some` to commit: where the group's outcome goes.
    commit: Option<oneshot::Sender<StoreResult<()>>>,
}

impl Lease {
    /// Releases the transaction's savepoint and waits for its group's
    /// commit.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        let (done, outcome) = oneshot::channel();
        self.hand_back(Some(done));
        outcome.await.unwrap_or_else(|_| Err(closed()))
    }

    fn hand_back(&mut self, commit: Option<oneshot::Sender<StoreResult<()>>>) {
        if let Some((conn, back)) = self.lent.take() {
            // The committer waits for it; if it is gone, so is the runtime,
            // and the connection goes back to its pool when dropped here.
            let _ = back.send(Returned { conn, commit });
        }
    }
}

impl Drop for Lease {
    /// Rolled back to its savepoint.
    fn drop(&mut self) {
        self.hand_back(None);
    }
}

impl Deref for Lease {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        // Taken only by `hand_back`, which consumes the lease or runs as it
        // is dropped.
        self.lent
            .as_ref()
            .map(|(conn, _)| &**conn)
            .unwrap_or_else(|| unreachable!("a lease holds its connection until handed back"))
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.lent
            .as_mut()
            .map(|(conn, _)| &mut **conn)
            .unwrap_or_else(|| unreachable!("a lease holds its connection until handed back"))
    }
}

/// The committer: one group after another, while any handle lives.
async fn run(
    writer: SqlitePool,
    health: Arc<WriterHealth>,
    mut queue: mpsc::UnboundedReceiver<oneshot::Sender<StoreResult<Lease>>>,
    limits: Limits,
    commits: Arc<AtomicU64>,
) {
    while let Some(first) = queue.recv().await {
        if first.is_closed() {
            continue; // gave up waiting
        }
        let mut conn = match writer.acquire().await {
            Ok(conn) => conn,
            Err(e) => {
                let _ = first.send(Err(map_err(e)));
                continue;
            }
        };
        // Taking the write lock up front: a read-then-write transaction can
        // never fail to upgrade.
        let begun = exec(&mut conn, "BEGIN IMMEDIATE").await;
        health.observe(&begun);
        if let Err(e) = begun {
            // A connection left inside a transaction cannot begin another:
            // the next group gets a fresh one.
            conn.close_on_drop();
            let _ = first.send(Err(map_err(e)));
            continue;
        }
        let started = Instant::now();
        let mut committing: Vec<oneshot::Sender<StoreResult<()>>> = Vec::new();
        let mut members = 0usize;
        let mut next = Some(first);
        let mut ended = None;
        while let Some(reply) = next.take() {
            members += 1;
            // Until one transaction of the group has committed, there is
            // nothing of others to keep: a transaction alone needs no
            // savepoint, so an uncontended write costs what it did before
            // group commit, `BEGIN IMMEDIATE` ... `COMMIT`.
            let alone = committing.is_empty();
            let (back, turned) = turn(conn, reply, alone).await;
            let Some(back) = back else {
                // Never handed back: the runtime is going away.
                for done in committing {
                    let _ = done.send(Err(closed()));
                }
                return;
            };
            conn = back;
            match turned {
                Turn::Committed(done) => committing.push(done),
                Turn::RolledBack => {}
                Turn::Ended(end) => {
                    ended = Some(end);
                    break;
                }
            }
            if members < limits.transactions && started.elapsed() < limits.age {
                next = queue.try_recv().ok();
            }
        }
        let result = match ended {
            None => {
                let committed = exec(&mut conn, "COMMIT").await;
                health.observe(&committed);
                committed
            }
            Some(End::RolledBack) => continue,
            Some(End::Lost(e)) => {
                // SQLite rolls a transaction back by itself only on errors
                // such as a full disk: the writer is failing until a write
                // succeeds again.
                health.mark_failing();
                Err(e)
            }
        };
        metrics::histogram!("db_write_group_transactions").record(members as f64);
        match result {
            Ok(()) => {
                commits.fetch_add(1, Ordering::Relaxed);
                for done in committing {
                    let _ = done.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, transactions = committing.len(), "a group of write transactions failed to commit");
                // Whatever state the transaction is in, the next group
                // starts on a fresh connection.
                let _ = exec(&mut conn, "ROLLBACK").await;
                conn.close_on_drop();
                // Nothing in a group can fail its commit but the database
                // itself (constraints are checked per statement, none is
                // deferred): unavailable, for each transaction in it.
                let message = format!("the group commit failed: {e}");
                for done in committing {
                    let _ = done.send(Err(StoreError::Unavailable(Box::new(std::io::Error::other(message.clone())))));
                }
            }
        }
    }
}

/// What one caller's transaction left.
enum Turn {
    /// Released: waits for the group's commit.
    Committed(oneshot::Sender<StoreResult<()>>),
    /// Rolled back to its savepoint; the group goes on.
    RolledBack,
    /// The group's transaction ended with it.
    Ended(End),
}

enum End {
    /// The transaction, alone in the group, was rolled back.
    RolledBack,
    /// The group's transaction did not survive: SQLite rolled it back by
    /// itself (a full disk, an I/O error), or the connection failed.
    Lost(sqlx::Error),
}

/// One caller's transaction: alone, as the group's transaction itself;
/// otherwise as a savepoint of it. The connection comes back unless the
/// caller's lease could not hand it back.
async fn turn(
    mut conn: PoolConnection<Sqlite>,
    reply: oneshot::Sender<StoreResult<Lease>>,
    alone: bool,
) -> (Option<PoolConnection<Sqlite>>, Turn) {
    if reply.is_closed() {
        return (Some(conn), Turn::RolledBack);
    }
    if !alone && let Err(e) = exec(&mut conn, "SAVEPOINT member").await {
        let _ = reply.send(Err(map_err(e)));
        let lost = sqlx::Error::Protocol("the group's transaction could not take a savepoint".into());
        return (Some(conn), Turn::Ended(End::Lost(lost)));
    }
    // The connection goes to the caller (or, if it gave up waiting, is
    // dropped with the lease and so handed straight back) and comes back.
    let (back, returned) = oneshot::channel();
    let _ = reply.send(Ok(Lease { lent: Some((conn, back)) }));
    let Ok(Returned { mut conn, commit }) = returned.await else {
        return (None, Turn::Ended(End::Lost(sqlx::Error::PoolClosed)));
    };
    // `RELEASE` and `ROLLBACK TO` fail when SQLite has rolled the whole
    // transaction back by itself (its savepoints went with it); alone, the
    // group's `COMMIT` or `ROLLBACK` does.
    let turned = match (commit, alone) {
        (Some(done), true) => Turn::Committed(done),
        (Some(done), false) => match exec(&mut conn, "RELEASE member").await {
            Ok(()) => Turn::Committed(done),
            Err(e) => {
                let _ = done.send(Err(map_err(e)));
                Turn::Ended(End::Lost(sqlx::Error::Protocol(
                    "the group's transaction ended with a failed RELEASE".into(),
                )))
            }
        },
        (None, true) => match exec(&mut conn, "ROLLBACK").await {
            Ok(()) => Turn::Ended(End::RolledBack),
            Err(e) => Turn::Ended(End::Lost(e)),
        },
        (None, false) => match exec(&mut conn, "ROLLBACK TO member").await {
            Ok(()) => match exec(&mut conn, "RELEASE member").await {
                Ok(()) => Turn::RolledBack,
                Err(e) => Turn::Ended(End::Lost(e)),
            },
            Err(e) => Turn::Ended(End::Lost(e)),
        },
    };
    (Some(conn), turned)
}

/// Runs statements the committer itself issues. Boxed: spawning the
/// committer otherwise meets the compiler's "implementation of `Executor` is
/// not general enough" (rust-lang/rust#102211), which a named future type
/// avoids.
fn exec<'c>(
    conn: &'c mut SqliteConnection,
    sql: &'static str,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), sqlx::Error>> + Send + 'c>> {
    Box::pin(async move { sqlx::query(sql).execute(&mut *conn).await.map(|_| ()) })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

    use super::*;

    async fn writer(name: &str) -> SqlitePool {
        let path = std::env::temp_dir().join(format!("ordo-group-commit-{name}-{}.db", uuid::Uuid::now_v7()));
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        sqlx::query("CREATE TABLE t (n INTEGER PRIMARY KEY, tag TEXT NOT NULL UNIQUE)").execute(&pool).await.unwrap();
        pool
    }

    async fn insert(lease: &mut Lease, n: i64, tag: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO t (n, tag) VALUES ($1, $2)").bind(n).bind(tag).execute(&mut **lease).await.map(|_| ())
    }

    /// 32 transactions queued together share one commit; those dropped and
    /// the one whose statement fails leave nothing, and their neighbours
    /// keep everything.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_transactions_share_a_commit_and_fail_alone() {
        let pool = writer("share").await;
        let limits = Limits { transactions: 64, age: Duration::from_secs(60) };
        let committer =
            Committer::start(pool.clone(), Arc::new(WriterHealth::default()), Duration::from_secs(30), limits);
        let asked = Arc::new(AtomicUsize::new(0));
        // The first holds the writer until the other 31 wait for it.
        let mut first = committer.begin().await.unwrap();
        insert(&mut first, 0, "zero").await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 1..32i64 {
            let (committer, asked) = (committer.clone(), asked.clone());
            tasks.spawn(async move {
                asked.fetch_add(1, Ordering::SeqCst);
                let mut lease = committer.begin().await?;
                // Every fifth reuses the first's unique tag: its statement
                // fails and the caller drops the transaction.
                let tag = if n % 5 == 0 { "zero".to_owned() } else { format!("tag-{n}") };
                if let Err(e) = insert(&mut lease, n, &tag).await {
                    return Ok::<_, StoreError>((n, Err(e.to_string())));
                }
                // Every third changes its mind.
                if n % 3 == 0 {
                    drop(lease);
                    return Ok((n, Ok(false)));
                }
                lease.commit().await?;
                Ok((n, Ok(true)))
            });
        }
        while asked.load(Ordering::SeqCst) < 31 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // all 31 queued
        first.commit().await.unwrap();
        let mut expected = vec![0i64];
        while let Some(outcome) = tasks.join_next().await {
            let (n, outcome) = outcome.unwrap().unwrap();
            match outcome {
                Ok(true) => expected.push(n),
                Ok(false) => assert_eq!(n % 3, 0, "only every third rolls back"),
                Err(e) => {
                    assert_eq!(n % 5, 0, "transaction {n} failed: {e}");
                    assert!(e.contains("UNIQUE"), "{e}");
                }
            }
        }
        expected.sort_unstable();
        let stored: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n").fetch_all(&pool).await.unwrap();
        assert_eq!(stored, expected);
        assert!(expected.len() > 15, "most committed: {expected:?}");
        assert_eq!(committer.commits(), 1, "the first and the 31 that queued behind it share one commit");
    }

    /// A commit is acknowledged only once the group's COMMIT has returned:
    /// a reader sees nothing of a released transaction before that.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_returns_only_once_it_is_durable() {
        let pool = writer("durable").await;
        let committer = Committer::start(
            pool.clone(),
            Arc::new(WriterHealth::default()),
            Duration::from_secs(30),
            Limits { transactions: 64, age: Duration::from_secs(60) },
        );
        let mut first = committer.begin().await.unwrap();
        insert(&mut first, 1, "one").await.unwrap();
        let second = {
            let committer = committer.clone();
            tokio::spawn(async move {
                let mut lease = committer.begin().await.unwrap();
                insert(&mut lease, 2, "two").await.unwrap();
                // Hold the group open until the first's commit is checked.
                tokio::time::sleep(Duration::from_millis(300)).await;
                lease.commit().await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await; // the second queued
        let committed = tokio::spawn(first.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!committed.is_finished(), "the first's commit returned before its group committed");
        second.await.unwrap().unwrap();
        committed.await.unwrap().unwrap();
        let stored: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n").fetch_all(&pool).await.unwrap();
        assert_eq!(stored, [1, 2]);
        assert_eq!(committer.commits(), 1);
    }
}
