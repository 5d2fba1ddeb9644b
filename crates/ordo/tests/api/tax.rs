//! Tax classes and shipping charges: each line is taxed at its product's
//! class rate in the market, the shipping charge at its own class's rate,
//! one rounding rule throughout; invoices break tax down per rate, and
//! refunds credit lines, the shipping and amounts at the rates they were
//! invoiced at.

use ordo_testkit::fixtures::{receive, shipping_address};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

use crate::payments::{wait_for_payments, with_workers};
use crate::stripe::order_when;

backend_tests!(
    lines_and_shipping_are_taxed_at_their_class_rate_and_credited_at_it,
    cancelling_an_invoiced_order_credits_its_shipping,
    bad_tax_and_shipping_settings_are_refused_and_change_nothing,
);

/// Market `AT` (EUR, 20 %, reduced 10 %, shipping 4.95 net at the standard
/// rate, free from 100.00 of goods, German documents), products `BOOK`
/// (reduced, 9.99), `LAMP` (standard, 10.00) and `SEED` (zero, 5.00), stock
/// at one location, and a customer. Returns the customer's id.
async fn tax_shop(app: &TestApp) -> String {
    app.post(
        "/v1/markets",
        &json!({
            "code": "AT", "name": "Österreich", "currency": "EUR", "tax_rate_bp": 2000, "reduced_tax_rate_bp": 1000,
            "locale": "de-AT", "shipping": {"fee": 495, "free_from": 10000},
        }),
    )
    .await
    .expect(StatusCode::CREATED);
    let location =
        app.post("/v1/locations", &json!({"code": "WH", "name": "Warehouse"})).await.expect(StatusCode::CREATED);
    let location = location["id"].as_str().unwrap();
    for (sku, price, class) in [("BOOK", 999, "reduced"), ("LAMP", 1000, "standard"), ("SEED", 500, "zero")] {
        let product = app
            .post(
                "/v1/products",
                &json!({"sku": sku, "name": sku, "prices": [{"amount": price, "currency": "EUR"}], "tax_class": class}),
            )
            .await
            .expect(StatusCode::CREATED);
        assert_eq!(product["tax_class"], class);
        receive(app, sku, location, 50).await;
    }
    let customer = app
        .post("/v1/customers", &json!({"email": "leser@example.com", "name": "Leser"}))
        .await
        .expect(StatusCode::CREATED);
    customer["id"].as_str().unwrap().to_owned()
}

async fn place(app: &TestApp, customer: &str, lines: Value) -> Value {
    let body = json!({
        "customer_id": customer, "market": "AT", "shipping_address": shipping_address(), "lines": lines,
        "payment_token": "tok_approve",
    });
    app.post("/v1/orders", &body).await.expect(StatusCode::CREATED)
}

fn amounts(v: &Value) -> (i64, i64, i64) {
    (v["subtotal"].as_i64().unwrap(), v["tax"].as_i64().unwrap(), v["total"].as_i64().unwrap())
}

fn breakdown(doc: &Value) -> Vec<(i64, i64, i64)> {
    doc["tax_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["rate_bp"].as_i64().unwrap(), t["net"].as_i64().unwrap(), t["tax"].as_i64().unwrap()))
        .collect()
}

async fn invoice_of(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let page = app.get(&format!("/v1/invoices?order_id={id}")).await.expect(StatusCode::OK);
        if let Some(invoice) = page["items"].get(0) {
            return invoice.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("order {id} was never invoiced");
}

async fn lines_and_shipping_are_taxed_at_their_class_rate_and_credited_at_it(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let customer = tax_shop(&app).await;
    let order = place(
        &app,
        &customer,
        json!([{"sku": "BOOK", "quantity": 3}, {"sku": "LAMP", "quantity": 1}, {"sku": "SEED", "quantity": 1}]),
    )
    .await;
    let id = order["id"].as_str().unwrap().to_owned();

    // BOOK: 29.97 at 10 % = 2.997 → 3.00; LAMP: 10.00 at 20 %; SEED: none.
    let taxed: Vec<(i64, i64)> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["tax_rate_bp"].as_i64().unwrap(), l["tax"].as_i64().unwrap()))
        .collect();
    assert_eq!(taxed, [(1000, 300), (2000, 200), (0, 0)]);
    // Goods 44.97 are under the threshold: 4.95 shipping at 20 % = 0.99.
    assert_eq!(order["shipping"], json!({"net": 495, "tax_rate_bp": 2000, "tax": 99, "total": 594}));
    assert_eq!(amounts(&order), (2997 + 1000 + 500 + 495, 300 + 200 + 99, 4992 + 599));
    let read = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
    assert_eq!((read["lines"].clone(), read["shipping"].clone()), (order["lines"].clone(), order["shipping"].clone()));

    // The invoice: a shipping line, and tax broken down per rate.
    order_when(&app, &id, "paid").await;
    wait_for_payments(&app, &id, |p| p.iter().any(|p| p["kind"] == "capture" && p["status"] == "succeeded")).await;
    let invoice = invoice_of(&app, &id).await;
    let shipping = invoice["lines"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (shipping["shipping"].as_bool(), shipping["sku"].is_null(), amounts(&shipping)),
        (Some(true), true, (495, 99, 594))
    );
    assert_eq!(breakdown(&invoice), [(2000, 1495, 299), (1000, 2997, 300), (0, 500, 0)]);
    assert_eq!(amounts(&invoice), amounts(&order));
    let (status, _, pdf) =
        app.get_bytes(&format!("/v1/invoices/{}", invoice["id"].as_str().unwrap()), "application/pdf").await;
    assert_eq!(status, StatusCode::OK);
    for text in ["Versandkosten", "USt. %", "10 %", "20 %", "0 %"] {
        assert!(ordo_service::invoices::pdf::shows(&pdf, text), "the PDF shows {text}");
    }

    // A refund of one book and the shipping: at the rates invoiced.
    let refund = app
        .post(&format!("/v1/orders/{id}/refunds"), &json!({"lines": [{"line": 1, "quantity": 1}], "shipping": true}))
        .await
        .expect(StatusCode::CREATED);
    // A third of the book line: 9.99 net and 1.00 tax (rounded down).
    assert_eq!(refund["amount"], 999 + 100 + 594);
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let note = &notes["items"][0];
    assert_eq!(breakdown(note), [(2000, 495, 99), (1000, 999, 100)]);
    assert_eq!(note["lines"][1]["shipping"], true);
    // The shipping is credited once.
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"shipping": true}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_creditable");

    // A refund by amount is shared over what each rate has left: 20 % has
    // 12.00 left, 10 % 21.98, 0 % 5.00, of 38.98.
    let refund =
        app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 1000})).await.expect(StatusCode::CREATED);
    assert_eq!(refund["amount"], 1000);
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let note = &notes["items"][1];
    let shares: Vec<(i64, i64)> = note["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["tax_rate_bp"].as_i64().unwrap(), l["total"].as_i64().unwrap()))
        .collect();
    // 1000 × 1200/3898 = 307, × 2198/3898 = 563, × 500/3898 = 128,
    // rounded down; the two units left over go to the first two rates.
    assert_eq!(shares, [(2000, 308), (1000, 564), (0, 128)]);
    assert_eq!(note["total"], 1000);
    // 3.08 at 20 % holds 0.51 tax, 5.64 at 10 % 0.51.
    assert_eq!(breakdown(note), [(2000, 257, 51), (1000, 513, 51), (0, 128, 0)]);
}

