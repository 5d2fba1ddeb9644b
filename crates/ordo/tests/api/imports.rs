//! Bulk imports: products, customers and stock from CSV and JSON Lines,
//! applied in chunks with each change audited, bad rows in a downloadable
//! error report (a file with any refused whole by default, its good rows
//! applied when asked), a dry run that changes nothing, the same file
//! twice a no-op, a resume after the last committed chunk, and bad files
//! refused whole.

use std::time::Duration;

use ordo_domain::auth::Role;
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{Method, StatusCode, TestApp, TestResponse, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    products_are_created_and_changed_by_sku_with_bad_rows_reported_and_the_same_file_twice_a_no_op,
    customers_and_stock_import_from_csv_and_json_lines_with_the_api_rules,
    a_dry_run_counts_what_would_change_and_changes_nothing,
    an_import_cut_short_resumes_after_its_last_committed_chunk,
    a_file_with_a_bad_row_imports_nothing_unless_asked_to_skip_it,
    a_row_that_turns_bad_after_the_check_stops_the_import_marked_at_its_chunk,
    bad_files_are_refused_whole_and_imports_can_be_cancelled,
);

async fn upload(app: &TestApp, query: &str, content_type: &str, body: &str) -> TestResponse {
    app.send_raw(Method::POST, &format!("/v1/imports?{query}"), Some(content_type), body.as_bytes().to_vec()).await
}

/// Waits for an import to end.
async fn finished(app: &TestApp, id: &str) -> Value {
    for _ in 0..1_000 {
        let import = app.get(&format!("/v1/imports/{id}")).await.expect(StatusCode::OK);
        if import["status"] != "running" {
            return import;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("import {id} never finished");
}

/// Uploads a file, expecting it to be new, and waits for it to end.
async fn import(app: &TestApp, query: &str, content_type: &str, body: &str) -> Value {
    let created = upload(app, query, content_type, body).await;
    let import = created.expect(StatusCode::ACCEPTED);
    assert_eq!(created.header("location"), Some(format!("/v1/imports/{}", import["id"].as_str().unwrap()).as_str()));
    finished(app, import["id"].as_str().unwrap()).await
}

fn counts(import: &Value) -> [i64; 5] {
    ["rows_done", "created", "updated", "unchanged", "rejected"].map(|k| import[k].as_i64().unwrap())
}

/// The import's error report, as (row, field, code) per line.
async fn errors(app: &TestApp, import: &Value) -> Vec<(String, String, String)> {
    let (status, content_type, body) =
        app.get_bytes(&format!("/v1/imports/{}/errors", import["id"].as_str().unwrap()), "text/csv").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let mut csv = csv::Reader::from_reader(&body[..]);
    assert_eq!(csv.headers().unwrap(), vec!["row", "field", "code", "message"]);
    csv.records()
        .map(|r| {
            let r = r.unwrap();
            assert!(!r[3].is_empty(), "every error says why");
            (r[0].to_owned(), r[1].to_owned(), r[2].to_owned())
        })
        .collect()
}

fn triple(row: &str, field: &str, code: &str) -> (String, String, String) {
    (row.to_owned(), field.to_owned(), code.to_owned())
}

async fn product(app: &TestApp, sku: &str) -> Option<Value> {
    let page = app.get(&format!("/v1/products?sku_prefix={sku}&limit=10")).await.expect(StatusCode::OK);
    page["items"].as_array().unwrap().iter().find(|p| p["sku"] == sku).cloned()
}

async fn audit_count(app: &TestApp, entity_type: &str, action: &str) -> usize {
    let mut count = 0;
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("/v1/audit-events?entity_type={entity_type}&limit=500{cursor}"))
            .await
            .expect(StatusCode::OK);
        count += page["items"].as_array().unwrap().iter().filter(|e| e["action"] == action).count();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return count,
        }
    }
}

