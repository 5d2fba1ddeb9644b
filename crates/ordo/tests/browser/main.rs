//! The web admin in a real browser: Debian's chromium, headless, driven
//! through chromedriver (WebDriver) by fantoccini, against the real server
//! on a fresh SQLite database. Screenshots of the main pages are saved to
//! `target/admin-screenshots/`.
//!
//! Without `chromedriver` on the PATH (Debian's `chromium-driver`) the walk
//! is skipped with a note, or fails with `ORDO_TEST_REQUIRE_BROWSER=1` (as
//! CI sets it).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use ordo_domain::auth::Role;
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{Backend, StatusCode, TestApp};
use serde_json::json;

/// A chromedriver of our own on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Option<Driver> {
    let found = Command::new("chromedriver").arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("ORDO_TEST_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "ORDO_TEST_REQUIRE_BROWSER=1 but chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "NOTE: chromedriver is not installed; the browser walk is skipped (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    Some(Driver { child, url: format!("http://127.0.0.1:{port}") })
}

/// A fresh headless browser (its own profile, so no cookies) of `width` px.
async fn browser(driver: &Driver, width: u32) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", format!("--window-size={width},900")]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    // chromedriver takes a moment to listen.
    for _ in 0..100 {
        match ClientBuilder::new(connector.clone()).capabilities(capabilities.clone()).connect(&driver.url).await {
            Ok(client) => return client,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("chromedriver did not start a browser at {}", driver.url);
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/admin-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot with the element `css` scrolled to the top of the window.
async fn screenshot_of(client: &Client, css: &str, name: &str) {
    let element = find(client, css).await;
    client.execute("arguments[0].scrollIntoView()", vec![serde_json::to_value(&element).unwrap()]).await.unwrap();
    screenshot(client, name).await;
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn sign_in(client: &Client, app: &TestApp, key: &str) {
    client.goto(&app.url("/admin")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().ends_with("/admin/sign-in"), "signed out goes to sign-in");
    client.find(Locator::Css("#key")).await.unwrap().send_keys(key).await.unwrap();
    client.find(Locator::Css("main.sign-in button[type=submit]")).await.unwrap().click().await.unwrap();
    expect_heading(client, "Dashboard").await;
}

/// Waits (up to 10 s) for the page's heading to read `expected`.
async fn expect_heading(client: &Client, expected: &str) {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(h1) = client.find(Locator::Css("h1")).await {
            last = h1.text().await.unwrap_or_default();
            if last == expected {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the heading reads {last:?}, not {expected:?}");
}

/// Waits (up to 10 s) for an element, then finds it.
async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// Waits (up to 10 s) for the text of `css` to contain `expected`.
async fn expect_text(client: &Client, css: &str, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if last.contains(expected) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let main = match client.find(Locator::Css("main")).await {
        Ok(main) => main.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    panic!("{css} reads {last:?}, without {expected:?}; at {url} the page reads {main:?}");
}

/// Posts a form to `path` from the page, as a forged or hand-made form
/// would: with `csrf` if given.
async fn post_form(client: &Client, path: &str, csrf: Option<&str>) {
    client
        .execute(
            "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
             if (arguments[1]) { const i = document.createElement('input'); i.type = 'hidden'; i.name = 'csrf'; i.value = arguments[1]; f.appendChild(i); }
             document.body.appendChild(f); f.submit();",
            vec![json!(path), json!(csrf)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_run_orders_and_jobs_from_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    // Workers on, so that a paid order is captured and its refund made.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.workers.enabled = true).await.unwrap();
    let shop = shop(&app).await;
    let place = async |quantity: i64| {
        let order = app
            .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": quantity}])))
            .await
            .expect(StatusCode::CREATED);
        order["id"].as_str().unwrap().to_owned()
    };
    let first = place(3).await;
    let second = place(1).await;

    let client = browser(&driver, 1280).await;
    // A wrong key is refused beside the field.
    client.goto(&app.url("/admin/sign-in")).await.unwrap();
    client.find(Locator::Css("#key")).await.unwrap().send_keys("ordo_wrong").await.unwrap();
    client.find(Locator::Css("main.sign-in button[type=submit]")).await.unwrap().click().await.unwrap();
    expect_text(&client, "#key-problem", "not valid").await;
    screenshot(&client, "sign-in-refused").await;

    sign_in(&client, &app, &app.admin_key).await;
    screenshot(&client, "dashboard").await;

    // Stock is received at a location.
    client.find(Locator::LinkText("Stock")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Stock").await;
    find(&client, "input[name=sku]").await.send_keys("MUG").await.unwrap();
    client.find(Locator::XPath("//button[text()='Show']")).await.unwrap().click().await.unwrap();
    find(&client, "form[action='/admin/stock/receipts'] input[name=quantity]").await.send_keys("6").await.unwrap();
    client.find(Locator::XPath("//button[text()='Receive']")).await.unwrap().click().await.unwrap();
    expect_text(&client, "main", "MUG").await;
    let stock = app.get("/v1/stock/MUG").await.expect(StatusCode::OK);
    assert_eq!(stock["on_hand"], 5 + 6, "received through the admin");
    screenshot(&client, "stock").await;

    // The order is seen in the list, opened, confirmed and fulfilled.
    client.find(Locator::LinkText("Orders")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Orders").await;
    screenshot(&client, "orders").await;
    client.find(Locator::LinkText(&first)).await.unwrap().click().await.unwrap();
    expect_heading(&client, &format!("Order {first}")).await;
    client.find(Locator::XPath("//button[text()='Confirm']")).await.unwrap().click().await.unwrap();
    expect_text(&client, "dl.facts", "confirmed").await;
    let ship = find(&client, "input[name=line_1]").await;
    ship.clear().await.unwrap();
    ship.send_keys("2").await.unwrap();
    client.find(Locator::XPath("//button[text()='Fulfil']")).await.unwrap().click().await.unwrap();
    expect_text(&client, "dl.facts", "partially fulfilled").await;
    screenshot(&client, "order").await;
    let order = app.get(&format!("/v1/orders/{first}")).await.expect(StatusCode::OK);
    assert_eq!(order["lines"][0]["shipped_quantity"], 2);

    // Shipping more than is left shows the problem on the page, and ships nothing.
    let ship = client.find(Locator::Css("input[name=line_1]")).await.unwrap();
    client.execute("arguments[0].removeAttribute('max')", vec![serde_json::to_value(&ship).unwrap()]).await.unwrap();
    ship.clear().await.unwrap();
    ship.send_keys("9").await.unwrap();
    client.find(Locator::XPath("//button[text()='Fulfil']")).await.unwrap().click().await.unwrap();
    expect_text(&client, "div.notice[role=alert]", "line").await;
    screenshot(&client, "order-problem").await;
    let order = app.get(&format!("/v1/orders/{first}")).await.expect(StatusCode::OK);
    assert_eq!(order["lines"][0]["shipped_quantity"], 2, "a refused fulfilment ships nothing");

    // A paid order is refunded in part.
    let mut body = order_body(&shop, json!([{"sku": "MUG", "quantity": 2}]));
    body["payment_token"] = json!("tok_approve");
    let paid = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_owned();
    wait_for(&app, &paid, "capture").await;
    client.goto(&app.url(&format!("/admin/orders/{paid}"))).await.unwrap();
    find(&client, "input[name=amount]").await.send_keys("2.50").await.unwrap();
    client.find(Locator::XPath("//button[text()='Refund']")).await.unwrap().click().await.unwrap();
    wait_for(&app, &paid, "refund").await;
    client.refresh().await.unwrap();
    expect_text(&client, "main", "refund").await;
    screenshot(&client, "order-refunded").await;
    let payments = app.get(&format!("/v1/orders/{paid}/payments")).await.expect(StatusCode::OK);
    let refund = payments.as_array().unwrap().iter().find(|p| p["kind"] == "refund").unwrap().clone();
    assert_eq!(refund["amount"], 250);

    // The refunded order is shipped, and a unit comes back damaged: the
    // return is requested, approved and received from the order's page.
    let version = app.get(&format!("/v1/orders/{paid}")).await.expect(StatusCode::OK)["version"].clone();
    let confirmed =
        app.post(&format!("/v1/orders/{paid}/confirm"), &json!({"version": version})).await.expect(StatusCode::OK);
    app.post(
        &format!("/v1/orders/{paid}/fulfil"),
        &json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 2}]}),
    )
    .await
    .expect(StatusCode::OK);
    client.refresh().await.unwrap();
    let units = find(&client, "form[action$='/returns'] input[name=line_1]").await;
    units.clear().await.unwrap();
    units.send_keys("1").await.unwrap();
    find(&client, "form[action$='/returns'] input[name=reason]").await.send_keys("cracked").await.unwrap();
    client.find(Locator::XPath("//button[text()='Request return']")).await.unwrap().click().await.unwrap();
    find(&client, "form[action$='/approve'] button").await.click().await.unwrap();
    find(&client, "form[action$='/receive'] select[name=line_1] option[value=damaged]").await.click().await.unwrap();
    find(&client, "form[action$='/receive'] button").await.click().await.unwrap();
    expect_text(&client, "main", "Credit note CN-DE-").await;
    screenshot_of(&client, "form[action$='/refund']", "order-returned").await;
    let returns = app.get(&format!("/v1/orders/{paid}/returns")).await.expect(StatusCode::OK);
    assert_eq!(returns[0]["status"], "received");
    assert_eq!(returns[0]["lines"][0]["disposition"], "damaged");

    // The invoice and credit-note registers.
    client.find(Locator::LinkText("Invoices")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Invoices").await;
    expect_text(&client, "table", "INV-DE-").await;
    screenshot(&client, "invoices").await;
    client.find(Locator::LinkText("Credit notes")).await.unwrap().click().await.unwrap();
    expect_text(&client, "table", "CN-DE-").await;
    screenshot(&client, "credit-notes").await;

    // A product's price is edited: a bad one is refused beside its field.
    client.find(Locator::LinkText("Products")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Products").await;
    screenshot(&client, "products").await;
    client.find(Locator::LinkText("TEE")).await.unwrap().click().await.unwrap();
    let price = find(&client, "input[name=price_EUR]").await;
    price.clear().await.unwrap();
    price.send_keys("19.999").await.unwrap();
    client.find(Locator::XPath("//button[text()='Save']")).await.unwrap().click().await.unwrap();
    expect_text(&client, "#price_EUR-problem", "EUR").await;
    screenshot_of(&client, "form.stack", "product-problem").await;
    let price = find(&client, "input[name=price_EUR]").await;
    price.clear().await.unwrap();
    price.send_keys("21.00").await.unwrap();
    client.find(Locator::XPath("//button[text()='Save']")).await.unwrap().click().await.unwrap();
    expect_text(&client, "dl.facts", "21.00 EUR").await;
    client.find(Locator::LinkText("Customers")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Customers").await;
    find(&client, "tbody td a").await.click().await.unwrap();
    expect_text(&client, "main", "Add an address").await;
    screenshot(&client, "customer").await;

    // An export is run.
    client.find(Locator::LinkText("Exports")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Exports").await;
    find(&client, "form[action='/admin/exports'] button").await.click().await.unwrap();
    expect_text(&client, "table", "orders").await;
    // The page is not reloaded: htmx refreshes the list while the export runs.
    let htmx = client.execute("return typeof htmx !== 'undefined'", vec![]).await.unwrap();
    assert_eq!(htmx, json!(true), "htmx is loaded (the CSP lets the admin's own script run)");
    for _ in 0..200 {
        if client.find(Locator::Css("a[href$='/download']")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_text(&client, "table", "succeeded").await;
    screenshot(&client, "exports").await;

    // A settlement report of the paid order's capture, and one line Ordo
    // does not know, reconciled.
    let payments = app.get(&format!("/v1/orders/{paid}/payments")).await.expect(StatusCode::OK);
    let capture = payments.as_array().unwrap().iter().find(|p| p["kind"] == "capture").unwrap().clone();
    let amount = capture["amount"].as_i64().unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    let csv = format!(
        "id,type,reference,amount,fee,currency,created\ntxn_1,capture,{},{}.{:02},0.30,EUR,{now}\ntxn_2,capture,pi_unknown,12.00,0.40,EUR,{now}\n",
        capture["provider_reference"].as_str().unwrap(),
        amount / 100,
        amount % 100
    );
    let report = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::fs::write(report.path(), csv).unwrap();
    client.find(Locator::LinkText("Ledger")).await.unwrap().click().await.unwrap();
    find(&client, "p.tabs a[href='/admin/ledger/settlements']").await.click().await.unwrap();
    expect_heading(&client, "Reconciliation").await;
    find(&client, "input[name=provider]").await.send_keys("test").await.unwrap();
    find(&client, "select[name=format] option[value=generic]").await.click().await.unwrap();
    find(&client, "input[name=file]").await.send_keys(report.path().to_str().unwrap()).await.unwrap();
    client.find(Locator::XPath("//button[text()='Import and reconcile']")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Reconciliation run").await;
    // Reconciled in the background; the page shows it when done, unreloaded.
    expect_text(&client, "main", "missing in ordo").await;
    let run = client.current_url().await.unwrap().path().rsplit('/').next().unwrap().to_owned();
    client.goto(&app.url("/admin/ledger/settlements")).await.unwrap();
    expect_heading(&client, "Reconciliation").await;
    screenshot(&client, "reconciliation").await;
    client.goto(&app.url(&format!("/admin/ledger/settlements/{run}"))).await.unwrap();
    expect_text(&client, "table", "missing in ordo").await;
    screenshot(&client, "reconciliation-run").await;

    // The books and the audit trail.
    client.find(Locator::LinkText("Ledger")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Trial balance").await;
    expect_text(&client, "main", "clearing").await;
    screenshot(&client, "ledger").await;
    client.find(Locator::LinkText("Audit")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Audit trail").await;
    screenshot(&client, "audit").await;
    client.find(Locator::LinkText("Verify the chain")).await.unwrap().click().await.unwrap();
    expect_text(&client, "main", "The chain holds").await;

    // A report is run, watched until it is compiled, and downloaded.
    client.find(Locator::LinkText("Reports")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Reports").await;
    find(&client, "form[action='/admin/reports'] button").await.click().await.unwrap();
    expect_text(&client, "table", "sales").await;
    let mut href = None;
    for _ in 0..200 {
        if let Ok(link) = client.find(Locator::Css("a[href$='/download']")).await {
            href = link.attr("href").await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    screenshot(&client, "reports").await;
    let href = href.expect("the report was compiled");
    // The browser's own download goes to a file; fetch what it fetches.
    let cookie = client.get_named_cookie("ordo_admin").await.unwrap();
    let file = reqwest::Client::new()
        .get(app.url(&href))
        .header("cookie", format!("ordo_admin={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.text().await.unwrap().starts_with("day,"), "the sales report's CSV");

    // A CSV import with a bad row shows the row and its problem.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("products.csv");
    std::fs::write(&csv, "sku,name,price_EUR\nCUP-1,Cup,4.50\nCUP-2,,3.00\n").unwrap();
    client.find(Locator::LinkText("Imports")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Imports").await;
    find(&client, "input[name=file]").await.send_keys(csv.to_str().unwrap()).await.unwrap();
    client.find(Locator::XPath("//button[text()='Import']")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Import of products").await;
    for _ in 0..200 {
        if client.find(Locator::XPath("//h2[text()='Refused rows']")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_text(&client, "table", "must not be empty").await;
    screenshot(&client, "import-refused").await;

    // A post without the session's CSRF token is refused.
    post_form(&client, &format!("/admin/orders/{second}/cancel"), None).await;
    expect_heading(&client, "Form refused").await;
    assert_eq!(
        app.get(&format!("/v1/orders/{second}")).await.expect(StatusCode::OK)["status"],
        "placed",
        "a CSRF-less post changes nothing"
    );

    // A dead job is retried from the jobs page.
    let job = dead_job(&app).await;
    client.goto(&app.url("/admin/jobs")).await.unwrap();
    expect_heading(&client, "Jobs").await;
    screenshot(&client, "jobs").await;
    client.find(Locator::LinkText("Keys")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "API keys").await;
    screenshot(&client, "keys").await;
    client.find(Locator::LinkText("Webhooks")).await.unwrap().click().await.unwrap();
    expect_heading(&client, "Webhooks").await;
    screenshot(&client, "webhooks").await;
    client.goto(&app.url("/admin/jobs")).await.unwrap();
    client
        .find(Locator::Css(&format!("form[action='/admin/jobs/{job}/retry'] button")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut state = serde_json::Value::Null;
    for _ in 0..200 {
        state = app.get(&format!("/v1/jobs/{job}")).await.expect(StatusCode::OK)["state"].clone();
        if state == "available" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, "available", "the retried job waits to run again");
    client.close().await.unwrap();

    // A viewer sees no actions, and posting anyway is refused.
    let viewer = browser(&driver, 390).await;
    sign_in(&viewer, &app, &app.key_for(Role::Viewer).await).await;
    viewer.goto(&app.url(&format!("/admin/orders/{second}"))).await.unwrap();
    expect_heading(&viewer, &format!("Order {second}")).await;
    assert!(viewer.find_all(Locator::Css("div.actions button")).await.unwrap().is_empty(), "no action buttons");
    assert!(viewer.find(Locator::LinkText("Jobs")).await.is_err(), "no jobs link");
    screenshot(&viewer, "order-as-viewer-phone").await;
    let csrf = viewer.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
    post_form(&viewer, &format!("/admin/orders/{second}/confirm"), Some(&csrf)).await;
    expect_heading(&viewer, "Forbidden").await;
    assert_eq!(app.get(&format!("/v1/orders/{second}")).await.expect(StatusCode::OK)["status"], "placed");
    viewer.close().await.unwrap();
}

/// Waits (up to 10 s) for the order's payment of `kind` to succeed.
async fn wait_for(app: &TestApp, order: &str, kind: &str) {
    for _ in 0..500 {
        let payments = app.get(&format!("/v1/orders/{order}/payments")).await.expect(StatusCode::OK);
        if payments.as_array().unwrap().iter().any(|p| p["kind"] == kind && p["status"] == "succeeded") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {order}'s {kind} never succeeded");
}

/// A job whose only attempt failed, on a queue no worker takes, so that
/// the retried job stays waiting.
async fn dead_job(app: &TestApp) -> uuid::Uuid {
    let id = ordo_testkit::fixtures::enqueue_job(app, "browser-test", "test.dead").await;
    ordo_testkit::fixtures::kill_job(app, "browser-test", id).await;
    id
}
