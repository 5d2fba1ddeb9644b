//! Reports: compiled in the background into CSV files on the file store,
//! their figures matching the orders, payments and documents they report,
//! a repeat over unchanged data served from the cache, cancellation, and
//! bad requests refused.

use std::collections::BTreeMap;
use std::time::Duration;

use ordo_testkit::fixtures::{Shop, order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::files::invoice_of;
use crate::stripe::order_when;

backend_tests!(
    reports_match_the_business_records_and_a_repeat_over_unchanged_data_is_served_from_the_cache,
    bad_report_requests_are_refused_and_a_running_report_can_be_cancelled,
    a_scheduled_report_lands_on_the_file_store_and_is_announced_by_webhook,
    exports_write_orders_customers_and_products_as_csv_and_json_lines,
    exports_and_reports_keep_to_their_own_kinds,
    receivables_aging_lists_what_each_order_still_owes,
    stock_on_hand_and_movements_add_up_to_the_levels,
);

fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

async fn paid_order(app: &TestApp, shop: &Shop, lines: Value) -> Value {
    let mut body = order_body(shop, lines);
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    order_when(app, id, "paid").await;
    invoice_of(app, id).await;
    app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)
}

/// Asks for a report and waits for it to end.
async fn run(app: &TestApp, params: &Value, expected: StatusCode) -> Value {
    let report = app.post("/v1/reports", params).await.expect(expected);
    let id = report["id"].as_str().unwrap();
    for _ in 0..500 {
        let report = app.get(&format!("/v1/reports/{id}")).await.expect(StatusCode::OK);
        if report["status"] != "running" {
            assert_eq!(report["status"], "succeeded", "{report}");
            return report;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("report {id} never finished");
}

/// Downloads a succeeded report (or export, under `base`) through its
/// link, checking its size and checksum.
async fn fetch(app: &TestApp, base: &str, report: &Value) -> Vec<u8> {
    let link = app.get(&format!("{base}/{}/link", report["id"].as_str().unwrap())).await.expect(StatusCode::OK);
    let got = reqwest::get(link["url"].as_str().unwrap()).await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let bytes = got.bytes().await.unwrap();
    assert_eq!(report["size"].as_u64().unwrap(), bytes.len() as u64, "the size it reports");
    assert_eq!(report["sha256"].as_str().unwrap(), format!("{:x}", Sha256::digest(&bytes)), "the checksum it reports");
    bytes.to_vec()
}

/// A CSV file's records, header first, checked for RFC 4180's CRLF line
/// ends and against the row count its report gives.
fn csv_lines(report: &Value, bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(bytes.ends_with(b"\r\n"), "RFC 4180: CRLF line ends");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
    let lines: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    let records: usize = bytes.windows(2).filter(|w| w == b"\r\n").count();
    assert_eq!(records, lines.len(), "every record ends with CRLF (no field here holds a line break)");
    assert_eq!(report["rows"].as_i64().unwrap(), lines.len() as i64 - 1, "the rows it reports, under a header");
    lines
}

/// The first worksheet of a workbook: per row, each cell as (is a number,
/// its text), numbers as written (`39.98`).
fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<(bool, String)>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("an XLSX file is a zip archive");
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("xl/worksheets/sheet1.xml").unwrap(), &mut xml).unwrap();
    let unescape = |t: &str| {
        t.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
    };
    let between = |text: &str, open: &str, close: &str| -> String {
        let start = text.find(open).unwrap() + open.len();
        // `<t xml:space="preserve">`: the text starts after the tag's end.
        let start = if open.ends_with('>') { start } else { start + text[start..].find('>').unwrap() + 1 };
        let end = start + text[start..].find(close).unwrap();
        unescape(&text[start..end])
    };
    xml.split("<row ")
        .skip(1)
        .map(|row| {
            row.split("<c ")
                .skip(1)
                .map(|cell| {
                    if cell.contains("t=\"inlineStr\"") {
                        (false, between(cell, "<t", "</t>"))
                    } else {
                        (true, between(cell, "<v>", "</v>"))
                    }
                })
                .collect()
        })
        .collect()
}

