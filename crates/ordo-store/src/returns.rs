//! Storage of returns: the `returns` table.

use async_trait::async_trait;
use ordo_domain::OrderId;
use ordo_domain::page::PageRequest;
use ordo_domain::returns::{Return, ReturnFilter};
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait ReturnRepo: Send {
    async fn insert_return(&mut self, r: &Return) -> StoreResult<()>;

    /// Writes `r` over the stored return if that is still at version
    /// `r.version - 1`. Returns false if it changed since it was read.
    async fn update_return(&mut self, r: &Return) -> StoreResult<bool>;

    async fn find_return(&mut self, id: Uuid) -> StoreResult<Option<Return>>;

    /// An order's returns, oldest first.
    async fn order_returns(&mut self, order_id: OrderId) -> StoreResult<Vec<Return>>;

    async fn list_returns(&mut self, filter: &ReturnFilter, page: &PageRequest) -> StoreResult<Vec<Return>>;
}
