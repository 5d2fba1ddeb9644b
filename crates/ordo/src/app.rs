//! The application: configuration in, a bound listener and a running server
//! out. The binary and the integration tests build it the same way; tests
//! bind port 0 and read the port back.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use ordo_http::HttpLimits;
use ordo_service::Services;
use ordo_store::Backend;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::storage;

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    services: Services,
    shutdown_timeout: Duration,
}

impl Application {
    /// Opens the database, applies migrations if configured to, and binds
    /// the listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let db = storage::open(&config.database).await?;
        let migrate = config.database.migrate_on_start.unwrap_or(db.backend() == Backend::Sqlite);
        if migrate {
            db.migrate().await.context("applying database migrations")?;
        } else {
            match db.pending_migrations().await {
                Ok(0) => {}
                Ok(n) => bail!(
                    "the database lacks {n} migration(s) this version needs: run `ordo migrate`, or start with ORDO_DATABASE_MIGRATE_ON_START=true"
                ),
                // Unreachable now: start anyway, /readyz says so until it is back.
                Err(e) => tracing::warn!(error = %e, "cannot check migrations; the database is unreachable"),
            }
        }
        let services = Services::new(db);
        let limits = HttpLimits {
            body_limit: config.server.body_limit_bytes,
            request_timeout: Duration::from_millis(config.server.request_timeout_ms),
        };
        let router = ordo_http::router(services.clone(), limits);
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        Ok(Self {
            listener,
            router,
            services,
            shutdown_timeout: Duration::from_millis(config.server.shutdown_timeout_ms),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until `shutdown` completes, then drains requests in flight for
    /// at most the configured shutdown timeout, and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stopping_tx, mut stopping_rx) = watch::channel(false);
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests in flight");
            let _ = stopping_tx.send(true);
        };
        let server = ordo_http::serve(self.listener, self.router, signal);
        let deadline = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            result = server => result.context("HTTP server failed")?,
            () = deadline => tracing::warn!("shutdown timeout passed with requests still in flight; stopping anyway"),
        }
        self.services.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
