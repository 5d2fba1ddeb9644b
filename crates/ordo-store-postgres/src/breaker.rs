//! A circuit breaker in front of the pool: once PostgreSQL is known to be
//! down, asking for a connection fails at once instead of waiting out the
//! pool's acquire timeout (sqlx retries a refused connect until then, so
//! every request took 5 s to get its 503, and readiness 2 s).
//!
//! How it learns: an acquire that has not finished within [`SUSPECT_AFTER`]
//! (and again every [`SUSPECT_AFTER`] while it waits), or one that failed
//! for a connection reason, makes it suspicious, and a probe
//! checks the database over a connection of its own (so a saturated pool
//! cannot make a healthy database look down). If the probe cannot connect
//! and run `SELECT 1` within [`PROBE_TIMEOUT`], the breaker opens: waiting
//! acquires and new ones fail at once. While open, the probe runs every
//! [`PROBE_EVERY`] and closes the breaker as soon as the database answers,
//! so service resumes by itself within a fraction of a second.
//! Connections made before the outage are discarded on their next checkout
//! rather than failing one request each.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{Mutex, watch};

/// How long an acquire may take before the breaker wonders whether the
/// database is there at all.
pub(crate) const SUSPECT_AFTER: Duration = Duration::from_millis(100);
/// How long a probe may take to connect and run `SELECT 1`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How often an open breaker probes.
const PROBE_EVERY: Duration = Duration::from_millis(200);
/// Least time between two probes while the breaker is closed: a busy pool
/// must not add a probe per slow acquire. A probe is one `SELECT 1` on a
/// connection kept for it, so ten a second cost little; and a database
/// that answered one probe while shutting down is probed again soon.
const PROBE_SPACING: Duration = SUSPECT_AFTER;

#[derive(Debug)]
pub(crate) struct Breaker {
    /// `true` while the database is known to be down.
    open: watch::Sender<bool>,
    /// A probe task is running.
    probing: AtomicBool,
    /// When the last probe started, and when the last outage began, in
    /// nanoseconds since `epoch` (0: never).
    last_probe: AtomicU64,
    outage_began: AtomicU64,
    epoch: Instant,
    connect: PgConnectOptions,
    /// The probe's own connection, kept between probes.
    connection: Mutex<Option<PgConnection>>,
}

impl Breaker {
    pub(crate) fn new(connect: PgConnectOptions) -> Arc<Self> {
        Arc::new(Self {
            open: watch::Sender::new(false),
            probing: AtomicBool::new(false),
            last_probe: AtomicU64::new(0),
            outage_began: AtomicU64::new(0),
            epoch: Instant::now(),
            connect,
            connection: Mutex::new(None),
        })
    }

    pub(crate) fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Completes when the breaker opens.
    pub(crate) async fn opened(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|open| *open).await;
    }

    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }

    /// Whether a pooled connection of this age predates the last outage
    /// (and so is most likely dead).
    pub(crate) fn predates_outage(&self, age: Duration) -> bool {
        let began = self.outage_began.load(Ordering::Relaxed);
        began != 0 && self.now().saturating_sub(age.as_nanos() as u64) < began
    }

    /// Something looked wrong: probe, unless a probe runs or ran just now.
    pub(crate) fn suspect(self: &Arc<Self>) {
        if !self.is_open() {
            let last = self.last_probe.load(Ordering::Relaxed);
            if last != 0 && self.now().saturating_sub(last) < PROBE_SPACING.as_nanos() as u64 {
                return;
            }
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let breaker = self.clone();
        tokio::spawn(async move {
            breaker.probe_until_answered().await;
            breaker.probing.store(false, Ordering::Release);
        });
    }

    /// Probes; while the database does not answer, the breaker is open and
    /// the probe repeats. Returns once it answers.
    async fn probe_until_answered(&self) {
        loop {
            self.last_probe.store(self.now(), Ordering::Relaxed);
            match tokio::time::timeout(PROBE_TIMEOUT, self.probe()).await {
                Ok(Ok(())) => {
                    if self.open.send_replace(false) {
                        tracing::info!("the database answers again");
                    }
                    return;
                }
                Ok(Err(e)) => self.trip(&e.to_string()),
                Err(_) => {
                    // Cut off mid-exchange: the connection's state is unknown.
                    *self.connection.lock().await = None;
                    self.trip("no answer within a second");
                }
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    fn trip(&self, why: &str) {
        if !self.open.send_replace(true) {
            self.outage_began.store(self.now(), Ordering::Relaxed);
            tracing::error!(reason = why, "the database is down; requests that need it answer 503 until it is back");
        }
    }

    async fn probe(&self) -> Result<(), sqlx::Error> {
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            *slot = Some(self.connect.connect().await?);
        }
        let connection = slot.as_mut().expect("just connected");
        let answered = crate::simple_query(connection, "SELECT 1").await;
        if answered.is_err()
            && let Some(broken) = slot.take()
        {
            let _ = tokio::time::timeout(Duration::from_millis(100), broken.close()).await;
        }
        answered.map(drop)
    }
}
