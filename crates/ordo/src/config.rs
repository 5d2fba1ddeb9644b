//! Ordo's configuration: one typed tree, layered as code defaults, then an
//! optional TOML file, then `ORDO_` environment variables, then command-line
//! flags. Secrets are redacted whenever the tree is printed or logged.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ordo_jobs::Schedule;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The database used when none is configured: an embedded SQLite file.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ordo-data/ordo.db";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub audit: AuditConfig,
    pub ledger: LedgerConfig,
    pub idempotency: IdempotencyConfig,
    pub orders: OrdersConfig,
    pub catalog: CatalogConfig,
    pub workers: WorkersConfig,
    pub mail: MailConfig,
    pub payments: PaymentsConfig,
    pub files: FilesConfig,
    pub reports: ReportsConfig,
    pub imports: ImportsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on (`ORDO_SERVER_LISTEN`).
    pub listen: SocketAddr,
    /// Longest a request may take, body upload included.
    pub request_timeout_ms: u64,
    /// Longest a client may take to send a request's headers; also how long
    /// an idle keep-alive connection stays open. A client slower than this
    /// (a slow-loris) has its connection closed.
    pub header_read_timeout_ms: u64,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Largest settlement report upload, streamed to a temporary file.
    pub upload_limit_bytes: usize,
    /// On SIGTERM/SIGINT, how long requests in flight may take to finish.
    pub shutdown_timeout_ms: u64,
    /// Origins allowed to call the API from a browser (CORS); empty: off.
    pub cors_allowed_origins: Vec<String>,
    /// Requests slower than this are logged at WARN (0: never).
    pub slow_request_ms: u64,
    /// Serve `/metrics` on this address instead of the API's port, e.g.
    /// `0.0.0.0:9100` (`ORDO_SERVER_METRICS_LISTEN`; empty: on the API port).
    pub metrics_listen: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            body_limit_bytes: 1024 * 1024,
            upload_limit_bytes: 512 * 1024 * 1024,
            shutdown_timeout_ms: 30_000,
            cors_allowed_origins: Vec::new(),
            slow_request_ms: 1_000,
            metrics_listen: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host/db`
    /// (`ORDO_DATABASE_URL`).
    pub url: DatabaseUrl,
    /// Connections per process (PostgreSQL) or read connections (SQLite).
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long a request waits for a free connection before a 503.
    pub acquire_timeout_ms: u64,
    /// Idle connections are closed after this long (PostgreSQL).
    pub idle_timeout_ms: u64,
    /// Prepared statements cached per connection; forced to 0 behind PgBouncer.
    pub statement_cache_capacity: usize,
    /// Server-side limit on one statement (PostgreSQL; not behind PgBouncer).
    pub statement_timeout_ms: u64,
    /// Connect through PgBouncer in transaction-pooling mode.
    pub pgbouncer: bool,
    /// Apply migrations when `ordo serve` starts. Defaults to `true` on
    /// SQLite and `false` on PostgreSQL, where `ordo migrate` is the usual
    /// step of a deployment.
    pub migrate_on_start: Option<bool>,
    /// SQLite durability: `full` (a commit survives power loss) or `normal`.
    pub sqlite_synchronous: SqliteSynchronous,
    /// How long SQLite waits on a lock held by another process.
    pub sqlite_busy_timeout_ms: u64,
    /// Statements slower than this are logged at WARN (0: never).
    pub slow_statement_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretUrl(DEFAULT_DATABASE_URL.to_owned()),
            max_connections: 16,
            min_connections: 0,
            acquire_timeout_ms: 5_000,
            idle_timeout_ms: 600_000,
            statement_cache_capacity: 256,
            statement_timeout_ms: 30_000,
            pgbouncer: false,
            migrate_on_start: None,
            sqlite_synchronous: SqliteSynchronous::Full,
            sqlite_busy_timeout_ms: 5_000,
            slow_statement_ms: 500,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a verified key is trusted without re-reading it: a key
    /// revoked by another process stops working within this time.
    pub key_cache_ttl_ms: u64,
    /// On the first start of an SQLite database with no keys, create an
    /// admin key, print it once and save it next to the database file.
    pub bootstrap_admin: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { key_cache_ttl_ms: 10_000, bootstrap_admin: true }
    }
}

/// Token buckets per API key, sized by the key's role. Kept per process.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub admin_per_second: u32,
    pub admin_burst: u32,
    pub manager_per_second: u32,
    pub manager_burst: u32,
    pub clerk_per_second: u32,
    pub clerk_burst: u32,
    pub finance_per_second: u32,
    pub finance_burst: u32,
    pub viewer_per_second: u32,
    pub viewer_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            admin_per_second: 200,
            admin_burst: 400,
            manager_per_second: 200,
            manager_burst: 400,
            clerk_per_second: 100,
            clerk_burst: 200,
            finance_per_second: 50,
            finance_burst: 100,
            viewer_per_second: 50,
            viewer_burst: 100,
        }
    }
}

impl RateLimitConfig {
    /// Each role's limit as `(per_second, burst)`.
    pub fn per_role(&self) -> [(ordo_domain::auth::Role, u32, u32); 5] {
        use ordo_domain::auth::Role;
        [
            (Role::Admin, self.admin_per_second, self.admin_burst),
            (Role::Manager, self.manager_per_second, self.manager_burst),
            (Role::Clerk, self.clerk_per_second, self.clerk_burst),
            (Role::Finance, self.finance_per_second, self.finance_burst),
            (Role::Viewer, self.viewer_per_second, self.viewer_burst),
        ]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// How often the books are proved (`ordo ledger verify` as a job, its
    /// violations in the `ordo_ledger_violations` gauge; 0: never).
    pub verify_interval_ms: u64,
    /// A cron expression (UTC) for the proof instead of the interval:
    /// `"0 3 * * *"` proves the books at 03:00 every night.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_schedule: Option<Schedule>,
    /// Whether money events post to the ledger (off only to measure its
    /// cost, or when the books are kept elsewhere: verify then fails).
    pub enabled: bool,
    /// Settlement report lines reconciled per chunk, one transaction each.
    pub settlement_chunk_lines: usize,
    /// Accounts added to the chart, or standard ones remapped:
    /// `[[ledger.accounts]] code = "marketing", skr03 = "4600"`.
    pub accounts: Vec<ordo_domain::ledger::ChartAccount>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            verify_interval_ms: 3_600_000,
            verify_schedule: None,
            enabled: true,
            settlement_chunk_lines: ordo_service::settlements::DEFAULT_CHUNK_LINES,
            accounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Reports compiled on a cron schedule (UTC), each landing on the file
    /// store and announced as `report.succeeded`:
    /// `[[reports.schedules]] name = "monthly-vat", cron = "0 6 1 * *",
    /// kind = "tax", span = "previous_month"`.
    pub schedules: Vec<ordo_service::reports::ReportSchedule>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportsConfig {
    /// Rows applied per transaction, 1 to 10,000, unless an import asks
    /// for another size: larger chunks import faster, smaller ones hold
    /// locks for less time and redo less after a crash.
    pub chunk_rows: i32,
}

