//! Settlement reconciliation: a provider's report imported, reconciled in
//! chunks in the background, every planted discrepancy found and nothing
//! else flagged, fees and payouts posted, and the books still proving.

use std::collections::BTreeMap;

use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

use crate::ledger::verify;
use crate::payments::wait_for_payments;

backend_tests!(
    a_report_with_planted_discrepancies_finds_each_and_posts_fees_and_payouts,
    malformed_reports_and_unknown_providers_are_refused_whole,
);

pub(crate) fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

/// A paid order's capture record.
pub(crate) async fn captured(app: &TestApp, shop: &ordo_testkit::fixtures::Shop) -> Value {
    let mut body = order_body(shop, json!([{"sku": "MUG", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    let payments =
        wait_for_payments(app, &id, |p| p.iter().any(|p| p["kind"] == "capture" && p["status"] == "succeeded")).await;
    payments.into_iter().find(|p| p["kind"] == "capture").unwrap()
}

async fn upload(app: &TestApp, query: &str, csv: &str) -> ordo_testkit::TestResponse {
    app.send_raw(Method::POST, &format!("/v1/ledger/settlements?{query}"), Some("text/csv"), csv.as_bytes().to_vec())
        .await
}

pub(crate) async fn finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..500 {
        let run = app.get(&format!("/v1/ledger/settlements/{id}")).await.expect(StatusCode::OK);
        if run["status"] != "running" {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("settlement run {id} never finished");
}

fn balance(trial: &Value, account: &str) -> i64 {
    trial["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["account"] == account)
        .map(|a| a["balance"].as_i64().unwrap())
        .sum()
}

async fn a_report_with_planted_discrepancies_finds_each_and_posts_fees_and_payouts(app: TestApp) {
    let backend = app.backend();
    drop(app);
    // Three lines a chunk, so the report is reconciled in several.
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.workers.enabled = true;
        c.ledger.settlement_chunk_lines = 3;
    })
    .await
    else {
        return;
    };
    let shop = shop(&app).await;
    let (a, b, c, d) = (
        captured(&app, &shop).await,
        captured(&app, &shop).await,
        captured(&app, &shop).await,
        captured(&app, &shop).await,
    );
    let order_a = a["order_id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{order_a}/refunds"), &json!({"amount": 100})).await.expect(StatusCode::CREATED);
    let refund =
        wait_for_payments(&app, order_a, |p| p.iter().any(|p| p["kind"] == "refund" && p["status"] == "succeeded"))
            .await
            .into_iter()
            .find(|p| p["kind"] == "refund")
            .unwrap();
    let amount = |p: &Value| p["amount"].as_i64().unwrap();
    let reference = |p: &Value| p["provider_reference"].as_str().unwrap().to_owned();
    let start = (chrono::DateTime::parse_from_rfc3339(a["updated_at"].as_str().unwrap()).unwrap()
        - chrono::TimeDelta::seconds(1))
    .to_rfc3339();
    let now = chrono::Utc::now().to_rfc3339();
    let rows = [
        // matched, with a fee
        format!("txn_1,capture,{},{},0.30,EUR,{start}", reference(&a), decimal(amount(&a))),
        // amount mismatch: the provider settled a euro more
        format!("txn_2,capture,{},{},0.30,EUR,{now}", reference(&b), decimal(amount(&b) + 100)),
        // matched
        format!("txn_3,capture,{},{},0.30,EUR,{now}", reference(&c), decimal(amount(&c))),
        // duplicate: the same payment settled again under another id
        format!("txn_4,capture,{},{},0.30,EUR,{now}", reference(&c), decimal(amount(&c))),
        // missing in Ordo
        format!("txn_5,capture,pi_unknown,12.00,0.40,EUR,{now}"),
        // the refund, matched
        format!("txn_6,refund,{},{},0,EUR,{now}", reference(&refund), decimal(-amount(&refund))),
        // a payout, and the same line listed twice (duplicate)
        format!("txn_7,payout,,-20.00,0,EUR,{now}"),
        format!("txn_7,payout,,-20.00,0,EUR,{now}"),
        // a fee the provider charged on its own
        format!("txn_8,fee,,-1.50,0,EUR,{now}"),
    ];
    // Order d's capture is in the report's span but not in it.
    let csv = format!("id,type,reference,amount,fee,currency,created\n{}\n", rows.join("\n"));
    let created = upload(&app, "provider=test&format=generic", &csv).await;
    let run = created.expect(StatusCode::ACCEPTED);
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), Some(format!("/v1/ledger/settlements/{id}").as_str()));
    assert_eq!((run["lines"].as_i64(), run["chunks"].as_i64()), (Some(9), Some(3)));
    let run = finished(&app, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["progress"], 100);
    // The report lives on the file store; its chunks were read back from it.
    let stored = app.db.files_dir().join(format!("settlements/{id}/source.csv"));
    assert_eq!(std::fs::read_to_string(&stored).expect("the report on the file store"), csv);
    let counts: BTreeMap<String, i64> = serde_json::from_value(run["counts"].clone()).unwrap();
    let expected: BTreeMap<String, i64> = [
        ("matched", 3),
        ("amount_mismatch", 1),
        ("duplicate", 2),
        ("missing_in_ordo", 1),
        ("missing_in_report", 1),
        ("booked", 2),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);

    // Each discrepancy names its line or payment.
    let items = |status: &str| {
        let app = &app;
        let id = id.clone();
        let status = status.to_owned();
        async move {
            app.get(&format!("/v1/ledger/settlements/{id}/items?status={status}")).await.expect(StatusCode::OK)["items"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let missing = items("missing_in_report").await;
    assert_eq!(missing[0]["payment_id"], d["id"]);
    let mismatch = items("amount_mismatch").await;
    assert_eq!((mismatch[0]["line_id"].as_str(), mismatch[0]["expected"].as_i64()), (Some("txn_2"), Some(amount(&b))));
    assert_eq!(items("missing_in_ordo").await[0]["line_id"], "txn_5");
    let duplicates: Vec<Value> = items("duplicate").await.iter().map(|i| i["line_id"].clone()).collect();
    assert_eq!(duplicates, [json!("txn_4"), json!("txn_7")]);
    let matched: Vec<Value> = items("matched").await.iter().map(|i| i["payment_id"].clone()).collect();
    assert_eq!(matched, [a["id"].clone(), c["id"].clone(), refund["id"].clone()]);

    // The items as CSV: a header and one row each.
    let (status, content_type, body) =
        app.get_bytes(&format!("/v1/ledger/settlements/{id}/items.csv"), "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = String::from_utf8(body).unwrap();
    assert_eq!(text.lines().count(), 11, "{text}");
    assert!(text.starts_with("line,line_id,kind,reference,status,"), "{text}");
    assert!(text.contains(",missing_in_report,"), "{text}");

    // Fees, the payout and the unexplained money are posted; clearing is
    // what the provider says it holds; the books prove.
    let trial = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
    assert_eq!(balance(&trial, "bank"), 2000);
    assert_eq!(balance(&trial, "provider_fees"), 30 * 3 + 40 + 150);
    assert_eq!(balance(&trial, "unallocated_cash"), -(100 + 1200));
    let captured_net = amount(&a) + amount(&b) + amount(&c) + amount(&d) - amount(&refund);
    assert_eq!(balance(&trial, "clearing:test"), captured_net + 100 + 1160 - 2000 - 150 - 90);
    let (ok, output) = verify(&app);
    assert!(ok, "{output}");

    // The same file again is the same run and changes nothing.
    let again = upload(&app, "provider=test&format=generic", &csv).await.expect(StatusCode::OK);
    assert_eq!(again["id"], json!(id));
    let runs = app.get("/v1/ledger/settlements").await.expect(StatusCode::OK);
    assert_eq!(runs["items"].as_array().unwrap().len(), 1);
    let after = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
    assert_eq!(after["accounts"], trial["accounts"]);

    // A later report listing an already settled line flags it duplicate
    // and posts nothing for it.
    let later = format!("id,type,reference,amount,fee,currency,created\n{}\n", rows[0]);
    let run = upload(&app, "provider=test&format=generic", &later).await.expect(StatusCode::ACCEPTED);
    let run = finished(&app, run["id"].as_str().unwrap()).await;
    assert_eq!(run["counts"]["duplicate"], 1, "{run}");
    let after = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
    assert_eq!(balance(&after, "provider_fees"), balance(&trial, "provider_fees"));
}

async fn malformed_reports_and_unknown_providers_are_refused_whole(app: TestApp) {
    let header = "id,type,reference,amount,fee,currency,created\n";
    let good = format!("{header}txn_1,payout,,-20.00,0,EUR,2026-11-03T10:00:00Z\n");
    let problem = upload(&app, "provider=paypal&format=generic", &good)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "provider", "{problem}");
    upload(&app, "provider=offline&format=generic", &good)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Every bad row is named with its field; nothing is stored.
    let bad = format!(
        "{header}txn_1,capture,pi_1,12.345,0,EUR,2026-11-03T10:00:00Z\n\
         txn_2,capture,,12.00,0,EUR,2026-11-03T10:00:00Z\n\
         txn_3,refund,re_1,-1.00,0,EUR,2026-11-03T10:00:00Z\n\
         txn_4,teleport,x,1.00,0,XXX,yesterday\n"
    );
    let problem = upload(&app, "provider=test&format=generic", &bad)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["line[2].amount", "line[3].reference", "line[5].type", "line[5].currency", "line[5].created"],
        "{problem}"
    );
    let stripe = "id,Type,Source,Amount,Fee,Net,Currency,Created (UTC)\ntxn_1,payout,po_1,-20.00,0,-20.00,eur,2026-11-03 10:00\n";
    let problem = upload(&app, "provider=test&format=generic", stripe)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"][0]["code"], "missing_columns", "{problem}");
    upload(&app, "provider=test&format=generic", header)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.send_raw(
        Method::POST,
        "/v1/ledger/settlements?provider=test&format=generic",
        Some("application/json"),
        good.into(),
    )
    .await
    .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    upload(&app, "provider=test&format=xml", header).await.expect(StatusCode::BAD_REQUEST);

    let runs = app.get("/v1/ledger/settlements").await.expect(StatusCode::OK);
    assert_eq!(runs["items"], json!([]), "nothing was stored");
    let entries = app.get("/v1/ledger/entries").await.expect(StatusCode::OK);
    assert_eq!(entries["items"], json!([]), "nothing was posted");
    app.get(&format!("/v1/ledger/settlements/{}", uuid::Uuid::now_v7()))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}
