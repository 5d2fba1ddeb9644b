//! The `ordo` binary: help, configuration layering and redaction,
//! migrations, and serving until SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ordo_testkit::fixtures::{serve, terminate};
use ordo_testkit::{Backend, TestDb, ordo_command};

fn run(command: &mut Command) -> Output {
    command.output().expect("run ordo")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_describes_every_subcommand() {
    let output = run(ordo_command!().arg("--help"));
    assert!(output.status.success());
    let help = stdout(&output);
    for word in ["serve", "migrate", "config", "ORDO_DATABASE_URL"] {
        assert!(help.contains(word), "--help mentions {word}: {help}");
    }
    for sub in ["serve", "migrate", "config"] {
        let output = run(ordo_command!().args([sub, "--help"]));
        assert!(output.status.success(), "{sub} --help");
        assert!(stdout(&output).contains("Usage: ordo"), "{sub} --help has usage");
    }
}

#[test]
fn bad_arguments_fail_clearly() {
    for args in [vec!["frobnicate"], vec!["serve", "--listen", "nowhere"], vec!["serve", "--bogus"], vec![]] {
        let output = run(ordo_command!().args(&args));
        assert!(!output.status.success(), "{args:?} fails");
        assert!(
            stderr(&output).contains("error") || stderr(&output).contains("Usage"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = run(ordo_command!().args(["config", "--config", "/nonexistent/ordo.toml"]));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("/nonexistent/ordo.toml"), "{}", stderr(&output));

    let output = run(ordo_command!().arg("config").env("ORDO_SERVER_LISTEN", "not-an-address"));
    assert!(!output.status.success());
    assert!(stderr(&output).to_lowercase().contains("listen"), "names the bad key: {}", stderr(&output));

    // An unknown payment provider stops the server before it starts.
    let dir = tempfile::tempdir().unwrap();
    let output = run(ordo_command!()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url"])
        .arg(format!("sqlite://{}", dir.path().join("ordo.db").display()))
        .env("ORDO_PAYMENTS_PROVIDER", "paypal"));
    assert!(!output.status.success(), "an unknown provider is refused");
    let message = stderr(&output).to_lowercase();
    assert!(
        message.contains("paypal") && message.contains("payments.provider"),
        "names the key and the value: {message}"
    );
    assert!(!dir.path().join("ordo.db").exists(), "and nothing was created");
}

#[test]
fn config_layers_defaults_file_env_and_flags_and_redacts_secrets() {
    let defaults = stdout(&run(ordo_command!().arg("config")));
    assert!(defaults.contains("listen = \"127.0.0.1:8080\""), "{defaults}");
    assert!(defaults.contains("url = \"sqlite://ordo-data/ordo.db\""), "{defaults}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ordo.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"0.0.0.0:9000\"\nrequest_timeout_ms = 1234\n[database]\nmax_connections = 3\n",
    )
    .unwrap();
    let layered = run(ordo_command!()
        .args(["config", "--config"])
        .arg(&file)
        .env("ORDO_DATABASE_MAX_CONNECTIONS", "7")
        .env("ORDO_DATABASE_URL", "postgres://ordo:hunter2@db.internal:5432/ordo")
        .env("ORDO_MAIL_SMTP_URL", "smtps://mailer:mailsecret@smtp.example:465")
        .env("ORDO_LOG", "debug"));
    assert!(layered.status.success(), "{}", stderr(&layered));
    let text = stdout(&layered);
    assert!(text.contains("listen = \"0.0.0.0:9000\""), "the file sets what env does not: {text}");
    assert!(text.contains("request_timeout_ms = 1234"), "{text}");
    assert!(text.contains("max_connections = 7"), "env overrides the file: {text}");
    assert!(text.contains("filter = \"debug\""), "ORDO_LOG sets the log filter: {text}");
    assert!(text.contains("postgres://ordo:***@db.internal:5432/ordo"), "{text}");
    assert!(!text.contains("hunter2"), "the password never appears: {text}");
    assert!(text.contains("smtps://mailer:***@smtp.example:465") && !text.contains("mailsecret"), "{text}");

    let flagged = run(ordo_command!()
        .args(["config", "--database-url", "sqlite://elsewhere.db"])
        .env("ORDO_DATABASE_URL", "postgres://ordo:hunter2@db.internal/ordo"));
    assert!(stdout(&flagged).contains("url = \"sqlite://elsewhere.db\""), "flags override env: {}", stdout(&flagged));

    let bad_file = dir.path().join("typo.toml");
    std::fs::write(&bad_file, "[server]\nlisten_addr = \"0.0.0.0:1\"\n").unwrap();
    let typo = run(ordo_command!().args(["config", "--config"]).arg(&bad_file));
    assert!(!typo.status.success(), "unknown keys in the file are refused");
    assert!(stderr(&typo).contains("listen_addr"), "{}", stderr(&typo));
}

#[tokio::test]
async fn migrate_applies_migrations_once_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else { continue };
        let first = run(ordo_command!().args(["migrate", "--database-url", &db.url]));
        assert!(first.status.success(), "{backend:?}: {}", stderr(&first));
        let migrations =
            std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ordo-store-sqlite/migrations"))
                .unwrap()
                .count();
        let expected = format!("up to date ({migrations} migration(s) applied)");
        assert!(stdout(&first).contains(&expected), "{backend:?}: {}", stdout(&first));
        let second = run(ordo_command!().args(["migrate", "--database-url", &db.url]));
        assert!(stdout(&second).contains("(0 migration(s) applied)"), "{backend:?}: {}", stdout(&second));
    }
}

/// `ordo bench queue` as `bench/run` uses it: every job enqueued in
/// batches and run once, on both backends, and the figures printed.
#[tokio::test]
async fn bench_queue_runs_every_job_once_and_prints_its_rates() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else { continue };
        let args = ["bench", "queue", "--jobs", "1200", "--batch", "500", "--concurrency", "16"];
        let output = run(ordo_command!().env("ORDO_DATABASE_URL", &db.url).args(args));
        assert!(output.status.success(), "{backend:?}: {}", stderr(&output));
        let figures: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
        assert_eq!(figures["backend"], format!("{backend:?}").to_lowercase());
        assert_eq!((figures["jobs"].as_u64(), figures["batch"].as_u64()), (Some(1200), Some(500)));
        for rate in ["enqueued_per_second", "processed_per_second"] {
            assert!(figures[rate].as_f64().unwrap() > 0.0, "{backend:?}: {rate} in {figures}");
        }
        // Its queue is drained: a second run starts from empty and succeeds.
        let again = run(ordo_command!().env("ORDO_DATABASE_URL", &db.url).args(args));
        assert!(again.status.success(), "{backend:?}: {}", stderr(&again));
    }
}

