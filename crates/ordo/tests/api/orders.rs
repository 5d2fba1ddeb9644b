//! Orders and inventory through the API: placement that never oversells,
//! the lifecycle, the timeline, and bad input that writes nothing.

use futures::future::join_all;
use ordo_testkit::fixtures::{Shop, order_body, receive, shop};
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    places_an_order_with_frozen_prices_tax_and_reservations,
    a_short_line_rejects_the_whole_order_and_writes_nothing,
    bad_orders_are_4xx_and_write_nothing,
    lifecycle_confirm_fulfil_in_parts_complete,
    cancel_releases_reservations_and_illegal_steps_name_the_status,
    lists_orders_with_filters_and_pages,
    stock_moves_are_guarded_and_audited,
    concurrent_clients_never_oversell,
    concurrent_releases_and_placements_of_many_skus_never_deadlock,
    cancel_racing_fulfil_lets_exactly_one_win,
    orders_whose_totals_would_overflow_are_refused_and_write_nothing,
);

async fn stock(app: &TestApp, sku: &str) -> Value {
    app.get(&format!("/v1/stock/{sku}")).await.expect(StatusCode::OK)
}

fn totals(stock: &Value) -> (i64, i64, i64) {
    (stock["on_hand"].as_i64().unwrap(), stock["reserved"].as_i64().unwrap(), stock["available"].as_i64().unwrap())
}

async fn places_an_order_with_frozen_prices_tax_and_reservations(app: TestApp) {
    let shop = shop(&app).await;
    let placed = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 5}, {"sku": "MUG", "quantity": 1}])))
        .await;
    let order = placed.expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    assert_eq!(placed.header("location"), Some(format!("/v1/orders/{id}").as_str()));
    assert_eq!(
        (order["status"].as_str(), order["currency"].as_str(), order["market"].as_str()),
        (Some("placed"), Some("EUR"), Some("DE"))
    );
    let tee = &order["lines"][0];
    assert_eq!(
        (tee["line"].as_i64(), tee["unit_price"].as_i64(), tee["subtotal"].as_i64()),
        (Some(1), Some(1999), Some(9995))
    );
    assert_eq!(tee["tax"], 1899, "19 % of 99.95 is 18.9905, rounded to 18.99");
    assert_eq!(tee["total"], 9995 + 1899);
    assert_eq!(
        tee["allocations"],
        json!([{"location_id": shop.near, "quantity": 3, "shipped": 0}, {"location_id": shop.far, "quantity": 2, "shipped": 0}]),
        "the nearer (lower priority number) location first, then the next"
    );
    assert_eq!(order["subtotal"], 9995 + 1000);
    assert_eq!(order["tax"], 1899 + 190);
    assert_eq!(order["total"], 9995 + 1000 + 1899 + 190);

    assert_eq!(totals(&stock(&app, "TEE").await), (13, 5, 8));
    assert_eq!(totals(&stock(&app, "MUG").await), (5, 1, 4));

    // Prices are frozen: a later price change does not touch the order.
    let product = app.get("/v1/products?sku_prefix=TEE").await.expect(StatusCode::OK)["items"][0].clone();
    app.patch(
        &format!("/v1/products/{}", product["id"].as_str().unwrap()),
        &json!({"version": 1, "prices": [{"amount": 5000, "currency": "EUR"}]}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK), order);

    let timeline = app.get(&format!("/v1/orders/{id}/events")).await.expect(StatusCode::OK);
    assert_eq!(timeline["items"][0]["kind"], "placed");
    assert_eq!(timeline["items"][0]["to_status"], "placed");
    let audit = app.get(&format!("/v1/audit-events?entity_type=order&entity_id={id}")).await.expect(StatusCode::OK);
    assert_eq!(audit["items"][0]["action"], "order.placed");
}

async fn a_short_line_rejects_the_whole_order_and_writes_nothing(app: TestApp) {
    let shop = shop(&app).await;
    let short = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 2}, {"sku": "MUG", "quantity": 6}])))
        .await;
    let problem = short.expect_problem(StatusCode::CONFLICT, "insufficient_stock");
    assert!(problem["detail"].as_str().unwrap().contains("MUG"));
    assert_eq!(problem["errors"][0]["field"], "MUG");
    assert_eq!(totals(&stock(&app, "TEE").await), (13, 0, 13), "the TEE line reserved nothing either");
    assert_eq!(app.get("/v1/orders").await.expect(StatusCode::OK)["items"], json!([]));
    let audit = app.get("/v1/audit-events?entity_type=order").await.expect(StatusCode::OK);
    assert_eq!(audit["items"], json!([]));
}

