//! The middleware every request passes, as two tower layers written by hand.
//!
//! axum's `middleware::from_fn` is the convenient way to write a layer, but
//! each one clones the rest of the stack, boxes it and boxes its own future
//! for every request. With six of them (and tower-http's trace and request
//! id layers around them) that was about a third of the instructions of a
//! cached product read (BENCHMARKS.md, "The cached product read"). Here each
//! of the two layers boxes one future per request, and the steps inside it
//! are plain async functions over the rest of the stack ([`Inner`]), so
//! their futures nest without further allocation.
//!
//! From the outside in:
//!
//! - [`ObserveLayer`]: gives the request its id, opens its span, measures
//!   it ([`crate::metrics::measure`]) and echoes the id on the response; a
//!   streamed body is sent in the span.
//! - CORS, when configured: preflights are measured but not authenticated.
//! - axum's `DefaultBodyLimit`, for the body extractors.
//! - [`GuardLayer`]: the edge checks ([`crate::edge::check`]), the time
//!   limit, authentication and rate limits ([`crate::auth::authenticate`]),
//!   and `Idempotency-Key` ([`crate::idempotency::idempotency`]).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use ordo_service::Services;
use tower::{Layer, Service, ServiceExt};
use tracing::Instrument;

use crate::error::ApiError;
use crate::rate_limit::RateLimiter;
use crate::stats::Observer;
use crate::{HttpLimits, edge};

/// The rest of the stack below a layer: the route's handler, and whatever
/// layers sit between.
pub(crate) trait Inner:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + 'static
{
}

impl<S> Inner for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + 'static
{
}

/// Runs the rest of the stack on `request`.
pub(crate) async fn run<S: Inner>(inner: S, request: Request) -> Response {
    let Ok(response) = inner.oneshot(request).await;
    response
}

/// Takes the service `poll_ready` readied, leaving a clone in its place,
/// as tower asks of a service that moves its inner service into a future.
fn take_ready<S: Clone>(slot: &mut S) -> S {
    let clone = slot.clone();
    std::mem::replace(slot, clone)
}

/// See the module's documentation.
#[derive(Clone)]
pub(crate) struct ObserveLayer {
    pub(crate) observer: Arc<Observer>,
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe { observer: self.observer.clone(), inner }
    }
}

#[derive(Clone)]
pub(crate) struct Observe<S> {
    observer: Arc<Observer>,
    inner: S,
}

impl<S: Inner> Service<Request> for Observe<S> {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let inner = take_ready(&mut self.inner);
        let observer = self.observer.clone();
        Box::pin(async move {
            let request_id = edge::request_id(&mut request);
            let span = crate::request_span(&request);
            request.extensions_mut().insert(observer.clone());
            let mut response = async {
                tracing::debug!("request started");
                let response = crate::metrics::measure(&observer, request, inner).await;
                tracing::debug!(status = response.status().as_u16(), "request finished");
                response
            }
            .instrument(span.clone())
            .await;
            crate::record_status(&response, &span);
            response.headers_mut().entry(edge::REQUEST_ID).or_insert(request_id);
            // A streamed body (a CSV read from the database as it is sent)
            // does the request's work after its headers: it does it in the
            // request's span, which stays open until the body is done.
            if !span.is_disabled() && http_body::Body::size_hint(response.body()).exact().is_none() {
                response = response.map(|body| Body::new(InSpan { body, span }));
            }
            Ok(response)
        })
    }
}

/// A response body polled in its request's span.
struct InSpan {
    body: Body,
    span: tracing::Span,
}

impl http_body::Body for InSpan {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        Pin::new(&mut this.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// What [`Guard`] needs, shared by every route's copy of the layer.
pub(crate) struct GuardState {
    pub(crate) limits: HttpLimits,
    pub(crate) services: Services,
    pub(crate) limiter: Arc<dyn RateLimiter>,
}

/// See the module's documentation.
#[derive(Clone)]
pub(crate) struct GuardLayer {
    pub(crate) state: Arc<GuardState>,
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard { state: self.state.clone(), inner }
    }
}

#[derive(Clone)]
pub(crate) struct Guard<S> {
    state: Arc<GuardState>,
    inner: S,
}

impl<S: Inner> Service<Request> for Guard<S> {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let inner = take_ready(&mut self.inner);
        let state = self.state.clone();
        Box::pin(async move {
            if let Err(refusal) = edge::check(state.limits, &mut request) {
                return Ok(refusal.into_response());
            }
            // The time limit covers authentication, the key's claim and the
            // handler, the request's body upload included.
            let limit = state.limits.request_timeout;
            Ok(tokio::time::timeout(limit, crate::auth::authenticate(&state, request, inner))
                .await
                .unwrap_or_else(|_| ApiError::timeout().into_response()))
        })
    }
}
