//! SQL of orders: the shared queries of `ordo_store_sql::orders`, and the ones
//! in this backend's dialect.

use std::ops::DerefMut;

use ordo_store::StoreResult;
use ordo_store_sql::orders::{LINE_COLUMNS, LineRow};
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use ordo_store_sql::SqlSession;

use crate::{SqliteSession, map_err, rows_per_insert};

ordo_store_sql::order_repo!(SqliteSession, Sqlite {
    /// One statement per table: SQLite has no data-modifying common table
    /// expressions. The jobs go in one multi-row insert.
    #[tracing::instrument(target = "ordo_db", name = "orders.insert_placement", skip_all)]
    async fn insert_placement(&mut self, p: &::ordo_store::NewPlacement<'_>) -> StoreResult<u64> {
        use ::ordo_store::{AuditRepo, IdempotencyRepo, InventoryRepo, JobRepo, WebhookRepo};
        self.insert_order(p.order, p.idempotency).await?;
        self.insert_order_event(p.event).await?;
        self.insert_audit_event(p.audit).await?;
        if let Some((event, fan_out)) = p.domain_event {
            self.insert_domain_event(event).await?;
            if self.any_webhook_for(&event.event_type).await? {
                self.enqueue_job(fan_out).await?;
            }
        }
        self.enqueue_jobs(p.jobs).await?;
        if let (Some((principal, key)), Some(answer)) = (p.idempotency, p.answer) {
            self.complete_idempotency_key(principal, key, answer).await?;
        }
        self.reserve_stock(p.moves).await
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.update_order", skip_all)]
    async fn update_order(&mut self, o: &Order, expected_version: i64) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE orders SET status = $3, version = $4, updated_at = $5 WHERE id = $1 AND version = $2")
                .bind(o.id.as_uuid())
                .bind(expected_version)
                .bind(o.status.as_str())
                .bind(o.version)
                .bind(Ts(o.updated_at))
                .execute(self.conn())
                .await
                .map_err(Self::map_err)?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        for line in &o.lines {
            sqlx::query(
                "UPDATE order_lines SET shipped_quantity = $3, allocations = $4 WHERE order_id = $1 AND line = $2",
            )
            .bind(o.id.as_uuid())
            .bind(line.line)
            .bind(line.shipped_quantity)
            .bind(Json(&line.allocations))
            .execute(self.conn())
            .await
            .map_err(Self::map_err)?;
        }
        Ok(true)
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_orders", skip_all)]
    async fn insert_orders(&mut self, orders: &[Order]) -> StoreResult<()> {
        for chunk in orders.chunks(rows_per_insert(17)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("INSERT INTO orders ({ORDER_COLUMNS}) "));
            insert.push_values(chunk, |mut row, o| {
                row.push_bind(o.id.as_uuid())
                    .push_bind(o.customer_id.as_uuid())
                    .push_bind(&o.market)
                    .push_bind(o.currency.code())
                    .push_bind(o.tax_rate_bp)
                    .push_bind(o.status.as_str())
                    .push_bind(Json(&o.shipping_address))
                    .push_bind(ordo_store_sql::orders::billing_column(&o.billing))
                    .push_bind(o.subtotal)
                    .push_bind(o.tax)
                    .push_bind(o.total)
                    .push_bind(o.version)
                    .push_bind(Ts(o.created_at))
                    .push_bind(Ts(o.updated_at))
                    .push_bind(o.shipping.net)
                    .push_bind(o.shipping.tax_rate_bp)
                    .push_bind(o.shipping.tax);
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        let lines: Vec<(&Order, &OrderLine)> =
            orders.iter().flat_map(|o| o.lines.iter().map(move |l| (o, l))).collect();
        for chunk in lines.chunks(rows_per_insert(13)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("INSERT INTO order_lines ({LINE_COLUMNS}) "));
            insert.push_values(chunk, |mut row, (o, line)| {
                row.push_bind(o.id.as_uuid())
                    .push_bind(line.line)
                    .push_bind(line.sku.as_str())
                    .push_bind(line.product_id.as_uuid())
                    .push_bind(&line.name)
                    .push_bind(line.quantity)
                    .push_bind(line.shipped_quantity)
                    .push_bind(line.unit_price)
                    .push_bind(line.subtotal)
                    .push_bind(line.tax)
                    .push_bind(line.total)
                    .push_bind(Json(&line.allocations))
                    .push_bind(line.tax_rate_bp);
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_order_events", skip_all)]
    async fn insert_order_events(&mut self, events: &[OrderEvent]) -> StoreResult<()> {
        for chunk in events.chunks(rows_per_insert(8)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO order_events (id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.order_id.as_uuid())
                    .push_bind(Ts(e.occurred_at))
                    .push_bind(&e.kind)
                    .push_bind(e.from_status.map(OrderStatus::as_str))
                    .push_bind(e.to_status.as_str())
                    .push_bind(&e.actor_name)
                    .push_bind(e.detail.as_ref().map(Json));
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        Ok(())
    }
});

impl<C: DerefMut<Target = SqliteConnection> + Send> SqliteSession<C> {
    pub(crate) async fn lines_of(&mut self, ids: &[Uuid]) -> StoreResult<Vec<LineRow>> {
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id IN ("));
        let mut separated = query.separated(", ");
        for id in ids {
            separated.push_bind(*id);
        }
        query.push(") ORDER BY order_id, line");
        query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)
    }
}
