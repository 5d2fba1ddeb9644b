//! The audit trail: every change is recorded with its actor and request,
//! and tampering with recorded events is detected.

use ordo_domain::auth::Role;
use ordo_service::audit::Tamper;
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    changes_are_audited_with_actor_request_and_before_after,
    rejected_changes_write_no_audit_event,
    sealing_chains_segments_and_verify_passes,
    an_altered_event_is_detected,
    a_deleted_event_is_detected,
    an_event_inserted_into_a_sealed_segment_is_detected,
    a_backdated_unsealed_event_is_detected,
    concurrent_sealers_never_fork_the_chain,
    a_large_segment_is_numbered_in_order,
);

/// A segment of more events than one numbering statement takes (SQLite
/// numbers 500 at a time) is sealed whole, in id order, and verifies.
async fn a_large_segment_is_numbered_in_order(app: TestApp) {
    use ordo_domain::audit::{Actor, AuditEvent};
    let actor = Actor::system("test");
    let mut tx = app.services.db.begin().await.unwrap();
    for n in 0..1_201 {
        let event = AuditEvent::record(
            &actor,
            "test.recorded",
            "test",
            n,
            None,
            Some(json!({"n": n})),
            ordo_domain::time::now(),
        );
        tx.insert_audit_event(&event).await.unwrap();
    }
    tx.commit().await.unwrap();
    let seal = app.services.audit.seal(10_000).await.unwrap().expect("sealed");
    assert!(seal.event_count >= 1_201);
    assert_eq!(app.services.audit.seal(10_000).await.unwrap(), None, "nothing left unsealed");
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!(report.tamper, None);
    assert_eq!((report.sealed_events as i64, report.unsealed_events), (seal.event_count, 0));
}

/// The periodic sealing job keeps to `audit.seal_batch`: 1,201 events
/// committed at once are sealed in segments of at most 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sealing_job_keeps_to_the_configured_segment_size() {
    use ordo_domain::audit::{Actor, AuditEvent};
    for backend in [ordo_testkit::Backend::Sqlite, ordo_testkit::Backend::Postgres] {
        let Some(app) = TestApp::spawn_with(backend, |c| {
            c.workers.enabled = true;
            c.audit.seal_interval_ms = 100;
            c.audit.seal_batch = 500;
        })
        .await
        else {
            continue;
        };
        let actor = Actor::system("test");
        let now = ordo_domain::time::now();
        let mut tx = app.services.db.begin().await.unwrap();
        for n in 0..1_201 {
            let event = AuditEvent::record(&actor, "test.recorded", "test", n, None, Some(json!({"n": n})), now);
            tx.insert_audit_event(&event).await.unwrap();
        }
        tx.commit().await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let report = loop {
            let report = app.services.audit.verify().await.unwrap();
            if report.unsealed_events == 0 && report.sealed_events >= 1_201 {
                break report;
            }
            assert!(std::time::Instant::now() < deadline, "{backend:?}: the job did not seal everything: {report:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        assert_eq!(report.tamper, None);
        assert!(
            report.segments * 500 >= report.sealed_events,
            "{backend:?}: {} events in {} segments: more than 500 in a segment",
            report.sealed_events,
            report.segments
        );
    }
}

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/audit-events?{query}")).await.expect(StatusCode::OK)["items"].as_array().unwrap().clone()
}

