//! The application: configuration in, a bound listener and a running server
//! out. The binary and the integration tests build it the same way; tests
//! bind port 0 and read the port back.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::http::HeaderValue;
use std::sync::Arc;

use ordo_http::{HttpLimits, HttpSettings, InProcessRateLimiter, RateLimiter, RoleLimit, Unlimited};
use ordo_jobs::{Schedule, Worker, WorkerConfig};
use ordo_service::mail::MailSettings;
use ordo_service::registry::{self, Periods};
use ordo_service::{ServiceSettings, Services};
use ordo_store::Backend;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, PaymentProviderName};
use crate::storage;

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    router: axum::Router,
    services: Services,
    shutdown_timeout: Duration,
    header_read_timeout: Duration,
    seal_interval: Duration,
    workers: Option<(WorkerConfig, Periods)>,
}

/// The worker settings from the configuration.
pub fn worker_config(config: &Config) -> WorkerConfig {
    let ms = Duration::from_millis;
    WorkerConfig {
        concurrency: config.workers.concurrency.max(1),
        prefetch: config.workers.prefetch,
        lease: ms(config.workers.lease_ms),
        heartbeat: ms(config.workers.heartbeat_ms),
        poll_interval: ms(config.workers.poll_interval_ms),
        shutdown_timeout: ms(config.server.shutdown_timeout_ms),
        ..WorkerConfig::default()
    }
}

/// When the periodic jobs run: on their cron expression if one is
/// configured, else on their interval (zero: never).
pub fn periods(config: &Config) -> Periods {
    let schedule = |cron: &Option<Schedule>, ms: u64| {
        cron.clone().or_else(|| (ms > 0).then(|| Schedule::Every(Duration::from_millis(ms))))
    };
    Periods {
        seal_audit: schedule(&config.audit.seal_schedule, config.audit.seal_interval_ms),
        sweep: schedule(&config.idempotency.sweep_schedule, config.idempotency.sweep_interval_ms),
        verify_ledger: schedule(&config.ledger.verify_schedule, config.ledger.verify_interval_ms),
        reports: config.reports.schedules.clone(),
    }
}

/// Starts a worker running Ordo's jobs until `shutdown` completes.
pub fn spawn_worker(
    services: &Services,
    config: WorkerConfig,
    periods: Periods,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let worker = Worker::new(services.queue.clone(), registry::registry(periods), Arc::new(services.clone()), config);
    tokio::spawn(worker.run(shutdown))
}

/// Opens the configured database and builds the services over it. SQLite
/// (and PostgreSQL when `migrate_on_start` is set) is migrated; otherwise a
/// database that lacks migrations is refused.
pub async fn open_services(config: &Config) -> anyhow::Result<Services> {
    let db = storage::open(&config.database).await?;
    ordo_service::ledger::set_posting(config.ledger.enabled);
    if !config.ledger.enabled {
        tracing::warn!("ledger: posting is off (ledger.enabled = false): money events write no books");
    }
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
    let provider = config.payments.provider.unwrap_or(match db.backend() {
        Backend::Sqlite => PaymentProviderName::Test,
        Backend::Postgres => PaymentProviderName::None,
    });
    match (provider, config.payments.provider.is_some()) {
        (PaymentProviderName::Test, false) => tracing::info!(
            "payments: the built-in test provider is on (the embedded quick start's default): tokens like tok_approve are approved, no real money moves; set payments.provider to change it"
        ),
        (PaymentProviderName::Test, true) => tracing::warn!(
            "payments: the built-in test provider is on (payments.provider = \"test\"): tokens like tok_approve are approved, no real money moves"
        ),
        (PaymentProviderName::Stripe, _) => tracing::info!(
            api_base = %config.payments.stripe_api_base,
            webhooks = config.payments.stripe_webhook_secret.is_set(),
            "payments: Stripe PaymentIntents with manual capture"
        ),
        (PaymentProviderName::None, explicit) => tracing::info!(
            "payments: no payment provider{}: orders with a payment token are refused",
            if explicit {
                ""
            } else {
                " (the test provider runs on PostgreSQL only when payments.provider = \"test\")"
            }
        ),
    }
    let settings = ServiceSettings {
        payment_provider: match provider {
            PaymentProviderName::Test => Some(ordo_service::PaymentProviderChoice::Test),
            PaymentProviderName::Stripe => {
                let payments = &config.payments;
                anyhow::ensure!(
                    payments.stripe_secret_key.is_set(),
                    "payments.provider = \"stripe\" needs payments.stripe_secret_key (or ORDO_PAYMENTS_STRIPE_SECRET_KEY)"
                );
                anyhow::ensure!(
                    url::Url::parse(&payments.stripe_api_base).is_ok_and(|u| matches!(u.scheme(), "http" | "https")),
                    "payments.stripe_api_base is not an http(s) URL: {:?}",
                    payments.stripe_api_base
                );
                Some(ordo_service::PaymentProviderChoice::Stripe(ordo_service::payments::stripe::StripeSettings {
                    secret_key: payments.stripe_secret_key.expose().to_owned(),
                    api_base: payments.stripe_api_base.clone(),
                    timeout: Duration::from_millis(payments.stripe_timeout_ms.max(1)),
                    max_network_retries: payments.stripe_max_retries,
                    retry_base: Duration::from_millis(500),
                    webhook_secret: payments
                        .stripe_webhook_secret
                        .is_set()
                        .then(|| payments.stripe_webhook_secret.expose().to_owned()),
                }))
            }
            PaymentProviderName::None => None,
        },
        key_cache_ttl: Duration::from_millis(config.auth.key_cache_ttl_ms),
        idempotency_ttl: Duration::from_millis(config.idempotency.ttl_ms),
        // A request holds its key at most twice as long as it may run.
        idempotency_lock: Duration::from_millis(config.server.request_timeout_ms.saturating_mul(2)),
        unpaid_order_ttl: Duration::from_millis(config.orders.unpaid_ttl_ms),
        product_cache_ttl: Duration::from_millis(config.catalog.cache_ttl_ms),
        product_cache_capacity: config.catalog.cache_capacity,
        settlement_chunk_lines: config.ledger.settlement_chunk_lines,
        import_chunk_rows: config.imports.chunk_rows,
        chart: ordo_domain::ledger::Chart::extended(&config.ledger.accounts).map_err(anyhow::Error::msg)?,
        files: storage::files(&config.files)?,
        audit_seal_batch: config.audit.seal_batch,
        mail: if config.mail.smtp_url.expose().is_empty() {
            MailSettings::Files { dir: config.mail.dir.clone().into(), from: config.mail.from.clone() }
        } else {
            MailSettings::Smtp { url: config.mail.smtp_url.expose().to_owned(), from: config.mail.from.clone() }
        },
    };
    Services::new(db, &settings).map_err(|e| anyhow::anyhow!("{e}"))
}

