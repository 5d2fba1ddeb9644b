//! The web admin under `/admin`: server-rendered pages (maud) with which
//! staff run the business from a browser, served by the same binary and
//! calling the same services as the API.
//!
//! - Sign-in is with an API key. It opens a session (`ordo_service::keys`)
//!   whose secret the browser keeps in an `HttpOnly`, `SameSite=Strict`
//!   cookie scoped to `/admin` (`Secure` behind TLS); the store keeps only
//!   its hash. The session acts with the key's role and is audited as it.
//! - Every page states the permission it needs with a [`Staff<R>`]
//!   argument, from the API's one matrix: a role that lacks it gets a 403
//!   page, and pages show only the actions the role may take.
//! - Every form that changes something carries the session's CSRF token,
//!   checked by the [`Action`] extractor before anything runs.
//! - Reads are plain links and GET forms, so they work without JavaScript;
//!   actions are POST forms answered by a redirect (post/redirect/get). The
//!   one script, vendored htmx, only refreshes work in progress in place
//!   (`page::live`).
//!
//! Modules: `page` (the shell, assets and formatting), `dashboard`,
//! `orders` (with returns), `invoices` (and credit notes), `stock`,
//! `reports` (and exports), `imports`, `ledger` (and reconciliation),
//! `jobs`, `audit`, `keys`, `catalog` (products and prices), `customers`,
//! `webhooks`.

use std::marker::PhantomData;

use axum::Router;
use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use ordo_domain::audit::Actor;
use ordo_domain::auth::{AdminSession, Permission};
use ordo_service::Services;
use ordo_service::keys::{AuthError, Principal};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::Requirement;
use crate::error::ApiError;

mod audit;
mod catalog;
mod customers;
mod dashboard;
mod form;
pub(crate) mod imports;
mod invoices;
mod jobs;
mod keys;
pub(crate) mod ledger;
mod orders;
mod page;
mod reports;
mod stock;
mod upload;
mod webhooks;

/// The session cookie's name.
const COOKIE: &str = "ordo_admin";

/// How long a session lasts after sign-in.
const SESSION_LIFETIME: chrono::Duration = chrono::Duration::hours(12);

/// The admin's routes: the sign-in page and the assets open to all, every
/// other page behind a session.
pub(crate) fn routes(services: Services) -> Router<Services> {
    let signed_in = Router::new()
        .route("/admin", get(dashboard::show))
        .route("/admin/sign-out", post(sign_out))
        .merge(orders::routes())
        .merge(invoices::routes())
        .merge(jobs::routes())
        .merge(stock::routes())
        .merge(reports::routes())
        .merge(imports::routes())
        .merge(ledger::routes())
        .merge(audit::routes())
        .merge(keys::routes())
        .merge(catalog::routes())
        .merge(customers::routes())
        .merge(webhooks::routes())
        .route_layer(middleware::from_fn_with_state(services, require_session));
    Router::new()
        .route("/admin/sign-in", get(sign_in_page).post(sign_in))
        .route("/admin/assets/{file}", get(page::asset))
        .merge(signed_in)
}

/// The signed-in caller of an admin request.
#[derive(Debug, Clone)]
pub(crate) struct StaffSession {
    pub(crate) principal: Principal,
    pub(crate) session: AdminSession,
    request_id: Option<String>,
}

impl StaffSession {
    pub(crate) fn actor(&self) -> Actor {
        self.principal.actor(self.request_id.clone())
    }

    pub(crate) fn may(&self, permission: Permission) -> bool {
        self.principal.role.allows(permission)
    }
}

/// Loads the session the cookie names into the request; without a live
/// one, the browser goes to the sign-in page.
async fn require_session(State(services): State<Services>, mut request: Request, next: Next) -> Response {
    let Some(cookie) = session_cookie(request.headers()) else {
        return Redirect::to("/admin/sign-in").into_response();
    };
    match services.keys.admin_session(&cookie).await {
        Ok((principal, session)) => {
            let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
            request.extensions_mut().insert(StaffSession { principal, session, request_id });
            next.run(request).await
        }
        Err(AuthError::Rejected(reason)) => {
            tracing::info!(?reason, "admin session refused");
            let mut response = Redirect::to("/admin/sign-in").into_response();
            response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
            response
        }
        Err(AuthError::Service(e)) => AdminError::from(ApiError::from(e)).into_response(),
    }
}

/// The value of the session cookie, if the request carries one.
///
/// Written here rather than with the `cookie` crate: one cookie of a fixed
/// shape is read, and the `Set-Cookie` value is one fixed format string.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn set_cookie(secret: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{COOKIE}={secret}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_LIFETIME.num_seconds()
    );
    HeaderValue::from_str(&value).expect("a session secret is base64url")
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("ordo_admin=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Whether the browser reached Ordo over TLS (through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

/// The caller, signed in and allowed `R`: a page or action that needs `R`
/// takes one. Without the permission: a 403 page.
pub(crate) struct Staff<R> {
    pub(crate) staff: StaffSession,
    _requirement: PhantomData<R>,
}

impl<R: Requirement, S: Send + Sync> FromRequestParts<S> for Staff<R> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let staff = parts.extensions.get::<StaffSession>().cloned().ok_or(AdminError::SignedOut)?;
        if !staff.may(R::PERMISSION) {
            return Err(ApiError::forbidden(staff.principal.role, R::PERMISSION).into());
        }
        Ok(Self { staff, _requirement: PhantomData })
    }
}