impl Default for ImportsConfig {
    fn default() -> Self {
        Self { chunk_rows: ordo_service::imports::DEFAULT_CHUNK_ROWS }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// How often audit events are sealed into the hash chain (0: never;
    /// then run `ordo audit seal`).
    pub seal_interval_ms: u64,
    /// A cron expression (UTC) for sealing instead of the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_schedule: Option<Schedule>,
    /// Most events in one sealed segment.
    pub seal_batch: i64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { seal_interval_ms: 10_000, seal_schedule: None, seal_batch: 10_000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// How long an `Idempotency-Key` is remembered (24 h).
    pub ttl_ms: u64,
    /// How often expired keys are swept.
    pub sweep_interval_ms: u64,
    /// A cron expression (UTC) for the sweep instead of the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_schedule: Option<Schedule>,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self { ttl_ms: 24 * 3600 * 1000, sweep_interval_ms: 600_000, sweep_schedule: None }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrdersConfig {
    /// An order placed with a payment token expires (releasing its stock)
    /// if still unpaid after this long.
    pub unpaid_ttl_ms: u64,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        Self { unpaid_ttl_ms: 30 * 60 * 1000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// How long a product may be served from a process's cache. Changes
    /// made through this process, and on PostgreSQL through any process,
    /// are seen at once; behind PgBouncer other processes' changes are seen
    /// within this time. 0 turns the cache off.
    pub cache_ttl_ms: u64,
    /// Most products cached per process.
    pub cache_capacity: u64,
    /// `Cache-Control` of catalog reads (a product, a page of products).
    /// The default lets a browser keep a copy but revalidate it each time
    /// (answered with 304 while it is current); `public, max-age=60` lets a
    /// CDN serve it to anyone for a minute.
    pub http_cache_control: String,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self { cache_ttl_ms: 60_000, cache_capacity: 100_000, http_cache_control: "private, no-cache".into() }
    }
}

/// Outgoing e-mail (order confirmations, invoices).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// Sender, e.g. `Shop <orders@shop.example>`.
    pub from: String,
    /// `smtps://user:password@host:465` or `smtp://host:587?tls=required`;
    /// empty: write `.eml` files into `dir` instead.
    pub smtp_url: SecretUrl,
    pub dir: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Ordo <orders@ordo.invalid>".to_owned(),
            smtp_url: SecretUrl::default(),
            dir: "ordo-data/mail".to_owned(),
        }
    }
}

