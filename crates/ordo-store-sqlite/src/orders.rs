//! SQL of orders.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::customer::Address;
use ordo_domain::order::{Allocation, Order, OrderEvent, OrderFilter, OrderLine, OrderStatus};
use ordo_domain::page::PageRequest;
use ordo_domain::{Currency, CustomerId, OrderId, ProductId, Sku};
use ordo_store::{OrderRepo, StoreResult};
use serde_json::Value;
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use uuid::Uuid;

use crate::{SqliteSession, corrupt, from_micros, map_err, rows_per_insert, to_micros};

const ORDER_COLUMNS: &str = "id, customer_id, market, currency, tax_rate_bp, status, shipping_address, subtotal, tax, total, version, created_at, updated_at";
const LINE_COLUMNS: &str =
    "order_id, line, sku, product_id, name, quantity, shipped_quantity, unit_price, subtotal, tax, total, allocations";

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: Uuid,
    customer_id: Uuid,
    market: String,
    currency: String,
    tax_rate_bp: i64,
    status: String,
    shipping_address: Json<Address>,
    subtotal: i64,
    tax: i64,
    total: i64,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct LineRow {
    order_id: Uuid,
    line: i32,
    sku: String,
    product_id: Uuid,
    name: String,
    quantity: i64,
    shipped_quantity: i64,
    unit_price: i64,
    subtotal: i64,
    tax: i64,
    total: i64,
    allocations: Json<Vec<Allocation>>,
}

fn status(value: &str) -> StoreResult<OrderStatus> {
    OrderStatus::parse(value).ok_or_else(|| corrupt("orders.status", value))
}

impl LineRow {
    fn into_line(self) -> StoreResult<OrderLine> {
        Ok(OrderLine {
            line: self.line,
            sku: Sku::parse(&self.sku).map_err(|e| corrupt("order_lines.sku", e.message))?,
            product_id: ProductId::from_uuid(self.product_id),
            name: self.name,
            quantity: self.quantity,
            shipped_quantity: self.shipped_quantity,
            unit_price: self.unit_price,
            subtotal: self.subtotal,
            tax: self.tax,
            total: self.total,
            allocations: self.allocations.0,
        })
    }
}

impl OrderRow {
    fn into_order(self, lines: Vec<OrderLine>) -> StoreResult<Order> {
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            customer_id: CustomerId::from_uuid(self.customer_id),
            market: self.market,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt("orders.currency", e.message))?,
            tax_rate_bp: self.tax_rate_bp,
            status: status(&self.status)?,
            lines,
            shipping_address: self.shipping_address.0,
            subtotal: self.subtotal,
            tax: self.tax,
            total: self.total,
            version: self.version,
            created_at: from_micros("created_at", self.created_at)?,
            updated_at: from_micros("updated_at", self.updated_at)?,
        })
    }
}

/// Joins orders with their lines (both in id / line order).
fn assemble(orders: Vec<OrderRow>, lines: Vec<LineRow>) -> StoreResult<Vec<Order>> {
    let mut lines = lines.into_iter().peekable();
    orders
        .into_iter()
        .map(|order| {
            let mut own = Vec::new();
            while let Some(line) = lines.next_if(|l| l.order_id == order.id) {
                own.push(line.into_line()?);
            }
            order.into_order(own)
        })
        .collect()
}

