//! SQL of inventory: the shared queries of `ordo_store_sql::inventory`, and the ones
//! in this backend's dialect.

use ordo_domain::time;
use ordo_store::StockMove;
use ordo_store_sql::Ts;
use ordo_store_sql::inventory::STOCK_ORDER;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgSession;
use crate::copy::CopyIn;

/// `locked`: the `stock_levels` rows of the moves in `m`, locked in
/// allocation order, so that placements and releases touching the same
/// SKUs cannot deadlock. A CTE with FOR UPDATE is never folded into the
/// outer query, and its rows are locked as it emits them, sorted.
fn locked_in_allocation_order() -> String {
    format!(
        "locked AS MATERIALIZED (
            SELECT s.sku, s.location_id FROM stock_levels s
              JOIN locations l ON l.id = s.location_id
              JOIN m ON m.sku = s.sku AND m.location_id = s.location_id
             ORDER BY {STOCK_ORDER}
               FOR UPDATE OF s)"
    )
}

/// Pushes the guarded reservation of `moves` as common table expressions,
/// the last named `updated`, returning each updated row's `moves` (how many
/// of `moves` it applied): `reserve_stock` sums them, and so does a
/// placement's statement.
///
/// Rows not locked yet are locked in allocation order first (as in
/// `release_stock`); the guard is rechecked on each row's latest version, as
/// an UPDATE does under READ COMMITTED. Moves of one row are summed first:
/// an UPDATE changes a row once however many input rows match it, so a
/// repeated row applied only one of its moves. (The `stock_levels` CHECK
/// refuses an oversell even without the guard.)
pub(crate) fn push_reservation<'a>(q: &mut QueryBuilder<'a, Postgres>, moves: &'a [StockMove]) {
    q.push("m AS (SELECT sku, location_id, sum(quantity)::bigint AS quantity, count(*) AS moves FROM unnest(");
    q.push_bind(moves.iter().map(|m| m.sku.as_str()).collect::<Vec<_>>()).push("::text[], ");
    q.push_bind(moves.iter().map(|m| m.location_id).collect::<Vec<Uuid>>()).push("::uuid[], ");
    q.push_bind(moves.iter().map(|m| m.quantity).collect::<Vec<i64>>()).push(format!(
        "::bigint[]) AS m(sku, location_id, quantity) GROUP BY sku, location_id), {},
         updated AS (
            UPDATE stock_levels AS s SET reserved = s.reserved + m.quantity, updated_at = ",
        locked_in_allocation_order()
    ));
    q.push_bind(Ts(time::now())).push(
        " FROM m, locked
             WHERE s.sku = m.sku AND s.location_id = m.location_id
               AND locked.sku = s.sku AND locked.location_id = s.location_id
               AND s.on_hand - s.reserved >= m.quantity
            RETURNING m.moves)",
    );
}

ordo_store_sql::inventory_repo!(PgSession, Postgres {
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
        .persistent(self.persistent())
        .fetch_all(self.conn())
        .await
        .map_err(Self::map_err)?;
        rows.into_iter()
            .map(|(sku, location_id, on_hand, reserved, priority, location_code)| {
                let level = StockLevel::try_from(StockRow { sku, location_id, on_hand, reserved })?;
                Ok(RankedStock { level, priority, location_code })
            })
            .collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "inventory.reserve_stock", skip_all)]
    async fn reserve_stock(&mut self, moves: &[StockMove]) -> StoreResult<u64> {
        let mut query = sqlx::QueryBuilder::new("WITH ");
        push_reservation(&mut query, moves);
        query.push(" SELECT COALESCE(sum(moves), 0)::bigint FROM updated");
        let applied: i64 = query
            .build_query_scalar()
        .persistent(self.persistent())
        .fetch_one(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(applied.try_into().unwrap_or_default())
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
        let applied: i64 = sqlx::query_scalar(&format!(
            "WITH m AS (SELECT sku, location_id, sum(quantity)::bigint AS quantity, sum(ship)::bigint AS ship,
                               count(*) AS moves
                          FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::bigint[])
                            AS m(sku, location_id, quantity, ship)
                         GROUP BY sku, location_id),
                  {},
                  updated AS (
             UPDATE stock_levels AS s
                SET reserved = s.reserved - m.quantity, on_hand = s.on_hand - m.ship, updated_at = $5
               FROM m, locked
              WHERE s.sku = m.sku AND s.location_id = m.location_id
                AND locked.sku = s.sku AND locked.location_id = s.location_id
                AND s.reserved >= m.quantity
             RETURNING m.moves)
             SELECT COALESCE(sum(moves), 0)::bigint FROM updated",
            locked_in_allocation_order()
        ))
        .bind(&skus)
        .bind(&locations)
        .bind(&quantities)
        .bind(&shipped)
        .bind(Ts(time::now()))
        .persistent(self.persistent())
        .fetch_one(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(applied.try_into().unwrap_or_default())
    }
});
