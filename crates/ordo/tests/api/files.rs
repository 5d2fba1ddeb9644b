//! Documents on object storage and their signed download links, on the
//! local file store (the S3 store is tested against a real S3 server in
//! `tests/s3.rs`).

use std::time::Duration;

use futures::TryStreamExt;
use ordo::config::{FilesBackend, FilesConfig, Secret};
use ordo_testkit::fixtures::{order_body, shop};
use ordo_testkit::{StatusCode, TestApp, backend_tests};
use serde_json::{Value, json};

use crate::stripe::order_when;

backend_tests!(an_invoice_pdf_is_stored_and_downloaded_through_a_signed_link_until_it_expires);

/// Places an order paid by card and returns its invoice's id, once the
/// jobs have issued it.
async fn paid_order_invoice(app: &TestApp) -> String {
    let shop = shop(app).await;
    let mut body = order_body(&shop, json!([{"sku": "TEE", "quantity": 1}]));
    body["payment_token"] = json!("tok_approve");
    let order = app.post("/v1/orders", &body).await.expect(StatusCode::CREATED);
    let order_id = order["id"].as_str().unwrap();
    order_when(app, order_id, "paid").await;
    invoice_of(app, order_id).await["id"].as_str().unwrap().to_owned()
}

/// The invoice of a paid order, once its job has issued it.
pub(crate) async fn invoice_of(app: &TestApp, order_id: &str) -> Value {
    for _ in 0..250 {
        let invoices = app.get(&format!("/v1/invoices?order_id={order_id}")).await.expect(StatusCode::OK);
        if let Some(invoice) = invoices["items"].as_array().unwrap().first() {
            return invoice.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("order {order_id} was never invoiced");
}

async fn an_invoice_pdf_is_stored_and_downloaded_through_a_signed_link_until_it_expires(app: TestApp) {
    let backend = app.backend();
    drop(app);
    let Some(app) = TestApp::spawn_with(backend, |c| {
        c.workers.enabled = true;
        c.files.link_ttl_ms = 2000;
    })
    .await
    else {
        return;
    };
    let invoice_id = paid_order_invoice(&app).await;

    // Issuing the invoice stored its PDF in the file store's folder.
    let stored = app.db.files_dir().join("invoices").join(format!("{invoice_id}.pdf"));
    let (_, _, pdf) = app.get_bytes(&format!("/v1/invoices/{invoice_id}"), "application/pdf").await;
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    assert_eq!(std::fs::read(&stored).expect("the PDF is on the file store"), pdf);

    let link = app.get(&format!("/v1/invoices/{invoice_id}/link")).await.expect(StatusCode::OK);
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&app.url(&format!("/files/invoices%2F{invoice_id}.pdf?expires="))), "{url}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(link["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires_at.signed_duration_since(chrono::Utc::now());
    assert!(ttl > chrono::Duration::zero() && ttl <= chrono::Duration::seconds(2), "expires in {ttl}");

    // No API key: the signature is the authority.
    let anyone = reqwest::Client::new();
    let got = anyone.get(url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    assert!(got.headers()["content-disposition"].to_str().unwrap().contains(&format!("{invoice_id}.pdf")));
    assert_eq!(got.bytes().await.unwrap().to_vec(), pdf);

    // A changed signature, expiry or key is refused with a problem.
    let (before, signature) = url.rsplit_once("signature=").unwrap();
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = [
        format!("{before}signature={flipped}{}", &signature[1..]),
        url.replace("expires=", "expires=9"),
        url.replace(&format!("{invoice_id}.pdf"), "other.pdf"),
        format!("{before}signature=xyz"),
    ];
    for bad in tampered {
        let refused = anyone.get(&bad).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{bad}");
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let problem: Value = refused.json().await.unwrap();
        assert_eq!(problem["code"], "link_refused", "{problem}");
    }
    // Missing or malformed link parameters are a 400, not a file.
    let bare = url.split_once('?').unwrap().0;
    let refused = anyone.get(bare).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");

    // After its expiry the same link is refused.
    let wait = expires_at.signed_duration_since(chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(200)).await;
    let expired = anyone.get(url).send().await.unwrap();
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let problem: Value = expired.json().await.unwrap();
    assert_eq!(problem["detail"], "the link has expired", "{problem}");

    // An unknown invoice has no link.
    app.get(&format!("/v1/invoices/{}/link", uuid::Uuid::now_v7()))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
}

/// The S3 settings of the test server `scripts/test` starts (s3rver), or
/// `None` to skip: S3 tests are required when `ORDO_TEST_REQUIRE_S3=1`.
fn s3(link_ttl_ms: u64) -> Option<FilesConfig> {
    let Ok(endpoint) = std::env::var("ORDO_TEST_S3_URL") else {
        assert!(
            std::env::var("ORDO_TEST_REQUIRE_S3").as_deref() != Ok("1"),
            "ORDO_TEST_REQUIRE_S3=1 but ORDO_TEST_S3_URL is not set"
        );
        eprintln!("skipped: ORDO_TEST_S3_URL is not set (scripts/test starts s3rver when npm is installed)");
        return None;
    };
    Some(FilesConfig {
        backend: FilesBackend::S3,
        s3_endpoint: endpoint,
        s3_bucket: std::env::var("ORDO_TEST_S3_BUCKET").unwrap_or_else(|_| "ordo-test".to_owned()),
        s3_access_key_id: "S3RVER".to_owned(),
        s3_secret_access_key: Secret::new("S3RVER"),
        s3_allow_http: true,
        link_ttl_ms,
        ..FilesConfig::default()
    })
}

async fn read_all(body: ordo_service::files::FileBody) -> Vec<u8> {
    body.bytes
        .try_fold(Vec::new(), |mut all, bytes| async move {
            all.extend_from_slice(&bytes);
            Ok(all)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_s3_store_uploads_in_parts_and_its_presigned_links_expire() {
    let Some(config) = s3(1000) else { return };
    let files = ordo::storage::files(&config).unwrap();
    let key = format!("tests/{}.csv", uuid::Uuid::now_v7());
    // 12 MiB in 64 KiB pieces: a multipart upload of three parts.
    let piece: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let body = futures::stream::iter((0..192).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(piece.clone()))));
    assert_eq!(files.put_stream(&key, body).await.unwrap(), 12 * 1024 * 1024);
    assert!(files.exists(&key).await.unwrap());
    let stored = read_all(files.get(&key).await.unwrap()).await;
    assert_eq!(stored.len(), 12 * 1024 * 1024);
    assert!(stored.chunks(piece.len()).all(|chunk| chunk == piece.as_slice()), "read back as written");

    let link = files.link(&key, "http://unused", chrono::Utc::now()).await.unwrap();
    assert!(link.url.starts_with(&config.s3_endpoint), "S3's own presigned URL: {}", link.url);
    assert!(link.url.contains("X-Amz-Signature="), "{}", link.url);
    let anyone = reqwest::Client::new();
    let got = anyone.get(&link.url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().len(), 12 * 1024 * 1024);

    // (s3rver checks a presigned link's access key and expiry, not its
    // V4 signature, so tampering is tested on the local store only.)
    // Presigned for one second (X-Amz-Expires counts whole seconds).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(anyone.get(&link.url).send().await.unwrap().status(), StatusCode::FORBIDDEN, "expired");

    assert!(!files.exists("tests/never-written.csv").await.unwrap());
    assert!(matches!(files.get("tests/never-written.csv").await, Err(ordo_service::files::FileError::NotFound(_))));
}

/// The server on the S3 store: issuing an invoice stores its PDF in the
/// bucket and its link is S3's.
#[tokio::test]
async fn an_invoice_pdf_is_stored_on_s3_and_linked_there() {
    let Some(files) = s3(60_000) else { return };
    let Some(app) = TestApp::spawn_with(ordo_testkit::Backend::Sqlite, |c| {
        c.workers.enabled = true;
        c.files = files.clone();
    })
    .await
    else {
        return;
    };
    let invoice_id = paid_order_invoice(&app).await;
    let (_, _, pdf) = app.get_bytes(&format!("/v1/invoices/{invoice_id}"), "application/pdf").await;

    // The job stores the PDF just after the invoice commits: wait for it.
    let store = ordo::storage::files(&files).unwrap();
    let key = format!("invoices/{invoice_id}.pdf");
    let mut stored = Vec::new();
    for _ in 0..250 {
        if let Ok(body) = store.get(&key).await {
            stored = read_all(body).await;
            if stored == pdf {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored, pdf, "in the bucket");
    let link = app.get(&format!("/v1/invoices/{invoice_id}/link")).await.expect(StatusCode::OK);
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&files.s3_endpoint), "{url}");
    let got = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().to_vec(), pdf);
}
