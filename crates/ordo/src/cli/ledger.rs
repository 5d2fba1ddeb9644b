//! `ordo ledger`: prove the books.

use anyhow::bail;
use clap::Subcommand;

use crate::app::open_services;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check that every journal transaction balances, the daily balances
    /// equal the postings, debits equal credits, every invoice, credit note,
    /// capture and refund has its postings, and receivables and provider
    /// clearing hold what the records say. Names each violation and exits
    /// non-zero when there is one.
    Verify,
    /// Post the invoices, credit notes, captures and refunds recorded
    /// before the ledger existed (an upgrade's one-off step; safe to repeat).
    Backfill,
    /// Import a provider's settlement report and reconcile it here, chunk
    /// by chunk (what a worker does for `POST /v1/ledger/settlements`);
    /// prints the run's counts, its speed and this process's peak memory.
    Reconcile {
        /// The report (CSV).
        file: std::path::PathBuf,
        /// The payment provider whose report it is.
        #[arg(long)]
        provider: String,
        /// `stripe` or `generic`.
        #[arg(long, default_value = "stripe")]
        format: String,
    },
}

#[allow(clippy::print_stdout)] // the report is the command's output
pub(super) async fn run(config: &Config, command: LedgerCommand) -> anyhow::Result<()> {
    let services = open_services(config).await?;
    let result = match command {
        LedgerCommand::Backfill => {
            let posted = services.ledger.backfill().await?;
            println!("posted {posted} record(s)");
            Ok(())
        }
        LedgerCommand::Reconcile { file, provider, format } => reconcile(&services, &file, &provider, &format).await,
        LedgerCommand::Verify => {
            let report = services.ledger.verify().await?;
            for violation in &report.violations {
                println!("VIOLATION: {violation}");
            }
            if report.ok {
                println!("ok: the books balance ({} account balance(s))", report.accounts);
                Ok(())
            } else {
                bail!("the ledger has {} violation(s)", report.violations.len())
            }
        }
    };
    services.db.close().await;
    result
}

#[allow(clippy::print_stdout)] // the report is the command's output
async fn reconcile(
    services: &ordo_service::Services,
    file: &std::path::Path,
    provider: &str,
    format: &str,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let format = ordo_domain::settlement::Format::parse(format).context("--format is stripe or generic")?;
    let started = std::time::Instant::now();
    let opened = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let actor = ordo_domain::audit::Actor::system("cli");
    let (run, created) = match services.settlements.import(&actor, provider, format, opened).await {
        Ok(imported) => imported,
        Err(ordo_service::ServiceError::Validation(errors)) => {
            for e in errors.errors() {
                println!("ERROR {}: {}", e.field, e.message);
            }
            bail!("the report was refused; nothing was imported")
        }
        Err(e) => return Err(e.into()),
    };
    let imported = started.elapsed();
    if !created {
        println!("this file was imported before: run {}", run.id);
    }
    let run = services.settlements.reconcile(run.id, None).await?;
    let total = started.elapsed();
    println!("run {} {}: {} line(s) in {} chunk(s)", run.id, run.status.as_str(), run.lines, run.chunks);
    for (status, count) in &run.counts {
        println!("  {status}: {count}");
    }
    println!(
        "imported in {:.1} s, reconciled in {:.1} s: {:.0} lines/s; peak memory {} MiB",
        imported.as_secs_f64(),
        (total - imported).as_secs_f64(),
        run.lines as f64 / total.as_secs_f64().max(1e-9),
        peak_rss_mib().map_or_else(|| "unknown".to_owned(), |m| m.to_string())
    );
    if let Some(error) = run.error {
        bail!("the run failed: {error}");
    }
    Ok(())
}

/// This process's peak resident memory (Linux's `VmHWM`).
pub(super) fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}
