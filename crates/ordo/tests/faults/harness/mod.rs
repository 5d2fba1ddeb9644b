//! What the scenarios share:
//!
//! - [`process`]: `ordo` child processes and the CLI commands;
//! - [`cluster`]: a throwaway PostgreSQL cluster the suite may stop hard;
//! - [`deployment`]: one Ordo installation under test (database, key,
//!   `serve` and `worker` processes) that can be killed and restarted;
//! - [`receiver`]: a webhook endpoint that records every POST;
//! - [`load`]: the shop set up through the API, and clients placing orders
//!   the way a careful real client does (Idempotency-Key, retries);
//! - [`invariants`]: settling, then checking the database and the API;
//! - [`figures`]: percentiles and the summary printed to stderr.

pub(crate) mod cluster;
pub(crate) mod deployment;
pub(crate) mod figures;
pub(crate) mod invariants;
pub(crate) mod load;
pub(crate) mod process;
pub(crate) mod receiver;

use std::future::Future;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The storage backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// How long and how hard to run, from `ORDO_FAULTS_*` environment
/// variables. The defaults are the short mode.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `ORDO_FAULTS_ROUNDS`: kill -9 rounds per backend.
    pub(crate) rounds: usize,
    /// `ORDO_FAULTS_SECONDS`: seconds of load per round or phase.
    pub(crate) seconds: f64,
    /// `ORDO_FAULTS_CLIENTS`: concurrent clients placing orders.
    pub(crate) clients: usize,
    /// `ORDO_FAULTS_REFUSE_SECONDS`: how long the webhook endpoint answers
    /// 503 when it does (every fourth kill round).
    pub(crate) refuse_seconds: f64,
    /// `ORDO_FAULTS_OUTAGES`: PostgreSQL outages.
    pub(crate) outages: usize,
    /// `ORDO_FAULTS_OUTAGE_SECONDS`: how long each outage lasts.
    pub(crate) outage_seconds: f64,
    /// `ORDO_FAULTS_SIGTERMS`: SIGTERM rounds per backend.
    pub(crate) sigterms: usize,
    /// `ORDO_FAULTS_FILLS`: times the disk is filled and freed.
    pub(crate) fills: usize,
    /// `ORDO_FAULTS_DISK_MB`: the size of the tmpfs SQLite runs on; more
    /// fills write more orders and need more room.
    pub(crate) disk_mb: u32,
    /// `ORDO_FAULTS_SETTLE_SECONDS`: the longest wait for background work
    /// to finish before the invariants are checked.
    pub(crate) settle: Duration,
    /// `ORDO_FAULTS_SEED`: the random seed (printed, to replay a run).
    pub(crate) seed: u64,
    /// `ORDO_FAULTS_LOG`: the child processes' `ORDO_LOG`.
    pub(crate) log: String,
    /// `ORDO_FAULTS_KEEP=1`: keep each scenario's folder (logs, database,
    /// PostgreSQL's server log) instead of removing it.
    pub(crate) keep: bool,
}

impl Settings {
    pub(crate) fn get() -> &'static Settings {
        static SETTINGS: OnceLock<Settings> = OnceLock::new();
        SETTINGS.get_or_init(|| {
            fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
                match std::env::var(name) {
                    Ok(value) if !value.trim().is_empty() => {
                        value.trim().parse().unwrap_or_else(|_| panic!("{name}={value} is not a valid value"))
                    }
                    _ => default,
                }
            }
            let clock = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            Settings {
                rounds: var("ORDO_FAULTS_ROUNDS", 3),
                seconds: var("ORDO_FAULTS_SECONDS", 3.0),
                clients: var("ORDO_FAULTS_CLIENTS", 6),
                refuse_seconds: var("ORDO_FAULTS_REFUSE_SECONDS", 1.0),
                outages: var("ORDO_FAULTS_OUTAGES", 1),
                outage_seconds: var("ORDO_FAULTS_OUTAGE_SECONDS", 3.0),
                sigterms: var("ORDO_FAULTS_SIGTERMS", 1),
                fills: var("ORDO_FAULTS_FILLS", 1),
                disk_mb: var("ORDO_FAULTS_DISK_MB", 24),
                settle: Duration::from_secs_f64(var("ORDO_FAULTS_SETTLE_SECONDS", 60.0)),
                seed: var("ORDO_FAULTS_SEED", clock.as_secs() ^ u64::from(clock.subsec_nanos())),
                log: var("ORDO_FAULTS_LOG", "warn".to_owned()),
                keep: var("ORDO_FAULTS_KEEP", 0) == 1,
            }
        })
    }

    /// A round's or phase's length.
    pub(crate) fn phase(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.5))
    }
}

/// A temporary folder, kept afterwards if `ORDO_FAULTS_KEEP=1`.
pub(crate) fn folder(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).disable_cleanup(Settings::get().keep).tempdir().expect("a temporary folder")
}

/// Runs one scenario on a runtime of its own, one scenario at a time: they
/// measure latencies and share a small machine, so they must not compete.
pub(crate) fn run<F: Future<Output = ()>>(scenario: impl FnOnce() -> F) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    // A failed scenario poisons the lock; the next one may still run.
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("a tokio runtime");
    runtime.block_on(scenario());
}

/// Prints the scenario's figures, then fails listing every violation.
pub(crate) fn conclude(summary: &figures::Summary, violations: &[String]) {
    summary.print();
    // The same violation found many times is listed once, with its count.
    let mut distinct: Vec<(&String, usize)> = Vec::new();
    for violation in violations {
        match distinct.iter_mut().find(|(v, _)| *v == violation) {
            Some((_, n)) => *n += 1,
            None => distinct.push((violation, 1)),
        }
    }
    let listed: Vec<String> =
        distinct.iter().map(|(v, n)| if *n > 1 { format!("{v} (×{n})") } else { (*v).clone() }).collect();
    assert!(
        violations.is_empty(),
        "{}: {} violation(s):\n- {}",
        summary.title(),
        violations.len(),
        listed.join("\n- ")
    );
}

/// Prints a warning that stands out in a long test log.
pub(crate) fn loud(message: &str) {
    eprintln!("\n\x1b[1;33m{message}\x1b[0m\n");
}

/// Whether PostgreSQL scenarios must run (CI): then missing tools fail them
/// instead of skipping them.
pub(crate) fn postgres_required() -> bool {
    std::env::var("ORDO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}
