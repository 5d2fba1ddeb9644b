//! `/v1/jobs`: operators see the queue, retry or discard dead jobs, cancel.

use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(operators_inspect_retry_discard_and_cancel_jobs);

pub(crate) async fn enqueue(app: &TestApp, name: &str) -> Uuid {
    ordo_testkit::fixtures::enqueue_job(app, "default", name).await
}

/// Claims the job and fails its only attempt, so it is dead.
pub(crate) async fn kill(app: &TestApp, id: Uuid) {
    ordo_testkit::fixtures::kill_job(app, "default", id).await;
}

async fn operators_inspect_retry_discard_and_cancel_jobs(app: TestApp) {
    let dead = enqueue(&app, "test.dead").await;
    kill(&app, dead).await;
    let waiting = enqueue(&app, "test.waiting").await;

    let listed = app.get("/v1/jobs?state=dead").await.expect(StatusCode::OK);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["last_error"], "boom");
    let detail = app.get(&format!("/v1/jobs/{dead}")).await.expect(StatusCode::OK);
    assert_eq!((detail["state"].as_str(), detail["attempt"].as_i64()), (Some("dead"), Some(1)));
    assert!(detail["attempts"].is_array());

    let stats = app.get("/v1/jobs/stats").await.expect(StatusCode::OK);
    let depth = |state: &str| -> Value {
        stats["items"].as_array().unwrap().iter().find(|s| s["state"] == state).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(depth("dead")["count"], 1);
    assert_eq!(depth("available")["count"], 1);
    assert!(depth("available")["oldest_age_seconds"].as_f64().unwrap() >= 0.0);

    app.post(&format!("/v1/jobs/{waiting}/retry"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "job_not_dead");
    app.post(&format!("/v1/jobs/{waiting}/discard"), &json!({}))
        .await
        .expect_problem(StatusCode::CONFLICT, "job_not_dead");
    let retried = app.post(&format!("/v1/jobs/{dead}/retry"), &json!({})).await.expect(StatusCode::OK);
    assert_eq!((retried["state"].as_str(), retried["attempt"].as_i64()), (Some("available"), Some(0)));
    kill(&app, dead).await;
    app.post(&format!("/v1/jobs/{dead}/discard"), &json!({})).await.expect(StatusCode::OK);
    app.get(&format!("/v1/jobs/{dead}")).await.expect_problem(StatusCode::NOT_FOUND, "not_found");

    let cancelled = app.post(&format!("/v1/jobs/{waiting}/cancel"), &json!({})).await.expect(StatusCode::OK);
    assert_eq!(cancelled["outcome"], "removed");
    app.post(&format!("/v1/jobs/{waiting}/cancel"), &json!({}))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/v1/jobs?state=finished").await.expect_problem(StatusCode::BAD_REQUEST, "invalid_query");
    let audit = app.get("/v1/audit-events?entity_type=job").await.expect(StatusCode::OK);
    let actions: Vec<_> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["job.retried", "job.discarded", "job.cancelled"]);
}