#[test]
fn migrations_have_the_same_names_on_both_backends() {
    let names = |backend: &str| -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../ordo-store-{backend}/migrations"));
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
}

#[tokio::test]
async fn serve_prints_its_url_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, printed) = serve(ordo_command!().current_dir(dir.path()));
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(dir.path().join("ordo-data/ordo.db").exists(), "the embedded default creates ordo-data/ordo.db");

    // The first start creates an admin key, prints it and saves it privately.
    let key_file = dir.path().join("ordo-data/admin-key");
    let key = std::fs::read_to_string(&key_file).unwrap().trim().to_owned();
    assert!(printed.contains(&key), "the key is printed once: {printed}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let client = ordo_testkit::TestApp::client_with_key(&key);
    assert_eq!(client.get(format!("{url}/v1/products")).send().await.unwrap().status(), 200, "the printed key works");
    assert_eq!(reqwest::get(format!("{url}/v1/products")).await.unwrap().status(), 401, "no key, no access");
    let (status, logs) = terminate(&mut child);
    assert!(status.success(), "exit status {status}: {logs}");
    assert!(logs.contains("stopped"), "{logs}");
    assert!(!logs.contains(&key), "the key never reaches the logs");

    // A second start creates no new key.
    let (mut child, _, printed) = serve(ordo_command!().current_dir(dir.path()));
    assert!(!printed.contains("admin API key"), "{printed}");
    terminate(&mut child);
}

