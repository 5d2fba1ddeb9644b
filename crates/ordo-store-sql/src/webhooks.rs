//! SQL of domain events and webhooks.

use ordo_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use sqlx::types::Json;
use uuid::Uuid;

use ordo_store::StoreResult;

use crate::{Ts, corrupt, ts};

pub const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, order_id, status, attempts, last_status_code, last_error, created_at, delivered_at";

#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub order_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: Ts,
    pub delivered_at: Option<Ts>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = ordo_store::StoreError;

    fn try_from(r: DeliveryRow) -> StoreResult<Self> {
        Ok(Delivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            event_type: r.event_type,
            order_id: r.order_id,
            status: DeliveryStatus::parse(&r.status).ok_or_else(|| corrupt("webhook_deliveries.status", &r.status))?,
            attempts: r.attempts,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            created_at: r.created_at.0,
            delivered_at: ts::opt(r.delivered_at),
        })
    }
}

pub type WebhookRow = (Uuid, String, Json<Vec<String>>, String, Ts);

pub fn webhook((id, url, event_types, secret, created_at): WebhookRow) -> Webhook {
    Webhook { id, url, event_types: event_types.0, secret, created_at: created_at.0 }
}

/// The columns of [`bind_domain_event_row!`].
pub const DOMAIN_EVENT_COLUMNS: &str = "id, type, order_id, occurred_at, data";

/// Binds a domain event's row to `$row` (a `sqlx::query_builder::Separated`),
/// in [`DOMAIN_EVENT_COLUMNS`] order.
#[macro_export]
macro_rules! bind_domain_event_row {
    ($row:expr, $event:expr) => {{
        let e: &::ordo_domain::event::DomainEvent = $event;
        $row.push_bind(e.id)
            .push_bind(&e.event_type)
            .push_bind(e.order_id)
            .push_bind($crate::Ts(e.occurred_at))
            .push_bind(::sqlx::types::Json(&e.data));
    }};
}

