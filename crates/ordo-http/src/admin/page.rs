//! The admin's page shell, its embedded assets and the formatting every
//! page shares.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use ordo_domain::auth::Permission;
use ordo_domain::money::Currency;
use sha2::{Digest, Sha256};

use super::StaffSession;

/// The style sheet, embedded in the binary.
const CSS: &str = include_str!("../../assets/admin.css");

/// htmx, vendored (see `assets/README.md`): it refreshes the parts of a
/// page that show work in progress ([`live`]). Pages work without it.
const HTMX: &str = include_str!("../../assets/htmx-2.0.11.min.js");

/// `<stem>.<hash>.<extension>`: a file name versioned by its content, so
/// that browsers may cache it for good.
fn versioned(stem: &str, extension: &str, content: &str) -> String {
    let hash = Sha256::digest(content.as_bytes());
    format!("{stem}.{:02x}{:02x}{:02x}{:02x}.{extension}", hash[0], hash[1], hash[2], hash[3])
}

static CSS_FILE: LazyLock<String> = LazyLock::new(|| versioned("admin", "css", CSS));
static HTMX_FILE: LazyLock<String> = LazyLock::new(|| versioned("htmx", "js", HTMX));

/// Serves an embedded asset under its versioned name.
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = if file == *CSS_FILE {
        ("text/css; charset=utf-8", CSS)
    } else if file == *HTMX_FILE {
        ("text/javascript; charset=utf-8", HTMX)
    } else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        ],
        body,
    )
        .into_response()
}

/// `content` as an element `id` that, while `running`, replaces itself
/// every two seconds with the same element of a fresh `url` (htmx fetches
/// the page and keeps only that element). Once the work is done the fresh
/// element no longer polls. Without JavaScript the page says to reload.
pub(crate) fn live(id: &str, url: &str, running: bool, content: &Markup) -> Markup {
    html! {
        @if running {
            div id=(id) hx-get=(url) hx-trigger="every 2s" hx-select={ "#" (id) } hx-swap="outerHTML" {
                (content)
                noscript { p.hint { "This is still running: " a href=(url) { "reload" } " to see how far it is." } }
            }
        } @else {
            div id=(id) { (content) }
        }
    }
}

/// The document around a page's content, without navigation (sign-in,
/// problems).
pub(crate) fn bare(title: &str, content: &Markup) -> HtmlPage {
    HtmlPage(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ordo" }
                link rel="stylesheet" href={ "/admin/assets/" (*CSS_FILE) };
                // No inline styles (the CSP allows none) and no eval.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
                script src={ "/admin/assets/" (*HTMX_FILE) } defer {}
            }
            body { (content) }
        }
    })
}

/// The sections of the navigation, each shown to the roles that may read it.
const SECTIONS: [(&str, &str, Permission); 14] = [
    ("/admin", "Dashboard", Permission::OrdersRead),
    ("/admin/orders", "Orders", Permission::OrdersRead),
    ("/admin/invoices", "Invoices", Permission::InvoicesRead),
    ("/admin/products", "Products", Permission::CatalogRead),
    ("/admin/customers", "Customers", Permission::CustomersRead),
    ("/admin/stock", "Stock", Permission::InventoryRead),
    ("/admin/reports", "Reports", Permission::ReportsRun),
    ("/admin/exports", "Exports", Permission::ExportsRun),
    ("/admin/imports", "Imports", Permission::ImportsRun),
    ("/admin/ledger", "Ledger", Permission::LedgerRead),
    ("/admin/jobs", "Jobs", Permission::JobsRead),
    ("/admin/webhooks", "Webhooks", Permission::WebhooksManage),
    ("/admin/audit", "Audit", Permission::AuditRead),
    ("/admin/keys", "Keys", Permission::KeysManage),
];

/// A signed-in page: navigation for the caller's role, who is signed in,
/// sign-out, and the content.
pub(crate) fn shell(staff: &StaffSession, current: &str, title: &str, content: &Markup) -> HtmlPage {
    bare(
        title,
        &html! {
            header.top {
                a.brand href="/admin" { "Ordo" }
                nav aria-label="Sections" {
                    ul {
                        @for (href, label, permission) in SECTIONS {
                            @if staff.may(permission) {
                                li { a href=(href) aria-current=[(href == current).then_some("page")] { (label) } }
                            }
                        }
                    }
                }
                div.who {
                    span { (staff.principal.name) " (" (staff.principal.role) ")" }
                    form method="post" action="/admin/sign-out" {
                        (csrf_field(staff))
                        button.secondary type="submit" { "Sign out" }
                    }
                }
            }
            main { (content) }
        },
    )
}

/// The hidden field carrying the session's CSRF token; every POST form has one.
pub(crate) fn csrf_field(staff: &StaffSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(staff.session.csrf_token); }
}

/// A rendered page, served as HTML that no one caches.
pub(crate) struct HtmlPage(Markup);

