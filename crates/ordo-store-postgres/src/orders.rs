//! SQL of orders: the shared queries of `ordo_store_sql::orders`, and the ones
//! in this backend's dialect.

use std::ops::DerefMut;

use ordo_domain::order::OrderLine;
use ordo_store::{NewPlacement, StoreError, StoreResult};
use ordo_store_sql::audit::AUDIT_COLUMNS;
use ordo_store_sql::orders::{EVENT_COLUMNS, LINE_COLUMNS, LineRow, ORDER_COLUMNS};
use ordo_store_sql::webhooks::DOMAIN_EVENT_COLUMNS;
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::copy::CopyIn;
use ordo_store_sql::SqlSession;

use crate::{PgSession, map_err};

/// A placement as one statement: every insert and the reservation are
/// data-modifying common table expressions, which PostgreSQL runs as one
/// atomic statement (their foreign keys are checked at its end), so the
/// placement costs one round trip instead of one per table. It answers how
/// many of the stock moves were applied, as `reserve_stock` does.
fn placement_statement<'a>(p: &'a NewPlacement<'a>) -> StoreResult<QueryBuilder<'a, Postgres>> {
    let json = |e: serde_json::Error| StoreError::Other(Box::new(e));
    let o = p.order;
    let mut q = QueryBuilder::new(format!(
        "WITH o AS (INSERT INTO orders ({ORDER_COLUMNS}, idempotency_principal, idempotency_key) VALUES ("
    ));
    ordo_store_sql::bind_order_row!(q.separated(", "), o, p.idempotency);
    q.push(format!(")), l AS (INSERT INTO order_lines ({LINE_COLUMNS}) SELECT "));
    q.push_bind(o.id.as_uuid()).push("::uuid, * FROM unnest(");
    let lines = &o.lines;
    let allocations =
        lines.iter().map(|l| serde_json::to_value(&l.allocations)).collect::<Result<Vec<Value>, _>>().map_err(json)?;
    q.push_bind(lines.iter().map(|l| l.line).collect::<Vec<i32>>()).push("::int[], ");
    q.push_bind(lines.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>()).push("::text[], ");
    q.push_bind(lines.iter().map(|l| *l.product_id.as_uuid()).collect::<Vec<Uuid>>()).push("::uuid[], ");
    q.push_bind(lines.iter().map(|l| l.name.as_str()).collect::<Vec<_>>()).push("::text[], ");
    let columns: [fn(&OrderLine) -> i64; 6] =
        [|l| l.quantity, |l| l.shipped_quantity, |l| l.unit_price, |l| l.subtotal, |l| l.tax, |l| l.total];
    for column in columns {
        q.push_bind(lines.iter().map(column).collect::<Vec<i64>>()).push("::bigint[], ");
    }
    q.push_bind(allocations).push("::jsonb[], ");
    q.push_bind(lines.iter().map(|l| l.tax_rate_bp).collect::<Vec<i64>>()).push("::bigint[])), ");
    q.push(format!("e AS (INSERT INTO order_events ({EVENT_COLUMNS}) VALUES ("));
    ordo_store_sql::bind_order_event_row!(q.separated(", "), p.event);
    q.push(format!(")), a AS (INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES ("));
    ordo_store_sql::bind_audit_row!(q.separated(", "), p.audit);
    q.push(")), ");

    if let Some((d, fan_out)) = p.domain_event {
        q.push(format!("d AS (INSERT INTO domain_events ({DOMAIN_EVENT_COLUMNS}) VALUES ("));
        ordo_store_sql::bind_domain_event_row!(q.separated(", "), d);
        q.push(")), f AS (");
        crate::jobs::push_insert_jobs(&mut q, std::slice::from_ref(fan_out), Some(&d.event_type))?;
        q.push("), ");
    }
    q.push("j AS (");
    crate::jobs::push_insert_jobs(&mut q, p.jobs, None)?;
    q.push("), ");

    if let (Some((principal, key)), Some(answer)) = (p.idempotency, p.answer) {
        q.push("k AS (");
        ordo_store_sql::push_answer_update!(q, principal, key, answer)?;
        q.push("), ");
    }
    crate::inventory::push_reservation(&mut q, p.moves);
    q.push(" SELECT COALESCE(sum(moves), 0)::bigint FROM updated");
    Ok(q)
}