#[tokio::test]
async fn database_passwords_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url, _) = serve(
        ordo_command!()
            .current_dir(dir.path())
            .env("ORDO_DATABASE_URL", "postgres://ordo:hunter2@127.0.0.1:1/ordo")
            .env("ORDO_DATABASE_ACQUIRE_TIMEOUT_MS", "300")
            .env("ORDO_LOG", "debug"),
    );
    // Exercise the failure paths that log errors.
    let ready = reqwest::get(format!("{url}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    // A well-formed key must be looked up, which fails while the database is down.
    let key = format!("ordo_{}_{}", uuid::Uuid::now_v7().simple(), "A".repeat(43));
    let list = ordo_testkit::TestApp::client_with_key(&key).get(format!("{url}/v1/products")).send().await.unwrap();
    assert_eq!(list.status(), 503);
    let (_, logs) = terminate(&mut child);
    assert!(logs.contains("ordo:***@127.0.0.1:1"), "the redacted URL is logged: {logs}");
    assert!(!logs.contains("hunter2"), "the password is not: {logs}");
    assert!(!logs.contains(&key[40..]), "nor the presented key's secret: {logs}");
}

#[tokio::test]
async fn reports_and_exports_run_from_the_command_line() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else { continue };
        let files = tempfile::tempdir().unwrap();
        let with_db = |args: &[&str]| {
            let mut command = ordo_command!();
            command.args(args).args(["--database-url", &db.url]).env("ORDO_FILES_PATH", files.path());
            command
        };
        assert!(run(&mut with_db(&["migrate"])).status.success());
        let seeded = run(&mut with_db(&["seed", "--customers", "10", "--products", "5", "--orders", "40"]));
        assert!(seeded.status.success(), "{}", stderr(&seeded));
        let today = chrono::Utc::now().date_naive();
        let (from, to) = ((today - chrono::Duration::days(400)).to_string(), today.to_string());

        // Every seeded order, one JSON object per line, into a file.
        let out = files.path().join("orders.jsonl");
        let out_arg = out.to_str().unwrap();
        let args =
            ["export", "--kind", "orders", "--from", &from, "--to", &to, "--format", "jsonl", "--output", out_arg];
        let exported = run(&mut with_db(&args));
        assert!(exported.status.success(), "{backend:?}: {}", stderr(&exported));
        let text = std::fs::read_to_string(&out).unwrap();
        let orders: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(orders.len(), 40, "{backend:?}");
        assert!(orders.iter().all(|o| o["lines"].as_array().is_some_and(|l| !l.is_empty())));
        assert!(stderr(&exported).contains("40 rows"), "{}", stderr(&exported));
        // The same again: served from the file store.
        let again = run(&mut with_db(&args));
        assert!(stderr(&again).contains("(from the cache)"), "{}", stderr(&again));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

        // A report to standard output, CSV under its header.
        let report = run(&mut with_db(&["report", "run", "--kind", "sales", "--from", &from, "--to", &to]));
        assert!(report.status.success(), "{}", stderr(&report));
        assert!(stdout(&report).starts_with("day,market,currency,sku,name,orders,quantity,net,tax,gross\r\n"));

        for bad in [
            vec!["report", "run", "--kind", "orders", "--from", "2026-11-01"],
            vec!["export", "--kind", "sales", "--from", "2026-11-01"],
            vec!["export", "--kind", "orders", "--from", "2026-11-01", "--format", "xml"],
            vec!["report", "run", "--kind", "sales", "--from", "2026-11-02", "--to", "2026-11-01"],
        ] {
            let output = run(&mut with_db(&bad));
            assert!(!output.status.success(), "{bad:?} fails");
            assert!(!stderr(&output).is_empty(), "{bad:?} says why");
        }
    }
}

#[tokio::test]
async fn keys_and_audit_commands_manage_keys_and_verify_the_chain() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend).await else { continue };
        if backend == Backend::Postgres {
            assert!(run(ordo_command!().args(["migrate", "--database-url", &db.url])).status.success());
        }
        let with_db = |args: &[&str]| {
            let mut command = ordo_command!();
            command.args(args).args(["--database-url", &db.url]);
            command
        };
        let created = run(&mut with_db(&["keys", "create", "--name", "storefront", "--role", "clerk"]));
        assert!(created.status.success(), "{backend:?}: {}", stderr(&created));
        let text = stdout(&created);
        let key = text.lines().find_map(|l| l.strip_prefix("key:")).unwrap().trim().to_owned();
        let id = text.lines().find_map(|l| l.strip_prefix("id:")).unwrap().trim().to_owned();
        assert!(key.starts_with("ordo_"), "{text}");

        let listed = stdout(&run(&mut with_db(&["keys", "list"])));
        assert!(listed.contains(&id) && listed.contains("clerk") && listed.contains("active"), "{listed}");
        assert!(!listed.contains(&key[38..]), "list never shows secrets: {listed}");

        let revoked = run(&mut with_db(&["keys", "revoke", &id]));
        assert!(revoked.status.success(), "{}", stderr(&revoked));
        assert!(stdout(&run(&mut with_db(&["keys", "list"]))).contains("revoked"));

        for bad in [
            vec!["keys", "create", "--name", "x", "--role", "root"],
            vec!["keys", "create", "--role", "clerk"],
            vec!["keys", "create", "--name", "x", "--role", "clerk", "--expires-in-days", "0"],
            vec!["keys", "revoke", "not-a-uuid"],
            vec!["keys", "revoke", "01a20976-77f7-77e2-9fa5-1613ef23a7b0"],
        ] {
            let output = run(&mut with_db(&bad));
            assert!(!output.status.success(), "{bad:?} fails");
            assert!(stderr(&output).contains("error"), "{bad:?}: {}", stderr(&output));
        }

        let sealed = run(&mut with_db(&["audit", "seal"]));
        assert!(stdout(&sealed).contains("sealed 2 event(s)"), "{backend:?}: {}", stdout(&sealed));
        let verified = run(&mut with_db(&["audit", "verify"]));
        assert!(verified.status.success(), "{}", stdout(&verified));
        assert!(stdout(&verified).contains("ok: the audit trail is intact"));

        db.execute("UPDATE audit_events SET action = 'api_key.forged'").await;
        let tampered = run(&mut with_db(&["audit", "verify"]));
        assert!(!tampered.status.success(), "tampering makes verify fail");
        assert!(
            stdout(&tampered).contains("TAMPERED") && stdout(&tampered).contains("event_altered"),
            "{}",
            stdout(&tampered)
        );
    }
}