async fn products_are_created_and_changed_by_sku_with_bad_rows_reported_and_the_same_file_twice_a_no_op(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else { return };
    app.post(
        "/v1/products",
        &json!({"sku": "OLD-1", "name": "Old", "prices": [{"amount": 500, "currency": "EUR"}], "tax_class": "reduced"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let before = audit_count(&app, "product", "product.created").await;
    // Chunks of two rows: the bad rows, a SKU twice and the known SKU fall
    // in different chunks.
    let csv = "\u{feff}sku,name,description,price_EUR,price_USD,active\r\n\
               NEW-1,First,\"Soft, warm\",19.90,21.50,\r\n\
               OLD-1,Old renamed,,,3,false\r\n\
               bad sku,,,19.999,,maybe\r\n\
               NEW-2,Second,,5,,true\r\n\
               NEW-1,First again,\"Soft, warm\",19.90,21.50,\r\n\
               NEW-3,Third\r\n";
    let done = import(&app, "kind=products&chunk_rows=2&bad_rows=skip", "text/csv", csv).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!((done["rows"].as_i64(), done["progress"].as_i64()), (Some(6), Some(100)));
    // NEW-1 created, then changed; OLD-1 changed; NEW-2 created; two bad.
    assert_eq!(counts(&done), [6, 2, 2, 0, 2], "{done}");
    assert_eq!(
        errors(&app, &done).await,
        [
            triple("3", "price_EUR", "invalid_amount"),
            triple("3", "sku", "invalid_sku"),
            triple("3", "name", "required"),
            triple("3", "active", "invalid_boolean"),
            triple("6", "", "wrong_field_count"),
        ]
    );
    let new = product(&app, "NEW-1").await.expect("NEW-1 created");
    assert_eq!(new["name"], "First again");
    assert_eq!(new["description"], "Soft, warm");
    assert_eq!(new["active"], true);
    assert_eq!(new["prices"], json!([{"amount": 1990, "currency": "EUR"}, {"amount": 2150, "currency": "USD"}]));
    let old = product(&app, "OLD-1").await.unwrap();
    assert_eq!(old["name"], "Old renamed");
    assert_eq!(old["active"], false);
    // Blank fields leave the product's values; given prices replace them all.
    assert_eq!(old["tax_class"], "reduced");
    assert_eq!(old["prices"], json!([{"amount": 300, "currency": "USD"}]));
    assert_eq!(old["version"], 2);
    assert!(product(&app, "NEW-3").await.is_none(), "a refused row writes nothing");
    // Each change is audited as through the API, by the importer.
    assert_eq!(audit_count(&app, "product", "product.created").await - before, 2);
    assert_eq!(audit_count(&app, "product", "product.updated").await, 2);
    assert_eq!(audit_count(&app, "import", "import.created").await, 1);

    // The same file again is the same import, and changes nothing.
    let again = upload(&app, "kind=products&chunk_rows=2&bad_rows=skip", "text/csv", csv).await.expect(StatusCode::OK);
    assert_eq!(again["id"], done["id"]);
    assert_eq!(product(&app, "OLD-1").await.unwrap()["version"], 2);
    let list = app.get("/v1/imports?limit=10").await.expect(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // JSON Lines take the API's fields, amounts in minor units; a row is
    // numbered by its line.
    let jsonl = "{\"sku\":\"NEW-2\",\"name\":\"Second\",\"prices\":[{\"amount\":500,\"currency\":\"EUR\"}],\"active\":true}\n\
                 \n\
                 {\"sku\":\"NEW-4\",\"name\":\"Fourth\",\"description\":null,\"tax_class\":\"zero\"}\n\
                 {\"sku\":\"NEW-5\",\"name\":\"Fifth\",\"colour\":\"red\"}\n\
                 not json\n";
    let done = import(&app, "kind=products&bad_rows=skip", "application/x-ndjson", jsonl).await;
    assert_eq!(done["format"], "jsonl");
    assert_eq!(counts(&done), [4, 1, 0, 1, 2], "{done}");
    assert_eq!(errors(&app, &done).await, [triple("4", "", "invalid_json"), triple("5", "", "invalid_json")]);
    assert_eq!(product(&app, "NEW-4").await.unwrap()["tax_class"], "zero");
}

async fn customers_and_stock_import_from_csv_and_json_lines_with_the_api_rules(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else { return };
    let shop = shop(&app).await;
    let known = app.get(&format!("/v1/customers/{}", shop.customer)).await.expect(StatusCode::OK);
    let email = known["email"].as_str().unwrap().to_owned();

    let csv = format!(
        "email,name,address_line1,address_city,address_postal_code,address_country\n\
         ann@example.com,Ann,1 Main St,Berlin,10115,de\n\
         {email},Renamed,,,,\n\
         not-an-email,Bob,2 High St,London,,XX\n"
    );
    let done = import(&app, "kind=customers&bad_rows=skip", "text/csv", &csv).await;
    assert_eq!(counts(&done), [3, 1, 1, 0, 1], "{done}");
    assert_eq!(
        errors(&app, &done).await,
        [triple("3", "email", "invalid_email"), triple("3", "address_country", "unknown_country")]
    );
    let page = app.get("/v1/customers?email=ann@example.com").await.expect(StatusCode::OK);
    let ann = &page["items"][0];
    assert_eq!(ann["addresses"][0]["country"], "DE");
    assert_eq!(ann["addresses"][0]["postal_code"], "10115");
    let renamed = app.get(&format!("/v1/customers/{}", shop.customer)).await.expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Renamed");
    assert_eq!(renamed["addresses"], known["addresses"], "no address columns filled: addresses kept");
    let jsonl = "{\"email\":\"cy@example.com\",\"name\":\"Cy\",\"addresses\":[{\"line1\":\"3 Rue\",\"city\":\"Paris\",\"country\":\"FR\"}]}\n";
    let done = import(&app, "kind=customers", "application/x-ndjson", jsonl).await;
    assert_eq!(counts(&done), [1, 1, 0, 0, 0], "{done}");
    assert_eq!(audit_count(&app, "customer", "customer.created").await, 3, "the shop's customer, Ann and Cy");

    // An order reserves 2 TEE near: a count may not go below that.
    let order = app.post("/v1/orders", &order_body(&shop, json!([{"sku": "TEE", "quantity": 2}]))).await;
    order.expect(StatusCode::CREATED);
    let csv = "sku,location,on_hand,received,note\n\
               TEE,near,1,,counted\n\
               TEE,NEAR,7,,counted\n\
               MUG,FAR,,4,delivery 1\n\
               NEW,NEAR,,5,\n\
               TEE,NOWHERE,,1,\n\
               MUG,FAR,5,,\n\
               TEE,FAR,,0,\n";
    let received_before = audit_count(&app, "stock", "stock.received").await;
    let done = import(&app, "kind=stock&bad_rows=skip", "text/csv", csv).await;
    assert_eq!(counts(&done), [7, 1, 3, 0, 3], "{done}");
    assert_eq!(
        errors(&app, &done).await,
        [
            triple("1", "on_hand", "insufficient_stock"),
            triple("5", "location", "unknown_location"),
            triple("7", "received", "out_of_range"),
        ]
    );
    let levels = |stock: &Value| -> Vec<(String, i64, i64)> {
        let mut levels: Vec<_> = stock["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["location_id"].as_str().unwrap().to_owned(),
                    l["on_hand"].as_i64().unwrap(),
                    l["reserved"].as_i64().unwrap(),
                )
            })
            .collect();
        levels.sort();
        levels
    };
    let tee = app.get("/v1/stock/TEE").await.expect(StatusCode::OK);
    let mut expected = vec![(shop.near.clone(), 7, 2), (shop.far.clone(), 10, 0)];
    expected.sort();
    assert_eq!(levels(&tee), expected);
    let mug = app.get("/v1/stock/MUG").await.expect(StatusCode::OK);
    assert_eq!(levels(&mug), [(shop.far.clone(), 5, 0)], "5, 4 received, then counted at 5");
    let new = app.get("/v1/stock/NEW").await.expect(StatusCode::OK);
    assert_eq!(levels(&new), [(shop.near.clone(), 5, 0)]);
    assert_eq!(audit_count(&app, "stock", "stock.adjusted").await, 2);
    assert_eq!(audit_count(&app, "stock", "stock.received").await - received_before, 2);
}

async fn a_dry_run_counts_what_would_change_and_changes_nothing(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else { return };
    app.post("/v1/products", &json!({"sku": "OLD-1", "name": "Old"})).await.expect(StatusCode::CREATED);
    let csv = "sku,name\nOLD-1,Old\nOLD-1,Renamed\nNEW-1,New\n,Nameless\n";
    let dry = import(&app, "kind=products&dry_run=true", "text/csv", csv).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(counts(&dry), [4, 1, 1, 1, 1], "{dry}");
    assert_eq!(errors(&app, &dry).await, [triple("4", "sku", "required")]);
    assert!(product(&app, "NEW-1").await.is_none(), "a dry run creates nothing");
    assert_eq!(product(&app, "OLD-1").await.unwrap()["name"], "Old", "a dry run changes nothing");
    assert_eq!(audit_count(&app, "product", "product.created").await, 1, "only the API's");
    // The same file for real is a new import, not the dry run's.
    let real = import(&app, "kind=products&bad_rows=skip", "text/csv", csv).await;
    assert_ne!(real["id"], dry["id"]);
    assert_eq!(counts(&real), counts(&dry));
    assert_eq!(product(&app, "OLD-1").await.unwrap()["name"], "Renamed");
}

/// By default a file with any bad row imports none of it: every row is
/// checked first, and the import fails with the error report naming every
/// bad row. `bad_rows=skip` imports the good ones; the mended file, all.
async fn a_file_with_a_bad_row_imports_nothing_unless_asked_to_skip_it(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| c.workers.enabled = true).await else { return };
    app.post("/v1/products", &json!({"sku": "OLD-1", "name": "Old"})).await.expect(StatusCode::CREATED);
    let audited = audit_count(&app, "product", "product.created").await;
    // Chunks of two: the good rows fill chunks before and after the bad ones.
    let csv = "sku,name,price_EUR
NEW-1,One,1
OLD-1,Renamed,2
NEW-2,Two,3
NEW-3,,4
NEW-4,Four,x
NEW-5,Five,5
";
    let refused = import(&app, "kind=products&chunk_rows=2", "text/csv", csv).await;
    assert_eq!((refused["status"].as_str(), refused["bad_rows"].as_str()), (Some("failed"), Some("refuse")));
    assert_eq!(refused["stage"], "checking", "it never began applying: {refused}");
    assert!(refused["error"].as_str().unwrap().contains("2 of 6 rows were refused, so none was imported"), "{refused}");
    assert_eq!(refused["rejected"], 2);
    assert_eq!(
        errors(&app, &refused).await,
        [triple("4", "name", "required"), triple("5", "price_EUR", "invalid_amount")]
    );
    for sku in ["NEW-1", "NEW-2", "NEW-5"] {
        assert!(product(&app, sku).await.is_none(), "{sku}: nothing was imported");
    }
    assert_eq!(product(&app, "OLD-1").await.unwrap()["name"], "Old", "nothing was changed");
    assert_eq!(audit_count(&app, "product", "product.created").await, audited);
    assert_eq!(audit_count(&app, "product", "product.updated").await, 0);

    // Asked to, it imports the good rows around the bad ones.
    let skipped = import(&app, "kind=products&chunk_rows=2&bad_rows=skip", "text/csv", csv).await;
    assert_eq!((skipped["status"].as_str(), skipped["stage"].as_str()), (Some("succeeded"), Some("applying")));
    assert_eq!(counts(&skipped), [6, 3, 1, 0, 2], "{skipped}");
    assert_eq!(errors(&app, &skipped).await.len(), 2);
    assert!(product(&app, "NEW-3").await.is_none() && product(&app, "NEW-5").await.is_some());

    // The mended file imports whole, checked then applied from its first row.
    let mended = csv.replace("NEW-3,,4", "NEW-3,Three,4").replace("NEW-4,Four,x", "NEW-4,Four,4.50");
    let done = import(&app, "kind=products&chunk_rows=2", "text/csv", &mended).await;
    assert_eq!((done["status"].as_str(), done["stage"].as_str()), (Some("succeeded"), Some("applying")));
    assert_eq!(done["progress"], 100);
    // The counts are the applying pass's only: NEW-3 and NEW-4 are new.
    assert_eq!(counts(&done), [6, 2, 0, 4, 0], "{done}");
    assert_eq!(product(&app, "NEW-4").await.unwrap()["prices"], json!([{"amount": 450, "currency": "EUR"}]));
    assert_eq!(audit_count(&app, "product", "product.created").await, audited + 5);
}

/// A row the check passed but that is bad when applied (the data changed
/// between the passes) stops the import, failed, at its chunk: the chunk
/// is not applied, the chunks before it stand, and the import says so.
async fn a_row_that_turns_bad_after_the_check_stops_the_import_marked_at_its_chunk(app: TestApp) {
    // No workers: the test plays the check having passed.
    let shop = shop(&app).await;
    let csv = "sku,location,received
TEE,NEAR,1
MUG,NEAR,1
TEE,GONE,1
MUG,FAR,1
TEE,FAR,1
";
    let created = upload(&app, "kind=stock&chunk_rows=2", "text/csv", csv).await.expect(StatusCode::ACCEPTED);
    assert_eq!(created["stage"], "checking");
    let id = created["id"].as_str().unwrap();
    // As if location GONE had been there for the check and archived since.
    app.db
        .execute(&format!(
            "UPDATE imports SET stage = 'applying' WHERE id = {}",
            app.db.uuid_literal(id.parse().unwrap())
        ))
        .await;
    let on_hand = async |sku: &str, location: &str| {
        let stock = app.get(&format!("/v1/stock/{sku}")).await.expect(StatusCode::OK);
        let levels = stock["locations"].as_array().unwrap().iter();
        levels.filter(|l| l["location_id"] == location).map(|l| l["on_hand"].as_i64().unwrap()).sum::<i64>()
    };
    let rows = [("TEE", &shop.near), ("MUG", &shop.near), ("MUG", &shop.far), ("TEE", &shop.far)];
    let mut before = Vec::new();
    for (sku, location) in rows {
        before.push(on_hand(sku, location).await);
    }
    let received = audit_count(&app, "stock", "stock.received").await;
    let stopped = app.services.imports.apply(id.parse().unwrap(), None).await.unwrap();
    assert_eq!(stopped.status.as_str(), "failed");
    assert_eq!(stopped.counts.rows_done, 2, "the first chunk stands");
    let error = stopped.error.unwrap();
    assert!(
        error.contains("row 3 was refused while applying") && error.contains("Rows 1 to 2 were applied"),
        "{error}"
    );
    let got = app.get(&format!("/v1/imports/{id}")).await.expect(StatusCode::OK);
    assert_eq!(got["status"], "failed");
    assert_eq!(errors(&app, &got).await, [triple("3", "location", "unknown_location")]);
    let mut after = Vec::new();
    for (sku, location) in rows {
        after.push(on_hand(sku, location).await);
    }
    // Rows 1 and 2 applied; row 4 (in row 3's chunk) and row 5 not.
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2], before[3]]);
    assert_eq!(audit_count(&app, "stock", "stock.received").await - received, 2);
}