/// Downloads a succeeded report; its records, header first.
async fn download(app: &TestApp, report: &Value) -> Vec<Vec<String>> {
    let bytes = fetch(app, "/v1/reports", report).await;
    csv_lines(report, &bytes)
}

/// Asks for an export and waits for it to end.
async fn run_export(app: &TestApp, params: &Value) -> Value {
    let export = app.post("/v1/exports", params).await.expect(StatusCode::ACCEPTED);
    let id = export["id"].as_str().unwrap();
    for _ in 0..500 {
        let export = app.get(&format!("/v1/exports/{id}")).await.expect(StatusCode::OK);
        if export["status"] != "running" {
            assert_eq!(export["status"], "succeeded", "{export}");
            return export;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("export {id} never finished");
}

/// The rows of a report as maps from its header's names.
fn records(lines: &[Vec<String>]) -> Vec<BTreeMap<String, String>> {
    let header = &lines[0];
    lines[1..].iter().map(|l| header.iter().cloned().zip(l.iter().cloned()).collect()).collect()
}

fn cache_hits(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("ordo_cache_requests_total") && l.contains("cache=\"reports\""))
        .filter(|l| l.contains("result=\"hit\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn reports_match_the_business_records_and_a_repeat_over_unchanged_data_is_served_from_the_cache(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else {
        return;
    };
    let shop = shop(&app).await;
    let a = paid_order(&app, &shop, json!([{"sku": "TEE", "quantity": 2}])).await;
    let b = paid_order(&app, &shop, json!([{"sku": "TEE", "quantity": 1}, {"sku": "MUG", "quantity": 1}])).await;
    // Not paid: not a sale, no payment, no invoice.
    app.post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    let today = chrono::Utc::now().date_naive().to_string();
    let period = |kind: &str| json!({"kind": kind, "from": today, "to": today});

    // Sales by day × market × SKU: each SKU's lines of the paid orders.
    let sales = run(&app, &period("sales"), StatusCode::ACCEPTED).await;
    assert_eq!(sales["cached"], false);
    let lines = download(&app, &sales).await;
    assert_eq!(lines[0], ["day", "market", "currency", "sku", "name", "orders", "quantity", "net", "tax", "gross"]);
    let mut expected: BTreeMap<String, (i64, i64, i64, i64, i64)> = BTreeMap::new();
    for order in [&a, &b] {
        for line in order["lines"].as_array().unwrap() {
            let e = expected.entry(line["sku"].as_str().unwrap().to_owned()).or_default();
            e.0 += 1;
            e.1 += line["quantity"].as_i64().unwrap();
            e.2 += line["subtotal"].as_i64().unwrap();
            e.3 += line["tax"].as_i64().unwrap();
            e.4 += line["total"].as_i64().unwrap();
        }
    }
    let got: Vec<Vec<String>> = lines[1..].to_vec();
    let want: Vec<Vec<String>> = expected
        .iter()
        .map(|(sku, (orders, quantity, net, tax, gross))| {
            vec![
                today.clone(),
                "DE".into(),
                "EUR".into(),
                sku.clone(),
                sku.clone(),
                orders.to_string(),
                quantity.to_string(),
                decimal(*net),
                decimal(*tax),
                decimal(*gross),
            ]
        })
        .collect();
    assert_eq!(got, want, "MUG once (the unpaid order is no sale), TEE in both paid orders");

    // The same report as a workbook: the same cells, amounts and counts as numbers.
    let mut xlsx = period("sales");
    xlsx["format"] = json!("xlsx");
    let book = run(&app, &xlsx, StatusCode::ACCEPTED).await;
    assert_eq!((book["format"].as_str(), book["rows"].as_i64()), (Some("xlsx"), Some(2)));
    let cells = xlsx_rows(&fetch(&app, "/v1/reports", &book).await);
    assert_eq!(cells.len(), lines.len(), "the header and a row per CSV row");
    for (cells, line) in cells.iter().zip(&lines) {
        assert_eq!(cells.len(), line.len());
        for ((number, text), field) in cells.iter().zip(line) {
            if *number {
                assert_eq!(text.parse::<f64>().unwrap(), field.parse::<f64>().unwrap(), "{cells:?}");
            } else {
                assert_eq!(text, field);
            }
        }
    }
    let numbers: Vec<bool> = cells[1].iter().map(|(number, _)| *number).collect();
    assert_eq!(numbers, [false, false, false, false, false, true, true, true, true, true], "{cells:?}");

    // The same report over unchanged data: the stored file, at once.
    let hits = cache_hits(&app.anonymous.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap());
    let again = app.post("/v1/reports", &period("sales")).await.expect(StatusCode::CREATED);
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["status"], "succeeded");
    assert_eq!(again["sha256"], sales["sha256"]);
    assert_eq!(again["watermark"], sales["watermark"]);
    assert_ne!(again["id"], sales["id"], "a report of its own");
    assert_eq!(download(&app, &again).await, lines);
    let after = cache_hits(&app.anonymous.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap());
    assert_eq!(after, hits + 1.0, "the hit is counted");

    // Payments: the two captures.
    let payments = run(&app, &period("payments"), StatusCode::ACCEPTED).await;
    let rows = records(&download(&app, &payments).await);
    let captures: Vec<_> = rows.iter().filter(|r| r["kind"] == "capture").collect();
    assert_eq!(captures.len(), 2, "{rows:?}");
    for order in [&a, &b] {
        let capture = captures.iter().find(|r| r["order_id"] == order["id"].as_str().unwrap()).expect("captured");
        assert_eq!(capture["amount"], decimal(order["total"].as_i64().unwrap()));
        assert_eq!((capture["status"].as_str(), capture["market"].as_str()), ("succeeded", "DE"));
    }

    // The register: the two invoices; the tax report: their tax at 19 %.
    let documents = run(&app, &period("documents"), StatusCode::ACCEPTED).await;
    let rows = records(&download(&app, &documents).await);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["kind"] == "invoice" && r["number"].starts_with("INV-DE-")), "{rows:?}");
    let tax = run(&app, &period("tax"), StatusCode::ACCEPTED).await;
    let rows = records(&download(&app, &tax).await);
    let (net, tax_sum): (i64, i64) =
        [&a, &b].iter().fold((0, 0), |(n, t), o| (n + o["subtotal"].as_i64().unwrap(), t + o["tax"].as_i64().unwrap()));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["market"].as_str(), rows[0]["tax_rate_percent"].as_str(), rows[0]["documents"].as_str()),
        ("DE", "19.00", "2")
    );
    assert_eq!((rows[0]["net"].clone(), rows[0]["tax"].clone()), (decimal(net), decimal(tax_sum)));

    // New data moves the watermark: compiled again, with the new order.
    paid_order(&app, &shop, json!([{"sku": "MUG", "quantity": 2}])).await;
    let fresh = run(&app, &period("sales"), StatusCode::ACCEPTED).await;
    assert_eq!(fresh["cached"], false);
    assert_ne!(fresh["watermark"], sales["watermark"]);
    let rows = records(&download(&app, &fresh).await);
    let mug = rows.iter().find(|r| r["sku"] == "MUG").unwrap();
    assert_eq!((mug["orders"].as_str(), mug["quantity"].as_str()), ("2", "3"));

    // Requested and listed, newest first, each audited.
    let list = app.get("/v1/reports?limit=2").await.expect(StatusCode::OK);
    assert_eq!(list["items"][0]["id"], fresh["id"]);
    let audit = app.get("/v1/audit-events?entity_type=report&limit=500").await.expect(StatusCode::OK);
    let requested = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "report.requested").count();
    assert_eq!(requested, 7, "{audit}");
}

