//! Authentication and authorisation of API requests.
//!
//! Every `/v1` request passes [`authenticate`]: a bearer key is required,
//! checked, and rate-limited; the caller becomes a [`Principal`] in the
//! request's extensions. Each handler then states the permission it needs
//! by taking an [`Authorized<R>`] argument, which answers 403 when the
//! caller's role lacks it. The roles behind each permission come from the
//! one matrix in `ordo_domain::auth::MATRIX`.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, HeaderValue};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ordo_domain::audit::Actor;
use ordo_domain::auth::Permission;
use ordo_service::keys::{AuthError, Principal};

use crate::error::ApiError;
use crate::layers::{GuardState, Inner};
use crate::rate_limit::RateDecision;

/// Requires a valid API key on every `/v1` request, and applies the key's
/// rate limit; then the rest of the stack runs, `Idempotency-Key` first.
pub(crate) async fn authenticate<S: Inner>(state: &GuardState, mut request: Request, inner: S) -> Response {
    if !request.uri().path().starts_with("/v1/") && request.uri().path() != "/v1" {
        return crate::layers::run(inner, request).await; // probes and documentation are public
    }
    let Some(token) = bearer(&request) else {
        return ApiError::unauthenticated().into_response();
    };
    let principal = match state.services.keys.authenticate(token).await {
        Ok(principal) => principal,
        Err(AuthError::Rejected(reason)) => {
            // The reason goes to the log only; the client learns nothing
            // about whether the key exists.
            tracing::info!(?reason, "API key refused");
            return ApiError::unauthenticated().into_response();
        }
        Err(AuthError::Service(e)) => return ApiError::from(e).into_response(),
    };
    let decision = state.limiter.check(principal.key_id, principal.role);
    if !decision.allowed {
        let mut response = ApiError::rate_limited(decision.retry_after_secs).into_response();
        decision.write_headers(response.headers_mut());
        return response;
    }
    request.extensions_mut().insert(principal);
    let mut response = crate::idempotency::idempotency(&state.services, request, inner).await;
    decision.write_headers(response.headers_mut());
    response
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A permission a handler requires, as a type.
pub(crate) trait Requirement {
    const PERMISSION: Permission;
}

macro_rules! requirements {
    ($($name:ident),* $(,)?) => {
        $(
            #[derive(Debug)]
            pub(crate) struct $name;
            impl Requirement for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*
    };
}

requirements!(
    CatalogRead,
    CatalogWrite,
    CustomersRead,
    CustomersWrite,
    MarketsRead,
    MarketsWrite,
    InventoryRead,
    InventoryWrite,
    OrdersRead,
    OrdersWrite,
    InvoicesRead,
    WebhooksManage,
    JobsRead,
    JobsManage,
    OpsRead,
    AuditRead,
    LedgerRead,
    LedgerManage,
    ReportsRun,
    ExportsRun,
    ImportsRun,
    KeysManage,
);

/// The caller, authorised for `R`.
#[derive(Debug)]
pub(crate) struct Authorized<R> {
    pub(crate) principal: Principal,
    request_id: Option<String>,
    _requirement: PhantomData<R>,
}

impl<R> Authorized<R> {
    /// The actor to record in audit events.
    pub(crate) fn actor(&self) -> Actor {
        self.principal.actor(self.request_id.clone())
    }
}

impl<R: Requirement, S: Send + Sync> FromRequestParts<S> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().cloned().ok_or_else(ApiError::unauthenticated)?;
        if !principal.role.allows(R::PERMISSION) {
            return Err(ApiError::forbidden(principal.role, R::PERMISSION));
        }
        let request_id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Self { principal, request_id, _requirement: PhantomData })
    }
}

impl RateDecision {
    /// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
    /// (IETF draft), plus `Retry-After` when refused.
    pub(crate) fn write_headers(&self, headers: &mut axum::http::HeaderMap) {
        if self.is_unlimited() {
            return;
        }
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("ratelimit-reset", HeaderValue::from(self.reset_secs));
        if !self.allowed {
            headers.insert("retry-after", HeaderValue::from(self.retry_after_secs));
        }
    }
}