ordo_store_sql::order_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "orders.insert_placement", skip_all)]
    async fn insert_placement(&mut self, p: &::ordo_store::NewPlacement<'_>) -> StoreResult<u64> {
        let applied: i64 = placement_statement(p)?
            .build_query_scalar()
            .persistent(self.persistent())
            .fetch_one(self.conn())
            .await
            .map_err(Self::map_err)?;
        Ok(applied.try_into().unwrap_or_default())
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
                .persistent(self.persistent)
                .execute(self.conn())
                .await
                .map_err(Self::map_err)?;
        if result.rows_affected() != 1 {
            return Ok(false);
        }
        let lines: Vec<i32> = o.lines.iter().map(|l| l.line).collect();
        let shipped: Vec<i64> = o.lines.iter().map(|l| l.shipped_quantity).collect();
        let allocations: Vec<Value> =
            o.lines.iter().map(|l| serde_json::to_value(&l.allocations).unwrap_or(Value::Null)).collect();
        sqlx::query(
            "UPDATE order_lines AS l SET shipped_quantity = u.shipped, allocations = u.allocations
               FROM unnest($2::int[], $3::bigint[], $4::jsonb[]) AS u(line, shipped, allocations)
              WHERE l.order_id = $1 AND l.line = u.line
                AND (l.shipped_quantity <> u.shipped OR l.allocations <> u.allocations)",
        )
        .bind(o.id.as_uuid())
        .bind(&lines)
        .bind(&shipped)
        .bind(&allocations)
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(true)
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_orders", skip_all)]
    async fn insert_orders(&mut self, orders: &[Order]) -> StoreResult<()> {
        let mut rows = CopyIn::new(&format!("orders ({ORDER_COLUMNS})"));
        let mut lines = CopyIn::new(&format!("order_lines ({LINE_COLUMNS})"));
        for o in orders {
            rows.uuid(o.id.as_uuid()).uuid(o.customer_id.as_uuid()).text(&o.market).text(o.currency.code());
            rows.int(o.tax_rate_bp).text(o.status.as_str()).json(&o.shipping_address)?;
            match ordo_store_sql::orders::billing_column(&o.billing) {
                Some(billing) => rows.json(&billing.0)?,
                None => rows.null(),
            };
            rows.int(o.subtotal).int(o.tax).int(o.total).int(o.version);
            rows.timestamp(o.created_at).timestamp(o.updated_at);
            rows.int(o.shipping.net).int(o.shipping.tax_rate_bp).int(o.shipping.tax).end_row();
            for l in &o.lines {
                lines.uuid(o.id.as_uuid()).int(l.line.into()).text(l.sku.as_str()).uuid(l.product_id.as_uuid());
                lines.text(&l.name).int(l.quantity).int(l.shipped_quantity).int(l.unit_price);
                lines.int(l.subtotal).int(l.tax).int(l.total).json(&l.allocations)?.int(l.tax_rate_bp).end_row();
            }
        }
        rows.send(self.conn()).await?;
        lines.send(self.conn()).await?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_order_events", skip_all)]
    async fn insert_order_events(&mut self, events: &[OrderEvent]) -> StoreResult<()> {
        let mut copy =
            CopyIn::new("order_events (id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail)");
        for e in events {
            copy.uuid(&e.id).uuid(e.order_id.as_uuid()).timestamp(e.occurred_at).text(&e.kind);
            copy.opt_text(e.from_status.map(OrderStatus::as_str)).text(e.to_status.as_str()).text(&e.actor_name);
            match &e.detail {
                Some(detail) => copy.json(detail)?,
                None => copy.null(),
            };
            copy.end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }
});

impl<C: DerefMut<Target = PgConnection> + Send> PgSession<C> {
    pub(crate) async fn lines_of(&mut self, ids: &[Uuid]) -> StoreResult<Vec<LineRow>> {
        sqlx::query_as(&format!(
            "SELECT {LINE_COLUMNS} FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, line"
        ))
        .bind(ids)
        .persistent(self.persistent)
        .fetch_all(self.conn())
        .await
        .map_err(map_err)
    }
}
