//! SQL of inventory: the shared queries of `ordo_store_sql::inventory`, and the ones
//! in this backend's dialect.

use crate::{SqliteSession, rows_per_insert};

ordo_store_sql::inventory_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "inventory.insert_stock_levels", skip_all)]
    async fn insert_stock_levels(&mut self, levels: &[StockLevel]) -> StoreResult<()> {
        let now = Ts(time::now());
        for chunk in levels.chunks(rows_per_insert(5)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO stock_levels (sku, location_id, on_hand, reserved, updated_at) ",
            );
            insert.push_values(chunk, |mut row, l| {
                row.push_bind(l.sku.as_str())
                    .push_bind(l.location_id)
                    .push_bind(l.on_hand)
                    .push_bind(l.reserved)
                    .push_bind(now);
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.available_stock", skip_all)]
    async fn available_stock(&mut self, skus: &[Sku], _lock: bool) -> StoreResult<Vec<RankedStock>> {
        // No row locks in SQLite: the write transaction (BEGIN IMMEDIATE)
        // already holds the database's single write lock.
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
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
            query.build_query_as().fetch_all(self.conn()).await.map_err(Self::map_err)?;
        rows.into_iter()
            .map(|(sku, location_id, on_hand, reserved, priority, location_code)| {
                let level = StockLevel::try_from(StockRow { sku, location_id, on_hand, reserved })?;
                Ok(RankedStock { level, priority, location_code })
            })
            .collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.reserve_stock", skip_all)]
    async fn reserve_stock(&mut self, moves: &[StockMove]) -> StoreResult<u64> {
        let now = Ts(time::now());
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
            .map_err(Self::map_err)?;
            applied += result.rows_affected();
        }
        Ok(applied)
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.release_stock", skip_all)]
    async fn release_stock(&mut self, releases: &[(StockMove, i64)]) -> StoreResult<u64> {
        let now = Ts(time::now());
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
            .map_err(Self::map_err)?;
            applied += result.rows_affected();
        }
        Ok(applied)
    }
});
