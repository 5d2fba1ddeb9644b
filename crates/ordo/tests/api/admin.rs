//! The web admin over HTTP, as a browser without JavaScript uses it:
//! sign-in and its cookie, pages, actions with their CSRF token, what each
//! role is shown and refused, and sign-out. (The real browser's walk is in
//! `tests/browser`.)

use ordo_domain::auth::{Permission, Role};
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::json;

use crate::jobs::{enqueue, kill};
use crate::payments::{paid_order, wait_for_payments, with_workers};
use crate::returns::shipped_order;
use crate::settlements::{captured, decimal, finished};

backend_tests!(
    staff_sign_in_act_on_orders_and_sign_out,
    each_role_is_shown_and_allowed_what_the_matrix_gives_it,
    a_dead_job_is_retried_from_the_jobs_page,
    a_revoked_key_ends_its_sessions,
    stock_is_received_and_adjusted_from_the_stock_page,
    a_captured_order_is_refunded_from_its_page,
    a_report_is_run_watched_and_downloaded,
    an_import_is_uploaded_and_its_bad_row_shown,
    the_audit_trail_and_trial_balance_are_read_and_the_chain_verified,
    an_admin_creates_a_key_shown_once_and_revokes_it,
    products_and_customers_are_listed_and_found,
    a_webhook_delivery_is_seen_and_replayed,
    a_return_is_requested_approved_and_received_from_the_order_page,
    an_export_is_run_and_downloaded,
    a_reconciliation_run_is_read_with_its_items,
    orders_are_filtered_by_day_and_the_cache_hit_rate_shown,
    a_product_and_its_prices_are_edited_with_problems_beside_their_fields,
    a_customer_and_their_addresses_are_edited_with_problems_beside_their_fields,
    assets_are_versioned_cached_for_good_and_the_only_code_the_page_runs,
);

/// A browser: no redirects followed, the session cookie carried by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { http, base: app.url(""), cookie: None }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", format!("ordo_admin={cookie}")),
            None => request,
        };
        let response = request.send().await.unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let (location, set_cookie) = (header("location"), header("set-cookie"));
        let status = response.status();
        Answer { status, location, set_cookie, body: response.text().await.unwrap() }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    /// Posts `fields` as `multipart/form-data`, as a browser's file form does.
    async fn post_multipart(&self, path: &str, fields: &[(&str, &str)], file: Option<(&str, &str)>) -> Answer {
        let boundary = "----ordo-test-boundary";
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        if let Some((file_name, content)) = file {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n{content}\r\n"
            ));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.send(request).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form)).await
    }

    /// Signs in with `key`; panics unless it is accepted.
    async fn sign_in(&mut self, key: &str) {
        let answer = self.post("/admin/sign-in", &[("key", key)]).await;
        assert_eq!((answer.status, answer.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin")));
        let cookie = answer.set_cookie.expect("a session cookie");
        self.cookie = Some(cookie.split(';').next().unwrap().trim_start_matches("ordo_admin=").to_owned());
    }

    /// The CSRF token of the page at `path`.
    async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        let at = page.body.find(r#"name="csrf" value=""#).expect("a form with the CSRF token") + 19;
        page.body[at..at + 43].to_owned()
    }
}

async fn place(app: &TestApp, shop: &ordo_testkit::fixtures::Shop, quantity: i64) -> String {
    let order = app
        .post("/v1/orders", &order_body(shop, json!([{"sku": "TEE", "quantity": quantity}])))
        .await
        .expect(StatusCode::CREATED);
    order["id"].as_str().unwrap().to_owned()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK)["status"].as_str().unwrap().to_owned()
}

async fn staff_sign_in_act_on_orders_and_sign_out(app: TestApp) {
    let shop = shop(&app).await;
    let mut browser = Browser::new(&app);

    let anonymous = browser.get("/admin/orders").await;
    assert_eq!((anonymous.status, anonymous.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin/sign-in")));
    let form = browser.get("/admin/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"<label for="key">API key</label>"#), "the key field is labelled");

    let refused = browser.post("/admin/sign-in", &[("key", "ordo_not_a_key")]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.set_cookie.is_none(), "no session for a bad key");
    assert!(refused.body.contains("This key is not valid"), "the problem shows beside the field");

    let over_tls = browser
        .send(
            browser
                .http
                .post(app.url("/admin/sign-in"))
                .header("x-forwarded-proto", "https")
                .form(&[("key", app.admin_key.as_str())]),
        )
        .await;
    let cookie = over_tls.set_cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=43200", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    browser.sign_in(&app.admin_key).await;

    let dashboard = browser.get("/admin").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains("<h1>Dashboard</h1>") && dashboard.body.contains("dead jobs"));

    let first = place(&app, &shop, 3).await;
    let second = place(&app, &shop, 1).await;
    let list = browser.get("/admin/orders?status=placed").await;
    assert!(list.body.contains(&first) && list.body.contains(&second), "both placed orders are listed");
    let by_email = browser.get("/admin/orders?q=BUYER%40example.com").await;
    assert!(by_email.body.contains(&first), "found by the customer's e-mail address");
    let by_id = browser.get(&format!("/admin/orders?q={first}")).await;
    assert_eq!(by_id.location, Some(format!("/admin/orders/{first}")), "an id goes straight to the order");
    let nobody = browser.get("/admin/orders?q=nobody%40example.com").await;
    assert!(nobody.body.contains("No orders match.") && !nobody.body.contains(&first));
    let bad_status = browser.get("/admin/orders?status=lost").await;
    assert_eq!(bad_status.status, StatusCode::BAD_REQUEST);
    assert!(bad_status.body.contains("is not an order status"));

    // Confirm, then ship part of it.
    let page = format!("/admin/orders/{first}");
    let csrf = browser.csrf(&page).await;
    let confirmed = browser.post(&format!("{page}/confirm"), &[("csrf", &csrf)]).await;
    assert_eq!((confirmed.status, confirmed.location.as_deref()), (StatusCode::SEE_OTHER, Some(page.as_str())));
    assert_eq!(status_of(&app, &first).await, "confirmed");
    let shipped = browser.post(&format!("{page}/fulfil"), &[("csrf", &csrf), ("line_1", "2")]).await;
    assert_eq!(shipped.status, StatusCode::SEE_OTHER, "{}", shipped.body);
    let order = app.get(&format!("/v1/orders/{first}")).await.expect(StatusCode::OK);
    assert_eq!(
        (order["status"].as_str(), order["lines"][0]["shipped_quantity"].as_i64()),
        (Some("partially_fulfilled"), Some(2))
    );
    let shown = browser.get(&page).await.body;
    assert!(shown.contains("partially fulfilled") && shown.contains("confirmed"), "status and timeline shown");

    // Refused actions change nothing and say why.
    let too_many = browser.post(&format!("{page}/fulfil"), &[("csrf", &csrf), ("line_1", "5")]).await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_many.body.contains(r#"role="alert""#), "the problem is shown on the order's page");
    let not_a_number = browser.post(&format!("{page}/fulfil"), &[("csrf", &csrf), ("line_1", "two")]).await;
    assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_a_number.body.contains("is not a whole number"));
    let illegal = browser.post(&format!("{page}/confirm"), &[("csrf", &csrf)]).await;
    assert_eq!(illegal.status, StatusCode::CONFLICT);
    let order = app.get(&format!("/v1/orders/{first}")).await.expect(StatusCode::OK);
    assert_eq!(
        (order["status"].as_str(), order["lines"][0]["shipped_quantity"].as_i64()),
        (Some("partially_fulfilled"), Some(2))
    );

    // A form without this session's token is refused, and changes nothing.
    let second_page = format!("/admin/orders/{second}");
    for form in [vec![], vec![("csrf", "forged-token-forged-token-forged-token-forg")]] {
        let forged = browser.post(&format!("{second_page}/cancel"), &form).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(forged.body.contains("did not carry this session"));
    }
    assert_eq!(status_of(&app, &second).await, "placed");
    let cancelled = browser.post(&format!("{second_page}/cancel"), &[("csrf", &csrf)]).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &second).await, "cancelled");

    // Audited as the signed-in key.
    let audit = app.get(&format!("/v1/audit-events?entity_id={first}")).await.expect(StatusCode::OK);
    let confirm =
        audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "order.confirmed").expect("audited");
    assert_eq!(confirm["actor_name"], "test admin");

    let out = browser.post("/admin/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location.as_deref(), Some("/admin/sign-in"));
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    let after = browser.get("/admin").await;
    assert_eq!(after.location.as_deref(), Some("/admin/sign-in"), "the old cookie opens nothing");
    let audit = app.get("/v1/audit-events?entity_type=api_key").await.expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"admin.signed_in") && actions.contains(&"admin.signed_out"), "{actions:?}");
}

