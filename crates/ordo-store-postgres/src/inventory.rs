//! SQL of inventory.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::inventory::{Location, LocationId, StockLevel};
use ordo_domain::{RecordMeta, Sku, Timestamp, time};
use ordo_store::{InventoryRepo, RankedStock, StockMove, StoreResult};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::copy::CopyIn;
use crate::{PgSession, corrupt, map_err};

const LOCATION_COLUMNS: &str = "id, code, name, priority, version, created_at, updated_at, archived_at";

#[derive(sqlx::FromRow)]
struct LocationRow {
    id: Uuid,
    code: String,
    name: String,
    priority: i32,
    version: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    archived_at: Option<Timestamp>,
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
                created_at: row.created_at,
                updated_at: row.updated_at,
                archived_at: row.archived_at,
            },
        }
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
impl<C: DerefMut<Target = PgConnection> + Send> InventoryRepo for PgSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "inventory.insert_location", skip_all)]
    async fn insert_location(&mut self, l: &Location) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO locations ({LOCATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(l.id)
            .bind(&l.code)
            .bind(&l.name)
            .bind(l.priority)
            .bind(l.meta.version)
            .bind(l.meta.created_at)
            .bind(l.meta.updated_at)
            .bind(l.meta.archived_at)
            .persistent(self.persistent)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.insert_stock_levels", skip_all)]
    async fn insert_stock_levels(&mut self, levels: &[StockLevel]) -> StoreResult<()> {
        let now = time::now();
        let mut copy = CopyIn::new("stock_levels (sku, location_id, on_hand, reserved, updated_at)");
        for l in levels {
            copy.text(l.sku.as_str()).uuid(&l.location_id).int(l.on_hand).int(l.reserved).timestamp(now).end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.location", skip_all)]
    async fn location(&mut self, id: LocationId) -> StoreResult<Option<Location>> {
        let row: Option<LocationRow> =
            sqlx::query_as(&format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE id = $1"))
                .bind(id)
                .persistent(self.persistent)
                .fetch_optional(self.conn())
                .await
                .map_err(map_err)?;
        Ok(row.map(Location::from))
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.list_locations", skip_all)]
    async fn list_locations(&mut self) -> StoreResult<Vec<Location>> {
        let rows: Vec<LocationRow> =
            sqlx::query_as(&format!("SELECT {LOCATION_COLUMNS} FROM locations ORDER BY priority, code"))
                .persistent(self.persistent)
                .fetch_all(self.conn())
                .await
                .map_err(map_err)?;
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
        let row: Option<StockRow> = sqlx::query_as(sql)
            .bind(sku.as_str())
            .bind(location)
            .bind(delta)
            .bind(time::now())
            .persistent(self.persistent)
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
        .persistent(self.persistent)
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
        .persistent(self.persistent)
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter().map(StockLevel::try_from).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.available_stock", skip_all)]
    async fn available_stock(&mut self, skus: &[Sku], lock: bool) -> StoreResult<Vec<RankedStock>> {
        let skus: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let rows: Vec<(String, Uuid, i64, i64, i32, String)> = sqlx::query_as(&format!(
            "SELECT s.sku, s.location_id, s.on_hand, s.reserved, l.priority, l.code
               FROM stock_levels s JOIN locations l ON l.id = s.location_id
              WHERE s.sku = ANY($1) AND s.on_hand > s.reserved AND l.archived_at IS NULL
              ORDER BY {STOCK_ORDER} {}",
            if lock { "FOR UPDATE OF s" } else { "" }
        ))
        .bind(&skus)
        .persistent(self.persistent)
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter()
            .map(|(sku, location_id, on_hand, reserved, priority, location_code)| {
                let level = StockLevel::try_from(StockRow { sku, location_id, on_hand, reserved })?;
                Ok(RankedStock { level, priority, location_code })
            })
            .collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.reserve_stock", skip_all)]
    async fn reserve_stock(&mut self, moves: &[StockMove]) -> StoreResult<u64> {
        let skus: Vec<&str> = moves.iter().map(|m| m.sku.as_str()).collect();
        let locations: Vec<Uuid> = moves.iter().map(|m| m.location_id).collect();
        let quantities: Vec<i64> = moves.iter().map(|m| m.quantity).collect();
        // Rows not locked yet are locked in allocation order first (as in
        // `release_stock`); the guard is rechecked on each row's latest
        // version, as an UPDATE does under READ COMMITTED.
        let result = sqlx::query(&format!(
            "WITH m AS (SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[]) AS m(sku, location_id, quantity)),
                  locked AS MATERIALIZED (
                      SELECT s.sku, s.location_id FROM stock_levels s
                        JOIN locations l ON l.id = s.location_id
                        JOIN m ON m.sku = s.sku AND m.location_id = s.location_id
                       ORDER BY {STOCK_ORDER}
                         FOR UPDATE OF s)
             UPDATE stock_levels AS s SET reserved = s.reserved + m.quantity, updated_at = $4
               FROM m, locked
              WHERE s.sku = m.sku AND s.location_id = m.location_id
                AND locked.sku = s.sku AND locked.location_id = s.location_id
                AND s.on_hand - s.reserved >= m.quantity"
        ))
        .bind(&skus)
        .bind(&locations)
        .bind(&quantities)
        .bind(time::now())
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected())
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.release_stock", skip_all)]
    async fn release_stock(&mut self, releases: &[(StockMove, i64)]) -> StoreResult<u64> {
        let skus: Vec<&str> = releases.iter().map(|(m, _)| m.sku.as_str()).collect();
        let locations: Vec<Uuid> = releases.iter().map(|(m, _)| m.location_id).collect();
        let quantities: Vec<i64> = releases.iter().map(|(m, _)| m.quantity).collect();
        let shipped: Vec<i64> = releases.iter().map(|(_, ship)| *ship).collect();
        // The rows are locked first, in the order placement locks them, so
        // that a release and a placement (or two releases) touching the same
        // SKUs cannot deadlock. A CTE with FOR UPDATE is never folded into
        // the outer query, and its rows are locked as it emits them, sorted.
        let result = sqlx::query(&format!(
            "WITH m AS (SELECT * FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::bigint[])
                          AS m(sku, location_id, quantity, ship)),
                  locked AS MATERIALIZED (
                      SELECT s.sku, s.location_id FROM stock_levels s
                        JOIN locations l ON l.id = s.location_id
                        JOIN m ON m.sku = s.sku AND m.location_id = s.location_id
                       ORDER BY {STOCK_ORDER}
                         FOR UPDATE OF s)
             UPDATE stock_levels AS s
                SET reserved = s.reserved - m.quantity, on_hand = s.on_hand - m.ship, updated_at = $5
               FROM m, locked
              WHERE s.sku = m.sku AND s.location_id = m.location_id
                AND locked.sku = s.sku AND locked.location_id = s.location_id
                AND s.reserved >= m.quantity"
        ))
        .bind(&skus)
        .bind(&locations)
        .bind(&quantities)
        .bind(&shipped)
        .bind(time::now())
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected())
    }
}
