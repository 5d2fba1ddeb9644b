//! Storage of the ledger: `ledger_transactions`, `ledger_postings` and the
//! daily balances `ledger_daily`.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::ledger::{AccountBalance, ClosedPeriod, JournalTransaction, Period, SourceKind};
use ordo_domain::page::PageRequest;
use uuid::Uuid;

use crate::StoreResult;

/// An amount expected on an account from the business records, to check
/// the ledger against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `receivables` or `clearing:<provider>`.
    pub account: String,
    pub currency: String,
    pub amount: i64,
}

#[async_trait]
pub trait LedgerRepo: Send {
    /// Writes `t`: its postings, its header (which the database refuses
    /// unless the postings balance) and its day's balance movements.
    async fn insert_journal(&mut self, t: &JournalTransaction) -> StoreResult<()>;

    /// Journal transactions in id order, of one order if given.
    async fn journal(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<JournalTransaction>>;

    /// One journal transaction.
    async fn journal_transaction(&mut self, id: Uuid) -> StoreResult<Option<JournalTransaction>>;

    /// Whether a transaction of this source was posted.
    async fn source_posted(&mut self, kind: SourceKind, source_id: Uuid) -> StoreResult<bool>;

    /// Every account's balance at `at`: the daily balances of the days
    /// before its day, and the postings of its day up to `at`.
    async fn balances_at(&mut self, at: Timestamp) -> StoreResult<Vec<AccountBalance>>;

    /// Every account's movement over the days from `from`'s (inclusive) to
    /// `to`'s (exclusive), from the daily balances.
    async fn movements_between(&mut self, from: Timestamp, to: Timestamp) -> StoreResult<Vec<AccountBalance>>;

    /// Every account's balance summed from the postings themselves.
    async fn balances_from_postings(&mut self) -> StoreResult<Vec<AccountBalance>>;

    /// Transactions (by id) whose postings do not add up to zero, or that
    /// have postings but no header, with their sum; at most `limit`.
    async fn unbalanced_transactions(&mut self, limit: i64) -> StoreResult<Vec<(Uuid, i64)>>;

    /// Invoices, credit notes, succeeded captures and refunds (not of
    /// offline money) that have no journal transaction; at most `limit`.
    async fn unposted_sources(&mut self, limit: i64) -> StoreResult<Vec<(SourceKind, Uuid)>>;

    /// What `receivables` (invoiced − credited − captured + refunded) and
    /// each `clearing:<provider>` (captured − refunded) should hold per
    /// currency, from the business records.
    async fn expected_balances(&mut self, offline_provider: &str) -> StoreResult<Vec<Expected>>;

    /// What the journal transactions of one source kind posted on
    /// `account`, per currency.
    async fn posted_by_source(&mut self, kind: SourceKind, account: &str) -> StoreResult<Vec<(String, i64)>>;

    /// The balance of `account` over one order's transactions, per currency.
    async fn order_balance(&mut self, order_id: Uuid, account: &str) -> StoreResult<Vec<(String, i64)>>;

    /// The closed periods from `from` on, in order.
    async fn closed_periods_from(&mut self, from: Period) -> StoreResult<Vec<Period>>;

    /// Every closed period, in order.
    async fn closed_periods(&mut self) -> StoreResult<Vec<ClosedPeriod>>;

    /// Closes a period; false if it was closed already.
    async fn close_period(&mut self, period: &ClosedPeriod) -> StoreResult<bool>;

    /// Reopens a period; false if it was open.
    async fn reopen_period(&mut self, period: Period) -> StoreResult<bool>;
}
