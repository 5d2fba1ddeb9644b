//! A webhook endpoint inside the test: records every POST's hook name,
//! `Ordo-Event-Id` and the status it answered, and answers 2xx, or 503
//! while told to refuse (an endpoint that is down for a while).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

/// One POST received.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub(crate) hook: String,
    pub(crate) event_id: Option<Uuid>,
    pub(crate) status: u16,
}

#[derive(Debug, Default)]
struct Recorded {
    posts: Vec<Post>,
    refuse_until: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct Receiver {
    /// `http://127.0.0.1:<port>/hook/`: append the hook's name.
    pub(crate) base_url: String,
    recorded: Arc<Mutex<Recorded>>,
    server: tokio::task::JoinHandle<()>,
}

async fn receive(
    State(recorded): State<Arc<Mutex<Recorded>>>,
    Path(hook): Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let event_id = headers.get("ordo-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let mut recorded = recorded.lock().unwrap_or_else(|e| e.into_inner());
    let refusing = recorded.refuse_until.is_some_and(|until| Instant::now() < until);
    let status = if refusing { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::NO_CONTENT };
    recorded.posts.push(Post { hook, event_id, status: status.as_u16() });
    status
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let app = axum::Router::new().route("/hook/{hook}", axum::routing::post(receive)).with_state(recorded.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the webhook receiver");
        let base_url = format!("http://{}/hook/", listener.local_addr().expect("its address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url, recorded, server }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answer 503 to every POST for `how_long` from now.
    pub(crate) fn refuse_for(&self, how_long: Duration) {
        self.lock().refuse_until = Some(Instant::now() + how_long);
    }

    pub(crate) fn posts(&self) -> Vec<Post> {
        self.lock().posts.clone()
    }

    /// (hook, event id) pairs answered 2xx, with how many times.
    pub(crate) fn accepted(&self) -> HashMap<(String, Uuid), usize> {
        let mut accepted = HashMap::new();
        for post in self.posts() {
            if let (true, Some(event)) = ((200..300).contains(&post.status), post.event_id) {
                *accepted.entry((post.hook, event)).or_default() += 1;
            }
        }
        accepted
    }

    /// POSTs of an event the endpoint had already accepted: the resends
    /// at-least-once delivery allows when a process died between the POST
    /// and recording it.
    pub(crate) fn duplicate_posts(&self) -> usize {
        self.accepted().values().map(|n| n - 1).sum()
    }

    /// POSTs without an `Ordo-Event-Id`.
    pub(crate) fn posts_without_event_id(&self) -> usize {
        self.posts().iter().filter(|p| p.event_id.is_none()).count()
    }

    /// Distinct events received at all.
    pub(crate) fn events_seen(&self) -> usize {
        self.posts().iter().filter_map(|p| p.event_id.map(|e| (p.hook.clone(), e))).collect::<HashSet<_>>().len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}