/// Implements `WebhookRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! webhook_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::event::DomainEvent;
            use ::ordo_domain::page::PageRequest;
            use ::ordo_domain::webhook::{Delivery, DeliveryStatus, Webhook};
            use ::serde_json::Value;
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use ::ordo_store::{WebhookRepo, StoreResult};
            use $crate::webhooks::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> WebhookRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "webhooks.insert_domain_event", skip_all)]
                async fn insert_domain_event(&mut self, e: &DomainEvent) -> StoreResult<()> {
                    let mut insert = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!(
                        "INSERT INTO domain_events ({DOMAIN_EVENT_COLUMNS}) VALUES ("
                    ));
                    $crate::bind_domain_event_row!(insert.separated(", "), e);
                    insert.push(")");
                    insert.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.domain_event", skip_all)]
                async fn domain_event(&mut self, id: Uuid) -> StoreResult<Option<DomainEvent>> {
                    let row: Option<(Uuid, String, Uuid, Ts, Json<Value>)> =
                        ::sqlx::query_as("SELECT id, type, order_id, occurred_at, data FROM domain_events WHERE id = $1")
                            .bind(id)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(row.map(|(id, event_type, order_id, occurred_at, data)| DomainEvent {
                        id,
                        event_type,
                        order_id,
                        occurred_at: occurred_at.0,
                        data: data.0,
                    }))
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.insert_webhook", skip_all)]
                async fn insert_webhook(&mut self, w: &Webhook) -> StoreResult<()> {
                    ::sqlx::query("INSERT INTO webhooks (id, url, event_types, secret, created_at) VALUES ($1, $2, $3, $4, $5)")
                        .bind(w.id)
                        .bind(&w.url)
                        .bind(Json(&w.event_types))
                        .bind(&w.secret)
                        .bind(Ts(w.created_at))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.webhook", skip_all)]
                async fn webhook(&mut self, id: Uuid) -> StoreResult<Option<Webhook>> {
                    let row: Option<WebhookRow> =
                        ::sqlx::query_as("SELECT id, url, event_types, secret, created_at FROM webhooks WHERE id = $1")
                            .bind(id)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(row.map(webhook))
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.list_webhooks", skip_all)]
                async fn list_webhooks(&mut self) -> StoreResult<Vec<Webhook>> {
                    let rows: Vec<WebhookRow> =
                        ::sqlx::query_as("SELECT id, url, event_types, secret, created_at FROM webhooks ORDER BY id")
                            .persistent(self.persistent())
                            .fetch_all(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(webhook).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.delete_webhook", skip_all)]
                async fn delete_webhook(&mut self, id: Uuid) -> StoreResult<bool> {
                    let result = ::sqlx::query("DELETE FROM webhooks WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.insert_delivery", skip_all)]
                async fn insert_delivery(&mut self, d: &Delivery) -> StoreResult<bool> {
                    let result = ::sqlx::query(&format!(
                        "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         ON CONFLICT (webhook_id, event_id) DO NOTHING"
                    ))
                    .bind(d.id)
                    .bind(d.webhook_id)
                    .bind(d.event_id)
                    .bind(&d.event_type)
                    .bind(d.order_id)
                    .bind(d.status.as_str())
                    .bind(d.attempts)
                    .bind(d.last_status_code)
                    .bind(&d.last_error)
                    .bind(Ts(d.created_at))
                    .bind(d.delivered_at.map(Ts))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.delivery", skip_all)]
                async fn delivery(&mut self, id: Uuid) -> StoreResult<Option<Delivery>> {
                    let row: Option<DeliveryRow> =
                        ::sqlx::query_as(&format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1"))
                            .bind(id)
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    row.map(Delivery::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.record_delivery_attempt", skip_all)]
                async fn record_delivery_attempt(
                    &mut self,
                    id: Uuid,
                    status: DeliveryStatus,
                    status_code: Option<i32>,
                    error: Option<&str>,
                    at: Timestamp,
                ) -> StoreResult<()> {
                    ::sqlx::query(
                        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status_code = $3, last_error = $4,
                                delivered_at = CASE WHEN $2 = 'delivered' THEN $5 ELSE delivered_at END
                          WHERE id = $1 AND (status = 'pending' OR $2 = 'delivered')",
                    )
                    .bind(id)
                    .bind(status.as_str())
                    .bind(status_code)
                    .bind(error)
                    .bind(Ts(at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.earlier_delivery_pending", skip_all)]
                async fn earlier_delivery_pending(&mut self, d: &Delivery) -> StoreResult<bool> {
                    ::sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM webhook_deliveries
                                         WHERE webhook_id = $1 AND order_id = $2 AND event_id < $3 AND status = 'pending')",
                    )
                    .bind(d.webhook_id)
                    .bind(d.order_id)
                    .bind(d.event_id)
                    .persistent(self.persistent())
                    .fetch_one(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.list_deliveries", skip_all)]
                async fn list_deliveries(&mut self, webhook_id: Uuid, page: &PageRequest) -> StoreResult<Vec<Delivery>> {
                    let rows: Vec<DeliveryRow> = ::sqlx::query_as(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                    ))
                    .bind(webhook_id)
                    .bind(page.after.unwrap_or(Uuid::nil()))
                    .bind(page.fetch_limit())
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    rows.into_iter().map(Delivery::try_from).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.reset_delivery", skip_all)]
                async fn reset_delivery(&mut self, id: Uuid) -> StoreResult<bool> {
                    let result =
                        ::sqlx::query("UPDATE webhook_deliveries SET status = 'pending' WHERE id = $1 AND status <> 'pending'")
                            .bind(id)
                            .persistent(self.persistent())
                            .execute(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.fail_delivery", skip_all)]
                async fn fail_delivery(&mut self, id: Uuid, reason: &str) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'failed', last_error = $2 WHERE id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .bind(reason)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "webhooks.fail_pending_deliveries", skip_all)]
                async fn fail_pending_deliveries(&mut self, webhook_id: Uuid, reason: &str) -> StoreResult<u64> {
                    let result = ::sqlx::query(
                        "UPDATE webhook_deliveries SET status = 'failed', last_error = $2 WHERE webhook_id = $1 AND status = 'pending'",
                    )
                    .bind(webhook_id)
                    .bind(reason)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected())
                }
            }
        };
    };
}
