//! The ledger: the trial balance at any instant, per account, market and
//! currency, with its totals.

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::NaiveTime;
use maud::html;
use ordo_domain::money::Currency;
use ordo_service::Services;
use serde::Deserialize;

use super::page::{money, parse_day, shell, when};
use super::{AdminResult, Staff};
use crate::auth::LedgerRead;
use crate::error::ApiError;

pub(super) fn routes() -> Router<Services> {
    Router::new().route("/admin/ledger", get(trial_balance))
}

#[derive(Debug, Default, Deserialize)]
struct BalanceQuery {
    /// The end of this day (`YYYY-MM-DD`); now if absent.
    on: Option<String>,
}

async fn trial_balance(
    Staff { staff, .. }: Staff<LedgerRead>,
    State(services): State<Services>,
    Query(query): Query<BalanceQuery>,
) -> AdminResult<Response> {
    let at = match query.on.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let day = parse_day(v).map_err(|m| ApiError::invalid_query("on".into(), "invalid_date", m))?;
            day.succ_opt().map(|d| d.and_time(NaiveTime::MIN).and_utc())
        }
    };
    let balance = services.ledger.trial_balance(at).await?;
    let amount = |value: i64, code: &str| match Currency::parse(code) {
        Ok(currency) => money(value, currency),
        Err(_) => format!("{value} {code}"),
    };
    let content = html! {
        h1 { "Trial balance" }
        form.filters method="get" action="/admin/ledger" {
            label { "At the end of" input type="date" name="on" value=[query.on.as_deref()]; }
            button type="submit" { "Show" }
        }
        p.hint { "As of " (when(balance.at)) ". Debit balances are positive, credit balances negative." }
        @if balance.accounts.is_empty() { p { "Nothing is posted yet." } } @else {
            div.table-wrap { table {
                thead { tr { th { "Account" } th { "SKR03" } th { "Market" } th.num { "Balance" } } }
                tbody { @for a in &balance.accounts { tr {
                    td { (a.balance.account) br; small { (a.description) } }
                    td { (a.skr03) }
                    td { (a.balance.market) }
                    td.num { (money(a.balance.balance, a.balance.currency)) }
                } } }
            } }
            h2 { "Totals" }
            div.table-wrap { table {
                thead { tr { th { "Currency" } th.num { "Debits" } th.num { "Credits" } } }
                tbody { @for t in &balance.totals { tr {
                    td { (t.currency) } td.num { (amount(t.debits, &t.currency)) } td.num { (amount(t.credits, &t.currency)) }
                } } }
            } }
        }
    };
    Ok(shell(&staff, "/admin/ledger", "Trial balance", &content).into_response())
}