/// An action: the caller allowed `R`, and the form `T`, whose CSRF token
/// must be the session's. Checked before the handler runs, so a refused
/// action changes nothing.
pub(crate) struct Action<R, T> {
    pub(crate) staff: StaffSession,
    pub(crate) form: T,
    _requirement: PhantomData<R>,
}

impl<R, T, S> FromRequest<S> for Action<R, T>
where
    R: Requirement,
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Staff::<R> { staff, .. } = Staff::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| AdminError::Problem(ApiError::unreadable_body(rejection.body_text())))?;
        // The token first: a form from elsewhere is refused as such, whatever
        // else it holds.
        let csrf = form_urlencoded::parse(&body).find(|(name, _)| name == "csrf").map(|(_, value)| value);
        if !csrf.is_some_and(|token| staff.session.csrf_matches(&token)) {
            return Err(AdminError::Csrf);
        }
        let form: T = serde_urlencoded::from_bytes(&body)
            .map_err(|e| AdminError::Problem(ApiError::invalid_body(String::new(), e.to_string())))?;
        Ok(Self { staff, form, _requirement: PhantomData })
    }
}

/// A form with no field but the CSRF token (buttons such as "confirm").
#[derive(Debug, Deserialize)]
pub(crate) struct Button {}

/// What an admin request can fail with, shown as a page.
#[derive(Debug)]
pub(crate) enum AdminError {
    /// No session on a page that needs one.
    SignedOut,
    /// A form without this session's CSRF token.
    Csrf,
    /// What the services refused, as the API would answer it.
    Problem(ApiError),
}

impl From<ApiError> for AdminError {
    fn from(error: ApiError) -> Self {
        Self::Problem(error)
    }
}

impl From<ordo_service::ServiceError> for AdminError {
    fn from(error: ordo_service::ServiceError) -> Self {
        Self::Problem(error.into())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            Self::SignedOut => return Redirect::to("/admin/sign-in").into_response(),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused".to_owned(),
                "The form did not carry this session's token. Reload the page and try again.".to_owned(),
            ),
            Self::Problem(error) => {
                if error.status().is_server_error() {
                    tracing::error!(code = error.code(), detail = %error.detail(), "admin page failed");
                }
                (error.status(), error.title().to_owned(), error.detail().to_owned())
            }
        };
        let body = page::bare(
            &title,
            &html! {
                h1 { (title) }
                p.problem role="alert" { (detail) }
                p { a href="/admin" { "Back to the dashboard" } }
            },
        );
        (status, body).into_response()
    }
}

pub(crate) type AdminResult<T> = Result<T, AdminError>;

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    key: String,
}

async fn sign_in_page() -> Response {
    page::bare("Sign in", &sign_in_form(None)).into_response()
}

fn sign_in_form(problem: Option<&str>) -> maud::Markup {
    html! {
        main.sign-in {
            h1 { "Ordo admin" }
            form method="post" action="/admin/sign-in" {
                label for="key" { "API key" }
                input #key type="password" name="key" autocomplete="current-password" required
                    aria-describedby=[problem.map(|_| "key-problem")];
                @if let Some(problem) = problem {
                    p #key-problem.field-problem role="alert" { (problem) }
                }
                button type="submit" { "Sign in" }
            }
            p.hint { "Sign in with an API key: the one `ordo serve` printed at first start, or one made with `ordo keys create`." }
        }
    }
}

async fn sign_in(State(services): State<Services>, headers: HeaderMap, Form(form): Form<SignInForm>) -> Response {
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match services.keys.sign_in(form.key.trim(), request_id, SESSION_LIFETIME).await {
        Ok((_, _, secret)) => {
            let mut response = Redirect::to("/admin").into_response();
            response.headers_mut().insert(header::SET_COOKIE, set_cookie(&secret, over_tls(&headers)));
            response
        }
        Err(AuthError::Rejected(reason)) => {
            tracing::info!(?reason, "admin sign-in refused");
            let body =
                page::bare("Sign in", &sign_in_form(Some("This key is not valid: check it, or ask for a new one.")));
            (StatusCode::UNAUTHORIZED, body).into_response()
        }
        Err(AuthError::Service(e)) => AdminError::from(e).into_response(),
    }
}

async fn sign_out(State(services): State<Services>, action: Action<SignedIn, Button>) -> AdminResult<Response> {
    services.keys.sign_out(&action.staff.actor(), &action.staff.session).await?;
    let mut response = Redirect::to("/admin/sign-in").into_response();
    response.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    Ok(response)
}

/// Any signed-in caller (signing out needs no permission). Every role reads
/// orders, so that permission stands for "signed in".
pub(crate) struct SignedIn;

impl Requirement for SignedIn {
    const PERMISSION: Permission = Permission::OrdersRead;
}
