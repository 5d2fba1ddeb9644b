//! Storage of inventory: the `locations`, `stock_levels` and `damaged_stock`
//! tables.

use async_trait::async_trait;
use ordo_domain::Sku;
use ordo_domain::inventory::{Location, LocationId, StockLevel};

use crate::StoreResult;

/// A stock row with its location's allocation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedStock {
    pub level: StockLevel,
    pub priority: i32,
    pub location_code: String,
}

/// Units to reserve (or release) of one SKU at one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMove {
    pub sku: Sku,
    pub location_id: LocationId,
    pub quantity: i64,
}

#[async_trait]
pub trait InventoryRepo: Send {
    /// [`crate::StoreError::Duplicate`] with [`crate::UniqueKey::LocationCode`]
    /// if the code is taken.
    async fn insert_location(&mut self, location: &Location) -> StoreResult<()>;

    async fn location(&mut self, id: LocationId) -> StoreResult<Option<Location>>;

    /// Inserts stock rows that do not exist yet, reservations included, for
    /// bulk loads (`ordo seed`).
    async fn insert_stock_levels(&mut self, levels: &[StockLevel]) -> StoreResult<()>;

    /// Every location, in allocation order (locations are few).
    async fn list_locations(&mut self) -> StoreResult<Vec<Location>>;

    /// Adds `delta` to on-hand stock, creating the row if needed, unless
    /// that would take on-hand below zero or below what is reserved.
    /// Returns the new level, or `None` when refused.
    async fn change_on_hand(&mut self, sku: &Sku, location: LocationId, delta: i64) -> StoreResult<Option<StockLevel>>;

    /// Stock of one SKU at every location that has a row for it, in
    /// allocation order.
    async fn stock_of(&mut self, sku: &Sku) -> StoreResult<Vec<StockLevel>>;

    /// Stock of these SKUs at every location that has a row for them, for
    /// bulk work (imports), in SKU then allocation order.
    async fn stock_of_skus(&mut self, skus: &[Sku]) -> StoreResult<Vec<StockLevel>>;

    /// Stock rows of up to `limit` SKUs after `after_sku` (optionally within
    /// a prefix range), ordered by SKU then allocation order.
    async fn list_stock(
        &mut self,
        after_sku: Option<&str>,
        prefix: Option<(&str, &str)>,
        limit: i64,
    ) -> StoreResult<Vec<StockLevel>>;

    /// The stock rows with available units of `skus` (sorted), in allocation
    /// order (SKU, then the locations' priority). With `lock`, the rows are
    /// locked for the rest of the transaction, always in that order, so
    /// that concurrent reservations cannot deadlock (on SQLite the write
    /// transaction's database lock already excludes every other writer).
    async fn available_stock(&mut self, skus: &[Sku], lock: bool) -> StoreResult<Vec<RankedStock>>;

    /// Reserves each move, guarded so that available stock can never go
    /// below zero, locking the rows (if not locked yet) in the order of
    /// [`Self::available_stock`]. Returns how many moves were applied; fewer than given
    /// means stock ran short and the caller must roll back.
    async fn reserve_stock(&mut self, moves: &[StockMove]) -> StoreResult<u64>;

    /// Releases reservations: `reserved -= release`, and for shipped units
    /// `on_hand -= ship` too. Returns how many releases were applied (moves of
    /// one row count one each).
    async fn release_stock(&mut self, releases: &[(StockMove, i64)]) -> StoreResult<u64>;

    /// Adds `quantity` units to the damaged (not sellable) stock of `sku`
    /// at `location`. Returns the new damaged quantity there.
    async fn add_damaged_stock(&mut self, sku: &Sku, location: LocationId, quantity: i64) -> StoreResult<i64>;

    /// Damaged units of `sku` per location that has any.
    async fn damaged_stock_of(&mut self, sku: &Sku) -> StoreResult<Vec<(LocationId, i64)>>;
}
