//! `ordo audit`: seal and verify the audit trail's hash chain.

use anyhow::bail;
use clap::Subcommand;

use crate::app::open_services;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal every unsealed audit event now (servers also do so periodically).
    Seal,
    /// Recompute the hash chain and report the first event altered, deleted
    /// or inserted. Exits non-zero when tampering is found.
    Verify,
}

#[allow(clippy::print_stdout)] // the report is the command's output
pub(super) async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    let services = open_services(config).await?;
    let result = match command {
        AuditCommand::Seal => {
            let seals = services.audit.seal_pending().await?;
            let events: i64 = seals.iter().map(|s| s.event_count).sum();
            match seals.last() {
                Some(last) => println!("sealed {events} event(s) into {} segment(s); head {}", seals.len(), last.hash),
                None => println!("nothing to seal"),
            }
            Ok(())
        }
        AuditCommand::Verify => {
            let report = services.audit.verify().await?;
            println!(
                "{} segment(s), {} sealed event(s), {} unsealed event(s); head {}",
                report.segments, report.sealed_events, report.unsealed_events, report.head_hash
            );
            match &report.tamper {
                None => {
                    println!("ok: the audit trail is intact");
                    Ok(())
                }
                Some(tamper) => {
                    println!("TAMPERED: {}", serde_json::to_string(tamper)?);
                    bail!("the audit trail has been tampered with")
                }
            }
        }
    };
    services.db.close().await;
    result
}
