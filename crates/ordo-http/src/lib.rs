//! Ordo's REST API over HTTP: the router, its middleware, the error mapping
//! to problem documents, and one module per resource under [`routes`].
//! Handlers parse requests into domain values, call a service and map the
//! result; they hold no business rules and no SQL.
//!
//! The OpenAPI 3.1 document is generated from the handlers themselves
//! (utoipa), so a route cannot exist without being documented: routes are
//! registered through `OpenApiRouter::routes`, which records each one's path
//! item as it adds it.
//!
//! Modules:
//!
//! - `auth`: authentication of every `/v1` request, permissions as types.
//! - `edge`: checks every request passes before anything reads it.
//! - [`error`]: the one API error type, its problem documents and code table.
//! - `extract`: extractors that turn bad input into problem responses.
//! - `idempotency`: the `Idempotency-Key` middleware for `POST`s.
//! - `layers`: the middleware stack every request passes, as two layers.
//! - [`metrics`]: the Prometheus recorder, middleware and `/metrics`.
//! - `openapi`: completes the generated OpenAPI document.
//! - [`rate_limit`]: token buckets per API key, by role.
//! - `admin`: the web admin under `/admin`, server-rendered HTML.
//! - `routes`: one module per resource (`products`, `customers`, `markets`,
//!   `inventory`, `orders`, `invoices`, `payments`, `webhooks`, `jobs`, `audit`,
//!   `admin`, `health`, `schema`), each exporting `routes()`.
//! - [`stats`]: request counts and latency percentiles kept in memory.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, Method, Uri, header};
use axum::response::Response;
use axum::routing::get;
use ordo_service::Services;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_scalar::{Scalar, Servable};

mod admin;
mod auth;
mod edge;
pub mod error;
mod extract;
mod idempotency;
mod layers;
pub mod metrics;
mod openapi;
pub mod rate_limit;
mod routes;
pub mod stats;
mod upload;

pub use error::{ApiError, Problem};
pub use rate_limit::{InProcessRateLimiter, RateLimiter, RoleLimit, Unlimited};

/// Limits the API enforces on every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Largest upload (a settlement report) accepted, in bytes: streamed
    /// to a file, never held in memory.
    pub upload_limit: usize,
    /// Longest a request may take, body upload included.
    pub request_timeout: Duration,
}

/// How the HTTP layer is set up.
#[derive(Clone)]
pub struct HttpSettings {
    pub limits: HttpLimits,
    /// Origins allowed to call the API from a browser; empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// Requests slower than this are logged (0: never).
    pub slow_request_ms: u64,
    /// Whether `/metrics` is served with the API (otherwise it is served on
    /// its own port by [`metrics_router`]).
    pub metrics_on_api_port: bool,
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// `Cache-Control` of catalog reads.
    pub catalog_cache_control: HeaderValue,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("limits", &self.limits)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .finish_non_exhaustive()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ordo",
        description = "Order-to-cash backend: catalog, customers, inventory, orders, payments, invoices and a ledger.\n\n\
            Errors are `application/problem+json` (RFC 9457) with a stable `code`. Lists use keyset pagination: \
            pass `next_cursor` back as `cursor`. Ids are UUIDv7 strings; money is integer minor units with an ISO 4217 code. \
            Updates need the version last read, as `version` in the body or `If-Match`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "catalog", description = "Products and their prices"),
        (name = "customers", description = "Customer accounts and addresses"),
        (name = "markets", description = "Markets: currency, tax rates, shipping and locale"),
        (name = "inventory", description = "Stock locations, stock levels, receipts and adjustments"),
        (name = "orders", description = "Order placement, lifecycle and timeline"),
        (name = "invoices", description = "Invoices of paid orders"),
        (name = "ledger", description = "The books: accounts, journal and trial balance"),
        (name = "reports", description = "Reports compiled in the background into downloadable files"),
        (name = "imports", description = "Bulk imports of products, customers and stock, applied in the background"),
        (name = "exports", description = "Orders, customers and products exported in the background into downloadable files"),
        (name = "payments", description = "Payment records (authorisations, captures, voids, refunds) and refunds"),
        (name = "webhooks", description = "Signed deliveries of domain events"),
        (name = "jobs", description = "The background job queue"),
        (name = "admin", description = "Operating figures"),
        (name = "audit", description = "The audit trail"),
        (name = "health", description = "Liveness and readiness probes"),
    ),
    components(schemas(Problem, ordo_domain::FieldError)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// Declares the bearer API key scheme, its scopes (one per permission) and
/// the role matrix, generated from `ordo_domain::auth::MATRIX`.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let description = format!(
            "An API key, sent as `Authorization: Bearer <key>`. Each operation names the permission (scope) it needs; \
             the roles that hold each permission:\n\n{}",
            ordo_domain::auth::matrix_markdown()
        );
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("ordo API key")
            .description(Some(description))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// The API's routes with their OpenAPI document, before middleware.