/// Payments.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// The payment provider: `test` (the built-in deterministic provider:
    /// tokens `tok_approve`, `tok_decline`, ...; no real money), `stripe`
    /// (Stripe PaymentIntents; needs `stripe_secret_key`) or `none` (orders
    /// cannot carry a payment token). Unset: `test` on the embedded SQLite
    /// quick start, `none` on PostgreSQL, where the test provider runs only
    /// if set explicitly.
    pub provider: Option<PaymentProviderName>,
    /// Stripe's secret API key (`ORDO_PAYMENTS_STRIPE_SECRET_KEY`).
    pub stripe_secret_key: Secret,
    /// The signing secret of the Stripe webhook endpoint (`/hooks/stripe`;
    /// `ORDO_PAYMENTS_STRIPE_WEBHOOK_SECRET`).
    /// Unset: incoming Stripe events are refused.
    pub stripe_webhook_secret: Secret,
    /// Where Stripe's API is (a local server in tests).
    pub stripe_api_base: String,
    /// Each Stripe request's bound.
    pub stripe_timeout_ms: u64,
    /// Retries of a Stripe request that may be retried (429, 5xx, network).
    pub stripe_max_retries: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            provider: None,
            stripe_secret_key: Secret::default(),
            stripe_webhook_secret: Secret::default(),
            stripe_api_base: "https://api.stripe.com".to_owned(),
            stripe_timeout_ms: 15_000,
            stripe_max_retries: 2,
        }
    }
}

/// Files on object storage (rendered documents; report outputs and imports
/// to come).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// `local` (a folder) or `s3` (any S3-compatible service).
    pub backend: FilesBackend,
    /// The folder of the `local` backend.
    pub path: String,
    /// How long a download link lives.
    pub link_ttl_ms: u64,
    /// `local`: the URL clients reach this server at, for download links
    /// (empty: the scheme and `Host` of the request that asked for the link).
    pub public_url: String,
    /// `local`: the key download links are signed with. Unset: a random key
    /// per process, so links die with it. Set it (the same on every
    /// instance) for links that outlive a restart.
    pub signing_secret: Secret,
    /// `s3`: the service's endpoint (empty: AWS, from the region).
    pub s3_endpoint: String,
    /// `s3`: the bucket.
    pub s3_bucket: String,
    /// `s3`: the region.
    pub s3_region: String,
    /// `s3`: the access key id (empty: `AWS_ACCESS_KEY_ID` from the
    /// environment, or the instance's role).
    pub s3_access_key_id: String,
    /// `s3`: the secret access key (empty: `AWS_SECRET_ACCESS_KEY`).
    pub s3_secret_access_key: Secret,
    /// `s3`: allow a plain-HTTP endpoint (a local test server).
    pub s3_allow_http: bool,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            backend: FilesBackend::Local,
            path: "ordo-data/files".to_owned(),
            link_ttl_ms: 15 * 60 * 1000,
            public_url: String::new(),
            signing_secret: Secret::default(),
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: Secret::default(),
            s3_allow_http: false,
        }
    }
}

/// Where files are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilesBackend {
    Local,
    S3,
}

/// The payment providers Ordo has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProviderName {
    Test,
    Stripe,
    None,
}

