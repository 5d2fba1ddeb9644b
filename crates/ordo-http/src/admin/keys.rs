//! API keys: the keys with their role and use, creating one (its token
//! shown once, on the answer's page only) and revoking one.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use ordo_domain::auth::{ApiKey, Role};
use ordo_domain::time;
use ordo_service::Services;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, csrf_field, shell, when};
use super::{Action, AdminError, AdminResult, Staff, StaffSession};
use crate::auth::KeysManage;
use crate::error::ApiError;
use crate::routes::parse_id;

pub(super) fn routes() -> Router<Services> {
    Router::new().route("/admin/keys", get(list).post(create)).route("/admin/keys/{id}/revoke", post(revoke))
}

/// Longest expiry offered, in days.
const MAX_DAYS: i64 = 3650;

async fn list(Staff { staff, .. }: Staff<KeysManage>, State(services): State<Services>) -> AdminResult<Response> {
    let keys = services.keys.list_keys().await?;
    Ok(keys_page(&staff, &keys, None, None).into_response())
}

/// The keys page, with a new key's token (`created`) or a refused form's
/// problem at its top.
fn keys_page(
    staff: &StaffSession,
    keys: &[ApiKey],
    created: Option<(&ApiKey, &str)>,
    problem: Option<&ApiError>,
) -> super::page::HtmlPage {
    let now = time::now();
    let content = html! {
        h1 { "API keys" }
        @if let Some((key, token)) = created {
            div.notice.ok role="status" {
                p { "The key " strong { (key.name) } " (" (key.role) ") is made. Copy its token now: it is not shown again." }
                p { label { "Token " input type="text" readonly size="70" value=(token); } }
            }
        }
        @if let Some(problem) = problem {
            (super::page::problem_notice(problem))
        }
        (create_form(staff))
        div.table-wrap { table {
            thead { tr { th { "Name" } th { "Role" } th { "Created" } th { "Last used" } th { "Expires" } th { "State" } th { span.visually-hidden { "Actions" } } } }
            tbody { @for key in keys { tr {
                td { (key.name) br; small { (key.id) } }
                td { (key.role) }
                td { (when(key.created_at)) }
                td { @if let Some(t) = key.last_used_at { (when(t)) } @else { "never" } }
                td { @if let Some(t) = key.expires_at { (when(t)) } @else { "never" } }
                td { @if key.revoked_at.is_some() { "revoked" } @else if key.usable(now).is_err() { "expired" } @else { "active" } }
                td { @if key.revoked_at.is_none() {
                    form method="post" action={ "/admin/keys/" (key.id) "/revoke" } {
                        (csrf_field(staff))
                        button.danger type="submit" aria-label={ "Revoke " (key.name) } { "Revoke" }
                    }
                } }
            } } }
        } }
    };
    shell(staff, "/admin/keys", "API keys", &content)
}

fn create_form(staff: &StaffSession) -> Markup {
    html! {
        form.filters method="post" action="/admin/keys" {
            (csrf_field(staff))
            label { "Name" input type="text" name="name" maxlength="100" required; }
            label { "Role"
                select name="role" { @for role in Role::ALL { option value=(role.as_str()) selected[role == Role::Viewer] { (role.as_str()) } } }
            }
            label { "Expires in days (blank: never)" input type="number" name="expires_in_days" min="1" max=(MAX_DAYS); }
            button type="submit" { "Create key" }
        }
    }
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    role: String,
    #[serde(default)]
    expires_in_days: String,
}

async fn create(State(services): State<Services>, action: Action<KeysManage, CreateForm>) -> AdminResult<Response> {
    let form = &action.form;
    let result = async {
        let role: Role =
            form.role.parse().map_err(|_| page::invalid("role", format!("`{}` is not a role", form.role)))?;
        let expires_at = match form.expires_in_days.trim() {
            "" => None,
            days => {
                let days: i64 = days.parse().ok().filter(|d| (1..=MAX_DAYS).contains(d)).ok_or_else(|| {
                    page::invalid(
                        "expires_in_days",
                        format!("`{days}` is not a whole number of days from 1 to {MAX_DAYS}"),
                    )
                })?;
                Some(time::now() + chrono::Duration::days(days))
            }
        };
        services.keys.create_key(&action.staff.actor(), &form.name, role, expires_at).await.map_err(ApiError::from)
    }
    .await;
    let keys = services.keys.list_keys().await?;
    match result {
        // Answered with the page itself (no redirect): the token is in
        // this answer only, which no one caches.
        Ok((key, token)) => {
            Ok((StatusCode::CREATED, keys_page(&action.staff, &keys, Some((&key, token.expose())), None))
                .into_response())
        }
        Err(problem) if problem.status().is_server_error() => Err(AdminError::Problem(problem)),
        Err(problem) => Ok((problem.status(), keys_page(&action.staff, &keys, None, Some(&problem))).into_response()),
    }
}

async fn revoke(
    State(services): State<Services>,
    Path(id): Path<String>,
    action: Action<KeysManage, super::Button>,
) -> AdminResult<Response> {
    let id: Uuid = parse_id(&id)?;
    services.keys.revoke_key(&action.staff.actor(), id).await?;
    Ok(Redirect::to("/admin/keys").into_response())
}
