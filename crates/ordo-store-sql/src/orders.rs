//! SQL of orders.

use ordo_domain::customer::Address;
use ordo_domain::order::{Allocation, Billing, Order, OrderLine, OrderStatus, ShippingCharge};
use ordo_domain::{Currency, CustomerId, OrderId, ProductId, Sku};
use sqlx::types::Json;
use uuid::Uuid;

use ordo_store::StoreResult;

use crate::{Ts, corrupt};

pub const ORDER_COLUMNS: &str = "id, customer_id, market, currency, tax_rate_bp, status, shipping_address, billing, subtotal, tax, total, version, created_at, updated_at, shipping_net, shipping_tax_rate_bp, shipping_tax";
pub const LINE_COLUMNS: &str = "order_id, line, sku, product_id, name, quantity, shipped_quantity, unit_price, subtotal, tax, total, allocations, tax_rate_bp";

#[derive(Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub market: String,
    pub currency: String,
    pub tax_rate_bp: i64,
    pub status: String,
    pub shipping_address: Json<Address>,
    pub billing: Option<Json<Billing>>,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
    pub version: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub shipping_net: i64,
    /// NULL on orders placed before shipping charges: the order's rate.
    pub shipping_tax_rate_bp: Option<i64>,
    pub shipping_tax: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct LineRow {
    pub order_id: Uuid,
    pub line: i32,
    pub sku: String,
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub shipped_quantity: i64,
    pub unit_price: i64,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
    pub allocations: Json<Vec<Allocation>>,
    /// NULL on lines placed before per-line rates: the order's rate.
    pub tax_rate_bp: Option<i64>,
}

pub fn status(value: &str) -> StoreResult<OrderStatus> {
    OrderStatus::parse(value).ok_or_else(|| corrupt("orders.status", value))
}

impl LineRow {
    /// The line, taxed at `order_rate` if it does not name its own rate.
    pub fn into_line(self, order_rate: i64) -> StoreResult<OrderLine> {
        Ok(OrderLine {
            line: self.line,
            sku: Sku::parse(&self.sku).map_err(|e| corrupt("order_lines.sku", e.message))?,
            product_id: ProductId::from_uuid(self.product_id),
            name: self.name,
            quantity: self.quantity,
            shipped_quantity: self.shipped_quantity,
            unit_price: self.unit_price,
            subtotal: self.subtotal,
            tax_rate_bp: self.tax_rate_bp.unwrap_or(order_rate),
            tax: self.tax,
            total: self.total,
            allocations: self.allocations.0,
        })
    }
}