async fn each_role_is_shown_and_allowed_what_the_matrix_gives_it(app: TestApp) {
    let shop = shop(&app).await;
    for role in Role::ALL {
        let mut browser = Browser::new(&app);
        browser.sign_in(&app.key_for(role).await).await;
        let id = place(&app, &shop, 1).await;
        let page = format!("/admin/orders/{id}");
        let shown = browser.get(&page).await;
        assert_eq!(shown.status, StatusCode::OK, "{role} reads orders");
        let may_write = role.allows(Permission::OrdersWrite);
        assert_eq!(shown.body.contains(&format!("{page}/confirm")), may_write, "{role}: the confirm button");
        let csrf = browser.csrf(&page).await;
        let posted = browser.post(&format!("{page}/confirm"), &[("csrf", &csrf)]).await;
        let expected = if may_write { StatusCode::SEE_OTHER } else { StatusCode::FORBIDDEN };
        assert_eq!(posted.status, expected, "{role} posting confirm");
        assert_eq!(status_of(&app, &id).await, if may_write { "confirmed" } else { "placed" }, "{role}");

        for (path, permission) in [
            ("/admin/stock", Permission::InventoryRead),
            ("/admin/products", Permission::CatalogRead),
            ("/admin/customers", Permission::CustomersRead),
            ("/admin/reports", Permission::ReportsRun),
            ("/admin/exports", Permission::ExportsRun),
            ("/admin/invoices", Permission::InvoicesRead),
            ("/admin/imports", Permission::ImportsRun),
            ("/admin/ledger", Permission::LedgerRead),
            ("/admin/audit", Permission::AuditRead),
            ("/admin/keys", Permission::KeysManage),
            ("/admin/webhooks", Permission::WebhooksManage),
        ] {
            let allowed = role.allows(permission);
            assert_eq!(shown.body.contains(&format!(r#"href="{path}""#)), allowed, "{role}: the link to {path}");
            let page = browser.get(path).await;
            assert_eq!(page.status, if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN }, "{role}: {path}");
        }
        // Pages reached from a section's own page rather than the navigation.
        for (path, permission) in
            [("/admin/ledger/settlements", Permission::LedgerRead), ("/admin/credit-notes", Permission::InvoicesRead)]
        {
            let page = browser.get(path).await;
            let allowed = role.allows(permission);
            assert_eq!(page.status, if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN }, "{role}: {path}");
        }
        let may_read_jobs = role.allows(Permission::JobsRead);
        assert_eq!(shown.body.contains(r#"href="/admin/jobs""#), may_read_jobs, "{role}: the jobs link");
        let jobs = browser.get("/admin/jobs").await;
        assert_eq!(jobs.status, if may_read_jobs { StatusCode::OK } else { StatusCode::FORBIDDEN }, "{role}: jobs");
        let dashboard = browser.get("/admin").await;
        assert_eq!(dashboard.status, StatusCode::OK);
        assert_eq!(dashboard.body.contains("Job queues"), role.allows(Permission::OpsRead), "{role}: figures");
    }
}

async fn a_dead_job_is_retried_from_the_jobs_page(app: TestApp) {
    let dead = enqueue(&app, "test.dead").await;
    kill(&app, dead).await;
    let other = enqueue(&app, "test.dead").await;
    kill(&app, other).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let listed = browser.get("/admin/jobs").await;
    assert!(listed.body.contains(&dead.to_string()) && listed.body.contains("boom"), "dead jobs with their error");
    let csrf = browser.csrf("/admin/jobs").await;
    let retried = browser.post(&format!("/admin/jobs/{dead}/retry"), &[("csrf", &csrf)]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER);
    let job = app.get(&format!("/v1/jobs/{dead}")).await.expect(StatusCode::OK);
    assert_eq!(job["state"], "available");
    let again = browser.post(&format!("/admin/jobs/{dead}/retry"), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "only a dead job is retried");
    browser.post(&format!("/admin/jobs/{other}/discard"), &[("csrf", &csrf)]).await;
    app.get(&format!("/v1/jobs/{other}")).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    let bad = browser.post("/admin/jobs/not-an-id/retry", &[("csrf", &csrf)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn a_revoked_key_ends_its_sessions(app: TestApp) {
    let key = app.key_for(Role::Clerk).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&key).await;
    assert_eq!(browser.get("/admin/orders").await.status, StatusCode::OK);
    let (id, _) = ordo_domain::auth::Token::parse(&key).unwrap();
    app.services.keys.revoke_key(&ordo_domain::audit::Actor::system("test"), id).await.unwrap();
    let after = browser.get("/admin/orders").await;
    assert_eq!(after.location.as_deref(), Some("/admin/sign-in"), "a revoked key's session opens nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pages_cost_a_constant_number_of_statements() {
    for backend in [ordo_testkit::Backend::Sqlite, ordo_testkit::Backend::Postgres] {
        // The key stays cached, so only the session's lookup and the page's
        // own reads are counted.
        let Some(app) = TestApp::spawn_with(backend, |c| c.auth.key_cache_ttl_ms = 3_600_000).await else { continue };
        let shop = shop(&app).await;
        let mut browser = Browser::new(&app);
        browser.sign_in(&app.admin_key).await;
        let statements = async |path: &str, request_id: String| {
            let answer = browser.send(browser.http.get(app.url(path)).header("x-request-id", &request_id)).await;
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            ordo_testkit::statements_for(&request_id)
        };
        let first = place(&app, &shop, 1).await;
        let list_of_one = statements("/admin/orders", format!("{backend:?}-admin-list-1")).await;
        for _ in 0..9 {
            place(&app, &shop, 1).await;
        }
        let list_of_ten = statements("/admin/orders", format!("{backend:?}-admin-list-10")).await;
        assert!(list_of_one > 0, "statements are counted");
        assert_eq!(list_of_one, list_of_ten, "{backend:?}: the list costs the same whatever its length");
        // The session, then the page of orders with their lines.
        assert!(list_of_ten <= 3, "{backend:?}: the orders page runs {list_of_ten} statements");
        let order = statements(&format!("/admin/orders/{first}"), format!("{backend:?}-admin-order")).await;
        let two_lines = app
            .post(
                "/v1/orders",
                &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}, {"sku": "MUG", "quantity": 1}])),
            )
            .await
            .expect(StatusCode::CREATED);
        let id = two_lines["id"].as_str().unwrap();
        let bigger = statements(&format!("/admin/orders/{id}"), format!("{backend:?}-admin-order-2")).await;
        assert_eq!(order, bigger, "{backend:?}: an order's page costs the same whatever its lines");
        // The session, the order and its lines, its timeline, payments,
        // returns, invoices and credit notes, each a read of its own.
        assert!(order <= 12, "{backend:?}: an order's page runs {order} statements");
        let dashboard = statements("/admin", format!("{backend:?}-admin-dashboard")).await;
        assert!(dashboard <= 3, "{backend:?}: the dashboard runs {dashboard} statements");
        eprintln!("{backend:?}: admin list {list_of_ten}, order {order}, dashboard {dashboard} statements");
    }
}

async fn stock_is_received_and_adjusted_from_the_stock_page(app: TestApp) {
    let shop = shop(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let page = browser.get("/admin/stock?sku=MUG").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("FAR") && page.body.contains(r#"action="/admin/stock/receipts""#));
    let csrf = browser.csrf("/admin/stock?sku=MUG").await;
    let received = browser
        .post(
            "/admin/stock/receipts",
            &[("csrf", &csrf), ("sku", "MUG"), ("location_id", &shop.near), ("quantity", "7"), ("note", "")],
        )
        .await;
    assert_eq!((received.status, received.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin/stock?sku=MUG")));
    let level = |stock: &serde_json::Value, location: &str| {
        stock["locations"].as_array().unwrap().iter().find(|l| l["location_id"] == location).unwrap()["on_hand"]
            .as_i64()
    };
    let stock = app.get("/v1/stock/MUG").await.expect(StatusCode::OK);
    assert_eq!(level(&stock, &shop.near), Some(7));
    let adjusted = browser
        .post(
            "/admin/stock/adjustments",
            &[
                ("csrf", &csrf),
                ("sku", "MUG"),
                ("location_id", &shop.near),
                ("delta", "-2"),
                ("reason", "damaged"),
                ("note", "dropped"),
            ],
        )
        .await;
    assert_eq!(adjusted.status, StatusCode::SEE_OTHER);
    // Refused changes show why on the page and change nothing.
    let too_many = browser
        .post(
            "/admin/stock/adjustments",
            &[
                ("csrf", &csrf),
                ("sku", "MUG"),
                ("location_id", &shop.near),
                ("delta", "-50"),
                ("reason", "lost"),
                ("note", ""),
            ],
        )
        .await;
    assert_eq!(too_many.status, StatusCode::CONFLICT);
    assert!(too_many.body.contains(r#"role="alert""#));
    let not_a_number = browser
        .post(
            "/admin/stock/receipts",
            &[("csrf", &csrf), ("sku", "MUG"), ("location_id", &shop.near), ("quantity", "many")],
        )
        .await;
    assert_eq!(not_a_number.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_reason = browser
        .post(
            "/admin/stock/adjustments",
            &[("csrf", &csrf), ("sku", "MUG"), ("location_id", &shop.near), ("delta", "1"), ("reason", "whim")],
        )
        .await;
    assert_eq!(bad_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let stock = app.get("/v1/stock/MUG").await.expect(StatusCode::OK);
    assert_eq!(level(&stock, &shop.near), Some(5), "received 7, took 2; the refused changes took nothing");
    let audit = app.get("/v1/audit-events?entity_type=stock").await.expect(StatusCode::OK);
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "stock.adjusted" && e["actor_name"] == "test admin")
    );
}

async fn a_captured_order_is_refunded_from_its_page(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, total) = paid_order(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let page = format!("/admin/orders/{id}");
    let shown = browser.get(&page).await.body;
    assert!(shown.contains(&format!("{page}/refund")), "a captured order offers a refund");
    let csrf = browser.csrf(&page).await;
    for bad in ["abc", "1.505", "-1"] {
        let refused = browser.post(&format!("{page}/refund"), &[("csrf", &csrf), ("amount", bad)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        // The order's page again, the problem beside the amount field.
        let form = &refused.body[refused.body.find(&format!("{page}/refund")).expect("the refund form")..];
        let field = form.find(r#"name="amount""#).unwrap();
        let problem = form.find(r#"class="field-problem""#).expect("a problem beside the field");
        assert!(problem > field && problem < form.find("</form>").unwrap(), "{bad}: beside the amount");
    }
    let too_much = format!("{}.00", total / 100 + 1);
    let refused = browser.post(&format!("{page}/refund"), &[("csrf", &csrf), ("amount", &too_much)]).await;
    assert!(refused.status.is_client_error(), "more than was captured: {}", refused.status);
    let refunded = browser.post(&format!("{page}/refund"), &[("csrf", &csrf), ("amount", "1.50")]).await;
    assert_eq!(refunded.status, StatusCode::SEE_OTHER, "{}", refunded.body);
    let payments =
        wait_for_payments(&app, &id, |p| p.iter().any(|p| p["kind"] == "refund" && p["status"] == "succeeded")).await;
    let refunds: Vec<_> = payments.iter().filter(|p| p["kind"] == "refund").collect();
    assert_eq!(refunds.len(), 1, "only the good refund was made");
    assert_eq!(refunds[0]["amount"], 150);
}

async fn a_report_is_run_watched_and_downloaded(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let csrf = browser.csrf("/admin/reports").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let run = |kind: &'static str, from: String, to: String| {
        let csrf = csrf.clone();
        let browser = &browser;
        async move {
            browser
                .post(
                    "/admin/reports",
                    &[
                        ("csrf", csrf.as_str()),
                        ("kind", kind),
                        ("from", &from),
                        ("to", &to),
                        ("market", ""),
                        ("format", "csv"),
                    ],
                )
                .await
        }
    };
    for (kind, from, to, status) in [
        ("lunch", today.clone(), today.clone(), StatusCode::UNPROCESSABLE_ENTITY),
        ("orders", today.clone(), today.clone(), StatusCode::UNPROCESSABLE_ENTITY),
        ("sales", "yesterday".to_owned(), today.clone(), StatusCode::UNPROCESSABLE_ENTITY),
        ("sales", today.clone(), "2020-01-01".to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(run(kind, from, to).await.status, status, "{kind}");
    }
    let none = app.get("/v1/reports").await.expect(StatusCode::OK);
    assert!(none["items"].as_array().unwrap().is_empty(), "refused runs asked for nothing");
    let asked = run("sales", today.clone(), today.clone()).await;
    assert_eq!((asked.status, asked.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin/reports")));
    let mut download = None;
    for () in for_half_a_minute() {
        let page = browser.get("/admin/reports").await.body;
        if let Some(at) = page.find("/download\"") {
            let start = page[..at].rfind('"').unwrap() + 1;
            download = Some(page[start..at + 9].to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let download = download.expect("the report succeeds and offers its file");
    let link = browser.get(&download).await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    let file = app.anonymous.get(link.location.unwrap()).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    let csv = file.text().await.unwrap();
    assert!(csv.starts_with("day,"), "the sales report's CSV: {csv}");
}

async fn an_import_is_uploaded_and_its_bad_row_shown(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let csrf = browser.csrf("/admin/imports").await;
    let csv = "sku,name,price_EUR\nCUP-1,Cup,4.50\nCUP-2,,3.00\nCUP-3,Saucer,2.00\n";
    let forged = browser.post_multipart("/admin/imports", &[("kind", "products")], Some(("products.csv", csv))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token, no import");
    let wrong =
        browser.post_multipart("/admin/imports", &[("csrf", &csrf), ("kind", "orders")], Some(("p.csv", csv))).await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let no_file = browser.post_multipart("/admin/imports", &[("csrf", &csrf), ("kind", "products")], None).await;
    assert_eq!(no_file.status, StatusCode::UNPROCESSABLE_ENTITY);
    let none = app.get("/v1/imports").await.expect(StatusCode::OK);
    assert!(none["items"].as_array().unwrap().is_empty(), "refused uploads import nothing");

    let uploaded = browser
        .post_multipart(
            "/admin/imports",
            &[("csrf", &csrf), ("kind", "products"), ("bad_rows", "refuse")],
            Some(("products.csv", csv)),
        )
        .await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let page = uploaded.location.unwrap();
    let mut shown = String::new();
    for () in for_half_a_minute() {
        shown = browser.get(&page).await.body;
        if shown.contains("Refused rows") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(shown.contains("Refused rows") && shown.contains("failed"), "{shown}");
    assert!(shown.contains("<td class=\"num\">2</td><td>name</td>"), "the bad row (the second) and its field: {shown}");
    assert!(shown.contains("nothing applied"), "a refused file's counts are what the check found");
    app.get("/v1/products?sku_prefix=CUP").await.expect(StatusCode::OK)["items"]
        .as_array()
        .unwrap()
        .is_empty()
        .then_some(())
        .expect("a refused file changes nothing");
    let errors = browser.get(&format!("{page}/errors")).await;
    assert_eq!(errors.status, StatusCode::OK);
    assert!(
        errors.body.starts_with("row,field,code,message") && errors.body.contains("\r\n2,name,"),
        "{}",
        errors.body
    );
}

async fn the_audit_trail_and_trial_balance_are_read_and_the_chain_verified(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let (id, total) = paid_order(&app).await;
    // The invoice posts too; wait for it, so the books hold both.
    let invoice = crate::files::invoice_of(&app, &id).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.key_for(Role::Finance).await).await;

    // The order's page opens its invoice's PDF through a signed link.
    let pdf = format!("/admin/invoices/{}/pdf", invoice["id"].as_str().unwrap());
    assert!(browser.get(&format!("/admin/orders/{id}")).await.body.contains(&pdf), "the order links its invoice");
    let link = browser.get(&pdf).await;
    assert_eq!(link.status, StatusCode::SEE_OTHER);
    let file = app.anonymous.get(link.location.unwrap()).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.bytes().await.unwrap().starts_with(b"%PDF"), "the invoice's PDF");
    assert_eq!(browser.get("/admin/invoices/not-an-id/pdf").await.status, StatusCode::BAD_REQUEST);

    let trail = browser.get(&format!("/admin/audit?entity_id={id}")).await;
    assert_eq!(trail.status, StatusCode::OK);
    assert!(trail.body.contains("order.placed") && !trail.body.contains("admin.signed_in"), "filtered to the order");
    let signed_in = browser.get("/admin/audit?entity_type=api_key").await.body;
    assert!(signed_in.contains("admin.signed_in"), "the sign-in is on the trail");
    assert_eq!(browser.get("/admin/audit?from=yesterday").await.status, StatusCode::BAD_REQUEST);
    let verified = browser.get("/admin/audit/verify").await;
    assert_eq!(verified.status, StatusCode::OK);
    assert!(verified.body.contains("The chain holds"), "{}", verified.body);

    let books = browser.get("/admin/ledger").await;
    assert_eq!(books.status, StatusCode::OK);
    let euros = format!("{}.{:02} EUR", total / 100, total % 100);
    assert!(books.body.contains("clearing") && books.body.contains("revenue"), "accounts with balances");
    assert!(books.body.contains(&euros), "the order's {euros} is in the books");
    let before = browser.get("/admin/ledger?on=2020-01-01").await.body;
    assert!(before.contains("Nothing is posted yet."), "nothing was posted by then");
    assert_eq!(browser.get("/admin/ledger?on=soon").await.status, StatusCode::BAD_REQUEST);
}

async fn an_admin_creates_a_key_shown_once_and_revokes_it(app: TestApp) {
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let csrf = browser.csrf("/admin/keys").await;
    for (name, role, days) in
        [("", "viewer", ""), ("dash", "owner", ""), ("dash", "viewer", "0"), ("dash", "viewer", "soon")]
    {
        let refused = browser
            .post("/admin/keys", &[("csrf", &csrf), ("name", name), ("role", role), ("expires_in_days", days)])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?} {role} {days:?}");
        assert!(refused.body.contains(r#"role="alert""#));
    }
    let created = browser
        .post("/admin/keys", &[("csrf", &csrf), ("name", "dashboard"), ("role", "viewer"), ("expires_in_days", "30")])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let at = created.body.find("value=\"ordo_").expect("the token is shown") + 7;
    let token = &created.body[at..at + created.body[at..].find('"').unwrap()];
    let with_token = TestApp::client_with_key(token);
    let read = with_token.get(app.url("/v1/products")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK, "the new key works");
    let listed = browser.get("/admin/keys").await.body;
    assert!(listed.contains("dashboard") && !listed.contains(token), "listed, its token never shown again");
    let keys = app.services.keys.list_keys().await.unwrap();
    let key = keys.iter().find(|k| k.name == "dashboard").unwrap();
    assert_eq!(key.role, Role::Viewer);
    assert!(key.expires_at.is_some());
    let revoked = browser.post(&format!("/admin/keys/{}/revoke", key.id), &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let refused = with_token.get(app.url("/v1/products")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "a revoked key opens nothing");
    let audit = app.get("/v1/audit-events?entity_type=api_key").await.expect(StatusCode::OK);
    let by_admin = |action: &str| {
        audit["items"].as_array().unwrap().iter().any(|e| e["action"] == action && e["actor_name"] == "test admin")
    };
    assert!(by_admin("api_key.created") && by_admin("api_key.revoked"), "audited as the signed-in admin");
}

async fn products_and_customers_are_listed_and_found(app: TestApp) {
    shop(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.key_for(Role::Viewer).await).await;
    let products = browser.get("/admin/products").await;
    assert_eq!(products.status, StatusCode::OK);
    assert!(products.body.contains("19.99 EUR") && products.body.contains("10.00 EUR"), "prices in their currencies");
    let tee = browser.get("/admin/products?sku_prefix=TE").await.body;
    assert!(tee.contains(">TEE<") && !tee.contains(">MUG<"), "filtered by SKU prefix");
    assert_eq!(browser.get("/admin/products?sku_prefix=TEE%20MUG").await.status, StatusCode::BAD_REQUEST);
    let customers = browser.get("/admin/customers?email=Buyer%40Example.com").await;
    assert_eq!(customers.status, StatusCode::OK);
    assert!(
        customers.body.contains("buyer@example.com") && customers.body.contains("Buyer"),
        "found by address, any case"
    );
    assert!(customers.body.contains("/admin/orders?q=buyer%40example.com"), "a link to their orders");
    let nobody = browser.get("/admin/customers?email=nobody%40example.com").await.body;
    assert!(nobody.contains("No customers match."));
    assert_eq!(browser.get("/admin/customers?email=not-an-address").await.status, StatusCode::BAD_REQUEST);
}

async fn a_webhook_delivery_is_seen_and_replayed(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let (url, receiver) = crate::webhooks::start_receiver(0).await;
    let created = app
        .post("/v1/webhooks", &json!({"url": url, "event_types": ["order.placed"]}))
        .await
        .expect(StatusCode::CREATED);
    let webhook = created["id"].as_str().unwrap().to_owned();
    let order = place(&app, &shop, 1).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let listed = browser.get("/admin/webhooks").await;
    assert!(listed.body.contains(&url), "the endpoint is listed");
    let page = format!("/admin/webhooks/{webhook}");
    let mut shown = String::new();
    for () in for_half_a_minute() {
        shown = browser.get(&page).await.body;
        if shown.contains("delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(shown.contains("delivered") && shown.contains(&order), "the delivery, delivered: {shown}");
    assert!(!shown.contains(created["secret"].as_str().unwrap()), "the secret is never shown");
    let at = shown.find("/replay\"").unwrap();
    let replay = &shown[shown[..at].rfind('"').unwrap() + 1..at + 7];
    let csrf = browser.csrf(&page).await;
    let seen = receiver.seen.lock().unwrap().len();
    let replayed = browser.post(replay, &[("csrf", &csrf)]).await;
    assert_eq!((replayed.status, replayed.location.as_deref()), (StatusCode::SEE_OTHER, Some(page.as_str())));
    for () in for_half_a_minute() {
        if receiver.seen.lock().unwrap().len() > seen {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the replayed delivery never reached the receiver");
}

/// The first `href` on `page` that starts with `prefix`.
fn link(page: &str, prefix: &str) -> Option<String> {
    let at = page.find(&format!(r#"href="{prefix}"#))? + 6;
    let end = page[at..].find('"')? + at;
    Some(page[at..end].to_owned())
}

async fn a_return_is_requested_approved_and_received_from_the_order_page(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let order = shipped_order(&app, &shop).await;
    let id = order["id"].as_str().unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let page = format!("/admin/orders/{id}");
    let shown = browser.get(&page).await.body;
    assert!(shown.contains(&format!("{page}/returns")), "a shipped order offers a return");
    let customer = format!("/admin/customers/{}", shop.customer);
    assert!(shown.contains(&format!(r#"href="{customer}""#)), "the order links its customer");
    assert_eq!(browser.get(&customer).await.status, StatusCode::OK);
    assert!(shown.contains("up to 3") && shown.contains("up to 1"), "each line with the units it may return");
    let csrf = browser.csrf(&page).await;

    // More than was shipped, or no units: refused, and nothing is asked.
    for (line, quantity) in [("line_1", "4"), ("line_1", "0"), ("line_1", "x")] {
        let refused =
            browser.post(&format!("{page}/returns"), &[("csrf", &csrf), (line, quantity), ("reason", "")]).await;
        assert!(refused.status.is_client_error(), "{line}={quantity}: {}", refused.status);
        assert!(refused.body.contains(r#"role="alert""#), "the problem is shown on the page");
    }
    let none = app.get(&format!("/v1/orders/{id}/returns")).await.expect(StatusCode::OK);
    assert!(none.as_array().unwrap().is_empty(), "refused requests asked for nothing: {none}");

    let asked = browser
        .post(&format!("{page}/returns"), &[("csrf", &csrf), ("line_1", "2"), ("line_2", "0"), ("reason", "too small")])
        .await;
    assert_eq!((asked.status, asked.location.as_deref()), (StatusCode::SEE_OTHER, Some(page.as_str())));
    let returns = app.get(&format!("/v1/orders/{id}/returns")).await.expect(StatusCode::OK);
    let r = &returns[0];
    let rid = r["id"].as_str().unwrap();
    assert_eq!((r["status"].as_str(), r["lines"][0]["quantity"].as_i64()), (Some("requested"), Some(2)));
    assert_eq!(r["reason"], "too small");
    let shown = browser.get(&page).await.body;
    assert!(shown.contains("up to 1") && !shown.contains("up to 3"), "the requested units are no longer offered");
    assert!(shown.contains(&format!("/admin/returns/{rid}/approve")), "a requested return can be approved");

    // Receiving before approval is refused as the API refuses it.
    let early = browser
        .post(
            &format!("/admin/returns/{rid}/receive"),
            &[("csrf", &csrf), ("location_id", &shop.near), ("line_1", "damaged")],
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);
    let approved = browser.post(&format!("/admin/returns/{rid}/approve"), &[("csrf", &csrf)]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let shown = browser.get(&page).await.body;
    assert!(shown.contains(&format!("/admin/returns/{rid}/receive")), "an approved return can be received");
    let bad = browser
        .post(
            &format!("/admin/returns/{rid}/receive"),
            &[("csrf", &csrf), ("location_id", &shop.near), ("line_1", "lost")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown disposition");
    let received = browser
        .post(
            &format!("/admin/returns/{rid}/receive"),
            &[("csrf", &csrf), ("location_id", &shop.near), ("line_1", "damaged")],
        )
        .await;
    assert_eq!(received.status, StatusCode::SEE_OTHER, "{}", received.body);
    let r = app.get(&format!("/v1/returns/{rid}")).await.expect(StatusCode::OK);
    assert_eq!((r["status"].as_str(), r["lines"][0]["disposition"].as_str()), (Some("received"), Some("damaged")));
    assert!(r["refunded"].as_i64().unwrap() > 0, "the receipt refunded the units: {r}");
    let audit = app.get(&format!("/v1/audit-events?entity_type=return&entity_id={rid}")).await.expect(StatusCode::OK);
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["return.requested", "return.approved", "return.received"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }

    // The credit note is on the order's page and in the register, as PDF.
    let shown = browser.get(&page).await.body;
    let pdf = link(&shown, "/admin/credit-notes/").expect("the order's page links its credit note");
    assert!(shown.contains("Credit note CN-DE-"), "{shown}");
    let register = browser.get("/admin/credit-notes").await;
    assert_eq!(register.status, StatusCode::OK);
    assert!(register.body.contains(&pdf), "the register lists the credit note");
    assert!(browser.get("/admin/invoices").await.body.contains("INV-DE-"), "the invoice register lists the invoice");
    let signed = browser.get(&pdf).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let file = app.anonymous.get(signed.location.unwrap()).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert!(file.bytes().await.unwrap().starts_with(b"%PDF-"), "the credit note opens as PDF");
}

async fn an_export_is_run_and_downloaded(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    place(&app, &shop, 1).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let csrf = browser.csrf("/admin/exports").await;
    let today = chrono::Utc::now().date_naive().to_string();
    let run = |kind: &'static str| {
        let (csrf, today, browser) = (csrf.clone(), today.clone(), &browser);
        async move {
            let form = [("csrf", csrf.as_str()), ("kind", kind), ("from", &today), ("to", &today), ("format", "csv")];
            browser.post("/admin/exports", &form).await
        }
    };
    assert_eq!(run("sales").await.status, StatusCode::UNPROCESSABLE_ENTITY, "a report is not an export");
    let asked = run("orders").await;
    assert_eq!((asked.status, asked.location.as_deref()), (StatusCode::SEE_OTHER, Some("/admin/exports")));
    let reports = app.get("/v1/reports").await.expect(StatusCode::OK);
    assert!(reports["items"].as_array().unwrap().is_empty(), "an export is not listed as a report");
    let mut download = None;
    for () in for_half_a_minute() {
        if let Some(found) = link(&browser.get("/admin/exports").await.body, "/admin/exports/") {
            download = Some(found);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let download = download.expect("the export succeeds and offers its file");
    let signed = browser.get(&download).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let csv = app.anonymous.get(signed.location.unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(csv.starts_with("order_id,"), "the orders export: {csv}");
    assert_eq!(csv.lines().count(), 2, "one order with one line: {csv}");
}

async fn a_reconciliation_run_is_read_with_its_items(app: TestApp) {
    let Some(app) = with_workers(app).await else { return };
    let shop = shop(&app).await;
    let capture = captured(&app, &shop).await;
    let reference = capture["provider_reference"].as_str().unwrap();
    let amount = capture["amount"].as_i64().unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    let csv = format!(
        "id,type,reference,amount,fee,currency,created\ntxn_1,capture,{reference},{},0.30,EUR,{now}\ntxn_2,capture,pi_unknown,12.00,0.40,EUR,{now}\n",
        decimal(amount)
    );
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let csrf = browser.csrf("/admin/ledger/settlements").await;
    let path = "/admin/ledger/settlements";
    let send = async |provider: &str, file: &str| {
        let fields = [("csrf", csrf.as_str()), ("provider", provider), ("format", "generic")];
        browser.post_multipart(path, &fields, Some(("settlement.csv", file))).await
    };
    // Refused: a malformed report, an unknown provider, a form without the token.
    assert_eq!(send("test", "id,type\nx,capture\n").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(send("nobody", &csv).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let forged = browser.post_multipart(path, &[("provider", "test")], Some(("settlement.csv", &csv))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let none = app.get("/v1/ledger/settlements").await.expect(StatusCode::OK);
    assert!(none["items"].as_array().unwrap().is_empty(), "refused uploads imported nothing");
    let imported = send("test", &csv).await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.body);
    let id = imported.location.unwrap().rsplit('/').next().unwrap().to_owned();
    finished(&app, &id).await;
    let again = send("test", &csv).await;
    assert_eq!(again.location, Some(format!("{path}/{id}")), "the same file again is its run");
    let runs = browser.get("/admin/ledger/settlements").await;
    assert_eq!(runs.status, StatusCode::OK);
    assert!(runs.body.contains(&format!("/admin/ledger/settlements/{id}")), "the run is listed");
    let page = format!("/admin/ledger/settlements/{id}");
    let all = browser.get(&page).await.body;
    assert!(all.contains("txn_1") && all.contains("txn_2"), "every item is shown");
    let missing = browser.get(&format!("{page}?status=missing_in_ordo")).await.body;
    assert!(missing.contains("txn_2") && !missing.contains("txn_1"), "the filter shows one status's items");
    let bad = browser.get(&format!("{page}?status=lost")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = browser.get(&format!("/admin/ledger/settlements/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn orders_are_filtered_by_day_and_the_cache_hit_rate_shown(app: TestApp) {
    let shop = shop(&app).await;
    let id = place(&app, &shop, 1).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    let listed = browser.get(&format!("/admin/orders?from={today}&to={today}")).await;
    assert!(listed.body.contains(&id), "today's order is placed today");
    let later = browser.get(&format!("/admin/orders?from={tomorrow}")).await;
    assert!(!later.body.contains(&id) && later.body.contains("No orders match."), "none from tomorrow");
    let earlier = browser.get(&format!("/admin/orders?to={}", today.pred_opt().unwrap())).await;
    assert!(!earlier.body.contains(&id), "none up to yesterday");
    let bad = browser.get("/admin/orders?from=soon").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A product read twice: one miss, one hit.
    let products = app.get("/v1/products?limit=1").await.expect(StatusCode::OK);
    let product = products["items"][0]["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        app.get(&format!("/v1/products/{product}")).await.expect(StatusCode::OK);
    }
    let dashboard = browser.get("/admin").await.body;
    let at = dashboard.find("product cache hits (").expect("the dashboard shows the cache's hit rate") + 20;
    let (hits, reads) = dashboard[at..].split_once(" reads").unwrap().0.split_once(" of ").unwrap();
    let (hits, reads): (u64, u64) = (hits.parse().unwrap(), reads.parse().unwrap());
    assert!(hits >= 1 && reads >= 2 && hits < reads, "{hits} of {reads}");
}

/// The value the page's input `name` shows.
fn input_value(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!(r#"name="{name}" value=""#))? + name.len() + 15;
    Some(page[at..at + page[at..].find('"')?].to_owned())
}

async fn a_product_and_its_prices_are_edited_with_problems_beside_their_fields(app: TestApp) {
    shop(&app).await;
    let tee = &app.get("/v1/products?sku_prefix=TEE").await.expect(StatusCode::OK)["items"][0];
    let id = tee["id"].as_str().unwrap().to_owned();
    let page = format!("/admin/products/{id}");

    // A role that reads the catalog but may not write it sees no form, and
    // its post is refused.
    let reader = Role::ALL
        .into_iter()
        .find(|r| r.allows(Permission::CatalogRead) && !r.allows(Permission::CatalogWrite))
        .expect("a read-only role");
    let mut viewer = Browser::new(&app);
    viewer.sign_in(&app.key_for(reader).await).await;
    let shown = viewer.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(!shown.body.contains(r#"name="price_EUR""#), "{reader}: no edit form");
    // Every page's sign-out form carries the session's token.
    let token = viewer.csrf(&page).await;
    let refused = viewer.post(&page, &[("csrf", &token), ("version", "1"), ("name", "Stolen")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{reader} posting an edit");

    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let shown = browser.get(&page).await.body;
    assert_eq!(input_value(&shown, "price_EUR").as_deref(), Some("19.99"), "prices in the currency's units");
    assert_eq!(input_value(&shown, "price_USD").as_deref(), Some("20.00"));
    let version = input_value(&shown, "version").unwrap();
    let csrf = browser.csrf(&page).await;

    let bad = browser
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", " "),
                ("description", ""),
                ("tax_class", "standard"),
                ("active", "on"),
                ("price_EUR", "12.345"),
                ("price_USD", "20.00"),
                ("new_currency", "XXY"),
                ("new_price", "5"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    for field in ["name", "price_EUR", "new_currency"] {
        assert!(bad.body.contains(&format!(r#"id="{field}-problem""#)), "a problem beside {field}: {}", bad.body);
        assert!(bad.body.contains(&format!(r#"aria-describedby="{field}-problem""#)), "{field} names its problem");
    }
    assert_eq!(input_value(&bad.body, "price_EUR").as_deref(), Some("12.345"), "the form keeps what was typed");
    let unchanged = app.get(&format!("/v1/products/{id}")).await.expect(StatusCode::OK);
    assert_eq!((unchanged["name"].as_str(), unchanged["version"].as_i64()), (Some("TEE"), tee["version"].as_i64()));

    let saved = browser
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "T-shirt"),
                ("description", "Organic cotton"),
                ("tax_class", "reduced"),
                ("price_EUR", "21.50"),
                ("price_USD", ""),
                ("new_currency", "gbp"),
                ("new_price", "17"),
            ],
        )
        .await;
    assert_eq!(
        (saved.status, saved.location.as_deref()),
        (StatusCode::SEE_OTHER, Some(page.as_str())),
        "{}",
        saved.body
    );
    let product = app.get(&format!("/v1/products/{id}")).await.expect(StatusCode::OK);
    assert_eq!(product["name"], "T-shirt");
    assert_eq!(product["description"], "Organic cotton");
    assert_eq!(product["tax_class"], "reduced");
    assert_eq!(product["active"], false, "the unticked box stops sales");
    assert_eq!(product["prices"], json!([{"amount": 2150, "currency": "EUR"}, {"amount": 1700, "currency": "GBP"}]));
    let audit = app.get(&format!("/v1/audit-events?entity_type=product&entity_id={id}")).await.expect(StatusCode::OK);
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "product.updated" && e["actor_name"] == "test admin"),
        "audited as the signed-in admin"
    );

    // The same form again is stale: refused, shown on the page.
    let stale = browser
        .post(&page, &[("csrf", &csrf), ("version", &version), ("name", "Other"), ("tax_class", "standard")])
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(stale.body.contains(r#"class="notice""#), "the conflict is explained above the form");

    let archived = browser.post(&format!("{page}/archive"), &[("csrf", &csrf), ("version", "")]).await;
    assert_eq!(archived.status, StatusCode::SEE_OTHER);
    let product = app.get(&format!("/v1/products/{id}")).await.expect(StatusCode::OK);
    assert!(product["archived_at"].is_string(), "archived: {product}");
    assert!(!browser.get(&page).await.body.contains(r#"name="name""#), "an archived product is not edited");

    // A new product: refused beside its fields, then made.
    let csrf = browser.csrf("/admin/products/new").await;
    let create = |sku: &'static str, name: &'static str, price: &'static str| {
        let (csrf, browser) = (csrf.clone(), &browser);
        async move {
            let form = [
                ("csrf", csrf.as_str()),
                ("sku", sku),
                ("name", name),
                ("description", ""),
                ("tax_class", "standard"),
                ("active", "on"),
                ("new_currency", "EUR"),
                ("new_price", price),
            ];
            browser.post("/admin/products", &form).await
        }
    };
    let bad = create("not a sku!", "", "x").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["sku", "name", "new_price"] {
        assert!(bad.body.contains(&format!(r#"id="{field}-problem""#)), "a problem beside {field}");
    }
    let taken = create("MUG", "Another mug", "5").await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "a SKU is unique");
    assert!(taken.body.contains(r#"class="notice""#));
    let made = create("CAP", "Cap", "9.5").await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let cap = &app.get("/v1/products?sku_prefix=CAP").await.expect(StatusCode::OK)["items"][0];
    assert_eq!(made.location, Some(format!("/admin/products/{}", cap["id"].as_str().unwrap())));
    assert_eq!((cap["name"].as_str(), cap["prices"][0]["amount"].as_i64()), (Some("Cap"), Some(950)));
}

async fn a_customer_and_their_addresses_are_edited_with_problems_beside_their_fields(app: TestApp) {
    let shop = shop(&app).await;
    let page = format!("/admin/customers/{}", shop.customer);
    let mut browser = Browser::new(&app);
    browser.sign_in(&app.admin_key).await;
    let shown = browser.get(&page).await.body;
    assert!(shown.contains("Add an address"), "a blank address to add");
    let version = input_value(&shown, "version").unwrap();
    let line1 = input_value(&shown, "a0_line1").expect("the first address in the form");
    let csrf = browser.csrf(&page).await;
    let before = app.get(&format!("/v1/customers/{}", shop.customer)).await.expect(StatusCode::OK);

    let bad = browser
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Buyer"),
                ("email", "not-an-address"),
                ("a0_line1", &line1),
                ("a0_city", ""),
                ("a0_country", "DE"),
                ("a1_line1", "Elsewhere 2"),
                ("a1_city", "Hamburg"),
                ("a1_country", "QQ"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    for field in ["email", "a0_city", "a1_country"] {
        assert!(bad.body.contains(&format!(r#"id="{field}-problem""#)), "a problem beside {field}");
    }
    let after = app.get(&format!("/v1/customers/{}", shop.customer)).await.expect(StatusCode::OK);
    assert_eq!(after, before, "a refused edit changes nothing");

    // The first address cleared (removed), a new one added.
    let saved = browser
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("version", &version),
                ("name", "Buyer Two"),
                ("email", "Buyer2@Example.com"),
                ("a0_line1", ""),
                ("a0_city", ""),
                ("a0_country", ""),
                ("a1_line1", "Elsewhere 2"),
                ("a1_postal_code", "20095"),
                ("a1_city", "Hamburg"),
                ("a1_country", "de"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let customer = app.get(&format!("/v1/customers/{}", shop.customer)).await.expect(StatusCode::OK);
    assert_eq!(
        (customer["name"].as_str(), customer["email"].as_str()),
        (Some("Buyer Two"), Some("buyer2@example.com"))
    );
    let addresses = customer["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    assert_eq!((addresses[0]["city"].as_str(), addresses[0]["country"].as_str()), (Some("Hamburg"), Some("DE")));
    let stale =
        browser.post(&page, &[("csrf", &csrf), ("version", &version), ("name", "X"), ("email", "x@example.com")]).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "a stale form is refused");

    // A new customer: refused beside its fields, then made.
    let csrf = browser.csrf("/admin/customers/new").await;
    let bad = browser.post("/admin/customers", &[("csrf", &csrf), ("name", "Cleo"), ("email", "cleo@")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains(r#"id="email-problem""#), "a problem beside the e-mail address");
    let made = browser
        .post(
            "/admin/customers",
            &[
                ("csrf", &csrf),
                ("name", "Cleo"),
                ("email", "cleo@example.com"),
                ("a0_line1", "Ring 3"),
                ("a0_city", "Köln"),
                ("a0_country", "DE"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let found = app.get("/v1/customers?email=cleo%40example.com").await.expect(StatusCode::OK);
    assert_eq!(found["items"][0]["addresses"][0]["city"], "Köln");
}

async fn assets_are_versioned_cached_for_good_and_the_only_code_the_page_runs(app: TestApp) {
    let http = reqwest::Client::new();
    let page = http.get(app.url("/admin/sign-in")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "only the admin's own script runs: {csp}");
    let body = page.text().await.unwrap();
    let css = link(&body, "/admin/assets/admin.").expect("the style sheet");
    let at = body.find(r#"src="/admin/assets/htmx."#).expect("htmx") + 5;
    let js = body[at..at + body[at..].find('"').unwrap()].to_owned();
    for (path, kind) in [(&css, "text/css"), (&js, "text/javascript")] {
        let asset = http.get(app.url(path)).send().await.unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert!(asset.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(asset.headers()["cache-control"].to_str().unwrap().contains("immutable"), "{path} is cached for good");
        assert!(!asset.bytes().await.unwrap().is_empty());
    }
    let stale = http.get(app.url("/admin/assets/admin.00000000.css")).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND, "another version is not served");
}

/// One turn for each poll of work a background job does, for up to 30 s:
/// on a loaded 2-core CI machine running the suite in parallel, 10 s (500
/// polls 20 ms apart) was not always enough for a webhook delivery two jobs
/// away or an import's check. The loop sleeps between polls itself.
fn for_half_a_minute() -> impl Iterator<Item = ()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    std::iter::from_fn(move || (std::time::Instant::now() < deadline).then_some(()))
}
