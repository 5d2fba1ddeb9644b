//! Customers through the API.

use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    creates_a_customer_with_normalised_email_and_addresses,
    email_is_unique_whatever_its_case,
    updates_addresses_and_email_with_optimistic_concurrency,
    archives_and_lists_customers,
    invalid_addresses_are_reported_per_field,
    concurrent_writes_succeed_or_fail_alone,
);

fn address() -> Value {
    json!({"line1": "Hauptstraße 1", "city": "Berlin", "postal_code": "10115", "country": "de"})
}

async fn creates_a_customer_with_normalised_email_and_addresses(app: TestApp) {
    let created = app
        .post("/v1/customers", &json!({"email": "  Ann.Lee@Example.COM ", "name": "Ann Lee", "addresses": [address()]}))
        .await;
    let customer = created.expect(StatusCode::CREATED);
    let id = customer["id"].as_str().unwrap();
    assert_eq!(created.header("location"), Some(format!("/v1/customers/{id}").as_str()));
    assert_eq!(customer["email"], "ann.lee@example.com");
    assert_eq!(customer["version"], 1);
    assert_eq!(
        customer["addresses"],
        json!([{"recipient": null, "line1": "Hauptstraße 1", "line2": null, "city": "Berlin", "region": null, "postal_code": "10115", "country": "DE"}])
    );
    assert_eq!(app.get(&format!("/v1/customers/{id}")).await.expect(StatusCode::OK), customer);
    app.get("/v1/customers/not-a-uuid").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
}

async fn email_is_unique_whatever_its_case(app: TestApp) {
    app.post("/v1/customers", &json!({"email": "ann@example.com", "name": "Ann"})).await.expect(StatusCode::CREATED);
    let dup = app.post("/v1/customers", &json!({"email": "ANN@example.com", "name": "Other Ann"})).await;
    assert_eq!(dup.expect_problem(StatusCode::CONFLICT, "email_taken")["errors"][0]["field"], "email");
    let list = app.get("/v1/customers").await.expect(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "the duplicate wrote nothing");

    let by_email = app.get("/v1/customers?email=Ann%40EXAMPLE.com").await.expect(StatusCode::OK);
    assert_eq!(by_email["items"][0]["name"], "Ann", "the e-mail filter matches normalised");
}

async fn updates_addresses_and_email_with_optimistic_concurrency(app: TestApp) {
    let ann = app
        .post("/v1/customers", &json!({"email": "ann@example.com", "name": "Ann"}))
        .await
        .expect(StatusCode::CREATED);
    app.post("/v1/customers", &json!({"email": "bob@example.com", "name": "Bob"})).await.expect(StatusCode::CREATED);
    let path = format!("/v1/customers/{}", ann["id"].as_str().unwrap());

    let moved = app.patch(&path, &json!({"version": 1, "addresses": [address(), {"line1": "1 Main St", "city": "Springfield", "region": "IL", "country": "US"}]})).await;
    let moved = moved.expect(StatusCode::OK);
    assert_eq!(moved["version"], 2);
    assert_eq!(moved["addresses"].as_array().unwrap().len(), 2);
    assert_eq!(moved["addresses"][1]["country"], "US");

    let taken = app.patch(&path, &json!({"version": 2, "email": "BOB@example.com"})).await;
    taken.expect_problem(StatusCode::CONFLICT, "email_taken");

    let renamed = app
        .request(Method::PATCH, &path, Some(&json!({"email": "ann.lee@example.com"})), &[("if-match", "\"2\"")])
        .await;
    assert_eq!(renamed.expect(StatusCode::OK)["email"], "ann.lee@example.com");

    app.patch(&path, &json!({"version": 2, "name": "Stale"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "version_conflict");
    let stored = app.get(&path).await.expect(StatusCode::OK);
    assert_eq!((stored["name"].as_str(), stored["version"].as_i64()), (Some("Ann"), Some(3)));
}

async fn archives_and_lists_customers(app: TestApp) {
    let mut ids = Vec::new();
    for name in ["A", "B", "C"] {
        let c = app.post("/v1/customers", &json!({"email": format!("{name}@example.com"), "name": name})).await;
        ids.push(c.expect(StatusCode::CREATED)["id"].as_str().unwrap().to_owned());
    }
    let archived =
        app.request(Method::POST, &format!("/v1/customers/{}/archive", ids[1]), None, &[("if-match", "\"1\"")]).await;
    assert!(archived.expect(StatusCode::OK)["archived_at"].is_string());
    app.patch(&format!("/v1/customers/{}", ids[1]), &json!({"version": 2, "name": "B2"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "archived");

    let names = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(app.get("/v1/customers").await.expect(StatusCode::OK)), ["A", "C"]);
    assert_eq!(names(app.get("/v1/customers?archived=true").await.expect(StatusCode::OK)), ["B"]);

    let first = app.get("/v1/customers?limit=1").await.expect(StatusCode::OK);
    assert_eq!(names(first.clone()), ["A"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("/v1/customers?limit=1&cursor={cursor}")).await.expect(StatusCode::OK);
    assert_eq!(names(second.clone()), ["C"]);
    assert!(second.get("next_cursor").is_none(), "absent on the last page: {second}");
}

async fn invalid_addresses_are_reported_per_field(app: TestApp) {
    let body = json!({
        "email": "not-an-email",
        "name": "",
        "addresses": [address(), {"line1": "", "city": "Paris", "country": "XX"}]
    });
    let problem =
        app.post("/v1/customers", &body).await.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("email", "invalid_email"),
            ("name", "required"),
            ("addresses[1].line1", "required"),
            ("addresses[1].country", "unknown_country")
        ]
    );
    assert_eq!(app.get("/v1/customers").await.expect(StatusCode::OK)["items"], json!([]));
}

/// Writes that arrive together (on SQLite they share a commit) succeed or
/// fail each on its own: a taken e-mail refuses only its own request.
async fn concurrent_writes_succeed_or_fail_alone(app: TestApp) {
    app.post("/v1/customers", &json!({"email": "taken@example.com", "name": "First"}))
        .await
        .expect(StatusCode::CREATED);
    let answers = futures::future::join_all((0..24).map(|n| {
        let email = if n % 4 == 0 { "taken@example.com".to_owned() } else { format!("c{n}@example.com") };
        let app = &app;
        async move { (n, app.post("/v1/customers", &json!({"email": email, "name": format!("C{n}")})).await) }
    }))
    .await;
    let mut created = vec!["taken@example.com".to_owned()];
    for (n, answer) in answers {
        if n % 4 == 0 {
            answer.expect_problem(StatusCode::CONFLICT, "email_taken");
        } else {
            created.push(answer.expect(StatusCode::CREATED)["email"].as_str().unwrap().to_owned());
        }
    }
    let list = app.get("/v1/customers?limit=100").await.expect(StatusCode::OK);
    let mut listed: Vec<String> =
        list["items"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap().to_owned()).collect();
    listed.sort();
    created.sort();
    assert_eq!(listed, created, "every accepted write is there, and nothing of the refused ones");
}