fn api(catalog: routes::CatalogCaching) -> (Router<Services>, serde_json::Value) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::routes())
        .merge(routes::products::routes(catalog))
        .merge(routes::customers::routes())
        .merge(routes::markets::routes())
        .merge(routes::inventory::routes())
        .merge(routes::orders::routes())
        .merge(routes::invoices::routes())
        .merge(routes::files::routes())
        .merge(routes::ledger::routes())
        .merge(routes::settlements::routes())
        .merge(routes::reports::routes())
        .merge(routes::imports::routes())
        .merge(routes::exports::routes())
        .merge(routes::payments::routes())
        .merge(routes::returns::routes())
        .merge(routes::webhooks::routes())
        .merge(routes::jobs::routes())
        .merge(routes::admin::routes())
        .merge(routes::audit::routes())
        .split_for_parts();
    (router, openapi::complete(&doc))
}

/// The OpenAPI document describing every route of [`router`].
pub fn openapi() -> serde_json::Value {
    // The header's value is not part of the document.
    api(routes::CatalogCaching(HeaderValue::from_static("no-cache"))).1
}

/// The complete application: API routes, `/openapi.json`, `/docs`, and the
/// middleware stack.
pub fn router(services: Services, settings: &HttpSettings) -> Router {
    let limits = settings.limits;
    // Install the recorder now: what is recorded before it exists is lost.
    let _ = metrics::handle();
    let observer = Arc::new(stats::Observer {
        recent: stats::RecentRequests::default(),
        metrics: metrics::RouteHistograms::default(),
        slow_request_ms: settings.slow_request_ms,
    });
    let guard = layers::GuardState { limits, services: services.clone(), limiter: settings.rate_limiter.clone() };
    let (api, openapi) = api(routes::CatalogCaching(settings.catalog_cache_control.clone()));
    // Serialised once; each request clones a reference-counted buffer.
    let spec = Bytes::from(serde_json::to_vec(&openapi).unwrap_or_default());
    api.route(
        "/openapi.json",
        get(move || {
            let spec = spec.clone();
            async move { ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], spec) }
        }),
    )
    .merge(Scalar::with_url("/docs", openapi))
    .merge(admin::routes(services.clone()))
    .merge(if settings.metrics_on_api_port {
        Router::new().route("/metrics", get(metrics::render))
    } else {
        Router::new()
    })
    .fallback(route_not_found)
    .method_not_allowed_fallback(method_not_allowed)
    .with_state(services)
    // Layers of `Router::layer` wrap each route, inside the routing, so
    // that they know the matched route (for metrics and the span).
    .layer(
        tower::ServiceBuilder::new()
            .layer(layers::ObserveLayer { observer })
            .layer(cors(&settings.cors_allowed_origins))
            .layer(DefaultBodyLimit::max(limits.body_limit))
            .layer(layers::GuardLayer { state: Arc::new(guard) }),
    )
}

/// The span of one request: method, matched route, status and request id,
/// joined to the caller's trace when it sent a W3C `traceparent`.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let route = request.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |p| p.as_str());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        method = %request.method(),
        route,
        uri = %request.uri().path(),
        status = tracing::field::Empty,
        request_id,
    );
    ordo_telemetry::set_parent_from_headers(&span, request.headers());
    span
}

/// Records the answer's status on the request's span.
fn record_status(response: &Response, span: &tracing::Span) {
    span.record("status", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// CORS for the configured origins; with none, no CORS headers at all, so
/// browsers on other origins cannot call the API.
fn cors(origins: &[String]) -> tower::util::Either<CorsLayer, tower::layer::util::Identity> {
    if origins.is_empty() {
        return tower::util::Either::Right(tower::layer::util::Identity::new());
    }
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    tower::util::Either::Left(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                "idempotency-key".parse().expect("valid header name"),
                "x-request-id".parse().expect("valid header name"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                "x-request-id".parse().expect("valid header name"),
            ]),
    )
}

/// A router serving only `/metrics`: for processes without the API
/// (`ordo worker`), for a separate metrics port, and merged into the API.
pub fn metrics_router(services: Services) -> Router {
    let _ = metrics::handle();
    Router::new().route("/metrics", get(metrics::render)).with_state(services)
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::route_not_found(uri.path())
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for requests in flight to finish.
///
/// Its own accept loop over hyper rather than `axum::serve`, which sets no
/// timer and so no header read timeout: a client that sends its headers a
/// byte at a time (a slow-loris) would hold its connection and task for
/// ever. Here a connection whose request headers take longer than
/// `header_read_timeout` is closed (hyper's timer also closes keep-alive
/// connections idle that long).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_read_timeout: Duration,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are written whole; don't hold their last segment back.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed `accept`: a connection that failed before it was taken
/// is the client's problem; anything else (out of file descriptors, most
/// often) is the process's, and accepting at once would spin.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %error, "cannot accept connections; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
