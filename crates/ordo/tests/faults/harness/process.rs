//! `ordo` as child processes: the compiled binary, configured only through
//! `ORDO_*` environment variables, its stdout and stderr in files (so a
//! crash cannot block on a full pipe, and a failure can show the logs).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs a CLI command (`migrate`, `keys create`, `audit verify`) to the
/// end, or kills it after two minutes.
pub(crate) async fn run_cli(mut command: Command) -> std::process::Output {
    command.stdin(Stdio::null());
    let mut command = tokio::process::Command::from(command);
    let described = format!("{:?}", command.as_std().get_args().collect::<Vec<_>>());
    let output = tokio::time::timeout(Duration::from_secs(120), command.kill_on_drop(true).output()).await;
    output.unwrap_or_else(|_| panic!("ordo {described} did not finish within 2 minutes")).expect("run ordo")
}

/// A running `ordo serve` or `ordo worker`. Dropping it kills it.
#[derive(Debug)]
pub(crate) struct OrdoProcess {
    pub(crate) name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    exit: Option<ExitStatus>,
}

impl OrdoProcess {
    /// Starts `command`, writing its output to `<dir>/<name>.out` and
    /// `<dir>/<name>.log`.
    pub(crate) fn spawn(mut command: Command, name: &str, dir: &Path) -> Self {
        let stdout = dir.join(format!("{name}.out"));
        let stderr = dir.join(format!("{name}.log"));
        let child = command
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("create stdout file"))
            .stderr(File::create(&stderr).expect("create log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self { name: name.to_owned(), child, stdout, stderr, exit: None }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it printed on stdout so far.
    pub(crate) fn printed(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits until stdout contains `needle`; `Err` if the process exits
    /// first or `timeout` passes.
    pub(crate) async fn wait_for_output(&mut self, needle: &str, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if self.printed().contains(needle) {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.try_exit() {
                return Err(format!(
                    "{} exited ({status}) before printing {needle:?}:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            if started.elapsed() > timeout {
                return Err(format!(
                    "{} did not print {needle:?} within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Its exit status, if it has exited.
    pub(crate) fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// `kill -9`, and reaps it.
    pub(crate) fn kill9(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill(); // SIGKILL
            self.exit = self.child.wait().ok();
        }
    }

    /// `kill -TERM`: asks it to stop cleanly.
    pub(crate) fn terminate(&mut self) {
        if self.try_exit().is_none() {
            let sent = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
            assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {}", self.pid());
        }
    }

    /// Waits for it to exit, at most `timeout`.
    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The last `lines` lines of its log.
    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The whole log.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for OrdoProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
