//! One Ordo installation under test: its database (an SQLite file, or the
//! suite's own PostgreSQL cluster), an admin key made with `ordo keys
//! create`, one `ordo serve` on a fixed port (clients reconnect to the same
//! address after a restart, as behind a load balancer) and, on PostgreSQL,
//! separate `ordo worker` processes.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::cluster::{Cluster, PgTools};
use super::process::{OrdoProcess, run_cli};
use super::{Backend, Settings, folder};

/// How long a SIGTERM'd process may take: the configured shutdown timeout,
/// plus a margin for the process to exit.
pub(crate) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const EXIT_MARGIN: Duration = Duration::from_secs(3);
/// Jobs each process runs at once (the default, set explicitly).
pub(crate) const WORKER_CONCURRENCY: usize = 8;

/// Which process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Serve,
    Worker(usize),
}

/// Fields drop in order: the processes die before their database and
/// folder go.
#[derive(Debug)]
pub(crate) struct Deployment {
    pub(crate) serve: Option<OrdoProcess>,
    pub(crate) workers: Vec<Option<OrdoProcess>>,
    /// Processes killed or stopped, kept for their logs.
    pub(crate) old_processes: Vec<OrdoProcess>,
    pub(crate) backend: Backend,
    pub(crate) cluster: Option<Cluster>,
    /// Logs, e-mails and (unless placed elsewhere) the SQLite database.
    pub(crate) dir: tempfile::TempDir,
    pub(crate) database_url: String,
    pub(crate) sqlite_path: Option<PathBuf>,
    pub(crate) port: u16,
    pub(crate) key: String,
    /// Run job workers inside `ordo serve`.
    serve_workers: bool,
    /// Processes started so far, to name their log files.
    started: usize,
    /// Settings of this scenario's own, passed to every process.
    pub(crate) env: Vec<(String, String)>,
}

impl Deployment {
    /// A fresh SQLite database at `path` (default: in the deployment's
    /// folder), with its key; workers run inside `serve`.
    pub(crate) async fn sqlite(path: Option<PathBuf>) -> Self {
        let dir = folder("ordo-faults.");
        let path = path.unwrap_or_else(|| dir.path().join("ordo.db"));
        let mut deployment = Self::new(Backend::Sqlite, dir, format!("sqlite://{}", path.display()), None);
        deployment.sqlite_path = Some(path);
        deployment.create_key().await;
        deployment
    }

    /// A fresh PostgreSQL cluster, migrated with `ordo migrate`, with its
    /// key and `workers` worker processes to come (`serve_workers`: also run
    /// workers inside `serve`). `None` when PostgreSQL is not installed and
    /// not required.
    pub(crate) async fn postgres(scenario: &str, workers: usize, serve_workers: bool) -> Option<Self> {
        let tools = PgTools::find(scenario)?;
        let cluster = Cluster::create(&tools);
        let dir = folder("ordo-faults.");
        let url = cluster.url();
        let mut deployment = Self::new(Backend::Postgres, dir, url, Some(cluster));
        deployment.serve_workers = serve_workers;
        deployment.workers = (0..workers).map(|_| None).collect();
        let migrated = run_cli(deployment.command(&["migrate"])).await;
        assert!(migrated.status.success(), "ordo migrate: {}", String::from_utf8_lossy(&migrated.stderr));
        deployment.create_key().await;
        Some(deployment)
    }

    fn new(backend: Backend, dir: tempfile::TempDir, database_url: String, cluster: Option<Cluster>) -> Self {
        Self {
            backend,
            dir,
            database_url,
            sqlite_path: None,
            cluster,
            port: free_port(),
            key: String::new(),
            serve_workers: true,
            serve: None,
            workers: Vec::new(),
            started: 0,
            old_processes: Vec::new(),
            env: Vec::new(),
        }
    }

