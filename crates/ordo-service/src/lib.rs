//! Ordo's use cases, one module per business capability. Services take
//! validated domain values, run them through the domain's rules and the
//! storage traits, and own transaction boundaries. They know nothing of HTTP
//! or of which database backs them.
//!
//! A use case's background jobs live in its module, beside the work they
//! do; [`registry`] names them all.
//!
//! - [`audit`]: recording, listing, sealing and verifying the audit trail;
//!   the [`SealAuditTrail`](audit::SealAuditTrail) job.
//! - [`catalog`]: products, served from a cache kept fresh by notifications.
//! - [`customers`]: create, change, archive and list customers.
//! - `error`: [`ServiceError`], what a use case answers besides success.
//! - [`idempotency`]: claiming and answering idempotency keys; the
//!   [`SweepExpiredKeys`](idempotency::SweepExpiredKeys) job.
//! - [`inventory`]: locations, receipts, adjustments and stock queries.
//! - [`invoices`]: issuing, numbering and rendering invoices; the
//!   [`IssueInvoice`](invoices::IssueInvoice) job.
//! - [`jobs`]: job administration for operators: inspect, retry, discard.
//! - [`keys`]: API keys and authentication.
//! - [`mail`]: e-mail to customers; the [`SendOrderConfirmation`](mail::SendOrderConfirmation) and
//!   [`SendInvoiceEmail`](mail::SendInvoiceEmail) jobs.
//! - [`markets`]: markets, managed through the API as configuration.
//! - [`orders`]: placement that never oversells, the lifecycle, queries;
//!   the [`ExpireUnpaidOrder`](orders::ExpireUnpaidOrder) job.
//! - [`payments`]: payment providers and records, refunds; the
//!   [`AuthorizePayment`](payments::AuthorizePayment), [`CapturePayment`](payments::CapturePayment)
//!   and [`RefundPayment`](payments::RefundPayment) jobs.
//! - [`registry`]: every job Ordo runs, registered in one place.
//! - `versioned`: the one way a versioned entity is changed.
//! - [`webhooks`]: domain events and their signed deliveries; the
//!   [`FanOutEvent`](webhooks::FanOutEvent) and [`DeliverWebhook`](webhooks::DeliverWebhook) jobs.

use std::sync::Arc;
use std::time::Duration;

use ordo_store::Database;

pub mod audit;
pub mod catalog;
pub mod customers;
mod error;
pub mod files;
pub mod idempotency;
pub mod imports;
pub mod inventory;
pub mod invoices;
pub mod jobs;
pub mod keys;
pub mod ledger;
pub mod mail;
pub mod markets;
pub mod orders;
pub mod payments;
pub mod registry;
pub mod reports;
pub mod returns;
pub mod settlements;
mod versioned;
pub mod webhooks;

pub use error::{ServiceError, ServiceResult};

/// Every service, built once over one database and shared by the API, the
/// CLI and the workers. Cloning it is one reference count: the HTTP layer
/// clones its state for every extractor of every request, and the services
/// themselves hold caches whose clones are not cheap.
#[derive(Debug, Clone)]
pub struct Services(Arc<ServiceSet>);

impl std::ops::Deref for Services {
    type Target = ServiceSet;

    fn deref(&self) -> &ServiceSet {
        &self.0
    }
}

/// The services [`Services`] shares.
#[derive(Debug)]
pub struct ServiceSet {
    pub db: Arc<dyn Database>,
    pub catalog: catalog::CatalogService,
    pub customers: customers::CustomerService,
    pub keys: keys::KeyService,
    pub audit: audit::AuditService,
    pub ledger: ledger::LedgerService,
    pub settlements: settlements::SettlementService,
    pub reports: reports::ReportService,
    pub imports: imports::ImportService,
    pub markets: markets::MarketService,
    pub inventory: inventory::InventoryService,
    pub orders: orders::OrderService,
    pub idempotency: idempotency::IdempotencyService,
    pub jobs: jobs::JobService,
    pub invoices: invoices::InvoiceService,
    pub webhooks: webhooks::WebhookService,
    /// Enqueues jobs and wakes this process's workers.
    pub queue: ordo_jobs::Queue,
    pub payments: payments::PaymentService,
    pub returns: returns::ReturnService,
    pub mailer: mail::Mailer,
    /// Files on object storage, and their download links.
    pub files: files::Files,
}