/// A secret (an API key, a signing secret): `Debug`, `Display` and
/// `Serialize` print `***` when it is set; only [`Secret::expose`] gives
/// the value, to the code that uses it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.is_set() { "***" } else { "" }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// Background job workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkersConfig {
    /// Run workers inside `ordo serve` (`ordo worker` always does).
    pub enabled: bool,
    /// Jobs run at once per process.
    pub concurrency: usize,
    /// Most jobs a worker claims ahead of its free slots (0: none).
    pub prefetch: usize,
    /// A crashed worker's jobs run again this long after its last heartbeat.
    pub lease_ms: u64,
    pub heartbeat_ms: u64,
    /// How often idle workers look for due jobs.
    pub poll_interval_ms: u64,
    /// Where `ordo worker` serves `/metrics` (empty: nowhere).
    pub metrics_listen: String,
}

impl Default for WorkersConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 8,
            prefetch: 128,
            lease_ms: 30_000,
            heartbeat_ms: 10_000,
            poll_interval_ms: 1_000,
            metrics_listen: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `ordo=debug,sqlx=warn` (`ORDO_LOG`).
    pub filter: String,
    /// `text` for people, `json` for log pipelines (`ORDO_LOG_FORMAT`).
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { filter: "info".to_owned(), format: LogFormat::Text }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A URL that may carry a password (a database's, an SMTP server's), so
/// `Debug`, `Display` and `Serialize` all print it redacted; only
/// [`SecretUrl::expose`] gives the real value, to the code that connects.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretUrl(String);

/// The database's URL.
pub type DatabaseUrl = SecretUrl;

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let Ok(mut url) = url::Url::parse(&self.0) else {
            // Unparseable: it cannot be shown safely, so show only its scheme.
            let scheme = self.0.split(':').next().unwrap_or_default();
            return format!("{scheme}:***");
        };
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        let secret_params = ["password", "sslpassword"];
        if url.query_pairs().any(|(k, _)| secret_params.contains(&k.as_ref())) {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if secret_params.contains(&k.as_ref()) { "***".to_owned() } else { v.into_owned() };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self)
    }
}

/// Overrides given on the command line, applied last.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
}

const SECTIONS: [&str; 16] = [
    "server",
    "database",
    "auth",
    "rate_limit",
    "audit",
    "ledger",
    "files",
    "reports",
    "imports",
    "idempotency",
    "orders",
    "catalog",
    "workers",
    "mail",
    "payments",
    "log",
];

/// Maps `ORDO_DATABASE_MAX_CONNECTIONS` (seen here as
/// `database_max_connections`) to the key `database.max_connections`.
/// Variables that name no section are ignored, so unrelated `ORDO_*`
/// variables never break start-up.
fn env_key(key: &str) -> Option<String> {
    if key == "log" {
        return Some("log.filter".to_owned());
    }
    SECTIONS.iter().find_map(|section| {
        key.strip_prefix(section)
            .and_then(|rest| rest.strip_prefix('_'))
            .filter(|rest| !rest.is_empty())
            .map(|rest| format!("{section}.{rest}"))
    })
}