    /// The base URL of the API.
    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `ordo <args>` configured for this deployment. Everything is left at
    /// its default except what makes a test's timescale short (leases,
    /// polling, sealing), what a load test needs (no rate limit) and where
    /// files go. Pool and acquire timeouts stay at their defaults: how Ordo
    /// fails under them is what is tested.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = ordo_testkit::ordo_command!();
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("ORDO_DATABASE_URL", &self.database_url)
            .env("ORDO_SERVER_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("ORDO_SERVER_SHUTDOWN_TIMEOUT_MS", SHUTDOWN_TIMEOUT.as_millis().to_string())
            .env("ORDO_RATE_LIMIT_ENABLED", "false")
            .env("ORDO_PAYMENTS_PROVIDER", "test")
            .env("ORDO_AUTH_BOOTSTRAP_ADMIN", "false")
            .env("ORDO_MAIL_DIR", self.dir.path().join("mail"))
            .env("ORDO_WORKERS_CONCURRENCY", WORKER_CONCURRENCY.to_string())
            .env("ORDO_WORKERS_LEASE_MS", "5000")
            .env("ORDO_WORKERS_HEARTBEAT_MS", "500")
            .env("ORDO_WORKERS_POLL_INTERVAL_MS", "200")
            .env("ORDO_AUDIT_SEAL_INTERVAL_MS", "1000")
            .env("ORDO_LOG", &Settings::get().log)
            // JSON, so the suite can quote what went wrong.
            .env("ORDO_LOG_FORMAT", "json");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    async fn create_key(&mut self) {
        self.key = self.new_key("faults").await;
    }

    /// A new admin key, made with `ordo keys create`.
    pub(crate) async fn new_key(&self, name: &str) -> String {
        let created = run_cli(self.command(&["keys", "create", "--name", name, "--role", "admin"])).await;
        let printed = String::from_utf8_lossy(&created.stdout);
        assert!(created.status.success(), "ordo keys create: {}", String::from_utf8_lossy(&created.stderr));
        printed
            .lines()
            .find_map(|l| l.strip_prefix("key:"))
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|| panic!("ordo keys create prints the key: {printed}"))
    }

    fn next_name(&mut self, role: &str) -> String {
        self.started += 1;
        format!("{:02}-{role}", self.started)
    }

    /// Starts `ordo serve` without waiting for it.
    pub(crate) fn spawn_serve(&mut self) -> &mut OrdoProcess {
        assert!(self.serve.is_none(), "serve is already running");
        let name = self.next_name("serve");
        let mut command = self.command(&["serve"]);
        command.env("ORDO_WORKERS_ENABLED", self.serve_workers.to_string());
        self.serve.insert(OrdoProcess::spawn(command, &name, self.dir.path()))
    }

    /// Starts `ordo serve` and waits until it listens; returns how long
    /// that took.
    pub(crate) async fn start_serve(&mut self) -> Duration {
        let serve = self.spawn_serve();
        match serve.wait_for_output("Ordo is listening on", Duration::from_secs(60)).await {
            Ok(took) => took,
            Err(e) => panic!("{e}"),
        }
    }

    pub(crate) fn start_worker(&mut self, index: usize) {
        assert!(self.workers[index].is_none(), "worker {index} is already running");
        let name = self.next_name(&format!("worker{index}"));
        let command = self.command(&["worker"]);
        self.workers[index] = Some(OrdoProcess::spawn(command, &name, self.dir.path()));
    }

    /// Starts `serve` and every worker.
    pub(crate) async fn start_all(&mut self) {
        self.start_serve().await;
        for index in 0..self.workers.len() {
            self.start_worker(index);
        }
    }

    /// Whether `role` runs jobs (webhook deliveries among them).
    pub(crate) fn runs_jobs(&self, role: Role) -> bool {
        match role {
            Role::Serve => self.serve_workers,
            Role::Worker(_) => true,
        }
    }

    /// Every role running now.
    pub(crate) fn roles(&self) -> Vec<Role> {
        let mut roles = vec![Role::Serve];
        roles.extend((0..self.workers.len()).map(Role::Worker));
        roles
    }

    fn slot(&mut self, role: Role) -> &mut Option<OrdoProcess> {
        match role {
            Role::Serve => &mut self.serve,
            Role::Worker(index) => &mut self.workers[index],
        }
    }

    /// `kill -9` of one process; it is kept (for its log) until the end.
    pub(crate) fn kill9(&mut self, role: Role) {
        if let Some(mut process) = self.slot(role).take() {
            process.kill9();
            self.old_processes.push(process);
        }
    }

