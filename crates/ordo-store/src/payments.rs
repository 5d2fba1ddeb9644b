//! Storage of payment records: the `payments` table.

use async_trait::async_trait;
use ordo_domain::page::PageRequest;
use ordo_domain::payment::{Payment, PaymentFilter, PaymentStatus, PaymentTotals, ProviderEvent};
use ordo_domain::{OrderId, Timestamp};
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait PaymentRepo: Send {
    /// Inserts a payment record unless one with its idempotency key exists
    /// (a retried call records nothing twice). Returns whether it inserted.
    async fn insert_payment(&mut self, payment: &Payment) -> StoreResult<bool>;

    async fn payment(&mut self, id: Uuid) -> StoreResult<Option<Payment>>;

    async fn payment_by_key(&mut self, idempotency_key: &str) -> StoreResult<Option<Payment>>;

    /// Settles a pending record: its new status, the provider's reference
    /// (kept if `None`) and failure reason. Returns false unless it was
    /// pending (a settled record never changes again).
    async fn settle_payment(
        &mut self,
        id: Uuid,
        status: PaymentStatus,
        provider_reference: Option<&str>,
        failure_reason: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// An order's payment records, oldest first.
    async fn order_payments(&mut self, order_id: OrderId) -> StoreResult<Vec<Payment>>;

    /// A page of payment records by id.
    async fn list_payments(&mut self, filter: &PaymentFilter, page: &PageRequest) -> StoreResult<Vec<Payment>>;

    /// Takes the order's payment lock for the rest of the transaction, so
    /// that checking what may be refunded and recording a refund cannot
    /// interleave with another refund of the same order (PostgreSQL: the
    /// order's row lock; SQLite: the write transaction already excludes
    /// every other writer).
    async fn lock_order_payments(&mut self, order_id: OrderId) -> StoreResult<()>;

    /// What the order's captures and refunds add up to.
    async fn payment_totals(&mut self, order_id: OrderId) -> StoreResult<PaymentTotals>;

    /// The first payment record with this provider reference (an
    /// authorisation's payment intent, a refund's id).
    async fn payment_by_reference(&mut self, provider: &str, reference: &str) -> StoreResult<Option<Payment>>;

    /// Records an event a provider sent, unless one with its provider and
    /// event id is recorded already. Returns whether it inserted.
    async fn insert_provider_event(&mut self, event: &ProviderEvent) -> StoreResult<bool>;
}
