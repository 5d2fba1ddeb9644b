//! The ledger: every money event posts balanced entries in its own
//! transaction; the trial balance and `ordo ledger verify` prove the books,
//! and a direct unbalanced write is caught.

use std::collections::BTreeMap;

use futures::future::join_all;
use ordo_testkit::fixtures::{Shop, order_body, receive, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests, ordo_command};
use serde_json::{Value, json};

use crate::payments::{wait_for_payments, with_workers};
use crate::stripe::order_when;

backend_tests!(
    every_money_event_posts_balanced_entries_and_the_books_verify,
    an_unbalanced_direct_write_is_refused_or_caught_by_verify,
    the_ledger_is_read_by_finance_and_not_by_clerks,
    records_from_before_the_ledger_are_backfilled_once,
    concurrent_captures_and_refunds_post_without_deadlocks_or_lost_updates,
    a_closed_period_takes_no_postings_and_late_events_post_in_the_next_open_one,
    manual_entries_balance_on_open_periods_and_are_corrected_by_reversal,
);

/// The order's journal transactions as `source_kind → {account: amount}`.
async fn postings_of(app: &TestApp, order_id: &str) -> BTreeMap<String, Vec<BTreeMap<String, i64>>> {
    let page = app.get(&format!("/v1/ledger/entries?order_id={order_id}")).await.expect(StatusCode::OK);
    let mut by_kind: BTreeMap<String, Vec<BTreeMap<String, i64>>> = BTreeMap::new();
    for t in page["items"].as_array().unwrap() {
        assert_eq!(t["order_id"], order_id);
        let postings: BTreeMap<String, i64> = t["postings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["account"].as_str().unwrap().to_owned(), p["amount"].as_i64().unwrap()))
            .collect();
        assert_eq!(postings.values().sum::<i64>(), 0, "each transaction balances: {t}");
        by_kind.entry(t["source_kind"].as_str().unwrap().to_owned()).or_default().push(postings);
    }
    by_kind
}

fn accounts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(a, n)| ((*a).to_owned(), *n)).collect()
}

fn settled(p: &[Value], kind: &str) -> bool {
    p.iter().any(|p| p["kind"] == kind && p["status"] == "succeeded")
}

