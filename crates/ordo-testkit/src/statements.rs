//! Counts the SQL statements each request runs, by request id, from sqlx's
//! own statement log (`sqlx::query` events), so tests can assert that a
//! query costs a bounded number of statements (no N+1) without touching the
//! code under test. A new SQLite connection's set-up (`PRAGMA ...`) is not
//! counted: it depends on the pool's state, not on the query. Commits are
//! counted too (the storage layer's `transaction.commit` spans), so tests
//! can assert how many transactions a request writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The layer; one per test process.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatementCounter {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    commits: Arc<Mutex<HashMap<String, usize>>>,
}

struct RequestId(String);

struct RequestIdVisitor(Option<String>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

/// The statement sqlx logged (its `db.statement` field).
struct StatementVisitor(String);

impl Visit for StatementVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "db.statement" || (self.0.is_empty() && field.name() == "message") {
            self.0 = value.to_owned();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "db.statement" || (self.0.is_empty() && field.name() == "message") {
            self.0 = format!("{value:?}").trim_matches('"').to_owned();
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StatementCounter {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut visitor = RequestIdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(RequestId(request_id));
        }
        if attrs.metadata().name() == "transaction.commit"
            && let Some(span) = ctx.span(id)
        {
            for ancestor in span.scope().from_root() {
                if let Some(RequestId(request)) = ancestor.extensions().get::<RequestId>() {
                    *self.commits.lock().unwrap_or_else(|e| e.into_inner()).entry(request.clone()).or_default() += 1;
                    return;
                }
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut statement = StatementVisitor(String::new());
        event.record(&mut statement);
        if statement.0.trim_start().to_ascii_uppercase().starts_with("PRAGMA") {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else { return };
        for span in scope.from_root() {
            if let Some(RequestId(id)) = span.extensions().get::<RequestId>() {
                *self.counts.lock().unwrap_or_else(|e| e.into_inner()).entry(id.clone()).or_default() += 1;
                return;
            }
        }
    }
}

static COUNTER: OnceLock<StatementCounter> = OnceLock::new();

/// The process's counter.
pub(crate) fn counter() -> StatementCounter {
    COUNTER.get_or_init(StatementCounter::default).clone()
}

/// How many transactions the request with this `X-Request-Id` committed.
pub fn commits_for(request_id: &str) -> usize {
    counter().commits.lock().unwrap_or_else(|e| e.into_inner()).get(request_id).copied().unwrap_or(0)
}

/// How many SQL statements the request with this `X-Request-Id` ran.
pub fn statements_for(request_id: &str) -> usize {
    counter().counts.lock().unwrap_or_else(|e| e.into_inner()).get(request_id).copied().unwrap_or(0)
}
