//! Storage of orders: the `orders`, `order_lines` and `order_events` tables.

use async_trait::async_trait;
use ordo_domain::OrderId;
use ordo_domain::audit::AuditEvent;
use ordo_domain::event::DomainEvent;
use ordo_domain::idempotency::Answer;
use ordo_domain::job::NewJob;
use ordo_domain::order::{Order, OrderEvent, OrderFilter};
use ordo_domain::page::PageRequest;

use uuid::Uuid;

use crate::{StockMove, StoreResult};

/// Everything an order's placement writes, once its idempotency key (if
/// any) is claimed: [`OrderRepo::insert_placement`] writes it at once.
#[derive(Debug, Clone, Copy)]
pub struct NewPlacement<'a> {
    pub order: &'a Order,
    /// The idempotency key the order is placed with.
    pub idempotency: Option<(Uuid, &'a str)>,
    /// The answer a retry with that key gets, stored on the key the caller
    /// claimed in the idempotency table.
    pub answer: Option<&'a Answer>,
    /// The order's timeline entry.
    pub event: &'a OrderEvent,
    pub audit: &'a AuditEvent,
    /// The domain event, and the job that fans it out to webhooks: the job
    /// is enqueued only if a webhook subscribes to the event's type.
    pub domain_event: Option<(&'a DomainEvent, &'a NewJob)>,
    /// The jobs the placement enqueues (its transactional outbox).
    pub jobs: &'a [NewJob],
    /// The reservation, applied as [`crate::InventoryRepo::reserve_stock`]
    /// applies it.
    pub moves: &'a [StockMove],
}

#[async_trait]
pub trait OrderRepo: Send {
    /// Writes a placement: the order and its lines, its timeline entry,
    /// audit event, domain event, jobs, the idempotency key's answer and the
    /// guarded stock reservation. Returns how many of `moves` were applied;
    /// fewer than all means the stock moved, and the caller rolls back.
    /// PostgreSQL writes it all in one statement; SQLite in one statement
    /// per table.
    async fn insert_placement(&mut self, placement: &NewPlacement<'_>) -> StoreResult<u64>;

    /// Inserts the order and its lines, with the idempotency key it was
    /// placed with, if any; [`crate::StoreError::Duplicate`] with
    /// [`crate::UniqueKey::OrderIdempotencyKey`] if that key already placed
    /// an order.
    async fn insert_order(&mut self, order: &Order, idempotency: Option<(Uuid, &str)>) -> StoreResult<()>;

    /// The order placed with this idempotency key.
    async fn order_by_idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<Option<Order>>;

    /// Forgets the idempotency keys of orders placed before `before`, so the
    /// keys can be used again once expired. Returns how many.
    async fn forget_order_idempotency_keys(&mut self, before: ordo_domain::Timestamp) -> StoreResult<u64>;

    /// The order with its lines, in two statements.
    async fn order(&mut self, id: OrderId) -> StoreResult<Option<Order>>;

    /// Writes the order's status, totals and lines if the stored order is
    /// at `expected_version`.
    async fn update_order(&mut self, order: &Order, expected_version: i64) -> StoreResult<bool>;

    /// Up to `page.fetch_limit()` orders after `page.after`, in id order,
    /// with their lines: two statements whatever the page size.
    async fn list_orders(&mut self, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>>;

    async fn insert_order_event(&mut self, event: &OrderEvent) -> StoreResult<()>;

    /// Appends many orders with their lines at once, without idempotency
    /// keys, for bulk loads (`ordo seed`): `COPY` on PostgreSQL, multi-row
    /// inserts on SQLite.
    async fn insert_orders(&mut self, orders: &[Order]) -> StoreResult<()>;

    /// Appends many timeline entries at once, as [`Self::insert_orders`].
    async fn insert_order_events(&mut self, events: &[OrderEvent]) -> StoreResult<()>;

    /// The order's timeline, oldest first.
    async fn order_events(&mut self, id: OrderId) -> StoreResult<Vec<OrderEvent>>;
}