impl OrderRow {
    pub fn into_order(self, lines: Vec<OrderLine>) -> StoreResult<Order> {
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            customer_id: CustomerId::from_uuid(self.customer_id),
            market: self.market,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt("orders.currency", e.message))?,
            tax_rate_bp: self.tax_rate_bp,
            status: status(&self.status)?,
            lines,
            shipping_address: self.shipping_address.0,
            billing: self.billing.map(|b| b.0).unwrap_or_default(),
            shipping: ShippingCharge {
                net: self.shipping_net,
                tax_rate_bp: self.shipping_tax_rate_bp.unwrap_or(self.tax_rate_bp),
                tax: self.shipping_tax,
                total: self.shipping_net + self.shipping_tax,
            },
            subtotal: self.subtotal,
            tax: self.tax,
            total: self.total,
            version: self.version,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

/// The `billing` column: NULL for an order without billing details (most
/// orders), so that placing one writes no JSON the database must parse.
pub fn billing_column(billing: &Billing) -> Option<Json<&Billing>> {
    (*billing != Billing::default()).then_some(Json(billing))
}

/// Joins orders with their lines (both in id / line order).
pub fn assemble(orders: Vec<OrderRow>, lines: Vec<LineRow>) -> StoreResult<Vec<Order>> {
    let mut lines = lines.into_iter().peekable();
    orders
        .into_iter()
        .map(|order| {
            let mut own = Vec::new();
            while let Some(line) = lines.next_if(|l| l.order_id == order.id) {
                own.push(line.into_line(order.tax_rate_bp)?);
            }
            order.into_order(own)
        })
        .collect()
}

/// Binds an order's row to `$row` (a `sqlx::query_builder::Separated`):
/// its [`ORDER_COLUMNS`], then the principal and key of `$idempotency`
/// (an `Option<(Uuid, &str)>`). Written once for every statement of either
/// backend that inserts an order with its key.
#[macro_export]
macro_rules! bind_order_row {
    ($row:expr, $order:expr, $idempotency:expr) => {{
        let o: &::ordo_domain::order::Order = $order;
        let idempotency: ::std::option::Option<(::uuid::Uuid, &str)> = $idempotency;
        $row.push_bind(o.id.as_uuid())
            .push_bind(o.customer_id.as_uuid())
            .push_bind(&o.market)
            .push_bind(o.currency.code())
            .push_bind(o.tax_rate_bp)
            .push_bind(o.status.as_str())
            .push_bind(::sqlx::types::Json(&o.shipping_address))
            .push_bind($crate::orders::billing_column(&o.billing))
            .push_bind(o.subtotal)
            .push_bind(o.tax)
            .push_bind(o.total)
            .push_bind(o.version)
            .push_bind($crate::Ts(o.created_at))
            .push_bind($crate::Ts(o.updated_at))
            .push_bind(o.shipping.net)
            .push_bind(o.shipping.tax_rate_bp)
            .push_bind(o.shipping.tax)
            .push_bind(idempotency.map(|(principal, _)| principal))
            .push_bind(idempotency.map(|(_, key)| key));
    }};
}

/// Binds an order line's row to `$row`, in [`LINE_COLUMNS`] order.
#[macro_export]
macro_rules! bind_line_row {
    ($row:expr, $order_id:expr, $line:expr) => {{
        let line: &::ordo_domain::order::OrderLine = $line;
        $row.push_bind($order_id.as_uuid())
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
            .push_bind(::sqlx::types::Json(&line.allocations))
            .push_bind(line.tax_rate_bp);
    }};
}

/// The columns of [`bind_order_event_row!`].
pub const EVENT_COLUMNS: &str = "id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail";

/// Binds an order's timeline entry to `$row`, in [`EVENT_COLUMNS`] order.
#[macro_export]
macro_rules! bind_order_event_row {
    ($row:expr, $event:expr) => {{
        let e: &::ordo_domain::order::OrderEvent = $event;
        $row.push_bind(e.id)
            .push_bind(e.order_id.as_uuid())
            .push_bind($crate::Ts(e.occurred_at))
            .push_bind(&e.kind)
            .push_bind(e.from_status.map(::ordo_domain::order::OrderStatus::as_str))
            .push_bind(e.to_status.as_str())
            .push_bind(&e.actor_name)
            .push_bind(e.detail.as_ref().map(::sqlx::types::Json));
    }};
}

/// Implements `OrderRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! order_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::customer::Address;
            use ::ordo_domain::order::{Allocation, Order, OrderEvent, OrderFilter, OrderLine, OrderStatus};
            use ::ordo_domain::page::PageRequest;
            use ::ordo_domain::{Currency, CustomerId, OrderId, ProductId, Sku, Timestamp};
            use ::serde_json::Value;
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use ::ordo_store::{OrderRepo, StoreResult};
            use $crate::orders::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> OrderRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "orders.insert_order", skip_all)]
                async fn insert_order(&mut self, o: &Order, idempotency: Option<(Uuid, &str)>) -> StoreResult<()> {
                    let mut insert = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!(
                        "INSERT INTO orders ({ORDER_COLUMNS}, idempotency_principal, idempotency_key) VALUES ("
                    ));
                    $crate::bind_order_row!(insert.separated(", "), o, idempotency);
                    insert.push(")");
                    insert.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    let mut insert = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("INSERT INTO order_lines ({LINE_COLUMNS}) "));
                    insert.push_values(&o.lines, |mut row, line| $crate::bind_line_row!(row, o.id, line));
                    insert.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "orders.order", skip_all)]
                async fn order(&mut self, id: OrderId) -> StoreResult<Option<Order>> {
                    let row: Option<OrderRow> = ::sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                        .bind(id.as_uuid())
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    let Some(row) = row else { return Ok(None) };
                    let lines = self.lines_of(&[row.id]).await?;
                    Ok(assemble(vec![row], lines)?.pop())
                }

                #[tracing::instrument(target = "ordo_db", name = "orders.order_by_idempotency_key", skip_all)]
                async fn order_by_idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<Option<Order>> {
                    let id: Option<Uuid> =
                        ::sqlx::query_scalar("SELECT id FROM orders WHERE idempotency_principal = $1 AND idempotency_key = $2")
                            .bind(principal)
                            .bind(key)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    match id {
                        Some(id) => self.order(OrderId::from_uuid(id)).await,
                        None => Ok(None),
                    }
                }

                #[tracing::instrument(target = "ordo_db", name = "orders.forget_order_idempotency_keys", skip_all)]
                async fn forget_order_idempotency_keys(&mut self, before: ordo_domain::Timestamp) -> StoreResult<u64> {
                    let result = ::sqlx::query(
                        "UPDATE orders SET idempotency_principal = NULL, idempotency_key = NULL
                          WHERE idempotency_key IS NOT NULL AND created_at < $1",
                    )
                    .bind(Ts(before))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected())
                }

                #[tracing::instrument(target = "ordo_db", name = "orders.list_orders", skip_all)]
                async fn list_orders(&mut self, filter: &OrderFilter, page: &PageRequest) -> StoreResult<Vec<Order>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE TRUE"));
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
                        query.push(" AND created_at >= ").push_bind(Ts(from));
                    }
                    if let Some(to) = filter.created_to {
                        query.push(" AND created_at < ").push_bind(Ts(to));
                    }
                    if let Some(market) = &filter.market {
                        query.push(" AND market = ").push_bind(market);
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let orders: Vec<OrderRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    if orders.is_empty() {
                        return Ok(Vec::new());
                    }
                    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
                    let lines = self.lines_of(&ids).await?;
                    assemble(orders, lines)
                }

                #[tracing::instrument(target = "ordo_db", name = "orders.insert_order_event", skip_all)]
                async fn insert_order_event(&mut self, e: &OrderEvent) -> StoreResult<()> {
                    let mut insert =
                        ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("INSERT INTO order_events ({EVENT_COLUMNS}) VALUES ("));
                    $crate::bind_order_event_row!(insert.separated(", "), e);
                    insert.push(")");
                    insert.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "orders.order_events", skip_all)]
                async fn order_events(&mut self, id: OrderId) -> StoreResult<Vec<OrderEvent>> {
                    #[allow(clippy::type_complexity)]
                    let rows: Vec<(Uuid, Uuid, Ts, String, Option<String>, String, String, Option<Json<Value>>)> =
                        ::sqlx::query_as(
                            "SELECT id, order_id, occurred_at, kind, from_status, to_status, actor_name, detail
                           FROM order_events WHERE order_id = $1 ORDER BY id",
                        )
                        .bind(id.as_uuid())
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    rows.into_iter()
                        .map(|(id, order_id, occurred_at, kind, from, to, actor_name, detail)| {
                            Ok(OrderEvent {
                                id,
                                order_id: OrderId::from_uuid(order_id),
                                occurred_at: occurred_at.0,
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
        };
    };
}
