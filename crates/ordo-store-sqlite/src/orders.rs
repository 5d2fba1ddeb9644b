//! SQL of orders: the shared queries of `ordo_store_sql::orders`, and the ones
//! in this backend's dialect.

use std::ops::DerefMut;

use ordo_domain::order::OrderStatus;
use ordo_store::{NewPlacement, StoreResult};
use ordo_store_sql::Ts;
use ordo_store_sql::orders::{LINE_COLUMNS, LineRow, ORDER_COLUMNS, billing_column};
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use ordo_store_sql::SqlSession;

use crate::{SqliteSession, map_err, rows_per_insert};

/// A placement as one query of several statements. SQLite has no
/// data-modifying common table expressions, but sqlx runs every statement
/// of a query string in one call to its worker thread, binding each its
/// share of the arguments; one call instead of one per table matters here
/// because the calls are made inside the one writer's critical section.
/// Each applied stock move returns a row (the reservation's guard refuses
/// the others), so the rows counted are the moves applied.
fn placement_statements<'a>(p: &'a NewPlacement<'a>, now: Ts) -> StoreResult<QueryBuilder<'a, Sqlite>> {
    let o = p.order;
    let mut q = QueryBuilder::new(format!(
        "INSERT INTO orders ({ORDER_COLUMNS}, idempotency_principal, idempotency_key) VALUES ("
    ));
    let mut row = q.separated(", ");
    row.push_bind(o.id.as_uuid())
        .push_bind(o.customer_id.as_uuid())
        .push_bind(&o.market)
        .push_bind(o.currency.code())
        .push_bind(o.tax_rate_bp)
        .push_bind(o.status.as_str())
        .push_bind(Json(&o.shipping_address))
        .push_bind(billing_column(&o.billing))
        .push_bind(o.subtotal)
        .push_bind(o.tax)
        .push_bind(o.total)
        .push_bind(o.version)
        .push_bind(Ts(o.created_at))
        .push_bind(Ts(o.updated_at))
        .push_bind(o.shipping.net)
        .push_bind(o.shipping.tax_rate_bp)
        .push_bind(o.shipping.tax)
        .push_bind(p.idempotency.map(|(principal, _)| principal))
        .push_bind(p.idempotency.map(|(_, key)| key));
    q.push(format!("); INSERT INTO order_lines ({LINE_COLUMNS}) "));
    q.push_values(&o.lines, |mut row, line| {
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

    let e = p.event;
    q.push("; INSERT INTO order_events (id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail) VALUES (");
    let mut row = q.separated(", ");
    row.push_bind(e.id)
        .push_bind(e.order_id.as_uuid())
        .push_bind(Ts(e.occurred_at))
        .push_bind(&e.kind)
        .push_bind(e.from_status.map(OrderStatus::as_str))
        .push_bind(e.to_status.as_str())
        .push_bind(&e.actor_name)
        .push_bind(e.detail.as_ref().map(Json));

    let a = p.audit;
    q.push("); INSERT INTO audit_events (id, occurred_at, actor_key_id, actor_name, action, entity_type, entity_id, request_id, before, after, hash) VALUES (");
    let mut row = q.separated(", ");
    row.push_bind(a.id)
        .push_bind(Ts(a.occurred_at))
        .push_bind(a.actor_key_id)
        .push_bind(&a.actor_name)
        .push_bind(&a.action)
        .push_bind(&a.entity_type)
        .push_bind(&a.entity_id)
        .push_bind(&a.request_id)
        .push_bind(a.before.as_ref().map(Json))
        .push_bind(a.after.as_ref().map(Json))
        .push_bind(&a.hash);
    q.push("); ");

    if let Some((d, fan_out)) = p.domain_event {
        q.push("INSERT INTO domain_events (id, type, order_id, occurred_at, data) VALUES (");
        let mut row = q.separated(", ");
        row.push_bind(d.id)
            .push_bind(&d.event_type)
            .push_bind(d.order_id)
            .push_bind(Ts(d.occurred_at))
            .push_bind(Json(&d.data));
        q.push("); ");
        crate::jobs::push_insert_job_if_subscribed(&mut q, fan_out, &d.event_type, now);
        q.push("; ");
    }
    if !p.jobs.is_empty() {
        crate::jobs::push_insert_jobs(&mut q, p.jobs, now);
        q.push("; ");
    }
    if let (Some((principal, key)), Some(answer)) = (p.idempotency, p.answer) {
        let (outcome, response) = ordo_store_sql::idempotency::split(Some(answer));
        q.push("UPDATE idempotency_keys SET response_status = ");
        q.push_bind(response.map(|a| i32::from(a.status)));
        q.push(", response_type = ").push_bind(response.and_then(|a| a.content_type.as_deref()));
        q.push(", response_location = ").push_bind(response.and_then(|a| a.location.as_deref()));
        q.push(", response_body = ").push_bind(response.map(|a| a.body.as_slice()));
        q.push(", outcome = ").push_bind(outcome.map(ordo_store_sql::idempotency::encode).transpose()?);
        q.push(" WHERE principal = ").push_bind(principal).push(" AND key = ").push_bind(key).push("; ");
    }
    for m in p.moves {
        q.push("UPDATE stock_levels SET reserved = reserved + ").push_bind(m.quantity);
        q.push(", updated_at = ").push_bind(now);
        q.push(" WHERE sku = ").push_bind(m.sku.as_str()).push(" AND location_id = ").push_bind(m.location_id);
        q.push(" AND on_hand - reserved >= ").push_bind(m.quantity).push(" RETURNING 1; ");
    }
    Ok(q)
}

ordo_store_sql::order_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "orders.insert_placement", skip_all)]
    async fn insert_placement(&mut self, p: &::ordo_store::NewPlacement<'_>) -> StoreResult<u64> {
        let now = Ts(::ordo_domain::time::now());
        let applied = placement_statements(p, now)?.build().fetch_all(self.conn()).await.map_err(Self::map_err)?;
        Ok(applied.len() as u64)
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