impl IntoResponse for HtmlPage {
    fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                    ),
                ),
            ],
            self.0.into_string(),
        )
            .into_response()
    }
}

/// `1234.56 EUR`: minor units in the currency's decimals, and its code.
pub(crate) fn money(amount: i64, currency: Currency) -> String {
    format!("{} {}", major_units(amount, currency), currency.code())
}

/// `1234.56`: minor units in the currency's decimals, as a form shows an
/// amount to edit (what [`parse_amount`] reads back).
pub(crate) fn major_units(amount: i64, currency: Currency) -> String {
    let exponent = u32::from(currency.exponent());
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let divisor = 10_u64.pow(exponent);
    format!("{sign}{}.{:0width$}", abs / divisor, abs % divisor, width = exponent as usize)
}

/// `2026-12-05 14:03:27 UTC`.
pub(crate) fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A status as a labelled badge.
pub(crate) fn status(value: &str) -> Markup {
    html! { span class={ "status " (value) } { (value.replace('_', " ")) } }
}

/// A small line chart of `points` (oldest first), scaled to its maximum.
pub(crate) fn sparkline(points: &[f64], label: &str) -> Markup {
    let max = points.iter().copied().fold(0.0_f64, f64::max);
    let width = (points.len().max(2) - 1) as f64;
    let coordinates: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = if max > 0.0 { 38.0 - 36.0 * v / max } else { 38.0 };
            format!("{:.1},{y:.1}", 100.0 * i as f64 / width)
        })
        .collect();
    html! {
        svg viewBox="0 0 100 40" preserveAspectRatio="none" role="img" aria-label=(label) {
            polyline points=(coordinates.join(" ")) vector-effect="non-scaling-stroke" {}
        }
    }
}

/// A link to the next page of a list, keeping its filters.
pub(crate) fn next_page(base: &str, query: &[(&str, Option<String>)], cursor: Option<&str>) -> Markup {
    let Some(cursor) = cursor else {
        return html! {};
    };
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (name, value) in query {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            pairs.append_pair(name, value);
        }
    }
    pairs.append_pair("cursor", cursor);
    html! { p.pager { a rel="next" href={ (base) "?" (pairs.finish()) } { "Next page →" } } }
}

/// A problem the services answered, shown at the top of the page it
/// concerns: its title, and its detail or, for several fields, each field's.
pub(crate) fn problem_notice(problem: &crate::error::ApiError) -> Markup {
    html! {
        div.notice role="alert" {
            strong { (problem.title()) }
            @if problem.field_errors().len() > 1 {
                ul { @for e in problem.field_errors() { li { (e.field) ": " (e.message) } } }
            } @else {
                ": " (problem.detail())
            }
        }
    }
}

/// A day typed as `YYYY-MM-DD`, or what is wrong with it.
pub(crate) fn parse_day(value: &str) -> Result<chrono::NaiveDate, String> {
    let value = value.trim();
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| format!("`{value}` is not a date (YYYY-MM-DD)"))
}

/// Minor units from an amount typed in major units (`12.5` EUR is 1250):
/// at most the currency's decimals, no sign.
pub(crate) fn parse_amount(text: &str, currency: Currency) -> Result<i64, String> {
    let exponent = u32::from(currency.exponent());
    let text = text.trim();
    let (units, fraction) = text.split_once('.').map_or((text, None), |(u, f)| (u, Some(f)));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let fraction_fits = fraction.is_none_or(|f| digits(f) && f.len() <= exponent as usize);
    if !digits(units) || !fraction_fits {
        return Err(format!("`{text}` is not an amount in {} with at most {exponent} decimals", currency.code()));
    }
    let scale = 10_i64.pow(exponent);
    let fraction = fraction.map_or(0, |f| f.parse::<i64>().unwrap_or(0) * 10_i64.pow(exponent - f.len() as u32));
    units
        .parse::<i64>()
        .ok()
        .and_then(|u| u.checked_mul(scale))
        .and_then(|u| u.checked_add(fraction))
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// A form's `field` refused with `message`: a 422 as the API answers a
/// field that fails validation, shown beside the field where the page can.
pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> crate::error::ApiError {
    ordo_domain::validation::ValidationErrors::single(field, "invalid_value", message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_in_the_currency_decimals() {
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(parse_amount("12.5", eur), Ok(1250));
        assert_eq!(parse_amount(" 12.05 ", eur), Ok(1205));
        assert_eq!(parse_amount("7", eur), Ok(700));
        assert_eq!(parse_amount("300", jpy), Ok(300));
        for bad in ["", "-1", "1.234", "1,50", "1.", ".5", "abc", "99999999999999999999"] {
            assert!(parse_amount(bad, eur).is_err(), "{bad}");
        }
        assert!(parse_amount("1.5", jpy).is_err());
        assert_eq!(money(-1250, eur), "-12.50 EUR");
        assert_eq!(money(300, jpy), "300 JPY");
    }
}