/// Settings the services need from the configuration.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// How long an authenticated key is trusted without re-reading it.
    pub key_cache_ttl: Duration,
    /// How long idempotency keys are remembered.
    pub idempotency_ttl: Duration,
    /// How long a request may hold its idempotency key before a retry may
    /// take it over.
    pub idempotency_lock: Duration,
    /// How long a placed order may stay unpaid before it expires.
    pub unpaid_order_ttl: Duration,
    /// How long a product may be served from this process's cache when no
    /// change notification arrives (zero: no cache).
    pub product_cache_ttl: Duration,
    /// Most products cached.
    pub product_cache_capacity: u64,
    pub mail: mail::MailSettings,
    /// The payment provider, if any: without one, orders cannot carry a
    /// payment token.
    pub payment_provider: Option<PaymentProviderChoice>,
    /// Settlement report lines reconciled per chunk (one transaction each).
    pub settlement_chunk_lines: usize,
    /// Import rows applied per transaction.
    pub import_chunk_rows: i32,
    /// The chart of accounts, as configured.
    pub chart: ordo_domain::ledger::Chart,
    /// Where documents are stored and how their download links are made.
    pub files: files::Files,
    /// Most audit events in one sealed segment.
    pub audit_seal_batch: i64,
}

/// Settings the services cannot be built with.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid mail settings: {0}")]
    Mail(#[from] mail::MailError),
    #[error("the payment provider's HTTP client cannot be built: {0}")]
    PaymentClient(#[from] reqwest::Error),
}

/// The payment providers the services can be built with.
#[derive(Debug, Clone)]
pub enum PaymentProviderChoice {
    /// The built-in deterministic [`payments::TestProvider`].
    Test,
    /// Stripe PaymentIntents ([`payments::stripe::StripeProvider`]).
    Stripe(payments::stripe::StripeSettings),
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            key_cache_ttl: Duration::from_secs(10),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            idempotency_lock: Duration::from_secs(60),
            unpaid_order_ttl: Duration::from_secs(30 * 60),
            product_cache_ttl: Duration::from_secs(60),
            product_cache_capacity: 100_000,
            mail: mail::MailSettings::Files { dir: "ordo-data/mail".into(), from: "Ordo <orders@ordo.invalid>".into() },
            payment_provider: Some(PaymentProviderChoice::Test),
            settlement_chunk_lines: settlements::DEFAULT_CHUNK_LINES,
            import_chunk_rows: imports::DEFAULT_CHUNK_ROWS,
            chart: ordo_domain::ledger::Chart::default(),
            files: files::Files::in_memory(),
            audit_seal_batch: 10_000,
        }
    }
}

impl Services {
    /// Builds the services; fails only on invalid settings.
    pub fn new(db: Arc<dyn Database>, settings: &ServiceSettings) -> Result<Self, SetupError> {
        let queue = ordo_jobs::Queue::new(db.clone());
        let mailer = mail::Mailer::new(&settings.mail)?;
        let idempotency =
            idempotency::IdempotencyService::new(db.clone(), settings.idempotency_ttl, settings.idempotency_lock);
        let payments = match &settings.payment_provider {
            Some(PaymentProviderChoice::Test) => payments::PaymentService::new(
                db.clone(),
                queue.clone(),
                Arc::new(payments::TestProvider::default()),
                "test",
            ),
            Some(PaymentProviderChoice::Stripe(stripe)) => payments::PaymentService::new(
                db.clone(),
                queue.clone(),
                Arc::new(payments::stripe::StripeProvider::new(stripe.clone())?),
                "stripe",
            )
            .with_stripe_webhook_secret(stripe.webhook_secret.clone()),
            None => payments::PaymentService::new(db.clone(), queue.clone(), Arc::new(payments::NoProvider), "none"),
        };
        let catalog =
            catalog::CatalogService::new(db.clone(), settings.product_cache_ttl, settings.product_cache_capacity);
        Ok(Self(Arc::new(ServiceSet {
            imports: imports::ImportService::new(
                db.clone(),
                queue.clone(),
                settings.files.clone(),
                catalog.clone(),
                settings.import_chunk_rows,
            ),
            catalog,
            customers: customers::CustomerService::new(db.clone()),
            keys: keys::KeyService::new(db.clone(), settings.key_cache_ttl),
            audit: audit::AuditService::new(db.clone(), settings.audit_seal_batch),
            ledger: ledger::LedgerService::new(db.clone(), settings.chart.clone()),
            settlements: settlements::SettlementService::new(
                db.clone(),
                queue.clone(),
                settings.files.clone(),
                payments.provider_name().to_owned(),
                settings.settlement_chunk_lines,
            ),
            reports: reports::ReportService::new(db.clone(), queue.clone(), settings.files.clone()),
            markets: markets::MarketService::new(db.clone()),
            inventory: inventory::InventoryService::new(db.clone()),
            orders: orders::OrderService::new(
                db.clone(),
                queue.clone(),
                idempotency.clone(),
                settings.idempotency_ttl,
                settings.unpaid_order_ttl,
                settings.payment_provider.is_some(),
            ),
            idempotency,
            jobs: jobs::JobService::new(db.clone(), registry::registry(registry::Periods::default()).lifecycle()),
            invoices: invoices::InvoiceService::new(db.clone(), settings.files.clone()),
            webhooks: webhooks::WebhookService::new(db.clone(), queue.clone()),
            returns: returns::ReturnService::new(db.clone(), queue.clone(), payments.provider_name().to_owned()),
            payments,
            queue,
            mailer,
            files: settings.files.clone(),
            db,
        })))
    }
}