async fn bad_report_requests_are_refused_and_a_running_report_can_be_cancelled(app: TestApp) {
    // No workers here: a report stays running until cancelled.
    shop(&app).await;
    let refused = [
        (json!({"kind": "sales", "from": "2026-11-02", "to": "2026-11-01"}), "invalid_period"),
        (json!({"kind": "sales", "from": "2000-01-01", "to": "2026-11-01"}), "invalid_period"),
        (json!({"kind": "sales", "from": "2026-11-01", "to": "2026-11-30", "market": "XX"}), "unknown_market"),
    ];
    for (body, code) in refused {
        let problem =
            app.post("/v1/reports", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["code"], code, "{problem}");
    }
    for body in [
        json!({"kind": "profits", "from": "2026-11-01", "to": "2026-11-30"}),
        json!({"kind": "sales", "from": "2026-11-31", "to": "2026-12-01"}),
        json!({"kind": "sales", "from": "2026-11-01"}),
        json!({"kind": "sales", "from": "2026-11-01", "to": "2026-11-30", "format": "pdf"}),
        json!({"kind": "sales", "from": "2026-11-01", "to": "2026-11-30", "colour": "red"}),
    ] {
        app.post("/v1/reports", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    }
    let list = app.get("/v1/reports").await.expect(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 0, "nothing was asked for");

    let report = app
        .post("/v1/reports", &json!({"kind": "payments", "from": "2026-11-01", "to": "2026-11-30", "market": "DE"}))
        .await
        .expect(StatusCode::ACCEPTED);
    let id = report["id"].as_str().unwrap();
    assert_eq!((report["status"].as_str(), report["progress"].as_i64()), (Some("running"), Some(0)));
    app.get(&format!("/v1/reports/{id}/link")).await.expect_problem(StatusCode::CONFLICT, "report_not_ready");
    let cancelled = app.post(&format!("/v1/reports/{id}/cancel"), &json!({})).await.expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    app.post(&format!("/v1/reports/{id}/cancel"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "report_finished");
    app.get(&format!("/v1/reports/{id}/link")).await.expect_problem(StatusCode::CONFLICT, "report_not_ready");
    let audit = app.get(&format!("/v1/audit-events?entity_type=report&entity_id={id}")).await.expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["report.requested", "report.cancelled"]);

    // A worker that gets to it later leaves it cancelled, with no file.
    let after = app.services.reports.compile(id.parse().unwrap(), None).await.unwrap();
    assert_eq!(after.status, ordo_domain::report::ReportStatus::Cancelled);
    assert!(after.file_key.is_none());

    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/v1/reports/{unknown}")).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.post(&format!("/v1/reports/{unknown}/cancel"), &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // Reports are finance's, managers' and admins'.
    for role in [ordo_domain::auth::Role::Clerk, ordo_domain::auth::Role::Viewer] {
        let client = TestApp::client_with_key(&app.key_for(role).await);
        let got = client.get(app.url("/v1/reports")).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let finance = TestApp::client_with_key(&app.key_for(ordo_domain::auth::Role::Finance).await);
    let got = finance
        .post(app.url("/v1/reports"))
        .json(&json!({"kind": "tax", "from": "2026-11-01", "to": "2026-11-30"}))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::ACCEPTED);
}

async fn a_scheduled_report_lands_on_the_file_store_and_is_announced_by_webhook(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.workers.enabled = true;
        c.reports.schedules = vec![ordo_service::reports::ReportSchedule {
            name: "daily-sales".into(),
            // Every second, so the test need not wait for a real schedule.
            cron: ordo_jobs::Schedule::cron("* * * * * *").unwrap(),
            kind: ordo_domain::report::ReportKind::Sales,
            span: ordo_domain::report::Span::PreviousDay,
            market: None,
            format: ordo_domain::report::ReportFormat::Xlsx,
        }];
    })
    .await
    else {
        return;
    };
    let (url, receiver) = crate::webhooks::start_receiver(0).await;
    app.post("/v1/webhooks", &json!({"url": url, "event_types": ["report.succeeded"]}))
        .await
        .expect(StatusCode::CREATED);
    let mut announced = None;
    for _ in 0..500 {
        let first =
            receiver.seen.lock().unwrap().first().map(|(_, _, body)| serde_json::from_slice::<Value>(body).unwrap());
        if let Some(event) = first {
            announced = Some(event);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let event = announced.expect("a scheduled report was announced");
    assert_eq!(event["type"], "report.succeeded", "{event}");
    let report = &event["data"];
    let yesterday = (chrono::Utc::now().date_naive() - chrono::Duration::days(1)).to_string();
    assert_eq!(report["created_by"], "schedule:daily-sales", "{event}");
    assert_eq!((report["kind"].as_str(), report["status"].as_str()), (Some("sales"), Some("succeeded")));
    assert_eq!((report["from"].as_str(), report["to"].as_str()), (Some(yesterday.as_str()), Some(yesterday.as_str())));
    assert_eq!(event["order_id"], report["id"], "the event is about the report");
    // On the file store, as the schedule's workbook: nothing was sold
    // yesterday, so a header alone.
    let report = app.get(&format!("/v1/reports/{}", report["id"].as_str().unwrap())).await.expect(StatusCode::OK);
    assert_eq!(report["format"], "xlsx");
    let rows = xlsx_rows(&fetch(&app, "/v1/reports", &report).await);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], (false, "day".to_owned()));
}

