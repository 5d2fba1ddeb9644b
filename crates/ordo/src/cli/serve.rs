//! `ordo serve`: the HTTP API.

use std::net::SocketAddr;

use clap::Args;

use crate::app::Application;
use crate::config::Config;
use crate::telemetry;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080 (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[allow(clippy::print_stdout)] // the URL is the command's output
pub(super) async fn run(config: &Config) -> anyhow::Result<()> {
    telemetry::init(&config.log)?;
    tracing::info!(database = %config.database.url, "starting");
    let app = Application::build(config).await?;
    let url = format!("http://{}", app.local_addr());
    println!("Ordo is listening on {url} (API docs: {url}/docs)");
    tracing::info!(%url, backend = %app.services().db.backend(), "listening");
    app.run_until(shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
