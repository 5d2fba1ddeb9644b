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
