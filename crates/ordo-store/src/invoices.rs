//! Storage of invoices and credit notes: the `invoices`, `credit_notes` and
//! their `*_counters` tables.

use async_trait::async_trait;
use ordo_domain::credit_note::CreditNote;
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

    /// Inserts an invoice with its rendered HTML and PDF.
    async fn insert_invoice(&mut self, invoice: &Invoice, html: &str, pdf: &[u8]) -> StoreResult<()>;

    /// The invoice's PDF as rendered when it was issued: `None` if there is
    /// no such invoice or it was issued before PDFs were rendered.
    async fn invoice_pdf(&mut self, id: Uuid) -> StoreResult<Option<Vec<u8>>>;

    async fn invoice(&mut self, id: Uuid) -> StoreResult<Option<Invoice>>;

    async fn invoice_html(&mut self, id: Uuid) -> StoreResult<Option<String>>;

    async fn invoice_for_order(&mut self, order_id: Uuid) -> StoreResult<Option<Invoice>>;

    async fn list_invoices(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<Invoice>>;

    /// The next credit note number of `market` in `year`, with the same
    /// guarantee as [`Self::next_invoice_number`], in its own sequence.
    async fn next_credit_note_number(&mut self, market: &str, year: i32) -> StoreResult<i64>;

    /// Inserts a credit note with its rendered HTML and PDF.
    async fn insert_credit_note(&mut self, note: &CreditNote, html: &str, pdf: &[u8]) -> StoreResult<()>;

    /// The credit note's PDF as rendered when it was issued.
    async fn credit_note_pdf(&mut self, id: Uuid) -> StoreResult<Option<Vec<u8>>>;

    async fn credit_note(&mut self, id: Uuid) -> StoreResult<Option<CreditNote>>;

    async fn credit_note_html(&mut self, id: Uuid) -> StoreResult<Option<String>>;

    /// An order's credit notes, oldest first.
    async fn order_credit_notes(&mut self, order_id: Uuid) -> StoreResult<Vec<CreditNote>>;

    async fn list_credit_notes(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<CreditNote>>;
}