async fn exports_write_orders_customers_and_products_as_csv_and_json_lines(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else {
        return;
    };
    let shop = shop(&app).await;
    let paid = paid_order(&app, &shop, json!([{"sku": "TEE", "quantity": 2}, {"sku": "MUG", "quantity": 1}])).await;
    let placed = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    let today = chrono::Utc::now().date_naive().to_string();
    let orders: BTreeMap<String, Value> = [&paid, &placed]
        .iter()
        .map(|o| {
            let id = o["id"].as_str().unwrap().to_owned();
            (id, (*o).clone())
        })
        .collect();

    // Orders as CSV: a row per line, the order's columns repeated.
    let export = run_export(&app, &json!({"kind": "orders", "from": today, "to": today, "market": "DE"})).await;
    let bytes = fetch(&app, "/v1/exports", &export).await;
    let rows = records(&csv_lines(&export, &bytes));
    assert_eq!(rows.len(), 3, "two lines and one: {rows:?}");
    for row in &rows {
        let order = &orders[&row["order_id"]];
        let line =
            order["lines"].as_array().unwrap().iter().find(|l| row["line"] == l["line"].to_string().as_str()).unwrap();
        assert_eq!(row["status"], order["status"].as_str().unwrap());
        assert_eq!(row["sku"], line["sku"].as_str().unwrap());
        assert_eq!(row["quantity"], line["quantity"].to_string());
        assert_eq!(row["line_gross"], decimal(line["total"].as_i64().unwrap()));
        assert_eq!(row["order_gross"], decimal(order["total"].as_i64().unwrap()));
    }

    // Orders as JSON Lines: each order as the API shows it.
    let export = run_export(&app, &json!({"kind": "orders", "from": today, "to": today, "format": "jsonl"})).await;
    let bytes = fetch(&app, "/v1/exports", &export).await;
    let text = String::from_utf8(bytes).unwrap();
    let exported: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(exported.len(), 2);
    for order in &exported {
        let now = app.get(&format!("/v1/orders/{}", order["id"].as_str().unwrap())).await.expect(StatusCode::OK);
        assert_eq!(order, &now);
    }

    // Customers with their addresses, products with their prices.
    let export = run_export(&app, &json!({"kind": "customers", "from": today, "to": today})).await;
    let bytes = fetch(&app, "/v1/exports", &export).await;
    let rows = records(&csv_lines(&export, &bytes));
    let customer = app.get(&format!("/v1/customers/{}", shop.customer)).await.expect(StatusCode::OK);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["customer_id"].as_str(), rows[0]["email"].as_str()),
        (shop.customer.as_str(), "buyer@example.com")
    );
    assert_eq!(serde_json::from_str::<Value>(&rows[0]["addresses"]).unwrap(), customer["addresses"]);
    let export = run_export(&app, &json!({"kind": "products", "from": today, "to": today, "format": "jsonl"})).await;
    let bytes = fetch(&app, "/v1/exports", &export).await;
    let text = String::from_utf8(bytes).unwrap();
    let products: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let skus: Vec<&str> = products.iter().map(|p| p["sku"].as_str().unwrap()).collect();
    assert_eq!(skus.len(), 2);
    assert!(skus.contains(&"TEE") && skus.contains(&"MUG"), "{skus:?}");
    let tee = products.iter().find(|p| p["sku"] == "TEE").unwrap();
    assert_eq!(tee, &app.get(&format!("/v1/products/{}", tee["id"].as_str().unwrap())).await.expect(StatusCode::OK));

    // A period with no records: a header alone; listed among the exports only.
    let empty = run_export(&app, &json!({"kind": "orders", "from": "2020-01-01", "to": "2020-01-31"})).await;
    let bytes = fetch(&app, "/v1/exports", &empty).await;
    assert_eq!(csv_lines(&empty, &bytes).len(), 1);
    let exports = app.get("/v1/exports").await.expect(StatusCode::OK);
    assert_eq!(exports["items"].as_array().unwrap().len(), 5);
    let reports = app.get("/v1/reports").await.expect(StatusCode::OK);
    assert!(reports["items"].as_array().unwrap().is_empty(), "exports are not reports");
    app.get(&format!("/v1/reports/{}", empty["id"].as_str().unwrap()))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn exports_and_reports_keep_to_their_own_kinds(app: TestApp) {
    shop(&app).await;
    let refused = [
        ("/v1/exports", json!({"kind": "sales", "from": "2026-11-01", "to": "2026-11-30"}), "not_an_export"),
        ("/v1/reports", json!({"kind": "orders", "from": "2026-11-01", "to": "2026-11-30"}), "not_a_report"),
        (
            "/v1/reports",
            json!({"kind": "sales", "from": "2026-11-01", "to": "2026-11-30", "format": "jsonl"}),
            "unsupported_format",
        ),
        (
            "/v1/exports",
            json!({"kind": "customers", "from": "2026-11-01", "to": "2026-11-30", "market": "DE"}),
            "no_market",
        ),
        ("/v1/exports", json!({"kind": "orders", "from": "2026-11-02", "to": "2026-11-01"}), "invalid_period"),
    ];
    for (path, body, code) in refused {
        let problem = app.post(path, &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["code"], code, "{path} {body}: {problem}");
    }
    assert!(app.get("/v1/exports").await.expect(StatusCode::OK)["items"].as_array().unwrap().is_empty());
    // Exports hold personal data: managers and admins only.
    for role in [ordo_domain::auth::Role::Finance, ordo_domain::auth::Role::Clerk, ordo_domain::auth::Role::Viewer] {
        let client = TestApp::client_with_key(&app.key_for(role).await);
        let got = client
            .post(app.url("/v1/exports"))
            .json(&json!({"kind": "customers", "from": "2026-11-01", "to": "2026-11-30"}))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let manager = TestApp::client_with_key(&app.key_for(ordo_domain::auth::Role::Manager).await);
    let got = manager
        .post(app.url("/v1/exports"))
        .json(&json!({"kind": "customers", "from": "2026-11-01", "to": "2026-11-30"}))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::ACCEPTED);
    let export: Value = got.json().await.unwrap();
    let cancelled = app
        .post(&format!("/v1/exports/{}/cancel", export["id"].as_str().unwrap()), &json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    let audit =
        app.get(&format!("/v1/audit-events?entity_type=report&entity_id={}", export["id"].as_str().unwrap())).await;
    let actions: Vec<String> = audit.expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["export.requested", "export.cancelled"]);
}

