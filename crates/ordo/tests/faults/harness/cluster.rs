//! A PostgreSQL cluster of the suite's own, in a temporary folder: the
//! outage scenario stops it hard, which no shared server may suffer. It is
//! started as `scripts/test` starts its throwaway cluster (as the
//! `postgres` user when the suite runs as root, which PostgreSQL refuses),
//! on a port below the kernel's ephemeral range, where a client's local
//! port cannot make the bind fail.
//!
//! `fsync=off` is safe here: only PostgreSQL's processes are stopped, never
//! the machine, and a commit still reaches the operating system before it
//! is acknowledged. `synchronous_commit` stays on: with it off an immediate
//! stop loses acknowledged commits, and the suite would blame Ordo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{folder, loud, postgres_required};

/// Where `initdb` and `pg_ctl` are.
#[derive(Debug, Clone)]
pub(crate) struct PgTools {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

impl PgTools {
    /// Finds them on `PATH` or under `/usr/lib/postgresql/*/bin` (the
    /// newest). Without them: `None` after a loud message, or a panic when
    /// `ORDO_TEST_REQUIRE_POSTGRES=1`.
    pub(crate) fn find(scenario: &str) -> Option<Self> {
        let found = |tool: &str| -> Option<PathBuf> {
            if let Some(path) = std::env::var_os("PATH") {
                for dir in std::env::split_paths(&path) {
                    if dir.join(tool).is_file() {
                        return Some(dir.join(tool));
                    }
                }
            }
            let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
                    let path = entry.path().join("bin").join(tool);
                    path.is_file().then_some((version, path))
                })
                .collect();
            versions.sort();
            versions.pop().map(|(_, path)| path)
        };
        match (found("initdb"), found("pg_ctl")) {
            (Some(initdb), Some(pg_ctl)) => Some(Self { initdb, pg_ctl }),
            _ => {
                assert!(
                    !postgres_required(),
                    "ORDO_TEST_REQUIRE_POSTGRES=1 but initdb/pg_ctl are not installed: {scenario} cannot run"
                );
                loud(&format!(
                    "WARNING: fault scenario `{scenario}` on PostgreSQL is SKIPPED: initdb and pg_ctl are not \
                     installed (apt-get install postgresql)."
                ));
                None
            }
        }
    }
}

/// A running (or stopped) throwaway cluster.
#[derive(Debug)]
pub(crate) struct Cluster {
    tools: PgTools,
    dir: tempfile::TempDir,
    /// `runuser -u postgres --` when running as root.
    run_as: Vec<String>,
    pub(crate) port: u16,
}

impl Cluster {
    /// `initdb` and start, on a free port in 25600..25700.
    pub(crate) fn create(tools: &PgTools) -> Self {
        let dir = folder("ordo-faults-pg.");
        let run_as = if running_as_root() {
            let user = if Command::new("id").arg("postgres").output().is_ok_and(|o| o.status.success()) {
                "postgres"
            } else {
                "nobody"
            };
            let chown = Command::new("chown").args([user, &dir.path().display().to_string()]).status();
            assert!(chown.is_ok_and(|s| s.success()), "chown the cluster's folder to {user}");
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .expect("runuser, to run PostgreSQL as an unprivileged user");
            vec![runuser.to_owned(), "-u".to_owned(), user.to_owned(), "--".to_owned()]
        } else {
            Vec::new()
        };
        let mut cluster = Self { tools: tools.clone(), dir, run_as, port: 0 };
        let data = cluster.data_dir();
        let initdb =
            cluster.command(&tools.initdb, &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        assert!(initdb.status.success(), "initdb failed: {}", String::from_utf8_lossy(&initdb.stderr));
        // A port can be taken between the probe and the bind: try others.
        let offset = std::process::id() as u16 % 100;
        for attempt in 0..100u16 {
            let port = 25600 + (offset + attempt * 7) % 100;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            cluster.port = port;
            if cluster.try_start().is_ok() {
                return cluster;
            }
        }
        panic!("could not start PostgreSQL on any port in 25600..25700:\n{}", cluster.server_log());
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, program: &Path, args: &[&str]) -> Output {
        let mut command = match self.run_as.split_first() {
            Some((runuser, rest)) => {
                let mut command = Command::new(runuser);
                command.args(rest).arg(program);
                command
            }
            None => Command::new(program),
        };
        command.args(args).current_dir(self.dir.path()).output().expect("run a PostgreSQL tool")
    }

    fn try_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200 \
             -c log_lock_waits=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let started = self.command(
            &self.tools.pg_ctl,
            &["-D", &self.data_dir(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"],
        );
        if started.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&started.stderr).into_owned()) }
    }

    /// Starts it again (after [`Cluster::stop_immediate`]); returns when it
    /// accepts connections, crash recovery done.
    pub(crate) fn start(&self) -> Duration {
        let started = Instant::now();
        if let Err(e) = self.try_start() {
            panic!("PostgreSQL did not start again: {e}\n{}", self.server_log());
        }
        started.elapsed()
    }

    /// `pg_ctl stop -m immediate`: every PostgreSQL process quits at once,
    /// as in a crash, and the next start runs crash recovery.
    pub(crate) fn stop_immediate(&self) {
        let stopped = self.command(&self.tools.pg_ctl, &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"]);
        assert!(stopped.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&stopped.stderr));
    }

    /// The admin URL Ordo uses (its own database in the cluster).
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self.command(&self.tools.pg_ctl, &["-D", &self.data_dir(), "-m", "immediate", "stop"]);
        }
    }
}

/// Whether this process runs as root (the owner of `/proc/self` is the
/// effective user).
pub(crate) fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
