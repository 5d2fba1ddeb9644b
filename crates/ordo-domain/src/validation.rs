//! Per-field validation errors, collected so a client sees every problem with
//! a request at once instead of fixing them one round trip at a time.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One problem with one field of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `prices[1].currency`.
    pub field: String,
    /// Stable machine-readable code, e.g. `unknown_currency`. Borrowed when
    /// made here; owned when read back from storage (a recorded refusal).
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    /// Human-readable explanation.
    pub message: String,
}

/// All the field errors found in one input.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", self.summary())]
pub struct ValidationErrors {
    errors: Vec<FieldError>,
}

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding one error.
    pub fn single(field: impl Into<String>, code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, code, message);
        errors
    }

    pub fn add(&mut self, field: impl Into<String>, code: impl Into<Cow<'static, str>>, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), code: code.into(), message: message.into() });
    }

    /// Records the error of `result`, if any, under `field` (replacing the
    /// field name the parser used) and returns the value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(mut error) => {
                error.field = field.to_owned();
                self.errors.push(error);
                None
            }
        }
    }

    /// Moves the errors of `other` in, prefixing their fields with `prefix`.
    pub fn merge(&mut self, prefix: &str, other: ValidationErrors) {
        for mut error in other.errors {
            error.field = if error.field.is_empty() {
                prefix.to_owned()
            } else if error.field.starts_with('[') {
                format!("{prefix}{}", error.field)
            } else {
                format!("{prefix}.{}", error.field)
            };
            self.errors.push(error);
        }
    }

    /// Moves the errors of `other` in, as they are.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.errors.extend(other.errors);
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }

    /// The set of `errors`, as [`Self::into_errors`] gave them.
    pub fn from_errors(errors: Vec<FieldError>) -> Self {
        Self { errors }
    }

    /// `Ok(value)` when no error was recorded.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, ValidationErrors> {
        if self.errors.is_empty() { Ok(value()) } else { Err(self) }
    }

    fn summary(&self) -> String {
        self.errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ")
    }
}

impl FieldError {
    /// An error whose field name is filled in by [`ValidationErrors::check`].
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { field: String::new(), code: Cow::Borrowed(code), message: message.into() }
    }
}

/// Trims `value` and checks that it holds between 1 and `max` characters.
pub fn required_text(value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new("required", "must not be empty"));
    }
    optional_text(trimmed, max)
}

/// Trims `value` and checks that it holds at most `max` characters.
pub fn optional_text(value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(FieldError::new("too_long", format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new("invalid_characters", "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}