async fn paid_and_invoiced(app: &TestApp, shop: &Shop) -> (String, Value) {
    let mut body = order_body(shop, json!([{"sku": "TEE", "quantity": 2}, {"sku": "MUG", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap().to_owned();
    order_when(app, &id, "paid").await;
    wait_for_payments(app, &id, |p| settled(p, "capture")).await;
    for _ in 0..200 {
        if postings_of(app, &id).await.contains_key("invoice") {
            return (id, order);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("order {id} was never invoiced");
}

pub(crate) fn verify(app: &TestApp) -> (bool, String) {
    ledger_command(app, "verify")
}

/// `ordo ledger <command>` on the app's database: success and output.
fn ledger_command(app: &TestApp, command: &str) -> (bool, String) {
    let output =
        ordo_command!().args(["ledger", command, "--database-url", &app.db.url]).output().expect("run ordo ledger");
    (
        output.status.success(),
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)),
    )
}

async fn every_money_event_posts_balanced_entries_and_the_books_verify(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let before = chrono::Utc::now();
    let (id, order) = paid_and_invoiced(&app, &shop).await;
    let (total, net, tax) =
        (order["total"].as_i64().unwrap(), order["subtotal"].as_i64().unwrap(), order["tax"].as_i64().unwrap());

    // The invoice: receivables against revenue and VAT; the capture:
    // the provider's clearing account against receivables.
    let posted = postings_of(&app, &id).await;
    assert_eq!(
        posted["invoice"],
        [accounts(&[("receivables", total), ("revenue:goods", -net), ("tax_payable:1900", -tax)])]
    );
    assert_eq!(posted["capture"], [accounts(&[("clearing:test", total), ("receivables", -total)])]);

    // A refund of the mug: its credit note reverses revenue and VAT at
    // once, the refund moves money back out of clearing once it is made.
    let mug = &order["lines"][1];
    app.post(&format!("/v1/orders/{id}/refunds"), &json!({"lines": [{"line": 2, "quantity": 1}]}))
        .await
        .expect(StatusCode::CREATED);
    wait_for_payments(&app, &id, |p| settled(p, "refund")).await;
    let posted = postings_of(&app, &id).await;
    let mug_total = mug["total"].as_i64().unwrap();
    assert_eq!(
        posted["credit_note"],
        [accounts(&[
            ("receivables", -mug_total),
            ("returns", mug["subtotal"].as_i64().unwrap()),
            ("tax_payable:1900", mug["tax"].as_i64().unwrap()),
        ])]
    );
    assert_eq!(posted["refund"], [accounts(&[("clearing:test", -mug_total), ("receivables", mug_total)])]);

    // Money received by bank transfer posts to the bank.
    let unpaid = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    let unpaid_id = unpaid["id"].as_str().unwrap();
    let unpaid_total = unpaid["total"].as_i64().unwrap();
    app.post(
        &format!("/v1/orders/{unpaid_id}/offline-payments"),
        &json!({"amount": unpaid_total, "reference": "SEPA-4711"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        postings_of(&app, unpaid_id).await["capture"],
        [accounts(&[("bank", unpaid_total), ("receivables", -unpaid_total)])]
    );

    // The trial balance: debits equal credits; receivables hold the
    // offline order's invoice until its job runs (then nothing), clearing
    // what the provider still holds.
    let mut trial = Value::Null;
    for _ in 0..200 {
        trial = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
        let receivables = trial["accounts"].as_array().unwrap().iter().any(|a| a["account"] == "receivables");
        if !receivables {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let balance = |account: &str| {
        trial["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == account)
            .map(|a| a["balance"].as_i64().unwrap())
    };
    assert_eq!(balance("receivables"), None, "everything invoiced is paid: {trial}");
    assert_eq!(balance("clearing:test"), Some(total - mug_total));
    assert_eq!(balance("bank"), Some(unpaid_total));
    assert_eq!(
        balance("tax_payable:1900").map(|t| -t),
        Some(tax - mug["tax"].as_i64().unwrap() + unpaid["tax"].as_i64().unwrap())
    );
    assert_eq!(trial["totals"][0]["debits"], trial["totals"][0]["credits"], "{trial}");
    let accounts_now = app.get("/v1/ledger/accounts").await.expect(StatusCode::OK);
    let bank = accounts_now["items"].as_array().unwrap().iter().find(|a| a["account"] == "bank").unwrap().clone();
    assert_eq!((bank["skr03"].as_str(), bank["market"].as_str()), (Some("1200"), Some("DE")));

    // Before anything was posted, there was nothing.
    let at = (before - chrono::TimeDelta::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let empty =
        app.get(&format!("/v1/ledger/trial-balance?at={}", at.replace('+', "%2B"))).await.expect(StatusCode::OK);
    assert!(empty["accounts"].as_array().unwrap().is_empty(), "{empty}");

    let (ok, report) = verify(&app);
    assert!(ok, "the books verify: {report}");
    assert!(report.contains("ok: the books balance"), "{report}");
}

async fn an_unbalanced_direct_write_is_refused_or_caught_by_verify(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    paid_and_invoiced(&app, &shop).await;
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");

    // The database refuses what bypasses the posting code: changing a
    // posting, deleting one, or a transaction whose postings do not balance.
    let uuid = |n: u128| app.db.uuid_literal(uuid::Uuid::from_u128(n));
    for refused in [
        "UPDATE ledger_postings SET amount = amount + 1".to_owned(),
        "DELETE FROM ledger_postings".to_owned(),
        "DELETE FROM ledger_transactions".to_owned(),
    ] {
        assert!(app.db.try_execute(&refused).await.is_err(), "refused: {refused}");
    }
    let posting = format!(
        "INSERT INTO ledger_postings (transaction_id, line, account, market, currency, amount, posted_at)
         SELECT {}, 1, 'receivables', 'DE', 'EUR', 100, posted_at FROM ledger_postings LIMIT 1",
        uuid(7)
    );
    app.db.execute(&posting).await;
    let header = format!(
        "INSERT INTO ledger_transactions (id, market, currency, source_kind, source_id, order_id, posted_at)
         SELECT {}, 'DE', 'EUR', 'invoice', {}, order_id, posted_at FROM ledger_transactions LIMIT 1",
        uuid(7),
        uuid(8)
    );
    assert!(app.db.try_execute(&header).await.is_err(), "an unbalanced transaction's header is refused");

    // The stray posting itself (no header, unbalanced) is what verify names.
    let (ok, report) = verify(&app);
    assert!(!ok, "{report}");
    assert!(report.contains("00000000-0000-0000-0000-000000000007") && report.contains("does not balance"), "{report}");
    assert!(report.contains("debits and credits in EUR differ by 100"), "{report}");
    assert!(report.contains("daily balances differ"), "the rollups were not touched: {report}");
}

async fn the_ledger_is_read_by_finance_and_not_by_clerks(app: TestApp) {
    for (role, allowed) in [
        (ordo_domain::auth::Role::Finance, true),
        (ordo_domain::auth::Role::Manager, true),
        (ordo_domain::auth::Role::Clerk, false),
        (ordo_domain::auth::Role::Viewer, false),
    ] {
        let client = TestApp::client_with_key(&app.key_for(role).await);
        for path in ["/v1/ledger/accounts", "/v1/ledger/entries", "/v1/ledger/trial-balance"] {
            let status = client.get(app.url(path)).send().await.unwrap().status();
            let want = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
            assert_eq!(status, want, "{role:?} on {path}");
        }
    }
    app.get("/v1/ledger/trial-balance?at=yesterday").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    app.get("/v1/ledger/entries?limit=0").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
}

/// Removes every journal transaction behind Ordo's back: a database as
/// upgraded from before the ledger.
async fn forget_the_books(app: &TestApp) {
    let forget = match app.backend() {
        ordo_testkit::Backend::Sqlite => {
            "DROP TRIGGER ledger_postings_no_delete; DROP TRIGGER ledger_transactions_no_delete;
             DELETE FROM ledger_postings; DELETE FROM ledger_transactions; DELETE FROM ledger_daily;"
        }
        ordo_testkit::Backend::Postgres => {
            "ALTER TABLE ledger_postings DISABLE TRIGGER USER; ALTER TABLE ledger_transactions DISABLE TRIGGER USER;
             DELETE FROM ledger_postings; DELETE FROM ledger_transactions; DELETE FROM ledger_daily;
             ALTER TABLE ledger_postings ENABLE TRIGGER USER; ALTER TABLE ledger_transactions ENABLE TRIGGER USER;"
        }
    };
    app.db.execute(forget).await;
}

async fn records_from_before_the_ledger_are_backfilled_once(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let (id, _) = paid_and_invoiced(&app, &shop).await;
    let before = postings_of(&app, &id).await;
    forget_the_books(&app).await;
    let (ok, report) = verify(&app);
    assert!(!ok && report.contains("has no postings"), "{report}");

    let (ok, report) = ledger_command(&app, "backfill");
    assert!(ok && report.contains("posted 2 record(s)"), "the invoice and the capture: {report}");
    let (ok, report) = ledger_command(&app, "backfill");
    assert!(ok && report.contains("posted 0 record(s)"), "once: {report}");
    assert_eq!(postings_of(&app, &id).await, before, "the same postings as when they were made");
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
}

async fn concurrent_captures_and_refunds_post_without_deadlocks_or_lost_updates(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    receive(&app, "MUG", &shop.far, 100).await;
    // 12 orders paid at once: their captures and invoices post concurrently.
    let mut body = order_body(&shop, json!([{"sku": "MUG", "quantity": 2}]));
    body["payment_token"] = json!("tok_approve");
    let placed = join_all((0..12).map(|_| app.post("/v1/orders", &body))).await;
    let orders: Vec<(String, i64)> = placed
        .iter()
        .map(|r| {
            let order = r.expect(StatusCode::CREATED);
            (order["id"].as_str().unwrap().to_owned(), order["total"].as_i64().unwrap())
        })
        .collect();
    for (id, _) in &orders {
        wait_for_payments(&app, id, |p| settled(p, "capture")).await;
    }
    // Then a refund of one mug of each, all at once: credit notes (and
    // invoices not issued yet) and refunds post concurrently.
    let one_mug = json!({"lines": [{"line": 1, "quantity": 1}]});
    let paths: Vec<String> = orders.iter().map(|(id, _)| format!("/v1/orders/{id}/refunds")).collect();
    let refunds = join_all(paths.iter().map(|path| app.post(path, &one_mug))).await;
    let refunded: i64 = refunds.iter().map(|r| r.expect(StatusCode::CREATED)["amount"].as_i64().unwrap()).sum();
    for (id, _) in &orders {
        wait_for_payments(&app, id, |p| settled(p, "refund")).await;
    }
    let captured: i64 = orders.iter().map(|(_, total)| total).sum();
    let trial = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
    let clearing = trial["accounts"].as_array().unwrap().iter().find(|a| a["account"] == "clearing:test").unwrap();
    assert_eq!(clearing["balance"].as_i64(), Some(captured - refunded), "no posting was lost: {trial}");
    assert_eq!(trial["totals"][0]["debits"], trial["totals"][0]["credits"]);
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
}

async fn a_closed_period_takes_no_postings_and_late_events_post_in_the_next_open_one(app: TestApp) {
    use chrono::Datelike;
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let now = chrono::Utc::now();
    let this_month = format!("{:04}-{:02}", now.year(), now.month());
    let month_start = now.date_naive().with_day(1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let mid_last_month = month_start - chrono::TimeDelta::days(15);
    let last_month = format!("{:04}-{:02}", mid_last_month.year(), mid_last_month.month());

    // Closing needs the finance role (or admin), and a month that has ended.
    let finance = TestApp::client_with_key(&app.key_for(ordo_domain::auth::Role::Finance).await);
    let clerk = TestApp::client_with_key(&app.key_for(ordo_domain::auth::Role::Clerk).await);
    let close = |month: &str| app.url(&format!("/v1/ledger/periods/{month}/close"));
    assert_eq!(clerk.post(close(&last_month)).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    for (month, status) in [("2026-13", 422), ("26-11", 422), (this_month.as_str(), 422)] {
        let response = finance.post(close(month)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{month}");
    }
    app.post("/v1/ledger/periods/2020-01/reopen", &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    assert!(app.get("/v1/ledger/periods").await.expect(StatusCode::OK)["items"].as_array().unwrap().is_empty());

    let closed = finance.post(close(&last_month)).send().await.unwrap();
    assert_eq!(closed.status(), StatusCode::OK);
    let closed: Value = closed.json().await.unwrap();
    let again: Value = finance.post(close(&last_month)).send().await.unwrap().json().await.unwrap();
    assert_eq!(again, closed, "closing a closed month changes nothing");
    let periods = app.get("/v1/ledger/periods").await.expect(StatusCode::OK);
    assert_eq!(periods["items"].as_array().unwrap().len(), 1);
    let audit = app.get("/v1/audit-events?entity_type=ledger_period").await.expect(StatusCode::OK);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "closed once, audited once: {audit}");

    // A capture that occurred last month, posted late (as by a backfill):
    // it posts at the start of this month, keeping when it occurred.
    let (id, _) = paid_and_invoiced(&app, &shop).await;
    forget_the_books(&app).await;
    let late = match app.backend() {
        ordo_testkit::Backend::Sqlite => mid_last_month.timestamp_micros().to_string(),
        ordo_testkit::Backend::Postgres => format!("'{}'::timestamptz", mid_last_month.to_rfc3339()),
    };
    app.db.execute(&format!("UPDATE payments SET updated_at = {late} WHERE kind = 'capture'")).await;
    let (ok, report) = ledger_command(&app, "backfill");
    assert!(ok, "{report}");
    let entries = app.get(&format!("/v1/ledger/entries?order_id={id}")).await.expect(StatusCode::OK);
    let capture = entries["items"].as_array().unwrap().iter().find(|t| t["source_kind"] == "capture").unwrap().clone();
    let at = |v: &Value| v.as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!((at(&capture["posted_at"]), at(&capture["occurred_at"])), (month_start, mid_last_month));
    // So last month's balances stay as they were when it was closed.
    let end_of_last =
        (month_start - chrono::TimeDelta::microseconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let trial = app
        .get(&format!("/v1/ledger/trial-balance?at={}", end_of_last.replace('+', "%2B")))
        .await
        .expect(StatusCode::OK);
    assert!(trial["accounts"].as_array().unwrap().is_empty(), "{trial}");

    // The months' summaries: nothing in the closed one; this month opens at
    // zero and closes at the trial balance.
    let summary = app.get(&format!("/v1/ledger/periods/{last_month}")).await.expect(StatusCode::OK);
    assert_eq!((summary["closed"].as_bool(), summary["accounts"].as_array().unwrap().len()), (Some(true), 0));
    let summary = app.get(&format!("/v1/ledger/periods/{this_month}")).await.expect(StatusCode::OK);
    let trial = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
    let closing: Vec<(String, i64)> = summary["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["closing"] != 0)
        .map(|a| {
            assert_eq!(a["opening"], 0, "nothing before this month: {a}");
            assert_eq!(a["movement"], a["closing"]);
            (a["account"].as_str().unwrap().to_owned(), a["closing"].as_i64().unwrap())
        })
        .collect();
    let balances: Vec<(String, i64)> = trial["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account"].as_str().unwrap().to_owned(), a["balance"].as_i64().unwrap()))
        .collect();
    assert_eq!(closing, balances);
    assert_eq!(summary["closed"], false);
    app.get("/v1/ledger/periods/2026-13").await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Reopened, a late event posts in its own month again.
    let reopened = finance.post(app.url(&format!("/v1/ledger/periods/{last_month}/reopen"))).send().await.unwrap();
    assert_eq!(reopened.status(), StatusCode::NO_CONTENT);
    assert!(app.get("/v1/ledger/periods").await.expect(StatusCode::OK)["items"].as_array().unwrap().is_empty());
    let (ok, report) = verify(&app);
    assert!(ok, "{report}");
}

/// The month before this one, `YYYY-MM`, and an instant in it.
fn last_month() -> (String, String) {
    use chrono::Datelike;
    let now = chrono::Utc::now();
    let (year, month) = if now.month() == 1 { (now.year() - 1, 12) } else { (now.year(), now.month() - 1) };
    (format!("{year:04}-{month:02}"), format!("{year:04}-{month:02}-15T12:00:00Z"))
}

async fn manual_entries_balance_on_open_periods_and_are_corrected_by_reversal(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.ledger.accounts = vec![ordo_domain::ledger::ChartAccount {
            code: "marketing".into(),
            description: "Marketing".into(),
            skr03: "4600".into(),
        }];
    })
    .await
    else {
        return;
    };
    let shop = shop(&app).await;
    // The configured account is in the chart, with its mapping.
    let chart = app.get("/v1/ledger/chart").await.expect(StatusCode::OK);
    let marketing = chart["items"].as_array().unwrap().iter().find(|a| a["code"] == "marketing").cloned();
    assert_eq!(marketing.unwrap()["skr03"], "4600");

    let entry =
        |postings: Value| json!({"market": "DE", "currency": "EUR", "memo": "ad campaign", "postings": postings});
    let posted = app
        .post(
            "/v1/ledger/entries",
            &entry(json!([{"account": "marketing", "amount": 5000}, {"account": "bank", "amount": -5000}])),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!((posted["source_kind"].as_str(), posted["memo"].as_str()), (Some("manual"), Some("ad campaign")));
    let id = posted["id"].as_str().unwrap().to_owned();

    // Bad entries are refused whole, naming the field; nothing is posted.
    let refused = [
        (
            entry(json!([{"account": "marketing", "amount": 5000}, {"account": "bank", "amount": -4000}])),
            "postings",
            "unbalanced",
        ),
        (
            entry(json!([{"account": "receivables", "amount": 10}, {"account": "bank", "amount": -10}])),
            "postings[0].account",
            "controlled_account",
        ),
        (
            entry(json!([{"account": "clearing:test", "amount": 10}, {"account": "bank", "amount": -10}])),
            "postings[0].account",
            "controlled_account",
        ),
        (
            entry(json!([{"account": "petty_cash", "amount": 10}, {"account": "bank", "amount": -10}])),
            "postings[0].account",
            "unknown_account",
        ),
        (entry(json!([{"account": "bank", "amount": 10}])), "postings", "unbalanced"),
        (
            json!({"market": "XX", "currency": "EUR", "memo": "m", "postings": [{"account": "marketing", "amount": 1}, {"account": "bank", "amount": -1}]}),
            "market",
            "unknown_market",
        ),
        (
            json!({"market": "DE", "currency": "EUR", "memo": " ", "postings": [{"account": "marketing", "amount": 1}, {"account": "bank", "amount": -1}]}),
            "memo",
            "required",
        ),
        (
            json!({"market": "DE", "currency": "EUR", "memo": "m", "posted_at": "2999-01-01T00:00:00Z", "postings": [{"account": "marketing", "amount": 1}, {"account": "bank", "amount": -1}]}),
            "posted_at",
            "future_date",
        ),
    ];
    for (body, field, code) in refused {
        let problem = app
            .post("/v1/ledger/entries", &body)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let errors = problem["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == field && e["code"] == code), "{body}: {problem}");
    }

    // Nothing is posted dated in a closed period.
    let (period, in_it) = last_month();
    app.post(&format!("/v1/ledger/periods/{period}/close"), &json!({})).await.expect(StatusCode::OK);
    let mut late = entry(json!([{"account": "marketing", "amount": 100}, {"account": "bank", "amount": -100}]));
    late["posted_at"] = json!(in_it);
    let problem = app
        .post("/v1/ledger/entries", &late)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"][0]["code"], "period_closed", "{problem}");
    let entries = app.get("/v1/ledger/entries").await.expect(StatusCode::OK);
    assert_eq!(entries["items"].as_array().unwrap().len(), 1, "only the good entry was posted");

    // A correction is a reversing entry, once.
    let reversal = app
        .post(&format!("/v1/ledger/entries/{id}/reverse"), &json!({"memo": "booked twice"}))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        (reversal["source_kind"].as_str(), reversal["source_id"].as_str()),
        (Some("reversal"), Some(id.as_str()))
    );
    let amounts: BTreeMap<String, i64> = reversal["postings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["account"].as_str().unwrap().to_owned(), p["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(amounts, accounts(&[("bank", 5000), ("marketing", -5000)]));
    app.post(&format!("/v1/ledger/entries/{id}/reverse"), &json!({"memo": "again"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");
    let trial = app.get("/v1/ledger/trial-balance").await.expect(StatusCode::OK);
    assert_eq!(trial["accounts"], json!([]), "the entry and its reversal cancel out");

    // An order that owes nothing has nothing to write off.
    let order = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}])))
        .await
        .expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap();
    app.post(&format!("/v1/orders/{order_id}/write-off"), &json!({"memo": "customer vanished"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "illegal_transition");

    // Finance posts; a clerk may not.
    let clerk = TestApp::client_with_key(&app.key_for(ordo_domain::auth::Role::Clerk).await);
    let status = clerk.post(app.url("/v1/ledger/entries")).json(&late).send().await.unwrap().status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (ok, output) = verify(&app);
    assert!(ok, "{output}");
    let audit = app
        .get(&format!("/v1/audit-events?entity_type=ledger_transaction&entity_id={id}"))
        .await
        .expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"ledger.entry_posted") && actions.contains(&"ledger.entry_reversed"), "{audit}");
}
