//! Domain events: facts other systems subscribe to (through webhooks),
//! written in the same transaction as the change they report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::time::Timestamp;

/// Every event type, as webhook subscriptions name them.
pub const EVENT_TYPES: [&str; 27] = [
    "order.placed",
    "order.paid",
    "order.payment_failed",
    "order.expired",
    "order.cancelled",
    "order.confirmed",
    "order.partially_fulfilled",
    "order.fulfilled",
    "order.completed",
    "order.refund_pending",
    "order.refunded",
    "invoice.issued",
    "payment.authorized",
    "payment.failed",
    "payment.captured",
    "payment.capture_failed",
    "payment.voided",
    "refund.created",
    "refund.succeeded",
    "refund.failed",
    "return.requested",
    "return.approved",
    "return.rejected",
    "return.received",
    "credit_note.issued",
    "report.succeeded",
    "report.failed",
];

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DomainEvent {
    pub id: Uuid,
    /// One of [`EVENT_TYPES`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// The order the event is about (for an event about no order, such as
    /// `report.*`, the entity's id): events of one order are delivered in
    /// order.
    pub order_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The entity after the change.
    pub data: Value,
}

impl DomainEvent {
    pub fn new(event_type: &str, order_id: Uuid, data: Value, now: Timestamp) -> Self {
        Self { id: Uuid::now_v7(), event_type: event_type.to_owned(), order_id, occurred_at: now, data }
    }
}
