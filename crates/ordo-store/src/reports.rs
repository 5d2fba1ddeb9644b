//! Storage of reports: the `reports` table, and the queries reports are
//! compiled from, each reading a bounded slice (a day, or a page after a
//! cursor) so a report of any size is compiled in bounded memory.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::credit_note::CreditNote;
use ordo_domain::invoice::Invoice;
use ordo_domain::report::{Report, ReportKind};
use uuid::Uuid;

use crate::StoreResult;

/// One SKU's sales in one market and currency over a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesRow {
    pub market: String,
    pub currency: String,
    pub sku: String,
    /// The name on the day's latest order line.
    pub name: String,
    pub orders: i64,
    pub quantity: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

/// One stock level and how it moved over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMovementRow {
    pub sku: String,
    pub location_id: Uuid,
    pub location_code: String,
    /// On hand now.
    pub on_hand: i64,
    /// Units that came in over the period (receipts, counts up, restocked
    /// returns).
    pub added: i64,
    /// Units shipped over the period.
    pub shipped: i64,
    /// Units taken out otherwise (counts down, damaged, lost).
    pub removed: i64,
    /// The net movement since the period's end.
    pub since: i64,
}

/// A capture or refund, with its order's market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub market: String,
    pub kind: String,
    pub status: String,
    pub provider: String,
    pub provider_reference: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub created_at: Timestamp,
}

/// An order's open receivable at an instant, with its invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivableRow {
    pub order_id: Uuid,
    pub market: String,
    pub currency: String,
    /// What the order still owes: its `receivables` balance.
    pub open: i64,
    pub invoice_number: Option<String>,
    pub invoiced_at: Option<Timestamp>,
}

/// Where a paged report query goes on: after this instant and id.
pub type Cursor = Option<(Timestamp, Uuid)>;

#[async_trait]
pub trait ReportRepo: Send {
    async fn insert_report(&mut self, report: &Report, cache_key: &str) -> StoreResult<()>;

    async fn report(&mut self, id: Uuid) -> StoreResult<Option<Report>>;

    /// Reports (or exports) newest first, after `before` (a report id) if given.
    async fn reports(&mut self, exports: bool, before: Option<Uuid>, limit: i64) -> StoreResult<Vec<Report>>;

    /// A succeeded report with these parameters and watermark.
    async fn cached_report(&mut self, cache_key: &str, watermark: &str) -> StoreResult<Option<Report>>;

    /// Records a running report's progress; false if it is not running
    /// (cancelled meanwhile).
    async fn report_progress(&mut self, id: Uuid, progress: i16, rows: i64) -> StoreResult<bool>;

    /// Ends a running report; false if it was not running.
    async fn finish_report(&mut self, report: &Report) -> StoreResult<bool>;

    /// The state of the data a report of `kind` over `[from, to)` reads,
    /// as text: changes whenever a row it reads is added or changed.
    async fn report_watermark(
        &mut self,
        kind: ReportKind,
        from: Timestamp,
        to: Timestamp,
        market: Option<&str>,
    ) -> StoreResult<String>;

    /// The SKUs sold in `[from, to)` by orders that were paid (and not
    /// cancelled since), per market and currency, in that order.
    async fn sales_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        market: Option<&str>,
    ) -> StoreResult<Vec<SalesRow>>;

    /// Captures and refunds made in `[from, to)`, in the order made, after
    /// `after`; at most `limit`.
    async fn payments_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        market: Option<&str>,
        after: Cursor,
        limit: i64,
    ) -> StoreResult<Vec<PaymentRow>>;

    /// Orders whose `receivables` balance at `at` (postings before it) is
    /// not zero, in order id order after `after`; at most `limit`.
    async fn open_receivables(
        &mut self,
        at: Timestamp,
        market: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<ReceivableRow>>;

    /// Stock levels with their movements over `[from, to)` (and the net
    /// movement since `to`), in SKU then location id order, after `after`;
    /// at most `limit`.
    async fn stock_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        after: Option<(String, Uuid)>,
        limit: i64,
    ) -> StoreResult<Vec<StockMovementRow>>;

    /// Orders placed in `[from, to)`, with their lines, in the order
    /// placed, after `after`; at most `limit`.
    async fn orders_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        market: Option<&str>,
        after: Cursor,
        limit: i64,
    ) -> StoreResult<Vec<ordo_domain::order::Order>>;

    /// Invoices issued in `[from, to)`, in the order issued, after `after`;
    /// at most `limit`.
    async fn invoices_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        market: Option<&str>,
        after: Cursor,
        limit: i64,
    ) -> StoreResult<Vec<Invoice>>;

    /// Credit notes issued in `[from, to)`, as [`Self::invoices_between`].
    async fn credit_notes_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        market: Option<&str>,
        after: Cursor,
        limit: i64,
    ) -> StoreResult<Vec<CreditNote>>;
}