async fn receivables_aging_lists_what_each_order_still_owes(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else {
        return;
    };
    let shop = shop(&app).await;
    // Captured at fulfilment: invoiced when paid, owed until it ships.
    let market = app.get("/v1/markets/DE").await.expect(StatusCode::OK);
    app.patch("/v1/markets/DE", &json!({"version": market["version"], "capture_policy": "at_fulfilment"}))
        .await
        .expect(StatusCode::OK);
    let order = paid_order(&app, &shop, json!([{"sku": "TEE", "quantity": 1}])).await;
    let id = order["id"].as_str().unwrap();
    let invoice = invoice_of(&app, id).await;
    let today = chrono::Utc::now().date_naive().to_string();
    let aging = run(&app, &json!({"kind": "aging", "from": today, "to": today}), StatusCode::ACCEPTED).await;
    let rows = records(&download(&app, &aging).await);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!((row["order_id"].as_str(), row["market"].as_str(), row["currency"].as_str()), (id, "DE", "EUR"));
    assert_eq!(row["open"], decimal(order["total"].as_i64().unwrap()));
    assert_eq!(row["invoice_number"], invoice["number"].as_str().unwrap());
    assert_eq!((row["days_open"].as_str(), row["bucket"].as_str()), ("0", "0-30"));

    // Shipped and captured: nothing is owed any more.
    let confirmed = app
        .post(&format!("/v1/orders/{id}/confirm"), &json!({"version": order["version"]}))
        .await
        .expect(StatusCode::OK);
    app.post(
        &format!("/v1/orders/{id}/fulfil"),
        &json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 1}]}),
    )
    .await
    .expect(StatusCode::OK);
    crate::payments::wait_for_payments(&app, id, |p| {
        p.iter().any(|p| p["kind"] == "capture" && p["status"] == "succeeded")
    })
    .await;
    let after = run(&app, &json!({"kind": "aging", "from": today, "to": today}), StatusCode::ACCEPTED).await;
    assert_ne!(after["watermark"], aging["watermark"], "the capture's postings moved the watermark");
    assert!(records(&download(&app, &after).await).is_empty(), "all paid");
}

