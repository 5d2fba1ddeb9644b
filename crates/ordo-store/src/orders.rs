//! Storage of orders: the `orders`, `order_lines` and `order_events` tables.

use async_trait::async_trait;
use ordo_domain::OrderId;
use ordo_domain::order::{Order, OrderEvent, OrderFilter};
use ordo_domain::page::PageRequest;

use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait OrderRepo: Send {
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
