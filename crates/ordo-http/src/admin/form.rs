//! Forms that edit a record: their values and each field's problem
//! ([`FormState`]), the edit and create forms' frames, and the answer to a
//! submitted one (a redirect once done, or the form again with what was
//! refused beside its fields).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ordo_domain::validation::FieldError;
use serde::Deserialize;

use super::page::{HtmlPage, csrf_field};
use super::{AdminError, AdminResult, StaffSession};
use crate::error::ApiError;

/// An edit form's values (as stored, or as submitted) and what was wrong
/// with them, so that each field renders with its problem beside it.
#[derive(Debug, Default)]
pub(crate) struct FormState {
    values: BTreeMap<String, String>,
    problems: Vec<FieldError>,
}

impl FormState {
    pub(crate) fn new(values: BTreeMap<String, String>) -> Self {
        Self { values, problems: Vec::new() }
    }

    /// The same values, with the problems a refusal named per field.
    pub(crate) fn with_problems(mut self, problems: &[FieldError]) -> Self {
        self.problems = problems.to_vec();
        self
    }

    pub(crate) fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    pub(crate) fn value(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// The names of the fields that start with `prefix`, in order.
    pub(crate) fn names_with(&self, prefix: &str) -> Vec<String> {
        self.values.keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }

    fn problem_of(&self, name: &str) -> Option<&str> {
        self.problems.iter().find(|p| p.field == name).map(|p| p.message.as_str())
    }

    /// Problems named for no field of this form, shown above it.
    pub(crate) fn unplaced(&self, placed: impl Fn(&str) -> bool) -> Markup {
        html! {
            @for p in self.problems.iter().filter(|p| !placed(&p.field)) {
                p.field-problem role="alert" { @if !p.field.is_empty() { (p.field) ": " } (p.message) }
            }
        }
    }

    /// A labelled input of `kind` (`text`, `email`, `number`…) with its
    /// problem, if any, beside it and tied to it for screen readers.
    pub(crate) fn input(&self, label: &str, name: &str, kind: &str, attrs: &FieldAttrs) -> Markup {
        let problem = self.problem_of(name);
        let described = problem.map(|_| format!("{name}-problem"));
        html! {
            div.field {
                label for=(name) { (label) }
                @if kind == "textarea" {
                    textarea id=(name) name=(name) rows="4" maxlength=[attrs.maxlength]
                        aria-invalid=[problem.map(|_| "true")] aria-describedby=[described.as_deref()] { (self.value(name)) }
                } @else {
                    input id=(name) type=(kind) name=(name) value=(self.value(name)) required[attrs.required]
                        maxlength=[attrs.maxlength] size=[attrs.size] inputmode=[attrs.inputmode]
                        aria-invalid=[problem.map(|_| "true")] aria-describedby=[described.as_deref()];
                }
                @if let Some(problem) = problem {
                    p.field-problem id={ (name) "-problem" } role="alert" { (problem) }
                }
            }
        }
    }

    /// A labelled select of `options` (`(value, label)`) with its problem.
    pub(crate) fn select(&self, label: &str, name: &str, options: &[(&str, &str)]) -> Markup {
        let problem = self.problem_of(name);
        html! {
            div.field {
                label for=(name) { (label) }
                select id=(name) name=(name) aria-invalid=[problem.map(|_| "true")]
                    aria-describedby=[problem.map(|_| format!("{name}-problem"))] {
                    @for (value, text) in options {
                        option value=(value) selected[self.value(name) == *value] { (text) }
                    }
                }
                @if let Some(problem) = problem {
                    p.field-problem id={ (name) "-problem" } role="alert" { (problem) }
                }
            }
        }
    }
}

/// Optional attributes of a form field.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FieldAttrs {
    pub(crate) required: bool,
    pub(crate) maxlength: Option<usize>,
    pub(crate) size: Option<usize>,
    pub(crate) inputmode: Option<&'static str>,
}

/// A form's fields by name, for forms whose fields vary (a price per
/// currency, an address per index).
#[derive(Debug, Deserialize)]
pub(crate) struct Fields {
    #[serde(flatten)]
    pub(crate) fields: BTreeMap<String, String>,
}

/// A button that names the version its record was read at (archive).
#[derive(Debug, Deserialize)]
pub(crate) struct VersionForm {
    #[serde(default)]
    version: String,
}

impl VersionForm {
    /// The version, if the form carried one (any version otherwise).
    pub(crate) fn version(&self) -> Option<i64> {
        self.version.trim().parse().ok()
    }
}

/// A record's edit form (posted to `action`, carrying the version it was
/// read at) and its archive button (posted to `action/archive`).
pub(crate) fn edit_and_archive(
    staff: &StaffSession,
    action: &str,
    form: &FormState,
    placed: fn(&str) -> bool,
    fields: &Markup,
    archive: &str,
) -> Markup {
    html! {
        h2 { "Edit" }
        form.stack method="post" action=(action) novalidate {
            (csrf_field(staff))
            input type="hidden" name="version" value=(form.value("version"));
            (form.unplaced(placed))
            (fields)
            div { button type="submit" { "Save" } }
        }
        form method="post" action={ (action) "/archive" } {
            (csrf_field(staff))
            input type="hidden" name="version" value=(form.value("version"));
            button.danger type="submit" { (archive) }
        }
    }
}

/// A form that creates a record, posted to `action`.
pub(crate) fn create_form(
    staff: &StaffSession,
    action: &str,
    form: &FormState,
    placed: fn(&str) -> bool,
    fields: &Markup,
) -> Markup {
    html! {
        form.stack method="post" action=(action) novalidate {
            (csrf_field(staff))
            (form.unplaced(placed))
            (fields)
            div { button type="submit" { "Create" } }
        }
    }
}

/// Answers a submitted form: on to the page `result` names, or, refused,
/// the form again as `page` renders it, with what was typed and each
/// problem beside its field (a problem that is not a field's, such as a
/// conflict, goes above it) and the status the API would answer.
pub(crate) async fn answer(
    result: Result<String, ApiError>,
    form: FormState,
    page: impl AsyncFnOnce(&FormState, Option<&ApiError>) -> AdminResult<HtmlPage>,
) -> AdminResult<Response> {
    let problem = match result {
        Ok(to) => return Ok(Redirect::to(&to).into_response()),
        Err(problem) if problem.status().is_server_error() => return Err(AdminError::Problem(problem)),
        Err(problem) => problem,
    };
    let form = form.with_problems(problem.field_errors());
    let notice = (problem.status() != StatusCode::UNPROCESSABLE_ENTITY).then_some(&problem);
    Ok((problem.status(), page(&form, notice).await?).into_response())
}