impl<C: DerefMut<Target = SqliteConnection> + Send> SqliteSession<C> {
    async fn lines_of(&mut self, ids: &[Uuid]) -> StoreResult<Vec<LineRow>> {
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

#[async_trait]
impl<C: DerefMut<Target = SqliteConnection> + Send> OrderRepo for SqliteSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "orders.insert_order", skip_all)]
    async fn insert_order(&mut self, o: &Order, idempotency: Option<(Uuid, &str)>) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO orders ({ORDER_COLUMNS}, idempotency_principal, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(o.id.as_uuid())
        .bind(o.customer_id.as_uuid())
        .bind(&o.market)
        .bind(o.currency.code())
        .bind(o.tax_rate_bp)
        .bind(o.status.as_str())
        .bind(Json(&o.shipping_address))
        .bind(o.subtotal)
        .bind(o.tax)
        .bind(o.total)
        .bind(o.version)
        .bind(to_micros(o.created_at))
        .bind(to_micros(o.updated_at))
        .bind(idempotency.map(|(principal, _)| principal))
        .bind(idempotency.map(|(_, key)| key))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        let mut insert = QueryBuilder::<Sqlite>::new(format!("INSERT INTO order_lines ({LINE_COLUMNS}) "));
        insert.push_values(&o.lines, |mut row, line| {
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
                .push_bind(Json(&line.allocations));
        });
        insert.build().execute(self.conn()).await.map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.order", skip_all)]
    async fn order(&mut self, id: OrderId) -> StoreResult<Option<Order>> {
        let row: Option<OrderRow> = sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let lines = self.lines_of(&[row.id]).await?;
        Ok(assemble(vec![row], lines)?.pop())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.order_by_idempotency_key", skip_all)]
    async fn order_by_idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<Option<Order>> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM orders WHERE idempotency_principal = $1 AND idempotency_key = $2")
                .bind(principal)
                .bind(key)
                .fetch_optional(self.conn())
                .await
                .map_err(map_err)?;
        match id {
            Some(id) => self.order(OrderId::from_uuid(id)).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.forget_order_idempotency_keys", skip_all)]
    async fn forget_order_idempotency_keys(&mut self, before: ordo_domain::Timestamp) -> StoreResult<u64> {
        let result = sqlx::query(
            "UPDATE orders SET idempotency_principal = NULL, idempotency_key = NULL
              WHERE idempotency_key IS NOT NULL AND created_at < $1",
        )
        .bind(to_micros(before))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.update_order", skip_all)]
    async fn update_order(&mut self, o: &Order, expected_version: i64) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE orders SET status = $3, version = $4, updated_at = $5 WHERE id = $1 AND version = $2")
                .bind(o.id.as_uuid())
                .bind(expected_version)
                .bind(o.status.as_str())
                .bind(o.version)
                .bind(to_micros(o.updated_at))
                .execute(self.conn())
                .await
                .map_err(map_err)?;
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
            .map_err(map_err)?;
        }
        Ok(true)
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.list_orders", skip_all)]
    async fn list_orders(&mut self, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE TRUE"));
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        if let Some(status) = filter.status {
            query.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(customer) = filter.customer_id {
            query.push(" AND customer_id = ").push_bind(*customer.as_uuid());
        }
        if let Some(from) = filter.created_from {
            query.push(" AND created_at >= ").push_bind(to_micros(from));
        }
        if let Some(to) = filter.created_to {
            query.push(" AND created_at < ").push_bind(to_micros(to));
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let orders: Vec<OrderRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
        let lines = self.lines_of(&ids).await?;
        assemble(orders, lines)
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_order_event", skip_all)]
    async fn insert_order_event(&mut self, e: &OrderEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO order_events (id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.id)
        .bind(e.order_id.as_uuid())
        .bind(to_micros(e.occurred_at))
        .bind(&e.kind)
        .bind(e.from_status.map(OrderStatus::as_str))
        .bind(e.to_status.as_str())
        .bind(&e.actor_name)
        .bind(e.detail.as_ref().map(Json))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_orders", skip_all)]
    async fn insert_orders(&mut self, orders: &[Order]) -> StoreResult<()> {
        for chunk in orders.chunks(rows_per_insert(13)) {
            let mut insert = QueryBuilder::<Sqlite>::new(format!("INSERT INTO orders ({ORDER_COLUMNS}) "));
            insert.push_values(chunk, |mut row, o| {
                row.push_bind(o.id.as_uuid())
                    .push_bind(o.customer_id.as_uuid())
                    .push_bind(&o.market)
                    .push_bind(o.currency.code())
                    .push_bind(o.tax_rate_bp)
                    .push_bind(o.status.as_str())
                    .push_bind(Json(&o.shipping_address))
                    .push_bind(o.subtotal)
                    .push_bind(o.tax)
                    .push_bind(o.total)
                    .push_bind(o.version)
                    .push_bind(to_micros(o.created_at))
                    .push_bind(to_micros(o.updated_at));
            });
            insert.build().execute(self.conn()).await.map_err(map_err)?;
        }
        let lines: Vec<(&Order, &OrderLine)> =
            orders.iter().flat_map(|o| o.lines.iter().map(move |l| (o, l))).collect();
        for chunk in lines.chunks(rows_per_insert(12)) {
            let mut insert = QueryBuilder::<Sqlite>::new(format!("INSERT INTO order_lines ({LINE_COLUMNS}) "));
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
                    .push_bind(Json(&line.allocations));
            });
            insert.build().execute(self.conn()).await.map_err(map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.insert_order_events", skip_all)]
    async fn insert_order_events(&mut self, events: &[OrderEvent]) -> StoreResult<()> {
        for chunk in events.chunks(rows_per_insert(8)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO order_events (id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(e.id)
                    .push_bind(e.order_id.as_uuid())
                    .push_bind(to_micros(e.occurred_at))
                    .push_bind(&e.kind)
                    .push_bind(e.from_status.map(OrderStatus::as_str))
                    .push_bind(e.to_status.as_str())
                    .push_bind(&e.actor_name)
                    .push_bind(e.detail.as_ref().map(Json));
            });
            insert.build().execute(self.conn()).await.map_err(map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "orders.order_events", skip_all)]
    async fn order_events(&mut self, id: OrderId) -> StoreResult<Vec<OrderEvent>> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(Uuid, Uuid, i64, String, Option<String>, String, String, Option<Json<Value>>)> = sqlx::query_as(
            "SELECT id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail
               FROM order_events WHERE order_id = $1 ORDER BY id",
        )
        .bind(id.as_uuid())
        .fetch_all(self.conn())
        .await
        .map_err(map_err)?;
        rows.into_iter()
            .map(|(id, order_id, occurred_at, kind, from, to, actor_name, detail)| {
                Ok(OrderEvent {
                    id,
                    order_id: OrderId::from_uuid(order_id),
                    occurred_at: from_micros("occurred_at", occurred_at)?,
                    kind,
                    from_status: from.as_deref().map(status).transpose()?,
                    to_status: status(&to)?,
                    actor_name,
                    detail: detail.map(|d| d.0),
                })
            })
            .collect()
    }
}