impl Application {
    /// Opens the database, applies migrations if configured to, and binds
    /// the listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let services = open_services(config).await?;
        let rate_limiter: Arc<dyn RateLimiter> = if config.rate_limit.enabled {
            let limits =
                config.rate_limit.per_role().map(|(role, per_second, burst)| (role, RoleLimit { per_second, burst }));
            Arc::new(InProcessRateLimiter::new(limits))
        } else {
            Arc::new(Unlimited)
        };
        let settings = HttpSettings {
            limits: HttpLimits {
                body_limit: config.server.body_limit_bytes,
                upload_limit: config.server.upload_limit_bytes,
                request_timeout: Duration::from_millis(config.server.request_timeout_ms),
            },
            cors_allowed_origins: config.server.cors_allowed_origins.clone(),
            slow_request_ms: config.server.slow_request_ms,
            metrics_on_api_port: config.server.metrics_listen.is_empty(),
            rate_limiter,
            catalog_cache_control: HeaderValue::from_str(&config.catalog.http_cache_control)
                .context("catalog.http_cache_control is not a valid header value")?,
        };
        let router = ordo_http::router(services.clone(), &settings);
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let metrics_listener = match config.server.metrics_listen.as_str() {
            "" => None,
            address => Some(
                TcpListener::bind(address).await.with_context(|| format!("cannot listen for /metrics on {address}"))?,
            ),
        };
        Ok(Self {
            listener,
            metrics_listener,
            router,
            services,
            shutdown_timeout: Duration::from_millis(config.server.shutdown_timeout_ms),
            header_read_timeout: Duration::from_millis(config.server.header_read_timeout_ms),
            seal_interval: Duration::from_millis(config.audit.seal_interval_ms),
            workers: config.workers.enabled.then(|| (worker_config(config), periods(config))),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served when it has its own port.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTP API, to call in-process.
    pub fn router(&self) -> axum::Router {
        self.router.clone()
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until `shutdown` completes, then drains requests in flight for
    /// at most the configured shutdown timeout, and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stopping_tx, mut stopping_rx) = watch::channel(false);
        let worker = self.workers.clone().map(|(config, periods)| {
            let mut stopping = stopping_rx.clone();
            spawn_worker(&self.services, config, periods, async move {
                let _ = stopping.wait_for(|stopping| *stopping).await;
            })
        });
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: draining requests in flight");
            let _ = stopping_tx.send(true);
        };
        let catalog = self.services.catalog.clone();
        let follow_changes = tokio::spawn(async move { catalog.follow_changes().await });
        let metrics = self.metrics_listener.map(|listener| {
            let router = ordo_http::metrics_router(self.services.clone());
            let header_read_timeout = self.header_read_timeout;
            tokio::spawn(ordo_http::serve(listener, router, std::future::pending(), header_read_timeout))
        });
        let server = ordo_http::serve(self.listener, self.router, signal, self.header_read_timeout);
        let deadline = async move {
            let _ = stopping_rx.wait_for(|stopping| *stopping).await;
            tokio::time::sleep(self.shutdown_timeout).await;
        };
        tokio::select! {
            result = server => result.context("HTTP server failed")?,
            () = deadline => tracing::warn!("shutdown timeout passed with requests still in flight; stopping anyway"),
        }
        // The worker drains its jobs (within the shutdown timeout) before the
        // database closes.
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        follow_changes.abort();
        // Seal what this process wrote, so a clean stop leaves nothing unsealed.
        if !self.seal_interval.is_zero()
            && let Err(e) = self.services.audit.seal_pending().await
        {
            tracing::warn!(error = %e, "could not seal the audit trail on shutdown");
        }
        self.services.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cron_expression_takes_the_place_of_an_interval_and_zero_means_never() {
        let mut config = Config::default();
        config.ledger.verify_schedule = Some(Schedule::cron("0 3 * * *").unwrap());
        config.idempotency.sweep_interval_ms = 0;
        let periods = periods(&config);
        assert!(matches!(&periods.verify_ledger, Some(Schedule::Cron(cron)) if cron.as_str() == "0 3 * * *"));
        assert!(periods.sweep.is_none());
        assert!(matches!(periods.seal_audit, Some(Schedule::Every(every)) if every == Duration::from_secs(10)));
    }
}
