//! `ordo report`: compile a report here and now.

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
        /// `sales`, `tax`, `documents` or `payments`.
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
        /// Where to write the file (standard output if absent).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

#[allow(clippy::print_stderr)] // the summary goes beside the file's bytes
pub(super) async fn run(config: &Config, command: ReportCommand) -> anyhow::Result<()> {
    let ReportCommand::Run { kind, from, to, market, output } = command;
    let kind =
        ordo_domain::report::ReportKind::parse(&kind).context("--kind is one of sales, tax, documents, payments")?;
    let services = open_services(config).await?;
    let params = ordo_domain::report::ReportParams {
        kind,
        from,
        to: to.unwrap_or(from),
        market,
        format: ordo_domain::report::ReportFormat::Csv,
    };
    let started = std::time::Instant::now();
    let result = async {
        let actor = ordo_domain::audit::Actor::system("cli");
        let report = match services.reports.create(&actor, params).await {
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
            "report {}: {} rows, {} bytes, sha256 {}{} in {:.1} s",
            report.id,
            report.rows,
            report.size.unwrap_or(0),
            report.sha256.as_deref().unwrap_or("-"),
            if report.cached { " (from the cache)" } else { "" },
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
    .await;
    services.db.close().await;
    result
}
