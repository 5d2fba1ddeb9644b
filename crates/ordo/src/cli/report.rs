//! `ordo report run` and `ordo export`: compile a report or an export here
//! and now.

use std::io::Write;

use anyhow::{Context, bail};
use clap::Subcommand;
use futures::TryStreamExt;

use crate::app::open_services;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Compile a report in this process (what a worker does for
    /// `POST /v1/reports`), store it on the file store like any other, and
    /// write it to `--output` or standard output. A report over unchanged
    /// data is served from the file store without compiling.
    Run {
        /// `sales`, `tax`, `documents`, `payments`, `aging` or `stock`.
        #[arg(long)]
        kind: String,
        /// The first day (UTC), `YYYY-MM-DD`.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// The last day (UTC), included; the first day if absent.
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Only this market.
        #[arg(long)]
        market: Option<String>,
        /// `csv` or `xlsx`.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Where to write the file (standard output if absent).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

/// `ordo export`: the records of a period as a file.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// `orders`, `customers` or `products`.
    #[arg(long)]
    kind: String,
    /// The first day (UTC), `YYYY-MM-DD`.
    #[arg(long)]
    from: chrono::NaiveDate,
    /// The last day (UTC), included; the first day if absent.
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
    /// Only this market (orders).
    #[arg(long)]
    market: Option<String>,
    /// `csv`, `jsonl` or `xlsx`.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Where to write the file (standard output if absent).
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
}

pub(super) async fn run(config: &Config, command: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Run { kind, from, to, market, format, output } = command;
    let kind = ordo_domain::report::ReportKind::parse(&kind)
        .filter(|k| !k.is_export())
        .context("--kind is one of sales, tax, documents, payments, aging, stock")?;
    let format = ordo_domain::report::ReportFormat::parse(&format)
        .filter(|f| *f != ordo_domain::report::ReportFormat::Jsonl)
        .context("--format is csv or xlsx")?;
    let params = ordo_domain::report::ReportParams { kind, from, to: to.unwrap_or(from), market, format };
    produce(config, params, output).await
}

pub(super) async fn export(config: &Config, args: ExportArgs) -> anyhow::Result<()> {
    let kind = ordo_domain::report::ReportKind::parse(&args.kind)
        .filter(|k| k.is_export())
        .context("--kind is one of orders, customers, products")?;
    let format = ordo_domain::report::ReportFormat::parse(&args.format).context("--format is csv, jsonl or xlsx")?;
    let params = ordo_domain::report::ReportParams {
        kind,
        from: args.from,
        to: args.to.unwrap_or(args.from),
        market: args.market,
        format,
    };
    produce(config, params, args.output).await
}

#[allow(clippy::print_stderr)] // the summary goes beside the file's bytes
async fn produce(
    config: &Config,
    params: ordo_domain::report::ReportParams,
    output: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let services = open_services(config).await?;
    let started = std::time::Instant::now();
    let result = async {
        let actor = ordo_domain::audit::Actor::system("cli");
        let created = if params.kind.is_export() {
            services.reports.create_export(&actor, params).await
        } else {
            services.reports.create(&actor, params).await
        };
        let report = match created {
            Err(ordo_service::ServiceError::Validation(errors)) => bail!("{errors}"),
            other => other?,
        };
        let report = services.reports.compile(report.id, None).await?;
        let mut body = services.reports.file(report.id).await?.bytes;
        // A CLI's own output: plain blocking writes are fine here.
        let mut sink: Box<dyn Write + Send> = match &output {
            Some(path) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        while let Some(chunk) = body.try_next().await? {
            sink.write_all(&chunk)?;
        }
        sink.flush()?;
        eprintln!(
            "{} {}: {} rows, {} bytes, sha256 {}{} in {:.1} s; peak memory {} MiB",
            if report.params.kind.is_export() { "export" } else { "report" },
            report.id,
            report.rows,
            report.size.unwrap_or(0),
            report.sha256.as_deref().unwrap_or("-"),
            if report.cached { " (from the cache)" } else { "" },
            started.elapsed().as_secs_f64(),
            super::ledger::peak_rss_mib().map_or_else(|| "?".to_owned(), |m| m.to_string())
        );
        Ok(())
    }
    .await;
    services.db.close().await;
    result
}
