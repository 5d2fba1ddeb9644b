//! The order workflow on the job queue: payment authorisation after
//! placement, declines and expiry releasing stock.

use std::time::Duration;

use ordo_testkit::fixtures::{order_body, shipping_address, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    an_approved_payment_makes_the_order_paid,
    a_declined_payment_releases_the_stock,
    an_unpaid_order_expires_and_releases_the_stock,
    bad_payment_tokens_are_422,
);

/// The same backend with in-process workers and a short payment window.
async fn with_workers(app: TestApp) -> Option<TestApp> {
    let backend = app.backend();
    drop(app);
    TestApp::spawn_with(backend, |c| {
        c.workers.enabled = true;
        c.orders.unpaid_ttl_ms = 700;
    })
    .await
}

async fn wait_for_status(app: &TestApp, id: &str, status: &str) -> Value {
    for _ in 0..250 {
        let order = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
        if order["status"] == status {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {id} never became {status}");
}

async fn place_with(app: &TestApp, token: &str) -> (String, ordo_testkit::fixtures::Shop) {
    let shop = shop(app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 4}]));
    body["payment_token"] = json!(token);
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    assert_eq!(order["status"], "placed");
    (order["id"].as_str().unwrap().to_owned(), shop)
}

async fn an_approved_payment_makes_the_order_paid(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, _) = place_with(&app, "tok_approve").await;
    wait_for_status(&app, &id, "paid").await;
    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    let kinds: Vec<_> = timeline["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    // The capture follows the payment on the timeline, once it is made.
    assert!(
        [
            &["placed", "paid"][..],
            &["placed", "paid", "capture_requested"],
            &["placed", "paid", "capture_requested", "captured"]
        ]
        .contains(&kinds.as_slice()),
        "{kinds:?}"
    );
    assert_eq!(timeline["items"][1]["actor_name"], "payments");
    // Paid orders do not expire.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["status"], "paid");
    let confirmed = app.post(&format!("/v1/orders/{id}/confirm"), &json!({"version": 2})).await.expect(StatusCode::OK);
    assert_eq!(confirmed["status"], "confirmed");

    // The payment issued an invoice, numbered without gaps per market and year.
    let mut invoices = Value::Null;
    for _ in 0..250 {
        invoices = app.get(&format!("/v1/invoices?order_id={id}")).await.expect(StatusCode::OK);
        if !invoices["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let invoice = invoices["items"][0].clone();
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(invoice["number"], format!("INV-DE-{year}-000001"));
    assert_eq!(
        (invoice["total"].as_i64(), invoice["tax"].as_i64()),
        (Some(confirmed["total"].as_i64().unwrap()), Some(confirmed["tax"].as_i64().unwrap()))
    );
    assert_eq!(invoice["tax_breakdown"][0]["rate_bp"], 1900);
    assert_eq!(invoice["customer_email"], "buyer@example.com");
    let invoice_id = invoice["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/invoices/{invoice_id}")).await.expect(StatusCode::OK), invoice);
    let html = app
        .request(ordo_testkit::Method::GET, &format!("/v1/invoices/{invoice_id}"), None, &[("accept", "text/html")])
        .await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.header("content-type").unwrap().starts_with("text/html"));
    assert!(
        html.text.contains(&format!("Invoice INV-DE-{year}-000001"))
            && html.text.contains("19 %")
            && html.text.contains("EUR"),
        "{}",
        html.text
    );

    // As PDF, in the market's language (de-DE): German labels, date, number
    // and currency formats, in the standard fonts' WinAnsi encoding.
    let (status, content_type, pdf) = app.get_bytes(&format!("/v1/invoices/{invoice_id}"), "application/pdf").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let german_total =
        ordo_service::invoices::pdf::Lang::De.money(invoice["total"].as_i64().unwrap(), "EUR".parse().unwrap());
    for text in
        [format!("Rechnung INV-DE-{year}-000001"), "Rechnungsbetrag".to_owned(), "19 %".to_owned(), german_total]
    {
        assert!(ordo_service::invoices::pdf::shows(&pdf, &text), "the PDF shows {text}");
    }
    // An invoice issued before PDFs were stored is rendered when asked for,
    // in the market's language as it is now.
    app.db.execute("UPDATE invoices SET pdf = NULL").await;
    let market = app.get("/v1/markets/DE").await.expect(StatusCode::OK);
    app.patch("/v1/markets/DE", &json!({"version": market["version"], "locale": "en-GB"})).await.expect(StatusCode::OK);
    let (status, _, pdf) = app.get_bytes(&format!("/v1/invoices/{invoice_id}"), "application/pdf").await;
    assert_eq!(status, StatusCode::OK);
    let english_total =
        ordo_service::invoices::pdf::Lang::En.money(invoice["total"].as_i64().unwrap(), "EUR".parse().unwrap());
    for text in [format!("Invoice INV-DE-{year}-000001"), "Total due".to_owned(), "19%".to_owned(), english_total] {
        assert!(ordo_service::invoices::pdf::shows(&pdf, &text), "the PDF shows {text}");
    }
    let (status, _, _) = app.get_bytes("/v1/invoices/00000000-0000-7000-8000-000000000000", "application/pdf").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The customer was e-mailed: the order confirmation and the invoice,
    // written as .eml files since no SMTP server is configured.
    let mut mails = Vec::new();
    for _ in 0..250 {
        mails = std::fs::read_dir(app.db.mail_dir())
            .map(|d| d.filter_map(Result::ok).map(|e| std::fs::read_to_string(e.path()).unwrap()).collect())
            .unwrap_or_default();
        if mails.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        mails.iter().any(|m| m.contains(&format!("Subject: Your order {id}")) && m.contains("To: buyer@example.com")),
        "{mails:?}"
    );
    assert!(mails.iter().any(|m| m.contains(&format!("Subject: Invoice INV-DE-{year}-000001"))), "{mails:?}");

    // A second paid order gets the next number.
    let (second, _) = place_with_shop(&app, "tok_approve").await;
    wait_for_status(&app, &second, "paid").await;
    for _ in 0..250 {
        let page = app.get(&format!("/v1/invoices?order_id={second}")).await.expect(StatusCode::OK);
        if let Some(number) = page["items"][0]["number"].as_str() {
            assert_eq!(number, format!("INV-DE-{year}-000002"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the second invoice was never issued");
}

/// Places another order on the existing shop.
async fn place_with_shop(app: &TestApp, token: &str) -> (String, ()) {
    let customers = app.get("/v1/customers").await.expect(StatusCode::OK);
    let customer = customers["items"][0]["id"].as_str().unwrap().to_owned();
    let body = json!({
        "customer_id": customer,
        "market": "DE",
        "lines": [{"sku": "MUG", "quantity": 1}],
        "shipping_address": shipping_address(),
        "payment_token": token,
    });
    (app.post("/v1/orders", &body).await.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_owned(), ())
}

async fn a_declined_payment_releases_the_stock(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, _) = place_with(&app, "tok_decline").await;
    wait_for_status(&app, &id, "payment_failed").await;
    let tee = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    assert_eq!(
        (tee["reserved"].as_i64(), tee["available"].as_i64()),
        (Some(0), Some(13)),
        "the reservation is released"
    );
    let audit = app.get(&format!("/v1/audit-events?entity_type=order&entity_id={id}")).await.expect(StatusCode::OK);
    assert_eq!(audit["items"][1]["action"], "order.payment_failed");
}

async fn an_unpaid_order_expires_and_releases_the_stock(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    // The provider keeps timing out: the order is never paid.
    let (id, _) = place_with(&app, "tok_timeout").await;
    assert_eq!(app.get("/v1/stock/TEE").await.expect(StatusCode::OK)["reserved"], 4);
    wait_for_status(&app, &id, "expired").await;
    assert_eq!(app.get("/v1/stock/TEE").await.expect(StatusCode::OK)["reserved"], 0);
    let jobs = app.get("/v1/jobs?queue=payments").await.expect(StatusCode::OK);
    assert!(
        jobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["last_error"].as_str().is_none_or(|e| e.contains("timed out")))
    );
}

async fn bad_payment_tokens_are_422(app: TestApp) {
    let shop = shop(&app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("4111 1111 1111 1111");
    let problem =
        app.post("/v1/orders", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"][0]["code"], "invalid_payment_token");
    assert_eq!(app.get("/v1/orders").await.expect(StatusCode::OK)["items"], json!([]));
    // Without a token, no payment runs: the order waits, placed.
    let order = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(order["status"], "placed");
    let jobs = app.get("/v1/jobs").await.expect(StatusCode::OK);
    let mut names: Vec<_> = jobs["items"].as_array().unwrap().iter().map(|j| j["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["mail.order_confirmation"],
        "no payment job without a token, and no fan-out while no webhook subscribes"
    );
    // Once a webhook subscribes, its events are fanned out.
    app.post("/v1/webhooks", &json!({"url": "http://127.0.0.1:9/hook", "event_types": ["order.placed"]}))
        .await
        .expect(StatusCode::CREATED);
    app.post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    let jobs = app.get("/v1/jobs").await.expect(StatusCode::OK);
    let fan_outs = jobs["items"].as_array().unwrap().iter().filter(|j| j["name"] == "webhook.fan_out").count();
    assert_eq!(fan_outs, 1);
}