async fn cancelling_an_invoiced_order_credits_its_shipping(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let customer = tax_shop(&app).await;
    let order = place(&app, &customer, json!([{"sku": "BOOK", "quantity": 2}])).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let paid = order_when(&app, &id, "paid").await;
    wait_for_payments(&app, &id, |p| p.iter().any(|p| p["kind"] == "capture" && p["status"] == "succeeded")).await;
    let invoice = invoice_of(&app, &id).await;
    app.post(&format!("/v1/orders/{id}/cancel"), &json!({"version": paid["version"]})).await.expect(StatusCode::OK);
    order_when(&app, &id, "refunded").await;
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let note = &notes["items"][0];
    assert_eq!(note["reason"], "cancellation");
    assert_eq!(amounts(note), amounts(&invoice), "the whole invoice, shipping included, is credited");
    assert!(note["lines"].as_array().unwrap().iter().any(|l| l["shipping"] == true));
    assert_eq!(breakdown(note), breakdown(&invoice));
}

async fn bad_tax_and_shipping_settings_are_refused_and_change_nothing(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let customer = tax_shop(&app).await;
    let market = app.get("/v1/markets/AT").await.expect(StatusCode::OK);
    let version = market["version"].clone();
    for (body, field) in [
        (json!({"version": version, "reduced_tax_rate_bp": 10_001}), "reduced_tax_rate_bp"),
        (json!({"version": version, "shipping": {"fee": -1}}), "shipping.fee"),
        (json!({"version": version, "shipping": {"fee": 1, "free_from": -5}}), "shipping.free_from"),
    ] {
        let problem = app
            .patch("/v1/markets/AT", &body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let problem = app
        .patch("/v1/markets/AT", &json!({"version": version, "shipping": {"fee": 1, "tax_class": "luxury"}}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(problem["errors"][0]["field"], "shipping.tax_class");
    let problem = app
        .post("/v1/products", &json!({"sku": "X", "name": "X", "tax_class": "super"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(problem["errors"][0]["field"], "tax_class");
    assert_eq!(app.get("/v1/markets/AT").await.expect(StatusCode::OK), market, "the market is unchanged");
    let none = app.get("/v1/products?sku_prefix=X").await.expect(StatusCode::OK);
    assert!(none["items"].as_array().unwrap().is_empty(), "no product was created");

    // Free shipping (`null`), then an order without a shipping charge: its
    // shipping cannot be refunded.
    let free = app.patch("/v1/markets/AT", &json!({"version": version, "shipping": null})).await.expect(StatusCode::OK);
    assert!(free["shipping"].is_null());
    let order = place(&app, &customer, json!([{"sku": "LAMP", "quantity": 1}])).await;
    assert_eq!(order["shipping"]["total"], 0);
    let id = order["id"].as_str().unwrap();
    order_when(&app, id, "paid").await;
    wait_for_payments(&app, id, |p| p.iter().any(|p| p["kind"] == "capture" && p["status"] == "succeeded")).await;
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"shipping": true}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 100, "shipping": true}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    assert!(notes["items"].as_array().unwrap().is_empty(), "nothing was credited");
}
