//! Storage of invoices: the `invoices` and `invoice_counters` tables.

use async_trait::async_trait;
use ordo_domain::invoice::Invoice;
use ordo_domain::page::PageRequest;
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait InvoiceRepo: Send {
    /// The next number of `market` in `year`. Call inside the transaction
    /// that inserts the invoice: the counter row stays locked until it
    /// commits, and a rollback gives the number back, so numbers have no gaps.
    async fn next_invoice_number(&mut self, market: &str, year: i32) -> StoreResult<i64>;

    /// Inserts an invoice with its rendered HTML.
    async fn insert_invoice(&mut self, invoice: &Invoice, html: &str) -> StoreResult<()>;

    async fn invoice(&mut self, id: Uuid) -> StoreResult<Option<Invoice>>;

    async fn invoice_html(&mut self, id: Uuid) -> StoreResult<Option<String>>;

    async fn invoice_for_order(&mut self, order_id: Uuid) -> StoreResult<Option<Invoice>>;

    async fn list_invoices(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<Invoice>>;
}
