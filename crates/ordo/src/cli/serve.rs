//! `ordo serve`: the HTTP API.

use std::net::SocketAddr;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ordo_store::Backend;

use crate::app::Application;
use crate::config::Config;
use crate::{storage, telemetry};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8080 (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[allow(clippy::print_stdout)] // the URL is the command's output
pub(super) async fn run(config: &Config) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&config.log)?;
    let shutdown = shutdown_signal();
    tracing::info!(database = %config.database.url, "starting");
    let app = Application::build(config).await?;
    if config.auth.bootstrap_admin && app.services().db.backend() == Backend::Sqlite {
        bootstrap_admin_key(config, &app).await?;
    }
    let url = format!("http://{}", app.local_addr());
    println!("Ordo is listening on {url} (web admin: {url}/admin, API docs: {url}/docs)");
    tracing::info!(%url, backend = %app.services().db.backend(), "listening");
    if let Some(address) = app.metrics_addr() {
        tracing::info!(%address, "serving /metrics");
    }
    app.run_until(shutdown).await
}

/// On the first start of an embedded database with no keys: creates an
/// admin key, prints it once and saves it, readable only by this user, next
/// to the database file.
#[allow(clippy::print_stdout)] // the key is shown to the person starting Ordo
async fn bootstrap_admin_key(config: &Config, app: &Application) -> anyhow::Result<()> {
    let Some((_, token)) = app.services().keys.bootstrap_admin().await.context("creating the first admin key")? else {
        return Ok(());
    };
    let folder = storage::sqlite_path(config.database.url.expose())
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let file = folder.join("admin-key");
    write_private(&file, &format!("{}\n", token.expose()))
        .with_context(|| format!("saving the admin key to {}", file.display()))?;
    println!("Created the first admin API key (shown once; saved to {}):", file.display());
    println!("  {}", token.expose());
    Ok(())
}

/// Writes `contents` to a new file only its owner can read (0600).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    // A file left from an earlier database holds a key that no longer works.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, contents.as_bytes())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: a signal that
/// comes between the server's first answer and the first poll of its
/// shutdown future would otherwise kill the process instead of stopping it
/// gracefully. Call it first thing.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind: SignalKind, name: &'static str| {
            signal(kind).inspect_err(|e| tracing::error!(error = %e, "cannot listen for {name}")).ok()
        };
        let (mut interrupt, mut terminate) =
            (install(SignalKind::interrupt(), "SIGINT"), install(SignalKind::terminate(), "SIGTERM"));
        async move {
            let interrupted = async {
                match &mut interrupt {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            let terminated = async {
                match &mut terminate {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = interrupted => {}
                _ = terminated => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