async fn changes_are_audited_with_actor_request_and_before_after(app: TestApp) {
    let manager_key = app.key_for(Role::Manager).await;
    let manager = TestApp::client_with_key(&manager_key);
    let created: Value = manager
        .post(app.url("/v1/products"))
        .header("x-request-id", "req-create-1")
        .json(&json!({"sku": "AUD-1", "name": "Audited"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    app.request(
        Method::PATCH,
        &format!("/v1/products/{id}"),
        Some(&json!({"version": 1, "name": "Renamed"})),
        &[("x-request-id", "req-update-1")],
    )
    .await
    .expect(StatusCode::OK);
    app.send_raw(Method::POST, &format!("/v1/products/{id}/archive"), None, Vec::new()).await.expect(StatusCode::OK);

    let trail = events(&app, &format!("entity_type=product&entity_id={id}")).await;
    let actions: Vec<_> = trail.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["product.created", "product.updated", "product.archived"]);
    assert_eq!(trail[0]["actor_name"], "test manager");
    assert_eq!(trail[0]["request_id"], "req-create-1");
    assert_eq!(trail[0]["before"], Value::Null);
    assert_eq!(trail[0]["after"]["name"], "Audited");
    assert_eq!(trail[1]["request_id"], "req-update-1");
    assert_eq!(trail[1]["actor_name"], "test admin");
    assert_eq!(trail[1]["before"]["name"], "Audited");
    assert_eq!(trail[1]["after"]["name"], "Renamed");
    assert_eq!(trail[2]["after"]["archived_at"], trail[2]["after"]["updated_at"]);
    assert!(trail.iter().all(|e| e["hash"].as_str().unwrap().len() == 64));

    let manager_id = trail[0]["actor_key_id"].as_str().unwrap();
    let by_manager = events(&app, &format!("actor={manager_id}")).await;
    assert_eq!(by_manager.len(), 1);
    let customer =
        app.post("/v1/customers", &json!({"email": "a@example.com", "name": "A"})).await.expect(StatusCode::CREATED);
    let customers = events(&app, "entity_type=customer").await;
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["entity_id"], customer["id"]);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(events(&app, &format!("from={future}")).await.is_empty());
    let page = app.get("/v1/audit-events?limit=2").await.expect(StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());
    app.get("/v1/audit-events?actor=nobody").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
}

async fn rejected_changes_write_no_audit_event(app: TestApp) {
    let viewer = TestApp::client_with_key(&app.key_for(Role::Viewer).await);
    let before = events(&app, "limit=500").await.len();
    let product = app.post("/v1/products", &json!({"sku": "NOAUD-1", "name": "x"})).await.expect(StatusCode::CREATED);
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    app.post("/v1/products", &json!({"sku": "NOAUD-1", "name": "dup"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "sku_taken");
    app.patch(&path, &json!({"version": 9, "name": "stale"}))
        .await
        .expect_problem(StatusCode::CONFLICT, "version_conflict");
    app.patch(&path, &json!({"version": 1, "name": ""}))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        viewer.post(app.url("/v1/products")).json(&json!({"sku": "V", "name": "v"})).send().await.unwrap().status(),
        403
    );
    app.patch(&path, &json!({"version": 1, "name": "x"})).await.expect(StatusCode::OK);
    let after = events(&app, "limit=500").await;
    assert_eq!(after.len(), before + 1, "only the creation was audited: {after:?}");
}

/// Writes `n` audited changes.
async fn write_events(app: &TestApp, prefix: &str, n: usize) {
    for i in 0..n {
        app.post("/v1/products", &json!({"sku": format!("{prefix}-{i}"), "name": "Chained"}))
            .await
            .expect(StatusCode::CREATED);
    }
}

async fn sealing_chains_segments_and_verify_passes(app: TestApp) {
    write_events(&app, "S", 3).await;
    let seals = app.services.audit.seal_all(2).await.unwrap();
    // The test kit's admin key is audited too: 1 key + 3 products = 4 events.
    assert_eq!(seals.iter().map(|s| s.event_count).sum::<i64>(), 4);
    assert_eq!(seals.iter().map(|s| s.segment).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(seals[1].previous_hash, seals[0].hash);
    assert!(app.services.audit.seal(100).await.unwrap().is_none(), "nothing left to seal");
    write_events(&app, "T", 1).await;
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!((report.segments, report.sealed_events, report.unsealed_events), (2, 4, 1));
    assert_eq!(report.tamper, None);
    assert_eq!(report.head_hash, seals[1].hash);
    let sealed = events(&app, "limit=500").await;
    assert_eq!(sealed.iter().filter(|e| e["segment"].is_number()).count(), 4);
}

/// Writes and seals events, and returns the sealed events in order.
async fn sealed_trail(app: &TestApp) -> Vec<Value> {
    write_events(app, "X", 4).await;
    app.services.audit.seal_all(100).await.unwrap();
    assert_eq!(app.services.audit.verify().await.unwrap().tamper, None);
    events(app, "entity_type=product&limit=500").await
}

fn id_of(event: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(event["id"].as_str().unwrap()).unwrap()
}

async fn an_altered_event_is_detected(app: TestApp) {
    let trail = sealed_trail(&app).await;
    let target = id_of(&trail[2]);
    app.db
        .execute(&format!(
            "UPDATE audit_events SET actor_name = 'someone else' WHERE id = {}",
            app.db.uuid_literal(target)
        ))
        .await;
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!(report.tamper, Some(Tamper::EventAltered { segment: Some(1), event_id: target }));
}

async fn a_deleted_event_is_detected(app: TestApp) {
    let trail = sealed_trail(&app).await;
    let target = id_of(&trail[1]);
    app.db.execute(&format!("DELETE FROM audit_events WHERE id = {}", app.db.uuid_literal(target))).await;
    let report = app.services.audit.verify().await.unwrap();
    // The test kit's key event comes first in the segment: the second product event is #3.
    assert_eq!(
        report.tamper,
        Some(Tamper::EventDeleted { segment: 1, seq: 3, after_event_id: Some(id_of(&trail[0])) })
    );
}

async fn an_event_inserted_into_a_sealed_segment_is_detected(app: TestApp) {
    let trail = sealed_trail(&app).await;
    let forged = uuid::Uuid::now_v7();
    let source = app.db.uuid_literal(id_of(&trail[0]));
    app.db
        .execute(&format!(
            "INSERT INTO audit_events (id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash, segment, seq)
             SELECT {}, occurred_at, actor_key_id, 'forger', action, entity_type, entity_id, request_id, before, after, hash, segment, 7
               FROM audit_events WHERE id = {source}",
            app.db.uuid_literal(forged)
        ))
        .await;
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!(report.tamper, Some(Tamper::EventInserted { segment: Some(1), event_id: forged }));
}

async fn a_backdated_unsealed_event_is_detected(app: TestApp) {
    let trail = sealed_trail(&app).await;
    let forged = uuid::Uuid::now_v7();
    let source = app.db.uuid_literal(id_of(&trail[0]));
    // An hour before the latest seal: far longer than any transaction.
    let backdated = match app.backend() {
        ordo_testkit::Backend::Sqlite => "occurred_at - 3600000000",
        ordo_testkit::Backend::Postgres => "occurred_at - interval '1 hour'",
    };
    app.db
        .execute(&format!(
            "INSERT INTO audit_events (id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash)
             SELECT {}, {backdated}, actor_key_id, actor_name, 'product.deleted', entity_type, entity_id, request_id, before, after, hash
               FROM audit_events WHERE id = {source}",
            app.db.uuid_literal(forged)
        ))
        .await;
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!(report.tamper, Some(Tamper::EventInserted { segment: None, event_id: forged }));
}

async fn concurrent_sealers_never_fork_the_chain(app: TestApp) {
    let writers = (0..4).map(|w| {
        let app = &app;
        async move { write_events(app, &format!("W{w}"), 10).await }
    });
    let sealers = (0..4).map(|_| {
        let audit = app.services.audit.clone();
        async move {
            let mut seals = 0;
            for _ in 0..20 {
                seals += audit.seal_all(3).await.expect("sealing never fails, it yields").len();
            }
            seals
        }
    });
    let (_, seal_counts) =
        futures::future::join(futures::future::join_all(writers), futures::future::join_all(sealers)).await;
    app.services.audit.seal_all(3).await.unwrap();
    let report = app.services.audit.verify().await.unwrap();
    assert_eq!(report.tamper, None, "{report:?}");
    assert_eq!(report.unsealed_events, 0);
    assert_eq!(report.sealed_events, 41, "1 key event and 40 products, each sealed exactly once");
    assert!(seal_counts.iter().sum::<usize>() >= 1);
}
