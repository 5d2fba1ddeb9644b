//! SQL of orders: the shared queries of `ordo_store_sql::orders`, and the ones
//! in this backend's dialect.

use std::ops::DerefMut;

use ordo_store::{NewPlacement, StoreResult};
use ordo_store_sql::Ts;
use ordo_store_sql::audit::AUDIT_COLUMNS;
use ordo_store_sql::orders::{EVENT_COLUMNS, LINE_COLUMNS, LineRow, ORDER_COLUMNS};
use ordo_store_sql::webhooks::DOMAIN_EVENT_COLUMNS;
use sqlx::sqlite::SqliteConnection;
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
    ordo_store_sql::bind_order_row!(q.separated(", "), o, p.idempotency);
    q.push(format!("); INSERT INTO order_lines ({LINE_COLUMNS}) "));
    q.push_values(&o.lines, |mut row, line| ordo_store_sql::bind_line_row!(row, o.id, line));
    q.push(format!("; INSERT INTO order_events ({EVENT_COLUMNS}) VALUES ("));
    ordo_store_sql::bind_order_event_row!(q.separated(", "), p.event);
    q.push(format!("); INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES ("));
    ordo_store_sql::bind_audit_row!(q.separated(", "), p.audit);
    q.push("); ");

    if let Some((d, fan_out)) = p.domain_event {
        q.push(format!("INSERT INTO domain_events ({DOMAIN_EVENT_COLUMNS}) VALUES ("));
        ordo_store_sql::bind_domain_event_row!(q.separated(", "), d);
        q.push("); ");
        crate::jobs::push_insert_job_if_subscribed(&mut q, fan_out, &d.event_type, now);
        q.push("; ");
    }
    if !p.jobs.is_empty() {
        crate::jobs::push_insert_jobs(&mut q, p.jobs, now);
        q.push("; ");
    }
    if let (Some((principal, key)), Some(answer)) = (p.idempotency, p.answer) {
        ordo_store_sql::push_answer_update!(q, principal, key, answer)?;
        q.push("; ");
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
        for chunk in orders.chunks(rows_per_insert(19)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
                "INSERT INTO orders ({ORDER_COLUMNS}, idempotency_principal, idempotency_key) "
            ));
            insert.push_values(chunk, |mut row, o| ordo_store_sql::bind_order_row!(row, o, None));
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        let lines: Vec<(&Order, &OrderLine)> =
            orders.iter().flat_map(|o| o.lines.iter().map(move |l| (o, l))).collect();
        for chunk in lines.chunks(rows_per_insert(13)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("INSERT INTO order_lines ({LINE_COLUMNS}) "));
            insert.push_values(chunk, |mut row, (o, line)| ordo_store_sql::bind_line_row!(row, o.id, line));
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
