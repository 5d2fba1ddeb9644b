//! The cost gate: how many SQL statements, and how many transactions, each
//! write endpoint runs, on both backends, against a stated budget. Timings
//! on shared machines are noise; these counts are not, so a change that
//! adds a round trip to a write path fails here, in `.ci/run`, whatever the
//! machine. Budgets, and how to change one, are in BENCHMARKS.md ("The cost
//! gate").

use chrono::Datelike;
use ordo_testkit::fixtures::{enqueue_job, kill_job, order_body, shop};
use ordo_testkit::{Backend, Method, StatusCode, TestApp};
use serde_json::{Value, json};

use crate::payments::wait_for_payments;

/// Most statements each write may run on SQLite and on PostgreSQL, and the
/// transactions it commits. Raise one only for a statement the change
/// needs, and say why in BENCHMARKS.md.
const BUDGETS: &[(&str, usize, usize, usize)] = &[
    ("POST /v1/markets", 2, 3, 1),
    ("PATCH /v1/markets/{code}", 3, 4, 1),
    ("POST /v1/locations", 2, 3, 1),
    ("POST /v1/products", 2, 3, 1),
    ("PATCH /v1/products/{id}", 3, 4, 1),
    ("POST /v1/products/{id}/archive", 3, 4, 1),
    ("POST /v1/customers", 2, 3, 1),
    ("PATCH /v1/customers/{id}", 3, 4, 1),
    ("POST /v1/customers/{id}/archive", 3, 4, 1),
    ("POST /v1/stock/receipts", 4, 5, 1),
    ("POST /v1/stock/adjustments", 4, 5, 1),
    ("POST /v1/orders", 6, 6, 1),
    ("POST /v1/orders/{id}/confirm", 8, 9, 1),
    ("POST /v1/orders/{id}/fulfil", 11, 12, 1),
    ("POST /v1/orders/{id}/cancel", 9, 10, 1),
    ("POST /v1/orders/{id}/complete", 8, 9, 1),
    ("POST /v1/orders/{id}/offline-payments", 22, 23, 1),
    ("POST /v1/orders/{id}/write-off", 7, 7, 1),
    ("POST /v1/ledger/entries", 6, 6, 1),
    ("POST /v1/ledger/entries/{id}/reverse", 7, 7, 1),
    ("POST /v1/ledger/periods/{period}/close", 2, 4, 1),
    ("POST /v1/ledger/periods/{period}/reopen", 3, 4, 1),
    ("POST /v1/orders/{id}/refunds", 22, 24, 1),
    ("POST /v1/orders/{id}/returns", 8, 10, 1),
    ("POST /v1/returns/{id}/approve", 8, 9, 1),
    ("POST /v1/returns/{id}/reject", 8, 9, 1),
    ("POST /v1/returns/{id}/receive", 37, 38, 1),
    ("POST /v1/webhooks", 2, 3, 1),
    ("DELETE /v1/webhooks/{id}", 4, 5, 1),
    ("POST /v1/reports", 5, 6, 1),
    ("POST /v1/exports", 5, 6, 1),
    ("POST /v1/jobs/{id}/retry", 5, 6, 1),
    ("POST /v1/jobs/{id}/discard", 4, 5, 1),
    ("POST /v1/jobs/{id}/cancel", 4, 5, 1),
];

/// What one write cost.
struct Cost {
    operation: &'static str,
    statements: usize,
    commits: usize,
}

