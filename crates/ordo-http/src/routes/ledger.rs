//! `/v1/ledger`: the books. Accounts with their balances, the journal,
//! and the trial balance at any instant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ordo_domain::ValidationErrors;
use ordo_domain::ledger::{ChartAccount, ClosedPeriod, JournalTransaction, Period, Posting};
use ordo_domain::page::Page;
use ordo_service::ServiceError;
use ordo_service::Services;
use ordo_service::ledger::{Account, CURSOR_SCOPE, NewManualEntry, PeriodSummary, TrialBalance};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Authorized, LedgerManage, LedgerRead};
use crate::error::ApiResult;
use crate::error::codes::{ILLEGAL_TRANSITION, NOT_FOUND, VALIDATION_FAILED};
use crate::extract::{Json, Query};
use crate::routes::{parse_id, parse_page};

pub(crate) fn routes() -> OpenApiRouter<Services> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(list_entries, post_entry))
        .routes(routes!(reverse_entry))
        .routes(routes!(write_off))
        .routes(routes!(chart))
        .routes(routes!(trial_balance))
        .routes(routes!(list_periods))
        .routes(routes!(period_summary))
        .routes(routes!(close_period))
        .routes(routes!(reopen_period))
}

/// Every account with a balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountList {
    items: Vec<Account>,
}

/// The chart's accounts with their balances now, per market and currency
/// (debits positive, credits negative), each with its SKR03 account.
#[utoipa::path(
    get,
    path = "/v1/ledger/accounts",
    tag = "ledger",
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "Accounts with a balance", body = AccountList)),
)]
async fn list_accounts(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
) -> ApiResult<axum::Json<AccountList>> {
    Ok(axum::Json(AccountList { items: services.ledger.accounts().await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListEntries {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(schema_with = crate::routes::schema::cursor)]
    cursor: Option<String>,
    /// Only the transactions of this order.
    order_id: Option<Uuid>,
}

/// The journal: balanced transactions in posting order, one per invoice,
/// credit note, capture and refund, each naming its source.
#[utoipa::path(
    get,
    path = "/v1/ledger/entries",
    tag = "ledger",
    params(ListEntries),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "A page of journal transactions", body = Page<JournalTransaction>)),
)]
async fn list_entries(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Query(query): Query<ListEntries>,
) -> ApiResult<axum::Json<Page<JournalTransaction>>> {
    let page = parse_page(CURSOR_SCOPE, query.limit, query.cursor.as_deref())?;
    Ok(axum::Json(services.ledger.entries(query.order_id, &page).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TrialBalanceQuery {
    /// The instant (RFC 3339); now if absent.
    at: Option<DateTime<Utc>>,
}

/// The trial balance at an instant: every account's balance then, and the
/// debits and credits per currency (equal when the books balance).
#[utoipa::path(
    get,
    path = "/v1/ledger/trial-balance",
    tag = "ledger",
    params(TrialBalanceQuery),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "The trial balance", body = TrialBalance)),
)]
async fn trial_balance(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Query(query): Query<TrialBalanceQuery>,
) -> ApiResult<axum::Json<TrialBalance>> {
    Ok(axum::Json(services.ledger.trial_balance(query.at).await?))
}

/// Every closed period.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PeriodList {
    items: Vec<ClosedPeriod>,
}

/// The closed periods (months): nothing is posted dated in them; an event
/// that occurred in one posts at the start of the first open month after
/// it, keeping its `occurred_at`.
#[utoipa::path(
    get,
    path = "/v1/ledger/periods",
    tag = "ledger",
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "The closed periods", body = PeriodList)),
)]
async fn list_periods(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
) -> ApiResult<axum::Json<PeriodList>> {
    Ok(axum::Json(PeriodList { items: services.ledger.periods().await? }))
}

/// A month's summary: each account's opening balance, its movement in the
/// month and its closing balance, and whether the month is closed.
#[utoipa::path(
    get,
    path = "/v1/ledger/periods/{period}",
    tag = "ledger",
    params(("period" = String, Path, description = "The month, `YYYY-MM`", pattern = "^[0-9]{4}-[0-9]{2}$")),
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "The period's summary", body = PeriodSummary)),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn period_summary(
    _auth: Authorized<LedgerRead>,
    State(services): State<Services>,
    Path(period): Path<String>,
) -> ApiResult<axum::Json<PeriodSummary>> {
    let period = parse_period(&period)?;
    Ok(axum::Json(services.ledger.summary(period).await?))
}

fn parse_period(value: &str) -> Result<Period, ServiceError> {
    Period::parse(value).map_err(|e| ServiceError::Validation(ValidationErrors::single("period", e.code, e.message)))
}

/// Close a month that has ended (`2026-11`): nothing is posted dated in it
/// from now on. Closing a closed month changes nothing. Audited as
/// `ledger.period_closed`.
#[utoipa::path(
    post,
    path = "/v1/ledger/periods/{period}/close",
    tag = "ledger",
    params(("period" = String, Path, description = "The month, `YYYY-MM`", pattern = "^[0-9]{4}-[0-9]{2}$")),
    security(("api_key" = ["ledger:manage"])),
    responses((status = 200, description = "The closed period", body = ClosedPeriod)),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn close_period(
    auth: Authorized<LedgerManage>,
    State(services): State<Services>,
    Path(period): Path<String>,
) -> ApiResult<axum::Json<ClosedPeriod>> {
    let period = parse_period(&period)?;
    Ok(axum::Json(services.ledger.close(&auth.actor(), period).await?))
}

