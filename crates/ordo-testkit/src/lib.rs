//! Test support: a real Ordo server, bound to port 0 on a fresh database of
//! either backend, and an HTTP client to call it.
//!
//! - SQLite: a new database file in a temporary folder per test.
//! - PostgreSQL: a new database per test on the server named by
//!   `ORDO_TEST_POSTGRES_URL` (an admin connection, e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards.
//!   Without that variable PostgreSQL tests are skipped with a message on
//!   stderr, unless `ORDO_TEST_REQUIRE_POSTGRES=1`, which makes them fail:
//!   the test command and CI set it so that a run can never pass on SQLite
//!   alone.
//!
//! Modules:
//!
//! - this file: [`TestApp`] (a server per test), [`TestDb`] (a fresh
//!   database), [`backend_tests!`] (each test on both backends).
//! - [`fixtures`]: what several test files share: a small shop, an order
//!   body for it, and the `ordo` binary as a child process.
//! - `statements`: counts the SQL statements each request runs
//!   ([`statements_for`], [`commits_for`]).
//! - [`stripe`]: a local stand-in for Stripe's API that asserts Ordo's
//!   requests and counts the money moved per idempotency key.
//! - [`store`]: the store contract suite's harness (`store_tests!`).

use std::net::SocketAddr;

use ordo::{Application, Config};
use ordo_domain::audit::Actor;
use ordo_domain::auth::Role;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use reqwest::{Method, StatusCode};
pub use statements::{commits_for, statements_for};

pub mod fixtures;
mod statements;
pub mod store;
pub mod stripe;

/// Logs at `ORDO_TEST_LOG` (default `warn`) to the test's captured output,
/// and counts SQL statements per request (see [`statements_for`]).
fn init_tracing() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{EnvFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("ORDO_TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
    let counting = Targets::new()
        .with_target("sqlx::query", tracing::Level::TRACE)
        .with_target("ordo_http", tracing::Level::INFO)
        // Statements run inside database operation spans, children of the
        // request's span.
        .with_target(ordo_telemetry::DB_TARGET, tracing::Level::INFO);
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_test_writer().with_filter(EnvFilter::new(filter)))
        .with(statements::counter().with_filter(counting))
        .with(
            ordo_telemetry::DbMetricsLayer
                .with_filter(Targets::new().with_target(ordo_telemetry::DB_TARGET, tracing::Level::INFO)),
        )
        .try_init();
}