async fn an_import_cut_short_resumes_after_its_last_committed_chunk(app: TestApp) {
    // No workers: this test applies the import itself.
    let rows = 3_000;
    let mut csv = String::from("sku,name,price_EUR\n");
    for i in 0..rows {
        csv.push_str(&format!("BULK-{i:05},Bulk {i},{}.{:02}\n", i % 100 + 1, i % 100));
    }
    let created = upload(&app, "kind=products&chunk_rows=100", "text/csv", &csv).await.expect(StatusCode::ACCEPTED);
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let services = app.services.clone();
    let running = tokio::spawn(async move { services.imports.apply(id, None).await });
    // Cut it short once a few chunks committed, mid-way through another.
    loop {
        let import = app.get(&format!("/v1/imports/{id}")).await.expect(StatusCode::OK);
        // Past its check (the default refuses bad rows, so checks first).
        if import["stage"] == "applying" && import["rows_done"].as_i64().unwrap() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    running.abort();
    let _ = running.await;
    // From here on another instance serves, as after a crash.
    let files = app.db.files_dir().display().to_string();
    let restarted = app.start_peer(|c| c.files.path = files).await;
    let cut = restarted.get(&format!("/v1/imports/{id}")).await.expect(StatusCode::OK);
    let done_then = cut["rows_done"].as_i64().unwrap();
    assert_eq!(cut["status"], "running");
    assert!(done_then < rows, "cut short before the end: {cut}");
    assert_eq!(done_then % 100, 0, "only whole chunks commit");
    assert_eq!(cut["created"].as_i64().unwrap(), done_then);
    let page = restarted.get("/v1/products?sku_prefix=BULK-&limit=500").await.expect(StatusCode::OK);
    let stored = page["items"].as_array().unwrap().len() as i64;
    assert_eq!(stored, done_then.min(500), "what committed is stored, nothing more");

    let done = restarted.services.imports.apply(id, None).await.unwrap();
    assert_eq!(done.status.as_str(), "succeeded");
    // Every row created exactly once: none redone, none skipped.
    assert_eq!((done.counts.rows_done, done.counts.created, done.counts.unchanged), (rows, rows, 0));
    assert_eq!(audit_count(&restarted, "product", "product.created").await as i64, rows);
    let last = product(&restarted, "BULK-02999").await.unwrap();
    assert_eq!(last["prices"], json!([{"amount": 10_099, "currency": "EUR"}]));
}

async fn bad_files_are_refused_whole_and_imports_can_be_cancelled(app: TestApp) {
    let problem = |r: TestResponse, code: &str| {
        let body = r.expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let codes: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
        assert!(codes.contains(&code), "{code} in {body}");
    };
    problem(upload(&app, "kind=products", "text/csv", "sku,name,colour\nA,B,red\n").await, "unknown_column");
    problem(upload(&app, "kind=products", "text/csv", "sku,sku,name\nA,A,B\n").await, "duplicate_column");
    problem(upload(&app, "kind=customers", "text/csv", "name\nAnn\n").await, "missing_column");
    problem(upload(&app, "kind=stock", "text/csv", "sku,location\nA,B\n").await, "missing_column");
    problem(upload(&app, "kind=products", "text/csv", "").await, "empty_file");
    problem(upload(&app, "kind=products", "text/csv", "sku,name\n").await, "empty_file");
    problem(upload(&app, "kind=products", "application/x-ndjson", "\n\n").await, "empty_file");
    problem(upload(&app, "kind=products", "application/x-ndjson", "sku,name\nA,B\n").await, "invalid_json");
    problem(
        upload(&app, "kind=products", "application/x-ndjson", "{\"sku\":\"A\",\"nom\":\"B\"}\n").await,
        "unknown_column",
    );
    // Latin-1 (a spreadsheet's "CSV" in some locales) is not UTF-8.
    let latin1 = app
        .send_raw(Method::POST, "/v1/imports?kind=products", Some("text/csv"), b"sku,name\nA,Caf\xe9\n".to_vec())
        .await;
    problem(latin1, "invalid_encoding");
    let utf16 = app
        .send_raw(Method::POST, "/v1/imports?kind=products", Some("text/csv"), b"\xff\xfes\x00k\x00u\x00".to_vec())
        .await;
    problem(utf16, "invalid_encoding");
    problem(upload(&app, "kind=products&chunk_rows=0", "text/csv", "sku,name\nA,B\n").await, "out_of_range");
    upload(&app, "kind=orders", "text/csv", "sku,name\nA,B\n")
        .await
        .expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    upload(&app, "kind=products", "application/json", "{}")
        .await
        .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    // A file over the upload limit is refused while it streams in.
    let small = app.start_peer(|c| c.server.upload_limit_bytes = 64).await;
    let big = format!("sku,name\n{}", "A,B\n".repeat(100));
    let response = small
        .client
        .post(small.url("/v1/imports?kind=products"))
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(futures::stream::iter([Ok::<_, std::io::Error>(big)])))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    drop(small);
    // Nothing of them was stored.
    let list = app.get("/v1/imports").await.expect(StatusCode::OK);
    assert_eq!(list["items"], json!([]));
    assert_eq!(audit_count(&app, "import", "import.created").await, 0);

    // Managers import; clerks and viewers may not.
    for (role, status) in [
        (Role::Manager, StatusCode::ACCEPTED),
        (Role::Clerk, StatusCode::FORBIDDEN),
        (Role::Viewer, StatusCode::FORBIDDEN),
    ] {
        let key = app.key_for(role).await;
        let response = TestApp::client_with_key(&key)
            .post(app.url("/v1/imports?kind=products"))
            .header("content-type", "text/csv")
            .body(format!("sku,name\nBY-{role},By {role}\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{role}");
    }

    // No workers here: an import stays running until cancelled.
    let running =
        upload(&app, "kind=products", "text/csv", "sku,name\nC-1,Cancelled\n").await.expect(StatusCode::ACCEPTED);
    let id = running["id"].as_str().unwrap();
    let cancelled = app.post(&format!("/v1/imports/{id}/cancel"), &json!({})).await.expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["finished_at"].is_string());
    app.post(&format!("/v1/imports/{id}/cancel"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "import_finished");
    let done = app.services.imports.apply(id.parse().unwrap(), None).await.unwrap();
    assert_eq!((done.status.as_str(), done.counts.rows_done), ("cancelled", 0), "a cancelled import applies nothing");
    assert!(product(&app, "C-1").await.is_none());
    // A cancelled file can be imported again.
    upload(&app, "kind=products", "text/csv", "sku,name\nC-1,Cancelled\n").await.expect(StatusCode::ACCEPTED);
    app.get("/v1/imports/not-an-id").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_id");
    app.get(&format!("/v1/imports/{}", uuid::Uuid::now_v7())).await.expect_problem(StatusCode::NOT_FOUND, "not_found");
}
