//! The audit trail: who changed what, when, from what to what; and the hash
//! chain that makes tampering with it evident.
//!
//! Each event carries the SHA-256 of its own content. A periodic step seals
//! the events written since the last seal into a numbered segment: it orders
//! them by id, numbers them, and stores a seal whose hash covers the previous
//! seal's hash and the ordered event hashes. Writers never touch the chain,
//! so auditing adds no global write bottleneck; only sealing is serialised.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{ApiKeyId, Role};
use crate::time::Timestamp;

/// Who acts: an API key, or Ordo itself (CLI, background steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub key_id: Option<ApiKeyId>,
    pub name: String,
    pub role: Option<Role>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn key(key_id: ApiKeyId, name: impl Into<String>, role: Role, request_id: Option<String>) -> Self {
        Self { key_id: Some(key_id), name: name.into(), role: Some(role), request_id }
    }

    /// Ordo itself, e.g. `cli` or `bootstrap`.
    pub fn system(name: impl Into<String>) -> Self {
        Self { key_id: None, name: name.into(), role: None, request_id: None }
    }
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The API key that acted; absent for Ordo itself.
    pub actor_key_id: Option<Uuid>,
    pub actor_name: String,
    /// What happened, e.g. `product.updated`.
    #[schema(example = "product.updated")]
    pub action: String,
    #[schema(example = "product")]
    pub entity_type: String,
    pub entity_id: String,
    pub request_id: Option<String>,
    /// The entity before the change; absent on creation.
    pub before: Option<Value>,
    /// The entity after the change.
    pub after: Option<Value>,
    /// SHA-256 of the event's content, hex.
    pub hash: String,
    /// The sealed segment holding the event, once sealed.
    pub segment: Option<i64>,
}

/// The fields an event's hash covers, in a fixed order. Map keys inside
/// `before` and `after` serialise sorted (`serde_json`'s default map), so the
/// hash does not depend on how a backend stores JSON.
#[derive(Serialize)]
struct HashedContent<'a> {
    id: &'a Uuid,
    occurred_at_micros: i64,
    actor_key_id: &'a Option<Uuid>,
    actor_name: &'a str,
    action: &'a str,
    entity_type: &'a str,
    entity_id: &'a str,
    request_id: &'a Option<String>,
    before: &'a Option<Value>,
    after: &'a Option<Value>,
}

impl AuditEvent {
    /// A new event, its hash computed.
    pub fn record(
        actor: &Actor,
        action: impl Into<String>,
        entity_type: &str,
        entity_id: impl std::fmt::Display,
        before: Option<Value>,
        after: Option<Value>,
        now: Timestamp,
    ) -> Self {
        Self::record_as(Uuid::now_v7(), actor, action, entity_type, entity_id, before, after, now)
    }

    /// As [`Self::record`], with a given id: for history loaded in bulk,
    /// whose ids carry the time it happened.
    #[allow(clippy::too_many_arguments)] // the event's fields, in order
    pub fn record_as(
        id: Uuid,
        actor: &Actor,
        action: impl Into<String>,
        entity_type: &str,
        entity_id: impl std::fmt::Display,
        before: Option<Value>,
        after: Option<Value>,
        now: Timestamp,
    ) -> Self {
        let mut event = Self {
            id,
            occurred_at: now,
            actor_key_id: actor.key_id,
            actor_name: actor.name.clone(),
            action: action.into(),
            entity_type: entity_type.to_owned(),
            entity_id: entity_id.to_string(),
            request_id: actor.request_id.clone(),
            before,
            after,
            hash: String::new(),
            segment: None,
        };
        event.hash = event.content_hash();
        event
    }

    /// SHA-256 of the event's content, hex.
    pub fn content_hash(&self) -> String {
        let content = HashedContent {
            id: &self.id,
            occurred_at_micros: self.occurred_at.timestamp_micros(),
            actor_key_id: &self.actor_key_id,
            actor_name: &self.actor_name,
            action: &self.action,
            entity_type: &self.entity_type,
            entity_id: &self.entity_id,
            request_id: &self.request_id,
            before: &self.before,
            after: &self.after,
        };
        let bytes = serde_json::to_vec(&content).unwrap_or_default();
        hex(&Sha256::digest(bytes))
    }
}

/// A seal over one segment of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditSeal {
    /// 1, 2, 3, ... without gaps.
    pub segment: i64,
    pub sealed_at: Timestamp,
    pub event_count: i64,
    pub first_event_id: Uuid,
    pub last_event_id: Uuid,
    /// The previous seal's hash; 64 zeros for the first segment.
    pub previous_hash: String,
    pub hash: String,
}

impl AuditSeal {
    /// The seal of the segment after `previous` (the first segment if
    /// `None`) over `events`, which must be in id order. `None` if there
    /// are no events.
    pub fn next(previous: Option<&AuditSeal>, events: &[AuditEvent], sealed_at: Timestamp) -> Option<Self> {
        let (first, last) = (events.first()?, events.last()?);
        let segment = previous.map_or(1, |s| s.segment + 1);
        let previous_hash = previous.map_or_else(|| GENESIS_HASH.to_owned(), |s| s.hash.clone());
        Some(Self {
            segment,
            sealed_at,
            event_count: events.len() as i64,
            first_event_id: first.id,
            last_event_id: last.id,
            hash: seal_hash(&previous_hash, segment, sealed_at, events.iter().map(|e| e.hash.as_str())),
            previous_hash,
        })
    }
}

/// The hash of the seal before the first.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain step: SHA-256 over the previous seal's hash, the segment
/// number, the sealing time, and the segment's event hashes in order.
pub fn seal_hash<'a>(
    previous_hash: &str,
    segment: i64,
    sealed_at: Timestamp,
    event_hashes: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous_hash.as_bytes());
    hasher.update(segment.to_be_bytes());
    hasher.update(sealed_at.timestamp_micros().to_be_bytes());
    for hash in event_hashes {
        hasher.update(hash.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Filters for listing audit events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_key_id: Option<Uuid>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now;

    #[test]
    fn the_hash_covers_every_field_and_ignores_key_order() {
        let actor = Actor::system("test");
        let event = AuditEvent::record(
            &actor,
            "product.updated",
            "product",
            "p1",
            Some(serde_json::json!({"b": 1, "a": 2})),
            None,
            now(),
        );
        assert_eq!(event.hash, event.content_hash());
        assert_eq!(event.hash.len(), 64);
        let mut altered = event.clone();
        altered.actor_name = "someone else".into();
        assert_ne!(altered.content_hash(), event.hash);
        let mut reordered = event.clone();
        reordered.before = Some(serde_json::from_str(r#"{"a": 2, "b": 1}"#).unwrap());
        assert_eq!(reordered.content_hash(), event.hash);
    }

    #[test]
    fn seal_hash_chains_and_depends_on_order() {
        let at = now();
        let first = seal_hash(GENESIS_HASH, 1, at, ["aa", "bb"]);
        assert_ne!(first, seal_hash(GENESIS_HASH, 1, at, ["bb", "aa"]));
        assert_ne!(first, seal_hash(GENESIS_HASH, 1, at + chrono::Duration::microseconds(1), ["aa", "bb"]));
        assert_ne!(seal_hash(&first, 2, at, ["cc"]), seal_hash(GENESIS_HASH, 2, at, ["cc"]));
    }
}
