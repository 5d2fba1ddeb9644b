//! Returns and credit notes: the money after the order, end to end. An
//! order authorised at placement and captured at fulfilment is refunded in
//! part by lines, then a return is received to stock, each with its credit
//! note; bad returns and refunds are refused and change nothing.

use std::time::Duration;

use futures::future::join_all;
use ordo_testkit::fixtures::{Shop, order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

use crate::payments::{wait_for_payments, with_workers};
use crate::stripe::order_when;

backend_tests!(
    an_order_is_captured_at_fulfilment_refunded_by_lines_and_returned_with_credit_notes,
    bad_returns_and_refunds_are_refused_and_change_nothing,
    concurrent_returns_never_take_more_than_was_shipped,
    concurrent_refunds_by_lines_never_credit_a_unit_twice,
    an_order_paid_by_bank_transfer_is_invoiced_and_its_return_credited,
    invoices_name_the_seller_and_the_customers_billing_details,
);

fn settled(payments: &[Value], kind: &str) -> Vec<Value> {
    payments.iter().filter(|p| p["kind"] == kind && p["status"] == "succeeded").cloned().collect()
}

/// Places 3 TEE + 1 MUG, paid with the test provider, confirms and ships
/// all of it; returns the shipped order.
pub(crate) async fn shipped_order(app: &TestApp, shop: &Shop) -> Value {
    let mut body = order_body(shop, json!([{"sku": "TEE", "quantity": 3}, {"sku": "MUG", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    let paid = order_when(app, &id, "paid").await;
    let confirmed = app
        .post(&format!("/v1/orders/{id}/confirm"), &json!({"version": paid["version"]}))
        .await
        .expect(StatusCode::OK);
    app.post(
        &format!("/v1/orders/{id}/fulfil"),
        &json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 3}, {"line": 2, "quantity": 1}]}),
    )
    .await
    .expect(StatusCode::OK)
}

async fn an_order_is_captured_at_fulfilment_refunded_by_lines_and_returned_with_credit_notes(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let market = app.get("/v1/markets/DE").await.expect(StatusCode::OK);
    app.patch("/v1/markets/DE", &json!({"version": market["version"], "capture_policy": "at_fulfilment"}))
        .await
        .expect(StatusCode::OK);

    // Authorised at placement; nothing captured until it ships.
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 3}, {"sku": "MUG", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    let (total, tee, mug) = (order["total"].as_i64().unwrap(), order["lines"][0].clone(), order["lines"][1].clone());
    let paid = order_when(&app, &id, "paid").await;
    let payments = wait_for_payments(&app, &id, |p| !settled(p, "authorization").is_empty()).await;
    assert!(settled(&payments, "capture").is_empty(), "nothing is captured at payment: {payments:?}");
    let confirmed = app
        .post(&format!("/v1/orders/{id}/confirm"), &json!({"version": paid["version"]}))
        .await
        .expect(StatusCode::OK);
    app.post(
        &format!("/v1/orders/{id}/fulfil"),
        &json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 3}, {"line": 2, "quantity": 1}]}),
    )
    .await
    .expect(StatusCode::OK);
    let payments = wait_for_payments(&app, &id, |p| {
        settled(p, "capture").iter().map(|c| c["amount"].as_i64().unwrap()).sum::<i64>() == total
    })
    .await;
    assert_eq!(settled(&payments, "capture").len(), 1, "one shipment, one capture: {payments:?}");

    // A partial refund by lines: the mug, at what it was invoiced.
    let refund = app
        .post(&format!("/v1/orders/{id}/refunds"), &json!({"lines": [{"line": 2, "quantity": 1}]}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!((refund["kind"].as_str(), refund["amount"].as_i64()), (Some("refund"), mug["total"].as_i64()));
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let invoice = app.get(&format!("/v1/invoices?order_id={id}")).await.expect(StatusCode::OK);
    let invoice = &invoice["items"][0];
    let year = invoice["number"].as_str().unwrap()[7..11].to_owned();
    let first = &notes["items"][0];
    assert_eq!(first["number"], format!("CN-DE-{year}-000001"));
    assert_eq!(
        (first["invoice_id"].clone(), first["invoice_number"].clone()),
        (invoice["id"].clone(), invoice["number"].clone())
    );
    assert_eq!((first["reason"].as_str(), first["refund_id"].clone()), (Some("refund"), refund["id"].clone()));
    assert_eq!(first["lines"][0]["line"], 2);
    assert_eq!(
        (first["subtotal"].clone(), first["tax"].clone(), first["total"].clone()),
        (mug["subtotal"].clone(), mug["tax"].clone(), mug["total"].clone())
    );
    // The mug is credited now: refunding it again by lines is refused.
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"lines": [{"line": 2, "quantity": 1}]}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_creditable");

    // A return of two tees and the mug: the tees go back to sellable stock
    // at NEAR, the mug to damaged stock there.
    let stock_before = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    let mugs_before = app.get("/v1/stock/MUG").await.expect(StatusCode::OK);
    let requested = app
        .post(
            &format!("/v1/orders/{id}/returns"),
            &json!({"lines": [{"line": 1, "quantity": 2}, {"line": 2, "quantity": 1}], "reason": "too small"}),
        )
        .await
        .expect(StatusCode::CREATED);
    let rid = requested["id"].as_str().unwrap().to_owned();
    assert_eq!((requested["status"].as_str(), requested["reason"].as_str()), (Some("requested"), Some("too small")));
    let approved = app.post(&format!("/v1/returns/{rid}/approve"), &json!({})).await.expect(StatusCode::OK);
    assert_eq!(approved["status"], "approved");
    let received = app
        .post(
            &format!("/v1/returns/{rid}/receive"),
            &json!({"location_id": shop.near, "disposition": "sellable", "lines": [{"line": 2, "disposition": "damaged"}]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(received["status"], "received");
    assert_eq!(
        (received["lines"][0]["disposition"].as_str(), received["lines"][1]["disposition"].as_str()),
        (Some("sellable"), Some("damaged"))
    );
    let near = |stock: &Value| {
        stock["locations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["location_id"] == shop.near.as_str())
            .map_or(0, |l| l["on_hand"].as_i64().unwrap())
    };
    let stock_after = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    assert_eq!(near(&stock_after), near(&stock_before) + 2, "two tees are sellable again");
    let mugs_after = app.get("/v1/stock/MUG").await.expect(StatusCode::OK);
    assert_eq!(mugs_after["available"], mugs_before["available"], "a damaged mug is not sellable");
    assert_eq!(mugs_after["damaged"], json!([{"location_id": shop.near, "quantity": 1}]));

    // Its money: two thirds of the tee line, credited and refunded; the mug
    // was credited already, so nothing more for it.
    let two_tees = tee["total"].as_i64().unwrap() * 2 / 3;
    assert_eq!(received["refunded"].as_i64(), Some(two_tees));
    let note = app
        .get(&format!("/v1/credit-notes/{}", received["credit_note_id"].as_str().unwrap()))
        .await
        .expect(StatusCode::OK);
    assert_eq!(note["number"], format!("CN-DE-{year}-000002"), "numbered without gaps");
    assert_eq!((note["reason"].as_str(), note["return_id"].as_str()), (Some("return"), Some(rid.as_str())));
    assert_eq!(note["refund_id"], received["refund_id"]);
    assert_eq!(note["lines"].as_array().unwrap().len(), 1, "{note}");
    assert_eq!((note["lines"][0]["line"].as_i64(), note["lines"][0]["quantity"].as_i64()), (Some(1), Some(2)));
    assert_eq!(note["total"].as_i64(), Some(two_tees));
    assert_eq!(note["subtotal"].as_i64().unwrap() + note["tax"].as_i64().unwrap(), two_tees);
    let html = app
        .request(
            ordo_testkit::Method::GET,
            &format!("/v1/credit-notes/{}", note["id"].as_str().unwrap()),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_eq!(html.status, StatusCode::OK);
    let html = html.text;
    assert!(
        html.contains(note["number"].as_str().unwrap()) && html.contains(invoice["number"].as_str().unwrap()),
        "{html}"
    );

    let (status, content_type, pdf) =
        app.get_bytes(&format!("/v1/credit-notes/{}", note["id"].as_str().unwrap()), "application/pdf").await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/pdf"));
    for text in [
        format!("Rechnungskorrektur {}", note["number"].as_str().unwrap()),
        format!("Korrektur zu Rechnung: {}", invoice["number"].as_str().unwrap()),
        "Gutgeschrieben".to_owned(),
    ] {
        assert!(ordo_service::invoices::pdf::shows(&pdf, &text), "the credit note's PDF shows {text}");
    }

    // Both refunds are made at the provider; the refunds add up.
    let payments = wait_for_payments(&app, &id, |p| settled(p, "refund").len() == 2).await;
    let refunded: i64 = settled(&payments, "refund").iter().map(|r| r["amount"].as_i64().unwrap()).sum();
    assert_eq!(refunded, mug["total"].as_i64().unwrap() + two_tees);

    // Every step is on the timeline, audited, and an event.
    let timeline = app.get(&format!("/v1/orders/{id}/events?limit=100")).await.expect(StatusCode::OK);
    let kinds: Vec<&str> = timeline["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in
        ["return_requested", "return_approved", "return_received", "credit_note_issued", "refund_requested", "refunded"]
    {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.iter().filter(|k| **k == "credit_note_issued").count(), 2);
    let audit = app.get(&format!("/v1/audit-events?entity_type=return&entity_id={rid}")).await.expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["return.requested", "return.approved", "return.received"]);
    let returns = app.get(&format!("/v1/returns?order_id={id}&status=received")).await.expect(StatusCode::OK);
    assert_eq!(returns["items"][0]["id"], rid.as_str());
    let of_order = app.get(&format!("/v1/orders/{id}/returns")).await.expect(StatusCode::OK);
    assert_eq!(of_order.as_array().unwrap().len(), 1);
}

async fn bad_returns_and_refunds_are_refused_and_change_nothing(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    // An order paid and not shipped has nothing to return.
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let unshipped = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let unshipped = unshipped["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{unshipped}/returns"), &json!({"lines": [{"line": 1, "quantity": 1}]}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_returnable");

    let order = shipped_order(&app, &shop).await;
    let id = order["id"].as_str().unwrap();
    let path = format!("/v1/orders/{id}/returns");
    app.post(&path, &json!({"lines": [{"line": 1, "quantity": 4}]}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_returnable");
    app.post(&path, &json!({"lines": [{"line": 1, "quantity": 2}, {"line": 1, "quantity": 2}]}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_returnable");
    app.post(&path, &json!({"lines": [{"line": 9, "quantity": 1}]}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&path, &json!({"lines": [{"line": 1, "quantity": 0}]}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&path, &json!({"lines": []})).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&path, &json!({"lines": [{"line": 1, "quantity": 1}], "reason": "x".repeat(501)}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(
        "/v1/orders/00000000-0000-7000-8000-000000000000/returns",
        &json!({"lines": [{"line": 1, "quantity": 1}]}),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(app.get(&path).await.expect(StatusCode::OK).as_array().unwrap().is_empty(), "no return was made");

    // A requested return cannot be received; a rejected one cannot be approved.
    let r = app.post(&path, &json!({"lines": [{"line": 1, "quantity": 1}]})).await.expect(StatusCode::CREATED);
    let rid = r["id"].as_str().unwrap();
    let receive = json!({"location_id": shop.near, "disposition": "sellable"});
    app.post(&format!("/v1/returns/{rid}/receive"), &receive)
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    app.post(&format!("/v1/returns/{rid}/reject"), &json!({"reason": "worn"})).await.expect(StatusCode::OK);
    app.post(&format!("/v1/returns/{rid}/approve"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    // An approved one needs a location that exists, and lines of its own.
    let r = app.post(&path, &json!({"lines": [{"line": 1, "quantity": 3}]})).await.expect(StatusCode::CREATED);
    let rid = r["id"].as_str().unwrap();
    app.post(&format!("/v1/returns/{rid}/approve"), &json!({})).await.expect(StatusCode::OK);
    let stock_before = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    app.post(
        &format!("/v1/returns/{rid}/receive"),
        &json!({"location_id": "00000000-0000-7000-8000-000000000000", "disposition": "sellable"}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(
        &format!("/v1/returns/{rid}/receive"),
        &json!({"location_id": shop.near, "disposition": "sellable", "lines": [{"line": 2, "disposition": "damaged"}]}),
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&format!("/v1/returns/{rid}/receive"), &json!({"location_id": shop.near, "disposition": "lost"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(app.get("/v1/stock/TEE").await.expect(StatusCode::OK), stock_before, "no stock moved");
    assert_eq!(app.get(&format!("/v1/returns/{rid}")).await.expect(StatusCode::OK)["status"], "approved");

    // Refunds: amount or lines, not both nor neither; lines that exist.
    let refunds = format!("/v1/orders/{id}/refunds");
    app.post(&refunds, &json!({"amount": 100, "lines": [{"line": 1, "quantity": 1}]}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&refunds, &json!({})).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&refunds, &json!({"lines": [{"line": 7, "quantity": 1}]}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&refunds, &json!({"lines": [{"line": 1, "quantity": 4}]}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_creditable");
    app.post(&refunds, &json!({"lines": [{"line": 1, "quantity": -1}]}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK)["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let payments = app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK);
    assert!(!payments.as_array().unwrap().iter().any(|p| p["kind"] == "refund"), "no refund was made: {payments}");
}

async fn concurrent_returns_never_take_more_than_was_shipped(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let order = shipped_order(&app, &shop).await;
    let path = format!("/v1/orders/{}/returns", order["id"].as_str().unwrap());
    let body = json!({"lines": [{"line": 1, "quantity": 1}]});
    let attempts = (0..8).map(|_| app.post(&path, &body));
    let statuses: Vec<StatusCode> = join_all(attempts).await.iter().map(|r| r.status).collect();
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((created, refused), (3, 5), "three tees were shipped: {statuses:?}");
    assert_eq!(app.get(&path).await.expect(StatusCode::OK).as_array().unwrap().len(), 3);
}

async fn concurrent_refunds_by_lines_never_credit_a_unit_twice(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let order = shipped_order(&app, &shop).await;
    let id = order["id"].as_str().unwrap().to_owned();
    let tee_total = order["lines"][0]["total"].as_i64().unwrap();
    wait_for_payments(&app, &id, |p| !settled(p, "capture").is_empty()).await;
    let path = format!("/v1/orders/{id}/refunds");
    let body = json!({"lines": [{"line": 1, "quantity": 1}]});
    let attempts = (0..8).map(|_| app.post(&path, &body));
    let responses = join_all(attempts).await;
    let created = responses.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused: Vec<&str> = responses
        .iter()
        .filter(|r| r.status != StatusCode::CREATED)
        .map(|r| if r.json()["code"] == "not_creditable" { "not_creditable" } else { "other" })
        .collect();
    assert_eq!((created, refused.as_slice()), (3, ["not_creditable"; 5].as_slice()), "three tees were invoiced");
    // Three credit notes of one tee each, adding up to the tee line exactly.
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let notes = notes["items"].as_array().unwrap();
    assert_eq!(notes.len(), 3);
    assert_eq!(notes.iter().map(|n| n["total"].as_i64().unwrap()).sum::<i64>(), tee_total);
    let refunded: i64 = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.json()["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(refunded, tee_total);
}

async fn an_order_paid_by_bank_transfer_is_invoiced_and_its_return_credited(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let order = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 2}])))
        .await
        .expect(StatusCode::CREATED);
    let (id, total) = (order["id"].as_str().unwrap().to_owned(), order["total"].as_i64().unwrap());
    let pay = format!("/v1/orders/{id}/offline-payments");
    app.post(&pay, &json!({"amount": total - 1, "reference": "RF18 0001"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post(&pay, &json!({"amount": total, "reference": "  "}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["status"], "placed");
    let paid = app.post(&pay, &json!({"amount": total, "reference": "RF18 0001"})).await.expect(StatusCode::OK);
    assert_eq!(paid["status"], "paid");
    app.post(&pay, &json!({"amount": total, "reference": "RF18 0001"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    let payments = app.get(&format!("/v1/orders/{id}/payments")).await.expect(StatusCode::OK);
    let payments = payments.as_array().unwrap();
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(
        (payments[0]["kind"].as_str(), payments[0]["provider"].as_str(), payments[0]["status"].as_str()),
        (Some("capture"), Some("offline"), Some("succeeded"))
    );
    assert_eq!(
        (payments[0]["provider_reference"].as_str(), payments[0]["amount"].as_i64()),
        (Some("RF18 0001"), Some(total))
    );

    // Invoiced as any paid order.
    let mut invoices = Value::Null;
    for _ in 0..250 {
        invoices = app.get(&format!("/v1/invoices?order_id={id}")).await.expect(StatusCode::OK);
        if !invoices["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(invoices["items"][0]["total"].as_i64(), Some(total));

    // Offline money is refunded outside Ordo; a return is still credited.
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 100}))
        .await
        .expect_problem(StatusCode::CONFLICT, "not_captured");
    let confirmed = app
        .post(&format!("/v1/orders/{id}/confirm"), &json!({"version": paid["version"]}))
        .await
        .expect(StatusCode::OK);
    app.post(
        &format!("/v1/orders/{id}/fulfil"),
        &json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 2}]}),
    )
    .await
    .expect(StatusCode::OK);
    let r = app
        .post(&format!("/v1/orders/{id}/returns"), &json!({"lines": [{"line": 1, "quantity": 1}]}))
        .await
        .expect(StatusCode::CREATED);
    let rid = r["id"].as_str().unwrap();
    app.post(&format!("/v1/returns/{rid}/approve"), &json!({})).await.expect(StatusCode::OK);
    let received = app
        .post(&format!("/v1/returns/{rid}/receive"), &json!({"location_id": shop.near, "disposition": "sellable"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!((received["refunded"].as_i64(), received["refund_id"].clone()), (Some(0), Value::Null));
    let note = app
        .get(&format!("/v1/credit-notes/{}", received["credit_note_id"].as_str().unwrap()))
        .await
        .expect(StatusCode::OK);
    assert_eq!((note["refund_id"].clone(), note["total"].as_i64()), (Value::Null, Some(total / 2)));

    // An order paid through the provider cannot also be paid offline.
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let by_card = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let card_id = by_card["id"].as_str().unwrap();
    order_when(&app, card_id, "paid").await;
    app.post(
        &format!("/v1/orders/{card_id}/offline-payments"),
        &json!({"amount": by_card["total"], "reference": "RF18 0002"}),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "illegal_transition");
}

async fn invoices_name_the_seller_and_the_customers_billing_details(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let market = app.get("/v1/markets/DE").await.expect(StatusCode::OK);
    let seller = json!({
        "legal_name": "Ordo Shop GmbH",
        "address": {"line1": "Marktplatz 1", "postal_code": "20095", "city": "Hamburg", "country": "DE"},
        "vat_id": "de 999 999 999"
    });
    let mut bad = seller.clone();
    bad["vat_id"] = json!("999");
    app.patch("/v1/markets/DE", &json!({"version": market["version"], "seller": bad}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let market = app
        .patch("/v1/markets/DE", &json!({"version": market["version"], "seller": seller}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(market["seller"]["vat_id"], "DE999999999", "stored normalised");

    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    body["billing_address"] =
        json!({"line1": "Rechnungsweg 5", "postal_code": "80331", "city": "München", "country": "DE"});
    body["vat_id"] = json!("XX");
    app.post("/v1/orders", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    body["vat_id"] = json!("ATU12345678");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    assert_eq!(order["billing"]["vat_id"], "ATU12345678");
    let id = order["id"].as_str().unwrap().to_owned();
    order_when(&app, &id, "paid").await;
    let mut invoices = Value::Null;
    for _ in 0..250 {
        invoices = app.get(&format!("/v1/invoices?order_id={id}")).await.expect(StatusCode::OK);
        if !invoices["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let invoice = invoices["items"][0].clone();
    assert_eq!(invoice["seller"]["legal_name"], "Ordo Shop GmbH");
    assert_eq!(
        (invoice["billing_address"]["line1"].as_str(), invoice["customer_vat_id"].as_str()),
        (Some("Rechnungsweg 5"), Some("ATU12345678"))
    );
    let (_, _, pdf) =
        app.get_bytes(&format!("/v1/invoices/{}", invoice["id"].as_str().unwrap()), "application/pdf").await;
    for text in [
        "Ordo Shop GmbH",
        "20095 Hamburg",
        "USt-IdNr.: DE999999999",
        "Rechnungsweg 5",
        "80331 München",
        "USt-IdNr.: ATU12345678",
    ] {
        assert!(ordo_service::invoices::pdf::shows(&pdf, text), "the invoice's PDF shows {text}");
    }
    assert!(!ordo_service::invoices::pdf::shows(&pdf, "Hauptstr. 1"), "the shipping address is not the invoice's");

    // A credit note names them as its invoice does.
    let payments = wait_for_payments(&app, &id, |p| !settled(p, "capture").is_empty()).await;
    assert!(!payments.is_empty());
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"amount": 100})).await.expect(StatusCode::CREATED);
    let notes = app.get(&format!("/v1/credit-notes?order_id={id}")).await.expect(StatusCode::OK);
    let note = &notes["items"][0];
    assert_eq!(
        (note["seller"].clone(), note["customer_vat_id"].clone()),
        (invoice["seller"].clone(), invoice["customer_vat_id"].clone())
    );
    let (_, _, pdf) =
        app.get_bytes(&format!("/v1/credit-notes/{}", note["id"].as_str().unwrap()), "application/pdf").await;
    assert!(ordo_service::invoices::pdf::shows(&pdf, "Erstattung"), "a credit by amount is a refund, in German");
    let html = app
        .request(
            ordo_testkit::Method::GET,
            &format!("/v1/credit-notes/{}", note["id"].as_str().unwrap()),
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert!(html.text.contains("Ordo Shop GmbH") && html.text.contains("ATU12345678"), "{}", html.text);
}
