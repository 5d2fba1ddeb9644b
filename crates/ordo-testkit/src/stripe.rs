//! A local stand-in for Stripe's API, for contract tests of Ordo's Stripe
//! adapter (not a live test: no request leaves the machine).
//!
//! It asserts each request's wire format as Stripe documents it (a `POST`
//! with a form-encoded body, `Authorization: Bearer <key>`, the pinned
//! `Stripe-Version`, an `Idempotency-Key`), records every request, and
//! answers with Stripe-shaped objects and error objects. Like Stripe, it
//! applies each idempotency key's effect once and replays the first answer
//! to a repeated key, so [`FakeStripe::effects`] counts the money moved per
//! key however often Ordo asks. Faults can be queued: a 429, a 500, a
//! refusal, or an answer held back after the effect was applied (so that a
//! client times out, or is killed, with the money already moved).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The API version Ordo must pin.
pub const API_VERSION: &str = ordo_service::payments::stripe::API_VERSION;
/// The secret key the fake accepts.
pub const SECRET_KEY: &str = "sk_test_ordo_contract";

/// A fault applied to the next request whose path contains `path`.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429, `rate_limit`.
    RateLimited,
    /// 500, `api_error`.
    ServerError,
    /// 400, `invalid_request_error`: refused for good.
    Refused,
    /// The request is applied, then its answer is held back this long.
    Slow(Duration),
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: Vec<(String, String)>,
    /// Whether the answer was a replay of an earlier one with the same key.
    pub replayed: bool,
}

impl Recorded {
    /// The form field `name`'s value.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A request's form and the answer it got (status and body).
type Answered = (Vec<(String, String)>, u16, Value);

#[derive(Debug, Default)]
struct Inner {
    requests: Vec<Recorded>,
    violations: Vec<String>,
    /// Answers by idempotency key, with the form they answered.
    answers: HashMap<String, Answered>,
    effects: HashMap<String, u32>,
    intents: HashMap<String, Value>,
    faults: VecDeque<(String, Fault)>,
    next_id: u64,
}

/// The running fake; stops when dropped.
#[derive(Debug)]
pub struct FakeStripe {
    url: String,
    inner: Arc<Mutex<Inner>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeStripe {
    /// Starts the fake on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Stripe");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner, server }
    }

    /// Its base URL, for `payments.stripe_api_base`.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `fault` for the next request whose path contains `path`.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.inner().faults.push_back((path.to_owned(), fault));
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner().requests.clone()
    }

    /// The requests whose path contains `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.contains(path)).collect()
    }

    /// Wire-format violations seen (empty when Ordo spoke Stripe's format).
    pub fn violations(&self) -> Vec<String> {
        self.inner().violations.clone()
    }

    /// How often the effect of the call with this key was applied.
    pub fn effects(&self, idempotency_key: &str) -> u32 {
        self.inner().effects.get(idempotency_key).copied().unwrap_or(0)
    }

    /// All effects applied, by key.
    pub fn all_effects(&self) -> HashMap<String, u32> {
        self.inner().effects.clone()
    }

    /// A PaymentIntent as the fake holds it.
    pub fn intent(&self, id: &str) -> Option<Value> {
        self.inner().intents.get(id).cloned()
    }
}

fn error(status: u16, kind: &str, code: &str, message: &str) -> (u16, Value) {
    (status, json!({"error": {"type": kind, "code": code, "message": message}}))
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = uri.path().to_owned();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let key = header("idempotency-key");
    let (answer, hold) = {
        let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut violations = Vec::new();
        if method != Method::POST {
            violations.push(format!("{method} {path}: Ordo only POSTs"));
        }
        if !header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
            violations.push(format!("{path}: the body is not form-encoded: {:?}", header("content-type")));
        }
        if header("stripe-version").as_deref() != Some(API_VERSION) {
            violations.push(format!("{path}: Stripe-Version is {:?}, not {API_VERSION}", header("stripe-version")));
        }
        if key.is_none() {
            violations.push(format!("{path}: a POST without an Idempotency-Key"));
        }
        let authorised = header("authorization").as_deref() == Some(&format!("Bearer {SECRET_KEY}"));
        if !authorised {
            violations.push(format!("{path}: not authorised with the secret key"));
        }
        inner.violations.extend(violations);
        let replay = key.as_ref().and_then(|k| inner.answers.get(k).cloned());
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            idempotency_key: key.clone(),
            form: form.clone(),
            replayed: replay.is_some(),
        });
        let fault = inner.faults.iter().position(|(p, _)| path.contains(p.as_str()));
        let fault = fault.and_then(|i| inner.faults.remove(i)).map(|(_, f)| f);
        match (fault, replay) {
            _ if !authorised => {
                (error(401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided"), None)
            }
            (Some(Fault::RateLimited), _) => {
                (error(429, "invalid_request_error", "rate_limit", "Too many requests hit the API too quickly."), None)
            }
            (Some(Fault::ServerError), _) => (error(500, "api_error", "", "An unknown error occurred"), None),
            (Some(Fault::Refused), _) => {
                (error(400, "invalid_request_error", "parameter_invalid", "The request was refused."), None)
            }
            (fault, Some((first_form, status, body))) => {
                let answer = if first_form == form {
                    (status, body)
                } else {
                    error(
                        400,
                        "idempotency_error",
                        "idempotency_key_in_use",
                        "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    )
                };
                (answer, fault)
            }
            (fault, None) => {
                let answer = apply(&mut inner, &path, &form);
                if let Some(key) = &key {
                    if (200..300).contains(&answer.0) || answer.0 == 402 || answer.0 == 400 {
                        inner.answers.insert(key.clone(), (form.clone(), answer.0, answer.1.clone()));
                    }
                    if (200..300).contains(&answer.0) {
                        *inner.effects.entry(key.clone()).or_default() += 1;
                    }
                }
                (answer, fault)
            }
        }
    };
    if let Some(Fault::Slow(delay)) = hold {
        tokio::time::sleep(delay).await;
    }
    let (status, body) = answer;
    let mut response =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), axum::Json(body)).into_response();
    if status == 429 || status >= 500 {
        response.headers_mut().insert("stripe-should-retry", "true".parse().expect("a header value"));
    }
    response
}