/// The two storage backends every test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once per backend, as
/// `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("SQLite is always available");
                    super::$name(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await else { return };
                    super::$name(app).await;
                }
            )*
        }
    };
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    pub backend: Backend,
    /// The URL Ordo connects with.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// For PostgreSQL: the admin URL and the database to drop afterwards.
    drop_on_exit: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database, or `None` if PostgreSQL is not configured
    /// (and not required).
    pub async fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}", dir.path().join("ordo.db").display());
                Some(Self { backend, url, _dir: Some(dir), drop_on_exit: None })
            }
            Backend::Postgres => {
                let admin_url = match std::env::var("ORDO_TEST_POSTGRES_URL") {
                    Ok(url) if !url.is_empty() => url,
                    _ => {
                        let required = std::env::var("ORDO_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
                        assert!(!required, "ORDO_TEST_REQUIRE_POSTGRES=1 but ORDO_TEST_POSTGRES_URL is not set");
                        eprintln!("SKIPPED: PostgreSQL test (set ORDO_TEST_POSTGRES_URL to run it)");
                        return None;
                    }
                };
                let dir = tempfile::tempdir().expect("temporary folder");
                let name = format!("ordo_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin =
                    sqlx::PgConnection::connect(&admin_url).await.expect("connect to ORDO_TEST_POSTGRES_URL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&admin_url).expect("ORDO_TEST_POSTGRES_URL is a URL");
                url.set_path(&name);
                Some(Self { backend, url: url.to_string(), _dir: Some(dir), drop_on_exit: Some((admin_url, name)) })
            }
        }
    }

    /// Ordo's configuration for this database: port 0, migrations on start.
    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database.url = ordo::config::DatabaseUrl::new(self.url.clone());
        config.database.migrate_on_start = Some(true);
        config.database.max_connections = 5;
        config.mail.dir = self.mail_dir().display().to_string();
        config.files.path = self.files_dir().display().to_string();
        // Tests seal the audit trail, and run workers, when they mean to.
        config.audit.seal_interval_ms = 0;
        config.workers.enabled = false;
        config.workers.poll_interval_ms = 50;
        config.workers.heartbeat_ms = 200;
        // The test provider on both backends (PostgreSQL runs it only when
        // it is set explicitly).
        config.payments.provider = Some(ordo::config::PaymentProviderName::Test);
        config
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_on_exit.take() else { return };
        // Drop runs outside async context: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// A running Ordo server and a client for it.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when `server.metrics_listen` gives it its
    /// own port.
    pub metrics_addr: Option<SocketAddr>,
    /// Sends an admin key with every request.
    pub client: reqwest::Client,
    /// Sends no key.
    pub anonymous: reqwest::Client,
    /// The admin key `client` sends.
    pub admin_key: String,
    pub services: ordo_service::Services,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts Ordo on a fresh database of `backend`; `None` when the
    /// backend is not available (see the crate docs).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], letting `adjust` change the configuration.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let db = TestDb::create(backend).await?;
        let mut config = db.config();
        adjust(&mut config);
        Some(Self::start(db, &config).await)
    }

    /// Starts Ordo on an existing test database. Logs go to the test's
    /// captured output at the level in `ORDO_TEST_LOG` (default `warn`).
    pub async fn start(db: TestDb, config: &Config) -> Self {
        init_tracing();
        let app = Application::build(config).await.expect("build application");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let services = app.services().clone();
        // A database that is down (on purpose) gets a well-formed key that
        // cannot be checked.
        let admin_key = match services.keys.create_key(&Actor::system("testkit"), "test admin", Role::Admin, None).await
        {
            Ok((_, token)) => token.expose().to_owned(),
            Err(_) => format!("ordo_{}_{}", uuid::Uuid::now_v7().simple(), "A".repeat(43)),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let client = Self::client_with_key(&admin_key);
        let anonymous = reqwest::Client::builder().build().expect("HTTP client");
        Self {
            addr,
            metrics_addr,
            client,
            anonymous,
            admin_key,
            services,
            db,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Starts a second server on this one's database (another instance of
    /// a scale-out deployment), with its own configuration adjustments. The
    /// database outlives it only as long as `self` lives.
    pub async fn start_peer(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let shared = TestDb { backend: self.db.backend, url: self.db.url.clone(), _dir: None, drop_on_exit: None };
        let mut config = shared.config();
        adjust(&mut config);
        Self::start(shared, &config).await
    }

    /// An HTTP client that sends `key` as its bearer token.
    pub fn client_with_key(key: &str) -> reqwest::Client {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {key}").parse().expect("header value"));
        reqwest::Client::builder().default_headers(headers).build().expect("HTTP client")
    }

    /// Creates a key with `role` and returns its token.
    pub async fn key_for(&self, role: Role) -> String {
        let (_, token) = self
            .services
            .keys
            .create_key(&Actor::system("testkit"), &format!("test {role}"), role, None)
            .await
            .expect("create a test key");
        token.expose().to_owned()
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request; `body`, when given, is sent as JSON.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        TestResponse::read(request.send().await.expect("request reaches the server")).await
    }

    /// GETs `path` as `accept` and returns the status, the content type and
    /// the body's bytes as sent (a PDF is not text).
    pub async fn get_bytes(&self, path: &str, accept: &str) -> (StatusCode, String, Vec<u8>) {
        let response =
            self.client.get(self.url(path)).header("accept", accept).send().await.expect("request reaches the server");
        let status = response.status();
        let content_type =
            response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (status, content_type, response.bytes().await.expect("response body").to_vec())
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> TestResponse {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> TestResponse {
        self.request(Method::PATCH, path, Some(body), &[]).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        TestResponse::read(request.send().await.expect("request reaches the server")).await
    }

    /// Sends `body` with these headers and no others (no API key).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> TestResponse {
        let mut request = reqwest::Client::new().request(method, self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        TestResponse::read(request.send().await.expect("request reaches the server")).await
    }

    /// Stops the server gracefully and waits until it has drained, keeping
    /// the database for a restart with [`TestApp::start`].
    pub async fn stop(mut self) -> TestDb {
        self.stop_server().await;
        let placeholder = TestDb { backend: self.db.backend, url: String::new(), _dir: None, drop_on_exit: None };
        std::mem::replace(&mut self.db, placeholder)
    }

    /// Signals shutdown without waiting; returns the server task.
    pub fn begin_shutdown(&mut self) -> JoinHandle<anyhow::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("server running")
    }

    async fn stop_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl TestResponse {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        Self { status, headers, text }
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self.json()
    }

    /// Asserts a problem+json response with this status and code, and
    /// returns the problem document.
    #[track_caller]
    pub fn expect_problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "problem content type");
        let problem = self.json();
        assert_eq!(problem["code"], code, "problem code; body: {}", self.text);
        assert_eq!(problem["status"], status.as_u16());
        assert_eq!(problem["type"], format!("urn:ordo:problem:{code}"));
        assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "problem has a title");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "problem has a detail");
        problem
    }
}

impl TestDb {
    /// This PostgreSQL database's URL through another server address, e.g.
    /// a PgBouncer given as `postgres://user@host:port/any`.
    pub fn url_via(&self, server: &str) -> String {
        let name = url::Url::parse(&self.url).expect("test database URL").path().trim_start_matches('/').to_owned();
        let mut url = url::Url::parse(server).expect("server URL");
        url.set_path(&name);
        url.to_string()
    }
}

impl TestDb {
    /// Runs raw SQL directly on the database, behind Ordo's back (for
    /// tamper tests).
    pub async fn execute(&self, sql: &str) {
        self.try_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `sql` directly, bypassing Ordo; its error if the database
    /// refuses it.
    pub async fn try_execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("open SQLite");
                let result = sqlx::raw_sql(sql).execute(&mut conn).await.map(drop);
                conn.close().await.ok();
                result
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect to PostgreSQL");
                let result = sqlx::raw_sql(sql).execute(&mut conn).await.map(drop);
                conn.close().await.ok();
                result
            }
        }
    }

    /// Where Ordo's local file store keeps this database's files.
    pub fn files_dir(&self) -> std::path::PathBuf {
        self._dir.as_ref().map_or_else(|| std::env::temp_dir().join("ordo-test-files"), |d| d.path().join("files"))
    }

    /// Where Ordo writes e-mail (`.eml` files) for this database.
    pub fn mail_dir(&self) -> std::path::PathBuf {
        self._dir.as_ref().map_or_else(|| std::env::temp_dir().join("ordo-test-mail"), |d| d.path().join("mail"))
    }

    /// A UUID as an SQL literal of this backend's id columns.
    pub fn uuid_literal(&self, id: uuid::Uuid) -> String {
        match self.backend {
            Backend::Sqlite => format!("X'{}'", id.simple()),
            Backend::Postgres => format!("'{id}'::uuid"),
        }
    }
}