    /// Starts a killed or stopped process again.
    pub(crate) async fn restart(&mut self, role: Role) {
        match role {
            Role::Serve => {
                self.start_serve().await;
            }
            Role::Worker(index) => self.start_worker(index),
        }
    }

    /// Sends SIGTERM to `role` (see [`Deployment::wait_exit`]).
    pub(crate) fn send_term(&mut self, role: Role) {
        if let Some(process) = self.slot(role) {
            process.terminate();
        }
    }

    /// Waits for `role` to exit after a SIGTERM, for the shutdown timeout
    /// and a margin: its exit status (`None`: still running, then killed)
    /// and how long it took. The slot is then free for a restart.
    pub(crate) async fn wait_exit(&mut self, role: Role, since: Instant) -> (Option<ExitStatus>, Duration) {
        let Some(mut process) = self.slot(role).take() else { return (None, Duration::ZERO) };
        let status = process.wait_exit((SHUTDOWN_TIMEOUT + EXIT_MARGIN).saturating_sub(since.elapsed())).await;
        let took = since.elapsed();
        process.kill9();
        self.old_processes.push(process);
        (status, took)
    }

    /// SIGTERM, then the wait, for one process.
    pub(crate) async fn terminate(&mut self, role: Role) -> (Option<ExitStatus>, Duration) {
        let asked = Instant::now();
        self.send_term(role);
        self.wait_exit(role, asked).await
    }

    /// SIGTERM to every process at once; the roles that did not exit with
    /// status 0 in time, with what they did.
    pub(crate) async fn stop_all(&mut self) -> Vec<String> {
        let asked = Instant::now();
        // A process that already exited on its own is reported too.
        let roles: Vec<Role> = self.roles().into_iter().filter(|r| self.slot(*r).is_some()).collect();
        for role in &roles {
            self.send_term(*role);
        }
        let mut failures = Vec::new();
        for role in roles {
            let log = self.slot(role).as_ref().map(|p| (p.name.clone(), p.log_tail(20))).unwrap_or_default();
            match self.wait_exit(role, asked).await {
                (Some(status), _) if status.success() => {}
                (Some(status), _) => {
                    failures.push(format!("{role:?} ({}) exited with {status} after SIGTERM:\n{}", log.0, log.1));
                }
                (None, took) => failures.push(format!("{role:?} ({}) still ran {took:?} after SIGTERM", log.0)),
            }
        }
        failures
    }

    /// `ordo audit verify`: whether it exited 0, and what it printed.
    pub(crate) async fn audit_verify(&self) -> (bool, String) {
        let output = run_cli(self.command(&["audit", "verify"])).await;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
            .trim()
            .to_owned();
        (output.status.success(), text)
    }

    /// The events every process so far logged at `level` (`ERROR`,
    /// `WARN`), each as `target: message field=value...`.
    pub(crate) fn logged(&self, level: &str) -> Vec<String> {
        let processes = self.old_processes.iter().chain(self.serve.iter()).chain(self.workers.iter().flatten());
        let mut events = Vec::new();
        for process in processes {
            for line in process.log().lines() {
                let Ok(serde_json::Value::Object(event)) = serde_json::from_str(line) else { continue };
                if event.get("level").and_then(|l| l.as_str()) != Some(level) {
                    continue;
                }
                let text = |key: &str| event.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let mut described = format!("{}: {}", text("target"), text("message"));
                for (key, value) in &event {
                    if !["timestamp", "level", "target", "message", "span", "spans", "request_id"]
                        .contains(&key.as_str())
                    {
                        let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
                        described.push_str(&format!(" {key}={value}"));
                    }
                }
                events.push(described);
            }
        }
        events
    }
}

/// A port for `ordo serve` that stays the same across restarts: free now,
/// below the ephemeral range (26000..27000) so that no client's local port
/// takes it while the server is down.
fn free_port() -> u16 {
    let offset = (std::process::id() as u16).wrapping_mul(31) % 1000;
    for attempt in 0..1000u16 {
        let port = 26000 + (offset + attempt * 13) % 1000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 26000..27000");
}