/// Applies a request's effect to the fake's objects; its answer.
fn apply(inner: &mut Inner, path: &str, form: &[(String, String)]) -> (u16, Value) {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let amount = |name: &str| field(name).and_then(|v| v.parse::<i64>().ok());
    inner.next_id += 1;
    let n = inner.next_id;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "payment_intents"] => {
            let Some(amount) = amount("amount").filter(|a| *a > 0) else {
                return error(400, "invalid_request_error", "parameter_missing", "Missing required param: amount.");
            };
            if field("capture_method").as_deref() != Some("manual") || field("confirm").as_deref() != Some("true") {
                return error(400, "invalid_request_error", "parameter_invalid", "Ordo asks for manual capture.");
            }
            let token =
                field("payment_method_data[card][token]").or_else(|| field("payment_method")).unwrap_or_default();
            if token.contains("chargeDeclined") {
                let decline =
                    if token.contains("InsufficientFunds") { "insufficient_funds" } else { "generic_decline" };
                return (
                    402,
                    json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": decline,
                        "message": "Your card was declined."}}),
                );
            }
            let id = format!("pi_fake{n}");
            let intent = json!({
                "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": amount,
                "amount_received": 0, "currency": field("currency"), "capture_method": "manual",
                "status": "requires_capture", "metadata": {"order_id": field("metadata[order_id]")},
            });
            inner.intents.insert(id, intent.clone());
            (200, intent)
        }
        ["v1", "payment_intents", id, action @ ("capture" | "cancel")] => {
            let Some(intent) = inner.intents.get_mut(*id) else {
                return error(404, "invalid_request_error", "resource_missing", "No such payment_intent");
            };
            if intent["status"] != "requires_capture" {
                return error(
                    400,
                    "invalid_request_error",
                    "payment_intent_unexpected_state",
                    "This PaymentIntent's status does not allow it.",
                );
            }
            let capturable = intent["amount_capturable"].as_i64().unwrap_or(0);
            if *action == "cancel" {
                intent["status"] = json!("canceled");
                intent["amount_capturable"] = json!(0);
                return (200, intent.clone());
            }
            let take = amount("amount_to_capture").unwrap_or(capturable);
            if take <= 0 || take > capturable {
                return error(400, "invalid_request_error", "amount_too_large", "More than the capturable amount.");
            }
            let received = intent["amount_received"].as_i64().unwrap_or(0) + take;
            intent["amount_received"] = json!(received);
            if field("final_capture").as_deref() == Some("false") {
                intent["amount_capturable"] = json!(capturable - take);
            } else {
                intent["amount_capturable"] = json!(0);
                intent["status"] = json!("succeeded");
            }
            (200, intent.clone())
        }
        ["v1", "refunds"] => {
            let intent_id = field("payment_intent").unwrap_or_default();
            let Some(intent) = inner.intents.get_mut(&intent_id) else {
                return error(404, "invalid_request_error", "resource_missing", "No such payment_intent");
            };
            let received = intent["amount_received"].as_i64().unwrap_or(0);
            let refunded = intent["amount_refunded"].as_i64().unwrap_or(0);
            let take = amount("amount").unwrap_or(received - refunded);
            if take <= 0 || take > received - refunded {
                return error(400, "invalid_request_error", "amount_too_large", "More than the refundable amount.");
            }
            intent["amount_refunded"] = json!(refunded + take);
            (
                200,
                json!({"id": format!("re_fake{n}"), "object": "refund", "amount": take,
                    "payment_intent": intent_id, "status": "succeeded"}),
            )
        }
        _ => error(404, "invalid_request_error", "resource_missing", "Unrecognized request URL"),
    }
}
