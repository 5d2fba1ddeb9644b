//! Storage of domain events and webhooks: the `domain_events`, `webhooks`
//! and `webhook_deliveries` tables.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::event::DomainEvent;
use ordo_domain::page::PageRequest;
use ordo_domain::webhook::{Delivery, DeliveryStatus, Webhook};
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait WebhookRepo: Send {
    /// Records an event, in the transaction of the change it reports.
    async fn insert_domain_event(&mut self, event: &DomainEvent) -> StoreResult<()>;

    async fn domain_event(&mut self, id: Uuid) -> StoreResult<Option<DomainEvent>>;

    async fn insert_webhook(&mut self, webhook: &Webhook) -> StoreResult<()>;

    async fn webhook(&mut self, id: Uuid) -> StoreResult<Option<Webhook>>;

    /// Every webhook (they are few).
    async fn list_webhooks(&mut self) -> StoreResult<Vec<Webhook>>;

    /// Whether any webhook subscribes to `event_type`.
    async fn any_webhook_for(&mut self, event_type: &str) -> StoreResult<bool>;

    async fn delete_webhook(&mut self, id: Uuid) -> StoreResult<bool>;

    /// Inserts a delivery unless one exists for its (webhook, event): a
    /// fan-out that runs again after a crash must not deliver an event
    /// twice. Returns whether it was inserted.
    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<bool>;

    async fn delivery(&mut self, id: Uuid) -> StoreResult<Option<Delivery>>;

    /// Records an attempt's outcome. A delivery that has meanwhile failed
    /// for good (its job ended) stays failed unless this attempt delivered
    /// it.
    async fn record_delivery_attempt(
        &mut self,
        id: Uuid,
        status: DeliveryStatus,
        status_code: Option<i32>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// Whether an earlier event of the same order is still pending for the
    /// same webhook (so this one must wait, to keep the order's events in
    /// order).
    async fn earlier_delivery_pending(&mut self, delivery: &Delivery) -> StoreResult<bool>;

    async fn list_deliveries(&mut self, webhook_id: Uuid, page: &PageRequest) -> StoreResult<Vec<Delivery>>;

    /// Makes a delivery pending again, for a replay.
    async fn reset_delivery(&mut self, id: Uuid) -> StoreResult<bool>;

    /// Marks a pending delivery failed for good, with the reason (its job
    /// ended without delivering it). Returns whether it was pending.
    async fn fail_delivery(&mut self, id: Uuid, reason: &str) -> StoreResult<bool>;

    /// Marks every pending delivery to a webhook failed (it was deleted).
    async fn fail_pending_deliveries(&mut self, webhook_id: Uuid, reason: &str) -> StoreResult<u64>;
}
