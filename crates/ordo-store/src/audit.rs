//! Storage of the audit trail: the `audit_events` and `audit_seals` tables.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::audit::{AuditEvent, AuditFilter, AuditSeal};
use ordo_domain::page::PageRequest;
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait AuditRepo: Send {
    /// Appends an event, unsealed.
    async fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()>;

    /// Appends many audit events at once, for bulk work (imports).
    async fn insert_audit_events(&mut self, events: &[AuditEvent]) -> StoreResult<()>;

    /// Up to `page.fetch_limit()` events after `page.after`, in id order.
    async fn list_audit_events(&mut self, filter: &AuditFilter, page: &PageRequest) -> StoreResult<Vec<AuditEvent>>;

    async fn latest_audit_seal(&mut self) -> StoreResult<Option<AuditSeal>>;

    /// Up to `limit` unsealed events, in id order.
    async fn unsealed_audit_events(&mut self, limit: i64) -> StoreResult<Vec<AuditEvent>>;

    /// Unsealed events that occurred before `before`, in id order.
    async fn unsealed_audit_events_before(&mut self, before: Timestamp) -> StoreResult<Vec<AuditEvent>>;

    /// Puts the unsealed events `ids` into `segment`, numbering them 1, 2,
    /// ... in the given order. Returns how many were still unsealed.
    async fn assign_audit_segment(&mut self, segment: i64, ids: &[Uuid]) -> StoreResult<u64>;

    /// Appends events already sealed into `segment`, numbered 1, 2, ... in
    /// the given (id) order, for bulk loads (`ordo seed`); the caller stores
    /// the segment's seal in the same transaction.
    async fn insert_sealed_audit_events(&mut self, segment: i64, events: &[AuditEvent]) -> StoreResult<()>;

    /// Stores a seal; [`crate::StoreError::Duplicate`] with
    /// [`crate::UniqueKey::AuditSegment`] if the segment is already sealed.
    async fn insert_audit_seal(&mut self, seal: &AuditSeal) -> StoreResult<()>;

    /// Every seal, in segment order.
    async fn audit_seals(&mut self) -> StoreResult<Vec<AuditSeal>>;

    /// The events stored under `segment`, with their numbers, in number
    /// order (events without a number last).
    async fn audit_segment_events(&mut self, segment: i64) -> StoreResult<Vec<(AuditEvent, Option<i64>)>>;
}
