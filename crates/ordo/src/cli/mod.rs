//! The command line: one file per subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

mod audit;
mod bench;
mod import;
mod instructions;
mod keys;
mod ledger;
mod loadgen;
mod migrate;
mod print_config;
mod report;
mod seed;
pub mod serve;
mod stats;
mod worker;

/// Ordo: the order-to-cash backend.
///
/// Configuration is layered: built-in defaults, then the TOML file given by
/// --config (or ORDO_CONFIG), then ORDO_* environment variables (for example
/// ORDO_DATABASE_URL, ORDO_SERVER_LISTEN, ORDO_LOG), then flags.
#[derive(Debug, Parser)]
#[command(name = "ordo", version, propagate_version = true)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "ORDO_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Database URL: sqlite://PATH (the default, sqlite://ordo-data/ordo.db) or postgres://USER:PASSWORD@HOST/DB.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API until SIGTERM or SIGINT, then drain requests in flight.
    ///
    /// On SQLite, migrations are applied on start; on PostgreSQL run
    /// `ordo migrate` first or set ORDO_DATABASE_MIGRATE_ON_START=true.
    Serve(serve::ServeArgs),
    /// Run background jobs (payments, expiry, ...) without serving HTTP,
    /// until SIGTERM or SIGINT; jobs in flight are finished or handed back.
    /// Run as many as you like against one PostgreSQL.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration as TOML, secrets redacted.
    Config,
    /// Show a running server's request percentiles, error rates, queue depth
    /// and database pool.
    Stats(stats::StatsArgs),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Seal and verify the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Prove the books.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Compile reports.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Export orders (with their lines), customers or products of a period
    /// as CSV or JSON Lines, here and now (what a worker does for
    /// `POST /v1/exports`), to `--output` or standard output.
    Export(report::ExportArgs),
    /// Import products, customers or stock from a CSV or JSON Lines file,
    /// here and now (what a worker does for `POST /v1/imports`); prints
    /// what it did and the rows it refused, and fails if it refused any.
    Import(import::ImportArgs),
    /// Fill a fresh database with production-realistic data: markets,
    /// warehouses, a catalog with skewed popularity, customers, a year of
    /// orders through their lifecycle, stock sized for the load to come, and
    /// the audit trail of it all. COPY on PostgreSQL, large transactions on
    /// SQLite. Run it while no server writes to the database.
    Seed(seed::SeedArgs),
    /// Load a running server with a weighted mix of scenarios (closed or
    /// open loop), report throughput and latency percentiles per scenario,
    /// then check that every acknowledged order exists and stock adds up.
    Loadgen(loadgen::LoadgenArgs),
    /// Measure the machine's limits that `bench/` compares Ordo against.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    fn overrides(&self, listen: Option<SocketAddr>) -> Overrides {
        Overrides { database_url: self.database_url.clone(), listen }
    }

    /// Loads the configuration and runs the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        let listen = match &self.command {
            Command::Serve(args) => args.listen,
            _ => None,
        };
        let config = Config::load(self.config.as_deref(), &self.overrides(listen))?;
        match self.command {
            Command::Serve(_) => serve::run(&config).await,
            Command::Migrate => migrate::run(&config).await,
            Command::Worker => worker::run(&config).await,
            Command::Config => print_config::run(&config),
            Command::Stats(args) => stats::run(&config, args).await,
            Command::Keys(command) => {
                let _telemetry = crate::telemetry::init(&config.log)?;
                keys::run(&config, command).await
            }
            Command::Audit(command) => {
                let _telemetry = crate::telemetry::init(&config.log)?;
                audit::run(&config, command).await
            }
            Command::Ledger(command) => {
                let _telemetry = crate::telemetry::init(&config.log)?;
                ledger::run(&config, command).await
            }
            Command::Report(command) => {
                let _telemetry = crate::telemetry::init(&config.log)?;
                report::run(&config, command).await
            }
            Command::Export(args) => {
                let _telemetry = crate::telemetry::init(&config.log)?;
                report::export(&config, args).await
            }
            Command::Import(args) => {
                let _telemetry = crate::telemetry::init(&config.log)?;
                import::run(&config, args).await
            }
            Command::Seed(args) => seed::run(&config, args).await,
            Command::Loadgen(args) => loadgen::run(&config, args).await,
            Command::Bench(command) => bench::run(&config, command).await,
        }
    }
}