/// Reopen a closed month. Audited as `ledger.period_reopened`; an open
/// month is 409.
#[utoipa::path(
    post,
    path = "/v1/ledger/periods/{period}/reopen",
    tag = "ledger",
    params(("period" = String, Path, description = "The month, `YYYY-MM`", pattern = "^[0-9]{4}-[0-9]{2}$")),
    security(("api_key" = ["ledger:manage"])),
    responses((status = 204, description = "Reopened")),
    extensions(("x-errors" = json!([VALIDATION_FAILED, ILLEGAL_TRANSITION]))),
)]
async fn reopen_period(
    auth: Authorized<LedgerManage>,
    State(services): State<Services>,
    Path(period): Path<String>,
) -> ApiResult<StatusCode> {
    let period = parse_period(&period)?;
    services.ledger.reopen(&auth.actor(), period).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A manual journal entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManualEntryBody {
    #[schema(example = "DE")]
    market: String,
    #[schema(example = "EUR")]
    currency: String,
    /// When it counts (RFC 3339); now if absent. Not ahead, not in a
    /// closed period.
    posted_at: Option<DateTime<Utc>>,
    /// Why: 1 to 500 characters.
    memo: String,
    /// Debits positive, credits negative; they add up to zero.
    postings: Vec<Posting>,
}

/// Post a manual entry: balanced postings on accounts of the chart, none
/// of them `receivables` or a provider's clearing account (their business
/// records alone post to them). Refused whole, with nothing posted, when
/// unbalanced, on an unknown or controlled account, or dated in a closed
/// period. Audited as `ledger.entry_posted`.
#[utoipa::path(
    post,
    path = "/v1/ledger/entries",
    tag = "ledger",
    request_body = ManualEntryBody,
    security(("api_key" = ["ledger:manage"])),
    responses((status = 201, description = "Posted", body = JournalTransaction)),
    extensions(("x-errors" = json!([VALIDATION_FAILED]))),
)]
async fn post_entry(
    auth: Authorized<LedgerManage>,
    State(services): State<Services>,
    Json(body): Json<ManualEntryBody>,
) -> ApiResult<(StatusCode, axum::Json<JournalTransaction>)> {
    let currency = ordo_domain::Currency::parse(&body.currency)
        .map_err(|e| ServiceError::Validation(ValidationErrors::single("currency", e.code, e.message)))?;
    let new = NewManualEntry {
        market: body.market,
        currency,
        posted_at: body.posted_at,
        memo: body.memo,
        postings: body.postings,
    };
    Ok((StatusCode::CREATED, axum::Json(services.ledger.post_manual(&auth.actor(), new).await?)))
}

/// Why a correction or write-off is posted.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoBody {
    /// 1 to 500 characters.
    memo: String,
}

/// Reverse a manual entry: the journal is append-only, so a correction is
/// an entry of opposite signs, posted now (or at the start of the first
/// open period). Once per entry, 409 after; entries of business records
/// are corrected by their own documents (a credit note, a refund), 409
/// here. Audited as `ledger.entry_reversed`.
#[utoipa::path(
    post,
    path = "/v1/ledger/entries/{id}/reverse",
    tag = "ledger",
    params(("id" = Uuid, Path, description = "The entry's id")),
    request_body = MemoBody,
    security(("api_key" = ["ledger:manage"])),
    responses((status = 201, description = "The reversing entry", body = JournalTransaction)),
    extensions(("x-errors" = json!([VALIDATION_FAILED, NOT_FOUND, ILLEGAL_TRANSITION]))),
)]
async fn reverse_entry(
    auth: Authorized<LedgerManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<MemoBody>,
) -> ApiResult<(StatusCode, axum::Json<JournalTransaction>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(services.ledger.reverse(&auth.actor(), parse_id::<Uuid>(&id)?, &body.memo).await?),
    ))
}

/// Write off what an order still owes: its invoices less its credit notes
/// and payments, Dr `write_offs`, Cr `receivables`. 409 when it owes
/// nothing. The output VAT in a lost receivable is corrected by a manual
/// entry once the loss is final. Audited as `ledger.written_off`.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/write-off",
    tag = "ledger",
    params(("id" = Uuid, Path, description = "The order's id")),
    request_body = MemoBody,
    security(("api_key" = ["ledger:manage"])),
    responses((status = 201, description = "The write-off", body = JournalTransaction)),
    extensions(("x-errors" = json!([VALIDATION_FAILED, NOT_FOUND, ILLEGAL_TRANSITION]))),
)]
async fn write_off(
    auth: Authorized<LedgerManage>,
    State(services): State<Services>,
    Path(id): Path<String>,
    Json(body): Json<MemoBody>,
) -> ApiResult<(StatusCode, axum::Json<JournalTransaction>)> {
    let entry = services.ledger.write_off(&auth.actor(), parse_id::<ordo_domain::OrderId>(&id)?, &body.memo).await?;
    Ok((StatusCode::CREATED, axum::Json(entry)))
}

/// The chart of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChartList {
    items: Vec<ChartAccount>,
}

/// The chart of accounts: each code (families such as `clearing:` stand
/// for one account per provider or rate), what it holds, and the SKR03
/// account it maps to, as configured by `ledger.accounts`.
#[utoipa::path(
    get,
    path = "/v1/ledger/chart",
    tag = "ledger",
    security(("api_key" = ["ledger:read"])),
    responses((status = 200, description = "The chart", body = ChartList)),
)]
async fn chart(_auth: Authorized<LedgerRead>, State(services): State<Services>) -> axum::Json<ChartList> {
    axum::Json(ChartList { items: services.ledger.chart().accounts().to_vec() })
}