/// Sends one write with a request id of its own and records what it cost.
async fn measure(
    app: &TestApp,
    costs: &mut Vec<Cost>,
    operation: &'static str,
    path: &str,
    body: Option<&Value>,
    expected: StatusCode,
) -> Value {
    let (method, _) = operation.split_once(' ').unwrap();
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let request_id = format!("{:?}-cost-{}", app.backend(), costs.len());
    let answer = app.request(method, path, body, &[("x-request-id", &request_id)]).await;
    assert_eq!(answer.status, expected, "{operation}: {}", answer.text);
    let answer = if answer.text.is_empty() { Value::Null } else { answer.json() };
    costs.push(Cost {
        operation,
        statements: ordo_testkit::statements_for(&request_id),
        commits: ordo_testkit::commits_for(&request_id),
    });
    answer
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

/// Every write of the budget table, once, on `backend`.
async fn costs_on(backend: Backend) -> Option<Vec<Cost>> {
    // Keys stay cached, so authentication adds no statement; workers run,
    // so a paid order is captured (their statements are not a request's).
    let app = TestApp::spawn_with(backend, |c| {
        c.auth.key_cache_ttl_ms = 3_600_000;
        c.workers.enabled = true;
    })
    .await?;
    let shop = shop(&app).await;
    let mut costs = Vec::new();
    let c = &mut costs;
    let created = StatusCode::CREATED;
    let ok = StatusCode::OK;

    let market = json!({"code": "FR", "name": "France", "currency": "EUR", "tax_rate_bp": 2000, "locale": "fr-FR"});
    measure(&app, c, "POST /v1/markets", "/v1/markets", Some(&market), created).await;
    let rename = json!({"version": 1, "name": "France métropolitaine"});
    measure(&app, c, "PATCH /v1/markets/{code}", "/v1/markets/FR", Some(&rename), ok).await;
    let location = json!({"code": "COST", "name": "Cost", "priority": 30});
    measure(&app, c, "POST /v1/locations", "/v1/locations", Some(&location), created).await;

    let product = json!({"sku": "CAP", "name": "Cap", "prices": [{"amount": 900, "currency": "EUR"}]});
    let cap = id(&measure(&app, c, "POST /v1/products", "/v1/products", Some(&product), created).await);
    let rename = json!({"version": 1, "name": "Cap, blue"});
    let path = format!("/v1/products/{cap}");
    measure(&app, c, "PATCH /v1/products/{id}", &path, Some(&rename), ok).await;
    let path = format!("/v1/products/{cap}/archive");
    measure(&app, c, "POST /v1/products/{id}/archive", &path, Some(&json!({"version": 2})), ok).await;

    let customer = json!({"email": "cost@example.com", "name": "Cost"});
    let who = id(&measure(&app, c, "POST /v1/customers", "/v1/customers", Some(&customer), created).await);
    let path = format!("/v1/customers/{who}");
    measure(&app, c, "PATCH /v1/customers/{id}", &path, Some(&json!({"version": 1, "name": "Cost Two"})), ok).await;
    let path = format!("/v1/customers/{who}/archive");
    measure(&app, c, "POST /v1/customers/{id}/archive", &path, Some(&json!({"version": 2})), ok).await;

    let receipt = json!({"sku": "MUG", "location_id": shop.near, "quantity": 5});
    measure(&app, c, "POST /v1/stock/receipts", "/v1/stock/receipts", Some(&receipt), created).await;
    let adjustment = json!({"sku": "MUG", "location_id": shop.near, "delta": -1, "reason": "lost"});
    measure(&app, c, "POST /v1/stock/adjustments", "/v1/stock/adjustments", Some(&adjustment), created).await;

    // An order placed, confirmed, shipped; a unit returned and received,
    // another return rejected.
    let body = order_body(&shop, json!([{"sku": "MUG", "quantity": 2}]));
    let order = measure(&app, c, "POST /v1/orders", "/v1/orders", Some(&body), created).await;
    let order_id = id(&order);
    let path = format!("/v1/orders/{order_id}/confirm");
    let confirmed =
        measure(&app, c, "POST /v1/orders/{id}/confirm", &path, Some(&json!({"version": order["version"]})), ok).await;
    let ship = json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 2}]});
    let path = format!("/v1/orders/{order_id}/fulfil");
    measure(&app, c, "POST /v1/orders/{id}/fulfil", &path, Some(&ship), ok).await;
    let one = json!({"lines": [{"line": 1, "quantity": 1}], "reason": "cracked"});
    let path = format!("/v1/orders/{order_id}/returns");
    let returned = id(&measure(&app, c, "POST /v1/orders/{id}/returns", &path, Some(&one), created).await);
    let rejected = id(&app.post(&path, &one).await.expect(created));
    let path = format!("/v1/returns/{returned}/approve");
    measure(&app, c, "POST /v1/returns/{id}/approve", &path, None, ok).await;
    let path = format!("/v1/returns/{rejected}/reject");
    measure(&app, c, "POST /v1/returns/{id}/reject", &path, Some(&json!({"reason": "not ours"})), ok).await;
    let receipt = json!({"location_id": shop.near, "disposition": "sellable"});
    let path = format!("/v1/returns/{returned}/receive");
    measure(&app, c, "POST /v1/returns/{id}/receive", &path, Some(&receipt), ok).await;

    // Unpaid and shipped, so it owes its total: written off.
    let path = format!("/v1/orders/{order_id}/write-off");
    measure(&app, c, "POST /v1/orders/{id}/write-off", &path, Some(&json!({"memo": "customer vanished"})), created)
        .await;

    // Paid by bank transfer, shipped, completed.
    let transfer =
        app.post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}]))).await.expect(created);
    let transfer_id = id(&transfer);
    let pay = json!({"amount": transfer["total"], "reference": "SEPA-4711"});
    let path = format!("/v1/orders/{transfer_id}/offline-payments");
    let paid_by_transfer = measure(&app, c, "POST /v1/orders/{id}/offline-payments", &path, Some(&pay), ok).await;
    let path = format!("/v1/orders/{transfer_id}/confirm");
    let confirmed = app.post(&path, &json!({"version": paid_by_transfer["version"]})).await.expect(ok);
    let ship = json!({"version": confirmed["version"], "lines": [{"line": 1, "quantity": 1}]});
    let shipped = app.post(&format!("/v1/orders/{transfer_id}/fulfil"), &ship).await.expect(ok);
    let path = format!("/v1/orders/{transfer_id}/complete");
    measure(&app, c, "POST /v1/orders/{id}/complete", &path, Some(&json!({"version": shipped["version"]})), ok).await;

    // A manual entry and its reversal; last month closed and reopened.
    let entry = json!({"market": "DE", "currency": "EUR", "memo": "ad campaign",
        "postings": [{"account": "write_offs", "amount": 5000}, {"account": "bank", "amount": -5000}]});
    let entry = id(&measure(&app, c, "POST /v1/ledger/entries", "/v1/ledger/entries", Some(&entry), created).await);
    let path = format!("/v1/ledger/entries/{entry}/reverse");
    measure(&app, c, "POST /v1/ledger/entries/{id}/reverse", &path, Some(&json!({"memo": "booked twice"})), created)
        .await;
    let first_of_month = chrono::Utc::now().date_naive().with_day(1).unwrap();
    let last_month = (first_of_month - chrono::Duration::days(1)).format("%Y-%m").to_string();
    let path = format!("/v1/ledger/periods/{last_month}/close");
    measure(&app, c, "POST /v1/ledger/periods/{period}/close", &path, Some(&json!({})), ok).await;
    let path = format!("/v1/ledger/periods/{last_month}/reopen");
    measure(&app, c, "POST /v1/ledger/periods/{period}/reopen", &path, Some(&json!({})), StatusCode::NO_CONTENT).await;

    let other =
        app.post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 1}]))).await.expect(created);
    let path = format!("/v1/orders/{}/cancel", id(&other));
    measure(&app, c, "POST /v1/orders/{id}/cancel", &path, Some(&json!({"version": other["version"]})), ok).await;

    // A paid order, captured by the workers, refunded in part.
    let mut paid = order_body(&shop, json!([{"sku": "MUG", "quantity": 1}]));
    paid["payment_token"] = json!("tok_approve");
    let paid = id(&app.post("/v1/orders", &paid).await.expect(created));
    wait_for_payments(&app, &paid, |p| p.iter().any(|p| p["kind"] == "capture" && p["status"] == "succeeded")).await;
    let path = format!("/v1/orders/{paid}/refunds");
    measure(&app, c, "POST /v1/orders/{id}/refunds", &path, Some(&json!({"amount": 100})), created).await;

    let hook = json!({"url": "http://127.0.0.1:9/none", "event_types": ["order.paid"]});
    let hook = id(&measure(&app, c, "POST /v1/webhooks", "/v1/webhooks", Some(&hook), created).await);
    let path = format!("/v1/webhooks/{hook}");
    measure(&app, c, "DELETE /v1/webhooks/{id}", &path, None, StatusCode::NO_CONTENT).await;

    let today = chrono::Utc::now().date_naive().to_string();
    let period = |kind: &str| json!({"kind": kind, "from": today, "to": today});
    measure(&app, c, "POST /v1/reports", "/v1/reports", Some(&period("sales")), StatusCode::ACCEPTED).await;
    measure(&app, c, "POST /v1/exports", "/v1/exports", Some(&period("orders")), StatusCode::ACCEPTED).await;

    // Jobs on a queue no worker takes.
    let dead = enqueue_job(&app, "cost-test", "test.dead").await;
    kill_job(&app, "cost-test", dead).await;
    measure(&app, c, "POST /v1/jobs/{id}/retry", &format!("/v1/jobs/{dead}/retry"), None, ok).await;
    kill_job(&app, "cost-test", dead).await;
    measure(&app, c, "POST /v1/jobs/{id}/discard", &format!("/v1/jobs/{dead}/discard"), None, ok).await;
    let waiting = enqueue_job(&app, "cost-test", "test.waiting").await;
    measure(&app, c, "POST /v1/jobs/{id}/cancel", &format!("/v1/jobs/{waiting}/cancel"), None, ok).await;
    Some(costs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_stays_within_its_statement_budget() {
    let mut over = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(costs) = costs_on(backend).await else { continue };
        let measured: Vec<&str> = costs.iter().map(|c| c.operation).collect();
        for (operation, _, _, _) in BUDGETS {
            assert!(measured.contains(operation), "{operation} is in the budget table but was not measured");
        }
        eprintln!("{backend:?}: statements, transactions per write");
        for cost in &costs {
            let (_, sqlite, postgres, commits) =
                BUDGETS.iter().find(|(op, _, _, _)| *op == cost.operation).expect("every measured write has a budget");
            let statements = if backend == Backend::Sqlite { sqlite } else { postgres };
            eprintln!(
                "  {:<42} {:>3} (budget {statements:>3}) {:>2} tx",
                cost.operation, cost.statements, cost.commits
            );
            assert!(cost.statements > 0, "{backend:?} {}: statements are counted", cost.operation);
            if cost.statements > *statements || cost.commits > *commits {
                over.push(format!(
                    "{backend:?} {}: {} statements in {} transactions, budget {statements} in {commits}",
                    cost.operation, cost.statements, cost.commits
                ));
            }
        }
    }
    assert!(
        over.is_empty(),
        "writes over their statement budget (see \"The cost gate\" in BENCHMARKS.md before raising one):\n{}",
        over.join("\n")
    );
}
