//! Authentication, the permission matrix on every route, and rate limits.

use ordo_domain::auth::{Permission, Role};
use ordo_testkit::{Method, StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

backend_tests!(every_route_requires_a_key_and_enforces_the_matrix, refused_keys_all_get_the_same_401);

/// Routes that answer without a key.
/// Public: the probes, and Stripe's events (authenticated by their
/// signature, tested in `stripe.rs`).
const PUBLIC: [&str; 4] = ["/healthz", "/readyz", "/hooks/stripe", "/files/{key}"];

async fn every_route_requires_a_key_and_enforces_the_matrix(app: TestApp) {
    let spec = app.get("/openapi.json").await.expect(StatusCode::OK);
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, TestApp::client_with_key(&app.key_for(role).await)));
    }
    let product = app.post("/v1/products", &json!({"sku": "M-1", "name": "Matrix"})).await.expect(StatusCode::CREATED);
    let id = product["id"].as_str().unwrap().to_owned();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let concrete = path.replace("{id}", &id).replace("{code}", "XX").replace("{sku}", "M-1");
            let method: Method = method.to_uppercase().parse().unwrap();
            let Some(scope) = operation["security"][0]["api_key"][0].as_str() else {
                assert!(PUBLIC.contains(&path.as_str()), "{method} {path} documents no permission but is not public");
                continue;
            };
            let permission =
                Permission::from_scope(scope).unwrap_or_else(|| panic!("{method} {path}: unknown scope {scope}"));
            let url = app.url(&concrete);
            let send = |client: &reqwest::Client| {
                client.request(method.clone(), &url).header("content-type", "application/json").body("{}").send()
            };
            let anonymous = send(&app.anonymous).await.unwrap();
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a key");
            assert_eq!(anonymous.headers()["www-authenticate"], "Bearer realm=\"ordo\"");
            for (role, client) in &keys {
                let response = send(client).await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                if role.allows(permission) {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{role} may {method} {path}: {status} {body}"
                    );
                } else {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not {method} {path}: {body}");
                    assert_eq!(body["code"], "forbidden");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30 * Role::ALL.len(), "every route was walked with every role ({checked})");
    app.anonymous.get(app.url("/v1/no-such-route")).send().await.map(|r| assert_eq!(r.status(), 401)).unwrap();
}

async fn refused_keys_all_get_the_same_401(app: TestApp) {
    let (expired, _) = {
        let (key, token) = app
            .services
            .keys
            .create_key(
                &ordo_domain::audit::Actor::system("test"),
                "soon",
                Role::Viewer,
                Some(ordo_domain::time::now() + chrono::Duration::milliseconds(300)),
            )
            .await
            .unwrap();
        (token.expose().to_owned(), key)
    };
    let revoked = app.key_for(Role::Viewer).await;
    let revoked_id = uuid::Uuid::parse_str(&revoked[5..37]).unwrap();
    let viewer = TestApp::client_with_key(&revoked);
    assert_eq!(viewer.get(app.url("/v1/products")).send().await.unwrap().status(), 200, "works before revocation");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let keys = app.services.keys.list_keys().await.unwrap();
    let used = keys.iter().find(|k| k.id == revoked_id).unwrap();
    assert!(used.last_used_at.is_some(), "the key's last use is recorded");
    app.services.keys.revoke_key(&ordo_domain::audit::Actor::system("test"), revoked_id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;

    let good = app.admin_key.clone();
    let wrong_secret = format!("{}{}", &good[..good.len() - 4], if good.ends_with("AAAA") { "BBBB" } else { "AAAA" });
    let unknown = format!("ordo_{}_{}", uuid::Uuid::now_v7().simple(), &good[good.len() - 43..]);
    let mut bodies = Vec::new();
    for (what, header) in [
        ("malformed", "Bearer not-a-key".to_owned()),
        ("wrong scheme", format!("Basic {good}")),
        ("wrong secret", format!("Bearer {wrong_secret}")),
        ("unknown", format!("Bearer {unknown}")),
        ("expired", format!("Bearer {expired}")),
        ("revoked", format!("Bearer {revoked}")),
    ] {
        let response = app.anonymous.get(app.url("/v1/products")).header("authorization", header).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "no answer reveals whether a key exists: {bodies:?}");
    assert!(bodies[0].contains("\"code\":\"unauthenticated\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after_and_ratelimit_headers() {
    let app = TestApp::spawn_with(ordo_testkit::Backend::Sqlite, |c| {
        c.rate_limit.viewer_per_second = 1;
        c.rate_limit.viewer_burst = 3;
    })
    .await
    .unwrap();
    let viewer = TestApp::client_with_key(&app.key_for(Role::Viewer).await);
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let response = viewer.get(app.url("/v1/products")).send().await.unwrap();
        statuses.push(response.status().as_u16());
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        last = Some(response);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    let limited = last.unwrap();
    assert_eq!(limited.headers()["ratelimit-remaining"], "0");
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers()["content-type"], "application/problem+json");
    let problem: Value = limited.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    // Other keys have their own buckets.
    assert_eq!(app.get("/v1/products").await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(viewer.get(app.url("/v1/products")).send().await.unwrap().status(), 200, "the bucket refills");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rate_limits_off_no_ratelimit_headers_are_sent() {
    let app = TestApp::spawn_with(ordo_testkit::Backend::Sqlite, |c| c.rate_limit.enabled = false).await.unwrap();
    let viewer = TestApp::client_with_key(&app.key_for(Role::Viewer).await);
    for _ in 0..3 {
        let response = viewer.get(app.url("/v1/products")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let announced: Vec<_> =
            response.headers().keys().filter(|name| name.as_str().starts_with("ratelimit")).collect();
        assert!(announced.is_empty(), "no limit, nothing to announce: {announced:?}");
    }
}

#[tokio::test]
async fn cors_is_off_by_default_and_on_for_configured_origins() {
    let app = TestApp::spawn(ordo_testkit::Backend::Sqlite).await.unwrap();
    let preflight = |app: &TestApp| {
        app.anonymous
            .request(Method::OPTIONS, app.url("/v1/products"))
            .header("origin", "https://admin.example")
            .header("access-control-request-method", "POST")
            .send()
    };
    let off = preflight(&app).await.unwrap();
    assert!(off.headers().get("access-control-allow-origin").is_none());
    let app = TestApp::spawn_with(ordo_testkit::Backend::Sqlite, |c| {
        c.server.cors_allowed_origins = vec!["https://admin.example".into()];
    })
    .await
    .unwrap();
    let on = preflight(&app).await.unwrap();
    assert_eq!(on.headers()["access-control-allow-origin"], "https://admin.example");
}