impl Config {
    /// Loads the layered configuration. `file` is optional; a named file
    /// that does not exist is an error rather than silently ignored.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            anyhow::ensure!(path.is_file(), "configuration file {} does not exist", path.display());
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed("ORDO_").filter_map(|key| env_key(&key.as_str().to_ascii_lowercase()).map(Into::into)),
        );
        if let Some(url) = &overrides.database_url {
            figment = figment.merge(("database.url", url));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(("server.listen", listen.to_string()));
        }
        let config: Config = figment.extract().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(config)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_can_be_set_from_the_environment() {
        let config = toml::Value::try_from(Config::default()).unwrap();
        for section in config.as_table().unwrap().keys() {
            assert!(
                SECTIONS.contains(&section.as_str()),
                "[{section}] has no ORDO_{} variables",
                section.to_uppercase()
            );
        }
    }

    #[test]
    fn env_keys_map_to_sections() {
        assert_eq!(env_key("database_url").as_deref(), Some("database.url"));
        assert_eq!(env_key("database_max_connections").as_deref(), Some("database.max_connections"));
        assert_eq!(env_key("server_listen").as_deref(), Some("server.listen"));
        assert_eq!(env_key("log").as_deref(), Some("log.filter"));
        assert_eq!(env_key("log_format").as_deref(), Some("log.format"));
        assert_eq!(env_key("rate_limit_clerk_burst").as_deref(), Some("rate_limit.clerk_burst"));
        assert_eq!(env_key("audit_seal_interval_ms").as_deref(), Some("audit.seal_interval_ms"));
        assert_eq!(env_key("mail_smtp_url").as_deref(), Some("mail.smtp_url"));
        assert_eq!(env_key("workers_enabled").as_deref(), Some("workers.enabled"));
        assert_eq!(env_key("orders_unpaid_ttl_ms").as_deref(), Some("orders.unpaid_ttl_ms"));
        assert_eq!(env_key("payments_provider").as_deref(), Some("payments.provider"));
        assert_eq!(env_key("ledger_enabled").as_deref(), Some("ledger.enabled"));
        assert_eq!(env_key("files_backend").as_deref(), Some("files.backend"));
        assert_eq!(env_key("test_postgres_url"), None);
        assert_eq!(env_key("database"), None);
    }

    #[test]
    fn secrets_are_redacted() {
        let secret = Secret::new("sk_live_abc");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), r#""***""#);
        assert_eq!(Secret::default().to_string(), "", "an unset secret stays unset");
        let mut config = Config::default();
        config.payments.stripe_secret_key = Secret::new("sk_live_abc");
        config.payments.stripe_webhook_secret = Secret::new("whsec_abc");
        let shown = config.to_redacted_toml().unwrap();
        assert!(!shown.contains("sk_live_abc") && !shown.contains("whsec_abc"), "{shown}");
        assert!(!format!("{config:?}").contains("sk_live_abc"));
    }

    #[test]
    fn database_passwords_are_redacted() {
        let url = DatabaseUrl::new("postgres://ordo:s3cret@db.example:5432/ordo?sslmode=require&password=other");
        let shown = url.redacted();
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert!(shown.contains("ordo:***@db.example"), "{shown}");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(
            !toml::to_string(&Config { database: DatabaseConfig { url, ..Default::default() }, ..Default::default() })
                .unwrap()
                .contains("s3cret")
        );
        assert_eq!(DatabaseUrl::new("not a url:pw").redacted(), "not a url:***");
        assert_eq!(DatabaseUrl::new(DEFAULT_DATABASE_URL).redacted(), DEFAULT_DATABASE_URL);
        assert_eq!(SecretUrl::default().redacted(), "", "an unset URL stays unset");
    }

    #[test]
    fn periodic_jobs_take_a_cron_expression_and_refuse_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ordo.toml");
        std::fs::write(&file, "[ledger]\nverify_schedule = \"0 3 * * *\"\n").unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(config.ledger.verify_schedule.as_ref().map(ToString::to_string).as_deref(), Some("0 3 * * *"));
        assert!(config.to_redacted_toml().unwrap().contains("verify_schedule = \"0 3 * * *\""));

        std::fs::write(&file, "[audit]\nseal_schedule = \"0 3 * *\"\n").unwrap();
        let refused = Config::load(Some(&file), &Overrides::default()).unwrap_err().to_string();
        assert!(
            refused.contains("`0 3 * *` is not a cron expression") && refused.contains("seal_schedule"),
            "{refused}"
        );
        std::fs::write(&file, "[idempotency]\nsweep_schedule = \"0 0 30 2 *\"\n").unwrap();
        let refused = Config::load(Some(&file), &Overrides::default()).unwrap_err().to_string();
        assert!(refused.contains("never fires"), "{refused}");
    }

    #[test]
    fn report_schedules_are_read_from_the_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ordo.toml");
        std::fs::write(
            &file,
            "[[reports.schedules]]\nname = \"monthly-vat\"\ncron = \"0 6 1 * *\"\nkind = \"tax\"\nspan = \"previous_month\"\nmarket = \"DE\"\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), &Overrides::default()).unwrap();
        let schedule = &config.reports.schedules[0];
        assert_eq!((schedule.name.as_str(), schedule.cron.to_string().as_str()), ("monthly-vat", "0 6 1 * *"));
        let params = schedule.params("2026-12-01T06:00:00Z".parse().unwrap());
        assert_eq!((params.from.to_string(), params.to.to_string()), ("2026-11-01".into(), "2026-11-30".into()));
        assert_eq!(params.market.as_deref(), Some("DE"));
        assert!(config.to_redacted_toml().unwrap().contains("span = \"previous_month\""));
        std::fs::write(
            &file,
            "[[reports.schedules]]\nname = \"x\"\ncron = \"0 6 1 * *\"\nkind = \"profit\"\nspan = \"previous_day\"\n",
        )
        .unwrap();
        let refused = Config::load(Some(&file), &Overrides::default()).unwrap_err().to_string();
        assert!(refused.contains("profit"), "{refused}");
    }
}
