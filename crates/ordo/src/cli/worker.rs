//! `ordo worker`: run background jobs only, no HTTP.

use crate::app::{open_services, periods, spawn_worker, worker_config};
use crate::cli::serve::shutdown_signal;
use crate::config::Config;
use crate::telemetry;

pub(super) async fn run(config: &Config) -> anyhow::Result<()> {
    telemetry::init(&config.log)?;
    let services = open_services(config).await?;
    let worker = spawn_worker(&services, worker_config(config), periods(config), shutdown_signal());
    worker.await?;
    services.db.close().await;
    Ok(())
}
