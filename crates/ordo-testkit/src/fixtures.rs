//! Fixtures the test suites share: a small shop made through the API, an
//! order body for it, and the `ordo` binary as a child process. One copy
//! each, so a change to what an order needs is made once.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{StatusCode, TestApp};

/// A market, two locations, two products, a customer and stock.
#[derive(Debug)]
pub struct Shop {
    pub customer: String,
    pub near: String,
    pub far: String,
}

/// Makes the [`Shop`] through the API: market `DE` (EUR, 19 % tax),
/// locations `NEAR` (priority 10) and `FAR` (20), products `TEE` (19.99)
/// and `MUG` (10.00) priced in EUR and USD, a customer, and stock: 3 `TEE`
/// near, 10 `TEE` and 5 `MUG` far.
pub async fn shop(app: &TestApp) -> Shop {
    app.post(
        "/v1/markets",
        &json!({"code": "DE", "name": "Germany", "currency": "EUR", "tax_rate_bp": 1900, "locale": "de-DE"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let near = app
        .post("/v1/locations", &json!({"code": "NEAR", "name": "Near", "priority": 10}))
        .await
        .expect(StatusCode::CREATED);
    let far = app
        .post("/v1/locations", &json!({"code": "FAR", "name": "Far", "priority": 20}))
        .await
        .expect(StatusCode::CREATED);
    for (sku, price) in [("TEE", 1999), ("MUG", 1000)] {
        app.post("/v1/products", &json!({"sku": sku, "name": sku, "prices": [{"amount": price, "currency": "EUR"}, {"amount": price + 1, "currency": "USD"}]}))
            .await
            .expect(StatusCode::CREATED);
    }
    let customer = app
        .post("/v1/customers", &json!({"email": "buyer@example.com", "name": "Buyer"}))
        .await
        .expect(StatusCode::CREATED);
    let shop = Shop {
        customer: customer["id"].as_str().unwrap().to_owned(),
        near: near["id"].as_str().unwrap().to_owned(),
        far: far["id"].as_str().unwrap().to_owned(),
    };
    receive(app, "TEE", &shop.near, 3).await;
    receive(app, "TEE", &shop.far, 10).await;
    receive(app, "MUG", &shop.far, 5).await;
    shop
}

/// Receives `quantity` of `sku` into `location`.
pub async fn receive(app: &TestApp, sku: &str, location: &str, quantity: i64) {
    app.post("/v1/stock/receipts", &json!({"sku": sku, "location_id": location, "quantity": quantity}))
        .await
        .expect(StatusCode::CREATED);
}

/// A German shipping address.
pub fn shipping_address() -> Value {
    json!({"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"})
}

/// An order of `lines` by the shop's customer in market `DE`.
pub fn order_body(shop: &Shop, lines: Value) -> Value {
    let mut body = json!({
        "customer_id": shop.customer,
        "market": "DE",
        "shipping_address": shipping_address(),
    });
    body["lines"] = lines;
    body
}

/// The `ordo` binary, for the `ordo` package's own tests, as a
/// [`std::process::Command`] with none of the developer's `ORDO_*` or
/// `OTEL_*` variables. A macro because only those tests know where Cargo
/// built the binary (`CARGO_BIN_EXE_ordo`).
#[macro_export]
macro_rules! ordo_command {
    () => {
        $crate::fixtures::without_ordo_env(::std::process::Command::new(env!("CARGO_BIN_EXE_ordo")))
    };
}

/// `command` started from a clean slate whatever the developer's shell
/// exports (see [`ordo_command!`](crate::ordo_command)).
pub fn without_ordo_env(mut command: Command) -> Command {
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ORDO_") || k.starts_with("OTEL_")) {
        command.env_remove(key);
    }
    command
}

/// The threads reading the stderr of processes started by [`serve`], by
/// process id, for [`terminate`] to collect.
static STDERR_READERS: std::sync::Mutex<Vec<(u32, std::thread::JoinHandle<String>)>> =
    std::sync::Mutex::new(Vec::new());

/// Starts `ordo serve` on port 0 and returns the child, its URL and what it
/// printed. The caller stops it with [`terminate`], which waits for it.
#[allow(clippy::zombie_processes)]
pub fn serve(command: &mut Command) -> (Child, String, String) {
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ordo serve");
    // Read stderr from the start: a process that logs more than a pipe
    // holds (debug logs of every migration) would otherwise block on
    // writing before it printed its URL, and never start.
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut logs = String::new();
        let _ = stderr.read_to_string(&mut logs);
        logs
    });
    STDERR_READERS.lock().unwrap().push((child.id(), reader));
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "serve prints its URL: {printed:?}");
        printed.push_str(&line);
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            return (child, url.to_owned(), printed);
        }
    }
}

/// Sends SIGTERM to a process started by [`serve`], waits up to 10 s for
/// it to exit, and returns its status and its stderr.
pub fn terminate(child: &mut Child) -> (ExitStatus, String) {
    // A process started by `serve` has had its stderr read since it started.
    let started = {
        let mut readers = STDERR_READERS.lock().unwrap();
        readers.iter().position(|(id, _)| *id == child.id()).map(|at| readers.swap_remove(at).1)
    };
    // Otherwise read it while it shuts down, for the same reason.
    let reader = started.unwrap_or_else(|| {
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut logs = String::new();
            let _ = stderr.read_to_string(&mut logs);
            logs
        })
    });
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "ordo stops within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    (status, reader.join().unwrap())
}

/// Enqueues a job `name` on `queue` (one attempt, no-op payload) straight
/// into the store, as if a service had; returns its id.
pub async fn enqueue_job(app: &TestApp, queue: &str, name: &str) -> uuid::Uuid {
    let job = ordo_domain::job::NewJob {
        id: uuid::Uuid::now_v7(),
        queue: queue.into(),
        name: name.into(),
        payload: json!({"n": 1}),
        priority: 0,
        max_attempts: 1,
        run_at: ordo_domain::time::now(),
        unique_key: None,
        trace_parent: None,
    };
    let mut tx = app.services.db.begin().await.unwrap();
    assert!(tx.enqueue_job(&job).await.unwrap());
    tx.commit().await.unwrap();
    job.id
}

/// Claims the job `id` of `queue` and fails its only attempt, so that it is
/// dead; the other jobs claimed on the way go back untouched.
pub async fn kill_job(app: &TestApp, queue: &str, id: uuid::Uuid) {
    let now = ordo_domain::time::now();
    let mut tx = app.services.db.begin().await.unwrap();
    let claimed =
        tx.claim_jobs(&[queue.to_owned()], "test", 10, now + chrono::Duration::seconds(30), now).await.unwrap();
    for job in &claimed {
        if job.id == id {
            assert!(tx.fail_job(id, job.attempt_id.unwrap(), "boom", None).await.unwrap());
        } else {
            assert!(tx.release_job(job.id, job.attempt_id.unwrap()).await.unwrap(), "others go back untouched");
        }
    }
    tx.commit().await.unwrap();
}
