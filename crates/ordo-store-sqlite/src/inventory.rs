//! SQL of inventory.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::inventory::{Location, LocationId, StockLevel};
use ordo_domain::{RecordMeta, Sku, time};
use ordo_store::{InventoryRepo, RankedStock, StockMove, StoreResult};
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::{SqliteSession, corrupt, from_micros, from_micros_opt, map_err, rows_per_insert, to_micros};

const LOCATION_COLUMNS: &str = "id, code, name, priority, version, created_at, updated_at, archived_at";

#[derive(sqlx::FromRow)]
struct LocationRow {
    id: Uuid,
    code: String,
    name: String,
    priority: i32,
    version: i64,
    created_at: i64,
    updated_at: i64,
    archived_at: Option<i64>,
}

impl TryFrom<LocationRow> for Location {
    type Error = ordo_store::StoreError;

    fn try_from(row: LocationRow) -> StoreResult<Self> {
        Ok(Location {
            id: row.id,
            code: row.code,
            name: row.name,
            priority: row.priority,
            meta: RecordMeta {
                version: row.version,
                created_at: from_micros("created_at", row.created_at)?,
                updated_at: from_micros("updated_at", row.updated_at)?,
                archived_at: from_micros_opt("archived_at", row.archived_at)?,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
struct StockRow {
    sku: String,
    location_id: Uuid,
    on_hand: i64,
    reserved: i64,
}

impl TryFrom<StockRow> for StockLevel {
    type Error = ordo_store::StoreError;

    fn try_from(row: StockRow) -> Result<Self, Self::Error> {
        let sku = Sku::parse(&row.sku).map_err(|e| corrupt("stock_levels.sku", e.message))?;
        Ok(StockLevel::new(sku, row.location_id, row.on_hand, row.reserved))
    }
}

/// Stock rows in allocation order: location priority, then code.
const STOCK_ORDER: &str = "s.sku, l.priority, l.code";

#[async_trait]
impl<C: DerefMut<Target = SqliteConnection> + Send> InventoryRepo for SqliteSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "inventory.insert_location", skip_all)]
    async fn insert_location(&mut self, l: &Location) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO locations ({LOCATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(l.id)
            .bind(&l.code)
            .bind(&l.name)
            .bind(l.priority)
            .bind(l.meta.version)
            .bind(to_micros(l.meta.created_at))
            .bind(to_micros(l.meta.updated_at))
            .bind(l.meta.archived_at.map(to_micros))
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.insert_stock_levels", skip_all)]
    async fn insert_stock_levels(&mut self, levels: &[StockLevel]) -> StoreResult<()> {
        let now = to_micros(time::now());
        for chunk in levels.chunks(rows_per_insert(5)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO stock_levels (sku, location_id, on_hand, reserved, updated_at) ",
            );
            insert.push_values(chunk, |mut row, l| {
                row.push_bind(l.sku.as_str())
                    .push_bind(l.location_id)
                    .push_bind(l.on_hand)
                    .push_bind(l.reserved)
                    .push_bind(now);
            });
            insert.build().execute(self.conn()).await.map_err(map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.location", skip_all)]
    async fn location(&mut self, id: LocationId) -> StoreResult<Option<Location>> {
        let row: Option<LocationRow> =
            sqlx::query_as(&format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.conn())
                .await
                .map_err(map_err)?;
        row.map(Location::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.list_locations", skip_all)]
    async fn list_locations(&mut self) -> StoreResult<Vec<Location>> {
        let rows: Vec<LocationRow> =
            sqlx::query_as(&format!("SELECT {LOCATION_COLUMNS} FROM locations ORDER BY priority, code"))
                .fetch_all(self.conn())
                .await
                .map_err(map_err)?;
        rows.into_iter().map(Location::try_from).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.change_on_hand", skip_all)]
    async fn change_on_hand(&mut self, sku: &Sku, location: LocationId, delta: i64) -> StoreResult<Option<StockLevel>> {
        // Additions may create the row; removals need one, and may not take
        // on-hand below what is reserved (nor, so, below zero).
        let sql = if delta >= 0 {
            "INSERT INTO stock_levels (sku, location_id, on_hand, reserved, updated_at) VALUES ($1, $2, $3, 0, $4)
             ON CONFLICT (sku, location_id) DO UPDATE SET on_hand = on_hand + $3, updated_at = $4
             RETURNING sku, location_id, on_hand, reserved"
        } else {
            "UPDATE stock_levels SET on_hand = on_hand + $3, updated_at = $4
              WHERE sku = $1 AND location_id = $2 AND on_hand + $3 >= reserved
             RETURNING sku, location_id, on_hand, reserved"
        };
        let row: Option<StockRow> = sqlx::query_as(sql)
            .bind(sku.as_str())
            .bind(location)
            .bind(delta)
            .bind(to_micros(time::now()))
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        row.map(StockLevel::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.stock_of", skip_all)]
    async fn stock_of(&mut self, sku: &Sku) -> StoreResult<Vec<StockLevel>> {
        let rows: Vec<StockRow> = sqlx::query_as(&format!(
            "SELECT s.sku, s.location_id, s.on_hand, s.reserved FROM stock_levels s JOIN locations l ON l.id = s.location_id
              WHERE s.sku = $1 ORDER BY {STOCK_ORDER}"
        ))
        .bind(sku.as_str())
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
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
        let rows: Vec<StockRow> = sqlx::query_as(&format!(
            "SELECT s.sku, s.location_id, s.on_hand, s.reserved FROM stock_levels s JOIN locations l ON l.id = s.location_id
              WHERE s.sku IN (SELECT DISTINCT sku FROM stock_levels
                               WHERE sku > $1 AND sku >= $2 AND sku < $3 ORDER BY sku LIMIT $4)
              ORDER BY {STOCK_ORDER}"
        ))
        .bind(after_sku.unwrap_or(""))
        .bind(low)
        .bind(high)
        .bind(limit)
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter().map(StockLevel::try_from).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.available_stock", skip_all)]
    async fn available_stock(&mut self, skus: &[Sku], _lock: bool) -> StoreResult<Vec<RankedStock>> {
        // No row locks in SQLite: the write transaction (BEGIN IMMEDIATE)
        // already holds the database's single write lock.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT s.sku, s.location_id, s.on_hand, s.reserved, l.priority, l.code
               FROM stock_levels s JOIN locations l ON l.id = s.location_id
              WHERE s.on_hand > s.reserved AND l.archived_at IS NULL AND s.sku IN (",
        );
        let mut separated = query.separated(", ");
        for sku in skus {
            separated.push_bind(sku.as_str());
        }
        query.push(format!(") ORDER BY {STOCK_ORDER}"));
        let rows: Vec<(String, Uuid, i64, i64, i32, String)> =
            query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter()
            .map(|(sku, location_id, on_hand, reserved, priority, location_code)| {
                let level = StockLevel::try_from(StockRow { sku, location_id, on_hand, reserved })?;
                Ok(RankedStock { level, priority, location_code })
            })
            .collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.reserve_stock", skip_all)]
    async fn reserve_stock(&mut self, moves: &[StockMove]) -> StoreResult<u64> {
        let now = to_micros(time::now());
        let mut applied = 0;
        for m in moves {
            let result = sqlx::query(
                "UPDATE stock_levels SET reserved = reserved + $3, updated_at = $4
                  WHERE sku = $1 AND location_id = $2 AND on_hand - reserved >= $3",
            )
            .bind(m.sku.as_str())
            .bind(m.location_id)
            .bind(m.quantity)
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
            applied += result.rows_affected();
        }
        Ok(applied)
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.release_stock", skip_all)]
    async fn release_stock(&mut self, releases: &[(StockMove, i64)]) -> StoreResult<u64> {
        let now = to_micros(time::now());
        let mut applied = 0;
        for (m, ship) in releases {
            let result = sqlx::query(
                "UPDATE stock_levels SET reserved = reserved - $3, on_hand = on_hand - $4, updated_at = $5
                  WHERE sku = $1 AND location_id = $2 AND reserved >= $3",
            )
            .bind(m.sku.as_str())
            .bind(m.location_id)
            .bind(m.quantity)
            .bind(ship)
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
            applied += result.rows_affected();
        }
        Ok(applied)
    }
}