async fn stock_on_hand_and_movements_add_up_to_the_levels(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else {
        return;
    };
    // Stocked today: TEE 3 near and 10 far, MUG 5 far.
    let shop = shop(&app).await;
    ordo_testkit::fixtures::receive(&app, "MUG", &shop.far, 4).await;
    let lost = json!({"sku": "MUG", "location_id": shop.far, "delta": -1, "reason": "lost"});
    app.post("/v1/stock/adjustments", &lost).await.expect(StatusCode::CREATED);
    // 2 TEE shipped, from NEAR (allocated first); a placed order only reserves.
    let order = paid_order(&app, &shop, json!([{"sku": "TEE", "quantity": 2}])).await;
    let id = order["id"].as_str().unwrap();
    let confirmed = app
        .post(&format!("/v1/orders/{id}/confirm"), &json!({"version": order["version"]}))
        .await
        .expect(StatusCode::OK);
    let fulfil = json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 2}]});
    app.post(&format!("/v1/orders/{id}/fulfil"), &fulfil).await.expect(StatusCode::OK);
    app.post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);

    let today = chrono::Utc::now().date_naive();
    let report = run(&app, &json!({"kind": "stock", "from": today, "to": today}), StatusCode::ACCEPTED).await;
    let lines = download(&app, &report).await;
    assert_eq!(lines[0], ["sku", "location", "opening", "added", "shipped", "removed", "closing"]);
    let row = |sku: &str, location: &str, figures: [i64; 5]| {
        let mut row = vec![sku.to_owned(), location.to_owned()];
        row.extend(figures.map(|f| f.to_string()));
        row
    };
    assert_eq!(
        lines[1..],
        [row("MUG", "FAR", [0, 9, 0, 1, 8]), row("TEE", "NEAR", [0, 3, 2, 0, 1]), row("TEE", "FAR", [0, 10, 0, 0, 10]),],
        "by SKU, then location (created in this order)"
    );
    // Closing is what is on hand now: the period ends today.
    for (sku, location, on_hand) in [("MUG", &shop.far, 8), ("TEE", &shop.near, 1), ("TEE", &shop.far, 10)] {
        let stock = app.get(&format!("/v1/stock/{sku}")).await.expect(StatusCode::OK);
        let level = stock["locations"].as_array().unwrap().iter().find(|l| l["location_id"] == *location).unwrap();
        assert_eq!(level["on_hand"], on_hand, "{sku} at {location}");
    }
    // Yesterday nothing was in stock yet and nothing moved.
    let yesterday = today - chrono::Duration::days(1);
    let before = run(&app, &json!({"kind": "stock", "from": yesterday, "to": yesterday}), StatusCode::ACCEPTED).await;
    let lines = download(&app, &before).await;
    assert_eq!(lines.len(), 4);
    assert!(lines[1..].iter().all(|l| l[2..] == ["0", "0", "0", "0", "0"]), "{lines:?}");
    // Stock belongs to no market.
    let market = json!({"kind": "stock", "from": today, "to": today, "market": "DE"});
    app.post("/v1/reports", &market).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
