//! Storage of markets: the `markets` table.

use async_trait::async_trait;
use ordo_domain::market::Market;

use crate::StoreResult;

#[async_trait]
pub trait MarketRepo: Send {
    /// [`crate::StoreError::Duplicate`] with [`crate::UniqueKey::MarketCode`]
    /// if the code is taken.
    async fn insert_market(&mut self, market: &Market) -> StoreResult<()>;

    async fn market(&mut self, code: &str) -> StoreResult<Option<Market>>;

    /// Writes `market` if the stored row is at `expected_version`.
    async fn update_market(&mut self, market: &Market, expected_version: i64) -> StoreResult<bool>;

    /// Every market, by code (markets are few).
    async fn list_markets(&mut self) -> StoreResult<Vec<Market>>;
}