async fn bad_orders_are_4xx_and_write_nothing(app: TestApp) {
    let shop = shop(&app).await;
    let archived = app
        .post("/v1/products", &json!({"sku": "OLD", "name": "Old", "prices": [{"amount": 1, "currency": "EUR"}]}))
        .await
        .expect(StatusCode::CREATED);
    app.send_raw(Method::POST, &format!("/v1/products/{}/archive", archived["id"].as_str().unwrap()), None, Vec::new())
        .await
        .expect(StatusCode::OK);
    receive(&app, "OLD", &shop.near, 5).await;
    app.post(
        "/v1/products",
        &json!({"sku": "USONLY", "name": "US only", "prices": [{"amount": 1, "currency": "USD"}]}),
    )
    .await
    .expect(StatusCode::CREATED);
    let mut unknown_customer = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    unknown_customer["customer_id"] = json!(uuid::Uuid::now_v7().to_string());
    let mut unknown_market = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    unknown_market["market"] = json!("FR");
    let mut bad_address = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    bad_address["shipping_address"]["country"] = json!("XX");
    let cases = [
        (order_body(&shop, json!([{"sku": "NOPE", "quantity": 1}])), "unknown_sku", "lines[0].sku"),
        (order_body(&shop, json!([{"sku": "OLD", "quantity": 1}])), "unknown_sku", "lines[0].sku"),
        (order_body(&shop, json!([{"sku": "USONLY", "quantity": 1}])), "currency_mismatch", "lines[0].sku"),
        (unknown_customer, "unknown_customer", "customer_id"),
        (unknown_market, "unknown_market", "market"),
        (order_body(&shop, json!([{"sku": "TEE", "quantity": 0}])), "out_of_range", "lines[0].quantity"),
        (order_body(&shop, json!([{"sku": "TEE", "quantity": -3}])), "out_of_range", "lines[0].quantity"),
        (order_body(&shop, json!([{"sku": "TEE", "quantity": 1000001}])), "out_of_range", "lines[0].quantity"),
        (
            order_body(&shop, json!([{"sku": "TEE", "quantity": 1}, {"sku": "TEE", "quantity": 1}])),
            "duplicate_line",
            "lines[1].sku",
        ),
        (order_body(&shop, json!([])), "out_of_range", "lines"),
        (bad_address, "unknown_country", "shipping_address.country"),
    ];
    for (body, code, field) in cases {
        let problem =
            app.post("/v1/orders", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let errors = problem["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["code"] == code && e["field"] == field), "{code} at {field}: {problem}");
    }
    let mut wrong_type = order_body(&shop, json!([{"sku": "TEE", "quantity": "two"}]));
    app.post("/v1/orders", &wrong_type).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    wrong_type["lines"] = json!([{"sku": "TEE", "quantity": 1, "discount": 5}]);
    app.post("/v1/orders", &wrong_type).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(app.get("/v1/orders").await.expect(StatusCode::OK)["items"], json!([]));
    assert_eq!(totals(&stock(&app, "TEE").await), (13, 0, 13));
    assert_eq!(app.get("/v1/audit-events?entity_type=order").await.expect(StatusCode::OK)["items"], json!([]));
}

async fn step(app: &TestApp, id: &str, action: &str, version: i64) -> ordo_testkit::TestResponse {
    app.post(&format!("/v1/orders/{id}/{action}"), &json!({"version": version})).await
}

async fn lifecycle_confirm_fulfil_in_parts_complete(app: TestApp) {
    let shop = shop(&app).await;
    let order = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 5}, {"sku": "MUG", "quantity": 2}])))
        .await
        .expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    let path = format!("/v1/orders/{id}");
    step(&app, id, "fulfil", 1).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let fulfil_placed =
        app.post(&format!("{path}/fulfil"), &json!({"version": 1, "lines": [{"line": 1, "quantity": 1}]})).await;
    let problem = fulfil_placed.expect_problem(StatusCode::CONFLICT, "illegal_transition");
    assert!(problem["detail"].as_str().unwrap().contains("placed"), "names the current status: {problem}");

    let confirmed = step(&app, id, "confirm", 1).await.expect(StatusCode::OK);
    assert_eq!((confirmed["status"].as_str(), confirmed["version"].as_i64()), (Some("confirmed"), Some(2)));
    step(&app, id, "confirm", 1).await.expect_problem(StatusCode::CONFLICT, "version_conflict");
    app.post(&format!("{path}/confirm"), &json!({}))
        .await
        .expect_problem(StatusCode::PRECONDITION_REQUIRED, "precondition_required");

    let too_many = app
        .post(
            &format!("{path}/fulfil"),
            &json!({"version": 2, "lines": [{"line": 1, "quantity": 6}, {"line": 9, "quantity": 1}]}),
        )
        .await;
    let problem = too_many.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);

    let partial = app
        .post(&format!("{path}/fulfil"), &json!({"version": 2, "lines": [{"line": 1, "quantity": 4}]}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(partial["status"], "partially_fulfilled");
    assert_eq!(partial["lines"][0]["shipped_quantity"], 4);
    assert_eq!(partial["lines"][0]["allocations"][0]["shipped"], 3, "the first allocation ships first");
    assert_eq!(partial["lines"][0]["allocations"][1]["shipped"], 1);
    assert_eq!(totals(&stock(&app, "TEE").await), (9, 1, 8), "4 shipped: gone from on-hand and reserved");

    step(&app, id, "complete", 3).await.expect_problem(StatusCode::CONFLICT, "illegal_transition");
    step(&app, id, "cancel", 3).await.expect_problem(StatusCode::CONFLICT, "illegal_transition");
    let fulfilled = app
        .request(
            Method::POST,
            &format!("{path}/fulfil"),
            Some(&json!({"lines": [{"line": 1, "quantity": 1}, {"line": 2, "quantity": 2}]})),
            &[("if-match", "\"3\"")],
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(fulfilled["status"], "fulfilled");
    assert_eq!(totals(&stock(&app, "TEE").await), (8, 0, 8));
    assert_eq!(totals(&stock(&app, "MUG").await), (3, 0, 3));
    let completed = step(&app, id, "complete", 4).await.expect(StatusCode::OK);
    assert_eq!(completed["status"], "completed");

    let timeline = app.get(&format!("{path}/events")).await.expect(StatusCode::OK);
    let kinds: Vec<_> = timeline["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["placed", "confirmed", "partially_fulfilled", "fulfilled", "completed"]);
    assert_eq!(timeline["items"][2]["detail"], json!({"lines": [{"line": 1, "quantity": 4}]}));
    assert_eq!(timeline["items"][1]["from_status"], "placed");
    let audit = app.get(&format!("/v1/audit-events?entity_type=order&entity_id={id}")).await.expect(StatusCode::OK);
    assert_eq!(audit["items"].as_array().unwrap().len(), 5, "every transition is audited");
}

async fn cancel_releases_reservations_and_illegal_steps_name_the_status(app: TestApp) {
    let shop = shop(&app).await;
    let order = app
        .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 4}])))
        .await
        .expect(StatusCode::CREATED);
    let id = order["id"].as_str().unwrap();
    assert_eq!(totals(&stock(&app, "TEE").await), (13, 4, 9));
    step(&app, id, "confirm", 1).await.expect(StatusCode::OK);
    let cancelled = step(&app, id, "cancel", 2).await.expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(totals(&stock(&app, "TEE").await), (13, 0, 13), "the reservation is released");
    for action in ["confirm", "cancel", "complete"] {
        let problem = step(&app, id, action, 3).await.expect_problem(StatusCode::CONFLICT, "illegal_transition");
        assert_eq!(problem["detail"], format!("cannot {action} an order that is cancelled"));
    }
    app.post("/v1/orders/not-an-id/confirm", &json!({"version": 1}))
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.post(&format!("/v1/orders/{}/confirm", uuid::Uuid::now_v7()), &json!({"version": 1}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

async fn lists_orders_with_filters_and_pages(app: TestApp) {
    let shop = shop(&app).await;
    let other = app
        .post("/v1/customers", &json!({"email": "other@example.com", "name": "Other"}))
        .await
        .expect(StatusCode::CREATED);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
        if i == 4 {
            body["customer_id"] = other["id"].clone();
        }
        ids.push(app.post("/v1/orders", &body).await.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_owned());
    }
    step(&app, &ids[1], "cancel", 1).await.expect(StatusCode::OK);
    let ids_of = |page: &Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
    };
    let first = app.get("/v1/orders?limit=2").await.expect(StatusCode::OK);
    assert_eq!(ids_of(&first), ids[..2]);
    assert_eq!(first["items"][0]["lines"].as_array().unwrap().len(), 1, "lists carry lines");
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(
        ids_of(&app.get(&format!("/v1/orders?limit=2&cursor={cursor}")).await.expect(StatusCode::OK)),
        ids[2..4]
    );
    assert_eq!(ids_of(&app.get("/v1/orders?status=cancelled").await.expect(StatusCode::OK)), [ids[1].clone()]);
    assert_eq!(
        ids_of(
            &app.get(&format!("/v1/orders?customer_id={}", other["id"].as_str().unwrap())).await.expect(StatusCode::OK)
        ),
        [ids[4].clone()]
    );
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(ids_of(&app.get(&format!("/v1/orders?created_to={future}")).await.expect(StatusCode::OK)).len(), 5);
    assert!(ids_of(&app.get(&format!("/v1/orders?created_from={future}")).await.expect(StatusCode::OK)).is_empty());
    app.get("/v1/orders?status=lost").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn stock_moves_are_guarded_and_audited(app: TestApp) {
    let shop = shop(&app).await;
    app.post("/v1/orders", &order_body(&shop, json!([{"sku": "MUG", "quantity": 4}])))
        .await
        .expect(StatusCode::CREATED);
    let adjust = |delta: i64| json!({"sku": "MUG", "location_id": shop.far, "delta": delta, "reason": "damaged"});
    app.post("/v1/stock/adjustments", &adjust(-2)).await.expect_problem(StatusCode::CONFLICT, "insufficient_stock");
    let level = app.post("/v1/stock/adjustments", &adjust(-1)).await.expect(StatusCode::CREATED);
    assert_eq!(
        (level["on_hand"].as_i64(), level["reserved"].as_i64(), level["available"].as_i64()),
        (Some(4), Some(4), Some(0))
    );
    app.post("/v1/stock/adjustments", &json!({"sku": "MUG", "location_id": shop.near, "delta": -1, "reason": "lost"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "insufficient_stock");
    app.post("/v1/stock/adjustments", &adjust(0))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.post("/v1/stock/adjustments", &json!({"sku": "MUG", "location_id": shop.far, "delta": 1, "reason": "whim"}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    app.post("/v1/stock/receipts", &json!({"sku": "MUG", "location_id": uuid::Uuid::now_v7(), "quantity": 1}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let audit = app.get("/v1/audit-events?entity_type=stock").await.expect(StatusCode::OK);
    let actions: Vec<_> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["stock.received", "stock.received", "stock.received", "stock.adjusted"]);
    assert_eq!(audit["items"][3]["after"]["reason"], "damaged");

    let page = app.get("/v1/stock?limit=1").await.expect(StatusCode::OK);
    assert_eq!(page["items"][0]["sku"], "MUG");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = app.get(&format!("/v1/stock?limit=1&cursor={cursor}")).await.expect(StatusCode::OK);
    assert_eq!(next["items"][0]["sku"], "TEE");
    assert_eq!(next["items"][0]["locations"].as_array().unwrap().len(), 2);
    assert!(next.get("next_cursor").is_none(), "absent on the last page: {next}");
    app.get("/v1/stock/NOPE").await.expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/v1/stock?cursor=abc").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn concurrent_clients_never_oversell(app: TestApp) {
    let shop = shop(&app).await;
    app.post("/v1/products", &json!({"sku": "HOT", "name": "Hot", "prices": [{"amount": 100, "currency": "EUR"}]}))
        .await
        .expect(StatusCode::CREATED);
    receive(&app, "HOT", &shop.near, 60).await;
    receive(&app, "HOT", &shop.far, 40).await;
    // 64 clients, 3 one-unit orders each: 192 orders for 100 units, split
    // over two locations.
    let clients = (0..64).map(|_| {
        let (app, shop) = (&app, &shop);
        async move {
            let mut placed = Vec::new();
            for _ in 0..3 {
                let quantity = 1;
                let response =
                    app.post("/v1/orders", &order_body(shop, json!([{"sku": "HOT", "quantity": quantity}]))).await;
                match response.status {
                    StatusCode::CREATED => placed.push((response.json()["id"].as_str().unwrap().to_owned(), quantity)),
                    StatusCode::CONFLICT => assert_eq!(response.json()["code"], "insufficient_stock"),
                    other => panic!("unexpected {other}: {}", response.text),
                }
            }
            placed
        }
    });
    let placed: Vec<(String, i64)> = join_all(clients).await.into_iter().flatten().collect();
    let sold: i64 = placed.iter().map(|(_, q)| q).sum();
    let hot = stock(&app, "HOT").await;
    assert_eq!(sold, 100, "exactly the 100 units there are were sold");
    assert_eq!(totals(&hot), (100, 100, 0));
    assert!(hot["locations"].as_array().unwrap().iter().all(|l| l["available"].as_i64().unwrap() >= 0));
    for (id, quantity) in &placed {
        let order = app.get(&format!("/v1/orders/{id}")).await.expect(StatusCode::OK);
        assert_eq!(order["lines"][0]["quantity"], *quantity, "every acknowledged order exists as acknowledged");
    }
}

async fn concurrent_releases_and_placements_of_many_skus_never_deadlock(app: TestApp) {
    let shop = shop(&app).await;
    receive(&app, "TEE", &shop.near, 500).await;
    receive(&app, "MUG", &shop.near, 500).await;
    receive(&app, "MUG", &shop.far, 500).await;
    // Lines in both orders, so that releasing in line order would take the
    // stock rows' locks in the opposite order to a placement's.
    let lines = |i: usize| {
        if i.is_multiple_of(2) {
            json!([{"sku": "TEE", "quantity": 1}, {"sku": "MUG", "quantity": 1}])
        } else {
            json!([{"sku": "MUG", "quantity": 1}, {"sku": "TEE", "quantity": 1}])
        }
    };
    let mut placed = Vec::new();
    for i in 0..48 {
        placed.push(app.post("/v1/orders", &order_body(&shop, lines(i))).await.expect(StatusCode::CREATED));
    }
    let cancels = placed.iter().map(|order| {
        let app = &app;
        async move {
            app.post(&format!("/v1/orders/{}/cancel", order["id"].as_str().unwrap()), &json!({"version": 1})).await
        }
    });
    let placements = (0..48).map(|i| {
        let (app, shop) = (&app, &shop);
        async move { app.post("/v1/orders", &order_body(shop, lines(i + 1))).await }
    });
    let (cancelled, new) = tokio::join!(join_all(cancels), join_all(placements));
    for response in cancelled.iter().chain(&new) {
        assert!(response.status.is_success(), "{}: {}", response.status, response.text);
    }
    // 48 open orders of one TEE and one MUG each hold the reservations.
    let (tee, mug) = (stock(&app, "TEE").await, stock(&app, "MUG").await);
    assert_eq!(totals(&tee).1, 48);
    assert_eq!(totals(&mug).1, 48);
}

async fn cancel_racing_fulfil_lets_exactly_one_win(app: TestApp) {
    let shop = shop(&app).await;
    for _ in 0..5 {
        let order = app
            .post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 1}])))
            .await
            .expect(StatusCode::CREATED);
        let id = order["id"].as_str().unwrap();
        step(&app, id, "confirm", 1).await.expect(StatusCode::OK);
        let fulfil_path = format!("/v1/orders/{id}/fulfil");
        let shipment = json!({"version": 2, "lines": [{"line": 1, "quantity": 1}]});
        let (cancel, fulfil) = tokio::join!(step(&app, id, "cancel", 2), app.post(&fulfil_path, &shipment));
        let winners = [&cancel, &fulfil].iter().filter(|r| r.status == StatusCode::OK).count();
        assert_eq!(winners, 1, "cancel {} / fulfil {}", cancel.status, fulfil.status);
        let loser = if cancel.status == StatusCode::OK { &fulfil } else { &cancel };
        assert_eq!(loser.status, StatusCode::CONFLICT, "{}", loser.text);
    }
    let tee = stock(&app, "TEE").await;
    assert_eq!(tee["reserved"], 0, "every reservation was either released or shipped exactly once");
    let shipped = 13 - tee["on_hand"].as_i64().unwrap();
    let fulfilled =
        app.get("/v1/orders?status=fulfilled").await.expect(StatusCode::OK)["items"].as_array().unwrap().len();
    assert_eq!(shipped, fulfilled as i64);
}

/// Places an order with a request id and returns how many SQL statements
/// the placement ran.
async fn placement_statements(app: &TestApp, shop: &Shop, request_id: &str, lines: Value) -> usize {
    app.request(Method::POST, "/v1/orders", Some(&order_body(shop, lines)), &[("x-request-id", request_id)])
        .await
        .expect(StatusCode::CREATED);
    ordo_testkit::statements_for(request_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_500_orders_costs_a_constant_number_of_statements() {
    for backend in [ordo_testkit::Backend::Sqlite, ordo_testkit::Backend::Postgres] {
        // Keys stay cached for the whole test, so authentication adds no
        // statement to the counted requests.
        let Some(app) = TestApp::spawn_with(backend, |c| c.auth.key_cache_ttl_ms = 3_600_000).await else { continue };
        let shop = shop(&app).await;
        receive(&app, "MUG", &shop.near, 2000).await;
        receive(&app, "TEE", &shop.near, 2000).await;
        // Round trips per placement are counted, and do not grow with lines.
        let one_line =
            placement_statements(&app, &shop, &format!("{backend:?}-place-1"), json!([{"sku": "MUG", "quantity": 1}]))
                .await;
        let two_lines = placement_statements(
            &app,
            &shop,
            &format!("{backend:?}-place-2"),
            json!([{"sku": "MUG", "quantity": 1}, {"sku": "TEE", "quantity": 1}]),
        )
        .await;
        assert!(one_line > 0, "statements are counted");
        // One call writes the whole placement, every line.
        assert_eq!(one_line, two_lines, "{backend:?}: placement costs the same round trips whatever the lines");
        // Reads of the customer, market, products and stock, BEGIN, and one
        // call for the whole write (on PostgreSQL one statement, on SQLite
        // one statement per table in one call to its worker thread): watched
        // by the benchmarks and the cost gate.
        assert!(one_line <= 6, "{backend:?}: placement runs {one_line} statements");
        eprintln!("{backend:?}: placing an order runs {one_line} SQL statements");
        assert_eq!(ordo_testkit::commits_for(&format!("{backend:?}-place-1")), 1, "one transaction");
        // With an Idempotency-Key, the key's claim and its answer ride in
        // the placement's transaction: the claim one statement more, the
        // answer none (it is part of the placement's write); no transaction
        // more.
        let keyed_id = format!("{backend:?}-place-keyed");
        app.request(
            Method::POST,
            "/v1/orders",
            Some(&order_body(&shop, json!([{"sku": "MUG", "quantity": 1}]))),
            &[("x-request-id", &keyed_id), ("idempotency-key", "counted")],
        )
        .await
        .expect(StatusCode::CREATED);
        assert_eq!(ordo_testkit::commits_for(&keyed_id), 1, "{backend:?}: the key commits with the order");
        assert_eq!(ordo_testkit::statements_for(&keyed_id), one_line + 1, "{backend:?}: claim and answer");

        for i in 0..498 {
            let lines = if i % 2 == 0 {
                json!([{"sku": "MUG", "quantity": 1}])
            } else {
                json!([{"sku": "MUG", "quantity": 1}, {"sku": "TEE", "quantity": 2}])
            };
            app.post("/v1/orders", &order_body(&shop, lines)).await.expect(StatusCode::CREATED);
        }
        let count = |limit: usize| {
            let app = &app;
            async move {
                let request_id = format!("{backend:?}-list-{limit}");
                let page = app
                    .request(Method::GET, &format!("/v1/orders?limit={limit}"), None, &[("x-request-id", &request_id)])
                    .await
                    .expect(StatusCode::OK);
                assert_eq!(page["items"].as_array().unwrap().len(), limit);
                assert!(page["items"].as_array().unwrap().iter().all(|o| !o["lines"].as_array().unwrap().is_empty()));
                ordo_testkit::statements_for(&request_id)
            }
        };
        let (five, five_hundred) = (count(5).await, count(500).await);
        assert_eq!(five, five_hundred, "{backend:?}: a page costs the same statements whatever its size");
        assert!(five_hundred <= 3, "{backend:?}: orders and their lines in {five_hundred} statements");
        let get_id = format!("{backend:?}-get");
        let first =
            app.get("/v1/orders?limit=1").await.expect(StatusCode::OK)["items"][0]["id"].as_str().unwrap().to_owned();
        app.request(Method::GET, &format!("/v1/orders/{first}"), None, &[("x-request-id", &get_id)])
            .await
            .expect(StatusCode::OK);
        assert!(
            ordo_testkit::statements_for(&get_id) <= 3,
            "an order with its lines in a bounded number of statements"
        );
    }
}

/// The outsider's reproduction: 100 % tax, five products at 10^12 minor
/// units, 10^6 of each. The plain sums wrapped to a negative total, which
/// was then paid and invoiced. Now: 422 naming the lines, nothing written,
/// nothing enqueued; and an order at exactly the bound is placed exactly.
async fn orders_whose_totals_would_overflow_are_refused_and_write_nothing(app: TestApp) {
    app.post(
        "/v1/markets",
        &json!({"code": "TAX", "name": "All tax", "currency": "EUR", "tax_rate_bp": 10000, "locale": "en"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let location =
        app.post("/v1/locations", &json!({"code": "W", "name": "W", "priority": 1})).await.expect(StatusCode::CREATED);
    let skus: Vec<String> = (1..=5).map(|i| format!("GOLD-{i}")).collect();
    for sku in &skus {
        app.post(
            "/v1/products",
            &json!({"sku": sku, "name": sku, "prices": [{"amount": 1_000_000_000_000_i64, "currency": "EUR"}]}),
        )
        .await
        .expect(StatusCode::CREATED);
        receive(&app, sku, location["id"].as_str().unwrap(), 1_000_000).await;
    }
    let customer = app
        .post("/v1/customers", &json!({"email": "rich@example.com", "name": "Rich"}))
        .await
        .expect(StatusCode::CREATED);
    let shop = Shop { customer: customer["id"].as_str().unwrap().to_owned(), near: String::new(), far: String::new() };
    let body = |quantity: i64, lines: usize| {
        let mut body = order_body(
            &shop,
            json!(skus[..lines].iter().map(|sku| json!({"sku": sku, "quantity": quantity})).collect::<Vec<_>>()),
        );
        body["market"] = json!("TAX");
        body["payment_token"] = json!("tok_approve");
        body
    };

    // Every line is over the bound.
    let problem = app
        .post("/v1/orders", &body(1_000_000, 5))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5, "{problem}");
    for (i, error) in errors.iter().enumerate() {
        assert_eq!(error["field"], format!("lines[{i}].quantity"), "{problem}");
        assert_eq!(error["code"], "amount_overflow", "{problem}");
    }
    // Each line within the bound (500 × 10^12 + 100 % tax = 10^15), the sum
    // over it.
    let problem = app
        .post("/v1/orders", &body(500, 5))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        (problem["errors"][0]["field"].as_str(), problem["errors"][0]["code"].as_str()),
        (Some("lines"), Some("amount_overflow")),
        "{problem}"
    );

    assert_eq!(app.get("/v1/orders").await.expect(StatusCode::OK)["items"], json!([]), "no order was written");
    assert_eq!(app.get("/v1/jobs").await.expect(StatusCode::OK)["items"], json!([]), "nothing was enqueued");
    for sku in &skus {
        assert_eq!(stock(&app, sku).await["reserved"], 0, "{sku}: nothing reserved");
    }

    // At the bound exactly: placed, with exact amounts.
    let order = app.post("/v1/orders", &body(500, 1)).await.expect(StatusCode::CREATED);
    assert_eq!(order["subtotal"], 500_000_000_000_000_i64);
    assert_eq!(order["tax"], 500_000_000_000_000_i64);
    assert_eq!(order["total"], 1_000_000_000_000_000_i64);
}
