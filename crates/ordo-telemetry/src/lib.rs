//! Tracing plumbing shared by every layer of Ordo.
//!
//! - **Trace context.** W3C `traceparent` is read from incoming HTTP
//!   requests ([`set_parent_from_headers`]), written to outgoing ones
//!   ([`inject_headers`]), and carried across the job queue as a string
//!   ([`current_traceparent`], [`set_parent_from_traceparent`]), so a trace
//!   runs from the request that placed an order through the jobs it
//!   enqueued to the webhook calls they made. All of these do nothing
//!   unless the OpenTelemetry layer is installed (`ordo` installs it when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set).
//! - **Database operations.** Every storage method runs in a span with
//!   target [`DB_TARGET`], named after the operation
//!   (`orders.insert_order`, ...). [`DbMetricsLayer`] turns each such span's
//!   wall time into the `db_query_duration_seconds{operation}` histogram, so
//!   the metric and the trace measure the same thing.
//!
//! One file, no modules: the crate is small enough to read top to bottom.

use std::collections::HashMap;
use std::time::Instant;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::span::{Attributes, Id};
use tracing::{Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Target of database operation spans.
pub const DB_TARGET: &str = "ordo_db";

/// Makes `span` a child of the trace named by the request's `traceparent`
/// (and `tracestate`) headers, if they are present and valid.
pub fn set_parent_from_headers(span: &Span, headers: &http::HeaderMap) {
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
}

/// Writes the current span's trace context as `traceparent` (and
/// `tracestate`) headers.
pub fn inject_headers(headers: &mut http::HeaderMap) {
    let context = Span::current().context();
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    }
}

/// The current span's trace context as a W3C `traceparent` value, to be
/// stored with work that continues elsewhere (a job); `None` when tracing is
/// off or there is no current trace.
pub fn current_traceparent() -> Option<String> {
    let context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace named by a stored `traceparent`.
pub fn set_parent_from_traceparent(span: &Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// Records the duration of every database operation span in the
/// `db_query_duration_seconds` histogram, labelled by `operation` (the
/// span's name, a static string, so recording allocates nothing).
#[derive(Debug, Clone, Copy, Default)]
pub struct DbMetricsLayer;

struct Started(Instant);

impl<S> Layer<S> for DbMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().target() != DB_TARGET {
            return;
        }
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(Started(at)) = span.extensions_mut().remove::<Started>() else { return };
        metrics::histogram!("db_query_duration_seconds", "operation" => span.metadata().name())
            .record(at.elapsed().as_secs_f64());
    }
}
