//! `ordo migrate`: apply pending migrations.

use anyhow::Context;

use crate::config::Config;
use crate::{storage, telemetry};

#[allow(clippy::print_stdout)] // the outcome is the command's output
pub(super) async fn run(config: &Config) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&config.log)?;
    let db = storage::open(&config.database).await?;
    let pending = db.pending_migrations().await.context("reading the migration state")?;
    db.migrate().await.context("applying migrations")?;
    db.close().await;
    println!("{} database {} is up to date ({pending} migration(s) applied)", db.backend(), config.database.url);
    Ok(())
}
