//! SQL of inventory.

use ordo_domain::inventory::{Location, StockLevel};
use ordo_domain::{RecordMeta, Sku};
use uuid::Uuid;

use crate::{Ts, corrupt, ts};

pub const LOCATION_COLUMNS: &str = "id, code, name, priority, version, created_at, updated_at, archived_at";

#[derive(Debug, sqlx::FromRow)]
pub struct LocationRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub priority: i32,
    pub version: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub archived_at: Option<Ts>,
}

impl From<LocationRow> for Location {
    fn from(row: LocationRow) -> Self {
        Location {
            id: row.id,
            code: row.code,
            name: row.name,
            priority: row.priority,
            meta: RecordMeta {
                version: row.version,
                created_at: row.created_at.0,
                updated_at: row.updated_at.0,
                archived_at: ts::opt(row.archived_at),
            },
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct StockRow {
    pub sku: String,
    pub location_id: Uuid,
    pub on_hand: i64,
    pub reserved: i64,
}

impl TryFrom<StockRow> for StockLevel {
    type Error = ordo_store::StoreError;

    fn try_from(row: StockRow) -> Result<Self, Self::Error> {
        let sku = Sku::parse(&row.sku).map_err(|e| corrupt("stock_levels.sku", e.message))?;
        Ok(StockLevel::new(sku, row.location_id, row.on_hand, row.reserved))
    }
}

/// Stock rows in allocation order: location priority, then code.
pub const STOCK_ORDER: &str = "s.sku, l.priority, l.code";

/// Implements `InventoryRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! inventory_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::inventory::{Location, LocationId, StockLevel};
            use ::ordo_domain::{RecordMeta, Sku, Timestamp, time};
            use ::uuid::Uuid;
            use ::ordo_store::{InventoryRepo, RankedStock, StockMove, StoreResult};
            use $crate::inventory::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> InventoryRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "inventory.insert_location", skip_all)]
                async fn insert_location(&mut self, l: &Location) -> StoreResult<()> {
                    ::sqlx::query(&format!("INSERT INTO locations ({LOCATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                        .bind(l.id)
                        .bind(&l.code)
                        .bind(&l.name)
                        .bind(l.priority)
                        .bind(l.meta.version)
                        .bind(Ts(l.meta.created_at))
                        .bind(Ts(l.meta.updated_at))
                        .bind(l.meta.archived_at.map(Ts))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.location", skip_all)]
                async fn location(&mut self, id: LocationId) -> StoreResult<Option<Location>> {
                    let row: Option<LocationRow> =
                        ::sqlx::query_as(&format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1"))
                            .bind(id)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(row.map(Location::from))
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.list_locations", skip_all)]
                async fn list_locations(&mut self) -> StoreResult<Vec<Location>> {
                    let rows: Vec<LocationRow> =
                        ::sqlx::query_as(&format!("SELECT {LOCATION_COLUMNS} FROM locations ORDER BY priority, code"))
                            .persistent(self.persistent())
                            .fetch_all(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(Location::from).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.change_on_hand", skip_all)]
                async fn change_on_hand(&mut self, sku: &Sku, location: LocationId, delta: i64) -> StoreResult<Option<StockLevel>> {
                    // Additions may create the row; removals need one, and may not take
                    // on-hand below what is reserved (nor, so, below zero).
                    let sql = if delta >= 0 {
                        "INSERT INTO stock_levels AS s (sku, location_id, on_hand, reserved, updated_at) VALUES ($1, $2, $3, 0, $4)
                         ON CONFLICT (sku, location_id) DO UPDATE SET on_hand = s.on_hand + $3, updated_at = $4
                         RETURNING sku, location_id, on_hand, reserved"
                    } else {
                        "UPDATE stock_levels SET on_hand = on_hand + $3, updated_at = $4
                          WHERE sku = $1 AND location_id = $2 AND on_hand + $3 >= reserved
                         RETURNING sku, location_id, on_hand, reserved"
                    };
                    let row: Option<StockRow> = ::sqlx::query_as(sql)
                        .bind(sku.as_str())
                        .bind(location)
                        .bind(delta)
                        .bind(Ts(time::now()))
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(StockLevel::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.stock_of_skus", skip_all)]
                async fn stock_of_skus(&mut self, skus: &[Sku]) -> StoreResult<Vec<StockLevel>> {
                    if skus.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(
                        "SELECT s.sku, s.location_id, s.on_hand, s.reserved FROM stock_levels s JOIN locations l ON l.id = s.location_id
                          WHERE s.sku IN (",
                    );
                    let mut list = query.separated(", ");
                    for sku in skus {
                        list.push_bind(sku.as_str());
                    }
                    query.push(format!(") ORDER BY {STOCK_ORDER}"));
                    let rows: Vec<StockRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(StockLevel::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.stock_of", skip_all)]
                async fn stock_of(&mut self, sku: &Sku) -> StoreResult<Vec<StockLevel>> {
                    let rows: Vec<StockRow> = ::sqlx::query_as(&format!(
                        "SELECT s.sku, s.location_id, s.on_hand, s.reserved FROM stock_levels s JOIN locations l ON l.id = s.location_id
                          WHERE s.sku = $1 ORDER BY {STOCK_ORDER}"
                    ))
                    .bind(sku.as_str())
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    rows.into_iter().map(StockLevel::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.list_stock", skip_all)]
                async fn list_stock(
                    &mut self,
                    after_sku: Option<&str>,
                    prefix: Option<(&str, &str)>,
                    limit: i64,
                ) -> StoreResult<Vec<StockLevel>> {
                    let (low, high) = prefix.unwrap_or(("", "\u{10FFFF}"));
                    let rows: Vec<StockRow> = ::sqlx::query_as(&format!(
                        "SELECT s.sku, s.location_id, s.on_hand, s.reserved FROM stock_levels s JOIN locations l ON l.id = s.location_id
                          WHERE s.sku IN (SELECT DISTINCT sku FROM stock_levels
                                           WHERE sku > $1 AND sku >= $2 AND sku < $3 ORDER BY sku LIMIT $4)
                          ORDER BY {STOCK_ORDER}"
                    ))
                    .bind(after_sku.unwrap_or(""))
                    .bind(low)
                    .bind(high)
                    .bind(limit)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    rows.into_iter().map(StockLevel::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.add_damaged_stock", skip_all)]
                async fn add_damaged_stock(&mut self, sku: &Sku, location: LocationId, quantity: i64) -> StoreResult<i64> {
                    ::sqlx::query_scalar(
                        "INSERT INTO damaged_stock AS d (sku, location_id, quantity, updated_at) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (sku, location_id) DO UPDATE SET quantity = d.quantity + $3, updated_at = $4
                         RETURNING quantity",
                    )
                    .bind(sku.as_str())
                    .bind(location)
                    .bind(quantity)
                    .bind(Ts(time::now()))
                    .persistent(self.persistent())
                    .fetch_one(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "inventory.damaged_stock_of", skip_all)]
                async fn damaged_stock_of(&mut self, sku: &Sku) -> StoreResult<Vec<(LocationId, i64)>> {
                    ::sqlx::query_as(
                        "SELECT d.location_id, d.quantity FROM damaged_stock d JOIN locations l ON l.id = d.location_id
                          WHERE d.sku = $1 AND d.quantity > 0 ORDER BY l.priority, l.code",
                    )
                    .bind(sku.as_str())
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)
                }
            }
        };
    };
}
