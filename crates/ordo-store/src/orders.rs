//! Storage of orders: the `orders`, `order_lines` and `order_events` tables.

use async_trait::async_trait;
use ordo_domain::OrderId;
use ordo_domain::order::{Order, OrderEvent, OrderFilter};
use ordo_domain::page::PageRequest;

use crate::StoreResult;

#[async_trait]
pub trait OrderRepo: Send {
    /// Inserts the order and its lines.
    async fn insert_order(&mut self, order: &Order) -> StoreResult<()>;

    /// The order with its lines, in two statements.
    async fn order(&mut self, id: OrderId) -> StoreResult<Option<Order>>;

    /// Writes the order's status, totals and lines if the stored order is
    /// at `expected_version`.
    async fn update_order(&mut self, order: &Order, expected_version: i64) -> StoreResult<bool>;

    /// Up to `page.fetch_limit()` orders after `page.after`, in id order,
    /// with their lines: two statements whatever the page size.
    async fn list_orders(&mut self, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>>;

    async fn insert_order_event(&mut self, event: &OrderEvent) -> StoreResult<()>;

    /// The order's timeline, oldest first.
    async fn order_events(&mut self, id: OrderId) -> StoreResult<Vec<OrderEvent>>;
}