/// Starts `ordo worker` on `db` with a short lease, writing its e-mail
/// into the test database's folder.
#[allow(clippy::zombie_processes)] // stopped by the caller with `kill`
fn worker_process(db: &ordo_testkit::TestDb) -> std::process::Child {
    ordo_command!()
        .args(["worker", "--database-url", &db.url])
        .env("ORDO_MAIL_DIR", db.mail_dir())
        .env("ORDO_WORKERS_LEASE_MS", "1500")
        .env("ORDO_PAYMENTS_PROVIDER", "test")
        .env("ORDO_WORKERS_HEARTBEAT_MS", "300")
        .env("ORDO_WORKERS_POLL_INTERVAL_MS", "100")
        .env("ORDO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ordo worker")
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `ordo import` killed with SIGKILL mid-file: the chunks it committed
/// stand, and the same file imported again resumes after them, so every
/// row is applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_mid_file_resumes_after_its_last_chunk_and_applies_no_row_twice() {
    use ordo_testkit::{StatusCode, TestApp};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else { continue };
        let rows = 40_000_i64;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("products.csv");
        let mut csv = String::from("sku,name,price_EUR\n");
        for i in 0..rows {
            csv.push_str(&format!("K9-{i:06},Killed {i},{}.99\n", i % 50 + 1));
        }
        std::fs::write(&file, csv).unwrap();
        let import = || {
            let mut command = ordo_command!();
            command
                .args(["import", file.to_str().unwrap(), "--kind", "products", "--chunk-rows", "500"])
                .args(["--database-url", &app.db.url])
                .env("ORDO_FILES_PATH", app.db.files_dir())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            command
        };
        let mut doomed = import().spawn().unwrap();
        // Killed once a few chunks are in, mid-way through the file.
        let id = loop {
            let list = app.get("/v1/imports").await.expect(StatusCode::OK);
            let running = list["items"].as_array().unwrap().first().cloned();
            // Past the check (the default refuses bad rows, so checks first).
            let applying =
                |i: &serde_json::Value| i["stage"] == "applying" && i["rows_done"].as_i64().unwrap() >= 1_500;
            if let Some(i) = running.filter(applying) {
                break i["id"].as_str().unwrap().to_owned();
            }
            assert!(doomed.try_wait().unwrap().is_none(), "{backend:?}: the import ended before it could be killed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let killed = Command::new("kill").args(["-KILL", &doomed.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let _ = doomed.wait();
        let cut = app.get(&format!("/v1/imports/{id}")).await.expect(StatusCode::OK);
        let done = cut["rows_done"].as_i64().unwrap();
        assert_eq!(cut["status"], "running", "{backend:?}: {cut}");
        assert!(done < rows, "{backend:?}: killed before the end: {cut}");
        assert_eq!((done % 500, cut["created"].as_i64().unwrap()), (0, done), "{backend:?}: whole chunks only");

        // The same file again is the same import, and goes on from there.
        let resumed = import().output().unwrap();
        let said = String::from_utf8_lossy(&resumed.stderr).into_owned();
        assert!(resumed.status.success(), "{backend:?}: {said}");
        assert!(said.contains(&format!("import {id} (this file was imported before): succeeded")), "{said}");
        let end = app.get(&format!("/v1/imports/{id}")).await.expect(StatusCode::OK);
        let counts: Vec<i64> = ["rows_done", "created", "updated", "unchanged", "rejected"]
            .iter()
            .map(|k| end[k].as_i64().unwrap())
            .collect();
        assert_eq!(counts, [rows, rows, 0, 0, 0], "{backend:?}: every row applied exactly once: {end}");
        let page = app.get("/v1/products?sku_prefix=K9-&limit=1").await.expect(StatusCode::OK);
        assert_eq!(page["items"][0]["sku"], "K9-000000");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_workers_job_runs_again_once_and_workers_never_share_a_job() {
    use ordo_testkit::{StatusCode, TestApp};
    use serde_json::json;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = TestApp::spawn(backend).await else { continue };
        let url = app.db.url.clone();
        let shop = ordo_testkit::fixtures::shop(&app).await;
        let place = |token: &'static str| {
            let (app, shop) = (&app, &shop);
            async move {
                let mut body = ordo_testkit::fixtures::order_body(shop, json!([{"sku": "TEE", "quantity": 1}]));
                body["payment_token"] = json!(token);
                app.post("/v1/orders", &body).await.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_owned()
            }
        };
        let paid_events = |id: String| {
            let app = &app;
            async move {
                let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
                timeline["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "paid").count()
            }
        };

        // The provider takes 2 s: kill the worker in the middle of the call.
        let slow = place("tok_slow").await;
        let mut doomed = worker_process(&app.db);
        wait_for("the job to start", async || {
            let jobs = app.get("/v1/jobs?queue=payments&state=running").await.expect(StatusCode::OK);
            !jobs["items"].as_array().unwrap().is_empty()
        })
        .await;
        let killed = Command::new("kill").args(["-KILL", &doomed.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let _ = doomed.wait();
        let mut survivors = [worker_process(&app.db), worker_process(&app.db)];
        if backend == Backend::Sqlite {
            // A worker can serve /metrics: job figures are there.
            let mut observed = ordo_command!()
                .args(["worker", "--database-url", &url])
                .env("ORDO_MAIL_DIR", app.db.mail_dir())
                .env("ORDO_WORKERS_METRICS_LISTEN", "127.0.0.1:0")
                .env("ORDO_LOG", "info")
                .env("ORDO_LOG_FORMAT", "json")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stderr = BufReader::new(observed.stderr.take().unwrap());
            let address = loop {
                let mut line = String::new();
                assert!(stderr.read_line(&mut line).unwrap() > 0, "the worker logs its metrics address");
                if line.contains("serving /metrics") {
                    let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
                    break parsed["address"].as_str().unwrap().to_owned();
                }
            };
            let text = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
            assert!(text.contains("ordo_jobs") && text.contains("process_resident_memory_bytes"), "{text}");
            let killed = Command::new("kill").args(["-TERM", &observed.id().to_string()]).status().unwrap();
            assert!(killed.success());
            let _ = observed.wait();
        }
        wait_for("the rescued job to finish", async || paid_events(slow.clone()).await == 1).await;

        // Two workers, many jobs: every order is paid exactly once.
        let mut orders = Vec::new();
        for _ in 0..8 {
            orders.push(place("tok_approve").await);
        }
        for id in &orders {
            wait_for("every order to be paid", async || paid_events(id.clone()).await >= 1).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for id in orders.iter().chain([&slow]) {
            assert_eq!(paid_events(id.clone()).await, 1, "{backend:?}: order {id} was paid exactly once");
        }
        let attempts: Vec<serde_json::Value> = {
            let jobs = app.get("/v1/jobs").await.expect(StatusCode::OK);
            jobs["items"].as_array().unwrap().clone()
        };
        assert!(
            attempts.iter().all(|j| j["name"] != "order.authorize_payment"),
            "payment jobs finished and left the queue: {attempts:?}"
        );
        for worker in &mut survivors {
            let (status, logs) = terminate(worker);
            assert!(status.success(), "{backend:?}: the worker stops cleanly: {logs}");
        }
    }
}

#[tokio::test]
async fn log_lines_carry_request_ids_in_text_and_json() {
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, url, _) =
            serve(ordo_command!().current_dir(dir.path()).env("ORDO_LOG", "debug").env("ORDO_LOG_FORMAT", format));
        let client = reqwest::Client::new();
        let response =
            client.get(format!("{url}/v1/products")).header("x-request-id", "trace-me-4242").send().await.unwrap();
        assert_eq!(response.status(), 401);
        let (_, logs) = terminate(&mut child);
        let line = logs
            .lines()
            .find(|l| l.contains("trace-me-4242"))
            .unwrap_or_else(|| panic!("{format}: no line has the request id:\n{logs}"));
        if format == "json" {
            let parsed: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(parsed.to_string().contains("trace-me-4242"));
        }
    }
}
