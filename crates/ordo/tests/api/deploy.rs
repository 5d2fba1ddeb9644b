//! `deploy/`: the Grafana dashboard and the Prometheus alert rules load, and
//! every metric they query is one Ordo exports.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ordo_testkit::{Backend, StatusCode, TestApp};
use serde_json::{Value, json};

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(name)).unwrap()
}

/// Metric names a PromQL text refers to (Ordo's prefixes only), without
/// the histogram suffixes.
fn metric_names(promql: &str) -> BTreeSet<String> {
    promql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("http_server_") || t.starts_with("ordo_") || t.starts_with("db_pool_"))
        .map(|t| t.trim_end_matches("_bucket").trim_end_matches("_count").trim_end_matches("_sum").to_owned())
        .collect()
}

/// Families exported by a live server after some traffic.
async fn exported() -> BTreeSet<String> {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.workers.enabled = true).await.unwrap();
    let shop = ordo_testkit::fixtures::shop(&app).await;
    let mut body = ordo_testkit::fixtures::order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let hook =
        app.post("/v1/webhooks", &json!({"url": "http://127.0.0.1:9/none", "event_types": ["order.paid"]})).await;
    hook.expect(StatusCode::CREATED);
    for _ in 0..200 {
        let text = app.anonymous.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        let families: BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect();
        if families.contains("ordo_webhook_deliveries_total") && families.contains("ordo_job_duration_seconds") {
            return families;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the expected families never appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_alert_rules_load_and_query_exported_metrics() {
    let families = exported().await;

    let dashboard: Value =
        serde_json::from_str(&deploy_file("grafana/ordo-dashboard.json")).expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "ordo-overview");
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels.iter().map(|p| p["title"].as_str().unwrap()).collect();
    for needed in [
        "Latency p50 / p95 / p99 by route",
        "Throughput by route",
        "Error rate",
        "Queue depth",
        "Oldest waiting job",
        "Database pool",
        "Cache hit rate",
    ] {
        assert!(titles.iter().any(|t| t.starts_with(needed)), "a panel shows {needed}");
    }
    let mut used = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has queries", panel["title"]);
        for target in targets {
            used.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }

    let rules = deploy_file("prometheus/alerts.yml");
    match Command::new("promtool")
        .args(["check", "rules"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/alerts.yml"))
        .output()
    {
        Ok(output) => assert!(
            output.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => {
            // No promtool here: check the structure by hand.
            assert!(rules.contains("groups:") && rules.contains("rules:"));
            let alerts = rules.matches("- alert:").count();
            assert!(alerts >= 4 && rules.matches("expr:").count() == alerts, "every alert has an expression");
        }
    }
    for alert in ["OrdoHighLatencyP99", "OrdoHighErrorRate", "OrdoQueueBacklogOld", "OrdoDeadJobs"] {
        assert!(rules.contains(&format!("alert: {alert}")), "{alert} is defined");
    }
    used.extend(metric_names(&rules));

    let unknown: Vec<_> = used.iter().filter(|m| !families.contains(*m)).collect();
    assert!(unknown.is_empty(), "the dashboard or rules query metrics Ordo does not export: {unknown:?}");
}
