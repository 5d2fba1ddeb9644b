//! `ordo bench`: the machine's limits that the benchmark suite (`bench/`)
//! measures Ordo against ([`ordo_tools::bench`]), configured as `ordo serve`
//! is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use crate::cli::serve::shutdown_signal;
use crate::config::Config;
use crate::storage;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Serve a bare hello-world handler on the same HTTP server stack
    /// (tokio, hyper, axum) as `ordo serve`, with no middleware: the read
    /// path's limit. Prints its URL; stops on SIGTERM or SIGINT.
    Hello {
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        listen: SocketAddr,
    },
    /// Commit single-row insert transactions into a scratch SQLite file,
    /// with the durability settings Ordo's SQLite backend uses
    /// (`database.sqlite_synchronous`): the SQLite write path's limit.
    /// Prints one JSON object.
    SqliteInserts {
        /// The scratch database file (created; a temporary one by default).
        #[arg(long, value_name = "FILE")]
        path: Option<PathBuf>,
        /// Tasks committing at once (SQLite has one writer; they queue for
        /// it as Ordo's requests do).
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
    },
    /// Measure the job queue on the configured database (migrated first),
    /// with its durability as configured: enqueue no-op jobs in batches,
    /// then run them with one worker. Uses a queue of its own, `bench`,
    /// which must be empty (use a scratch database). Prints one JSON object.
    Queue {
        #[arg(long, default_value_t = 50_000)]
        jobs: u64,
        /// Jobs enqueued per transaction (one statement each).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Jobs the worker runs at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Run one hot path in-process `--count` times on the configured
    /// (scratch) database, after setting up a small shop: for `bench/cost`,
    /// which counts its instructions under callgrind.
    Instructions {
        #[arg(long, value_enum)]
        path: crate::cli::instructions::HotPath,
        #[arg(long, default_value_t = 100)]
        count: u64,
    },
}

#[allow(clippy::print_stdout)] // the URL and the figures are the commands' output
pub(super) async fn run(config: &Config, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Hello { listen } => {
            let shutdown = shutdown_signal();
            let listener =
                tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            println!("Hello-world server listening on http://{}", listener.local_addr()?);
            // The same server loop and settings as `ordo serve`'s.
            let header_read_timeout = std::time::Duration::from_millis(config.server.header_read_timeout_ms);
            ordo_tools::bench::hello(listener, shutdown, header_read_timeout).await?;
        }
        BenchCommand::SqliteInserts { path, concurrency, duration_secs } => {
            let scratch = tempfile_dir()?;
            let path = path.unwrap_or_else(|| scratch.join("limit.db"));
            let options = storage::sqlite_options(&config.database, path);
            let rate = ordo_tools::bench::single_row_inserts(&options, concurrency, Duration::from_secs(duration_secs))
                .await?;
            let _ = std::fs::remove_dir_all(&scratch);
            let figures = serde_json::json!({
                "transactions": rate.transactions,
                "seconds": rate.seconds,
                "per_second": rate.per_second(),
                "concurrency": concurrency,
                "synchronous": format!("{:?}", config.database.sqlite_synchronous).to_lowercase(),
            });
            println!("{figures}");
        }
        BenchCommand::Queue { jobs, batch, concurrency } => {
            // The worker's warnings and slow statements go to stderr, as
            // `ordo worker`'s do; the figures alone to stdout.
            let _telemetry = crate::telemetry::init(&config.log)?;
            let db = storage::open(&config.database).await?;
            db.migrate().await.context("applying database migrations")?;
            let backend = format!("{:?}", db.backend()).to_lowercase();
            // The worker as configured (prefetch, lease, …) at the
            // concurrency asked for.
            let worker = ordo_jobs::WorkerConfig { concurrency, ..crate::app::worker_config(config) };
            let rate = ordo_tools::bench::queue(db.clone(), jobs, batch, worker).await?;
            db.close().await;
            let figures = serde_json::json!({
                "backend": backend,
                "jobs": rate.jobs,
                "batch": batch,
                "concurrency": concurrency,
                "prefetch": config.workers.prefetch,
                "enqueue_seconds": rate.enqueue_seconds,
                "enqueued_per_second": rate.enqueued_per_second(),
                "process_seconds": rate.process_seconds,
                "processed_per_second": rate.processed_per_second(),
            });
            println!("{figures}");
        }
        BenchCommand::Instructions { path, count } => crate::cli::instructions::run(config, path, count).await?,
    }
    Ok(())
}

/// A fresh folder under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ordo-bench-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
