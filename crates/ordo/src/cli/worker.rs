//! `ordo worker`: run background jobs only, no API (optionally `/metrics`).

use anyhow::Context;

use crate::app::{open_services, periods, spawn_worker, worker_config};
use crate::cli::serve::shutdown_signal;
use crate::config::Config;
use crate::telemetry;

pub(super) async fn run(config: &Config) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&config.log)?;
    let shutdown = shutdown_signal();
    let services = open_services(config).await?;
    let metrics = if config.workers.metrics_listen.is_empty() {
        None
    } else {
        let address = &config.workers.metrics_listen;
        let listener =
            tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot listen on {address}"))?;
        tracing::info!(address = %listener.local_addr()?, "serving /metrics");
        let router = ordo_http::metrics_router(services.clone());
        let header_read_timeout = std::time::Duration::from_millis(config.server.header_read_timeout_ms);
        Some(tokio::spawn(ordo_http::serve(listener, router, std::future::pending(), header_read_timeout)))
    };
    let worker = spawn_worker(&services, worker_config(config), periods(config), shutdown);
    worker.await?;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    services.db.close().await;
    Ok(())
}
