//! What every stored, versioned entity carries: its version for optimistic
//! concurrency, its timestamps, and whether it is archived.

use serde::Serialize;
use utoipa::ToSchema;

use chrono::{DateTime, Utc};

use crate::time::Timestamp;

/// Version and timestamps of a stored entity, flattened into its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct RecordMeta {
    /// Increases by one on every change; send it back to update safely.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the entity was archived; archived entities are read-only.
    pub archived_at: Option<DateTime<Utc>>,
}

/// Why a change to an entity was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("archived and can no longer be changed")]
    Archived,
}

impl RecordMeta {
    /// A new entity's meta: version 1.
    pub fn new(now: Timestamp) -> Self {
        Self { version: 1, created_at: now, updated_at: now, archived_at: None }
    }

    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }

    /// Refuses changes to an archived entity.
    pub fn ensure_live(&self) -> Result<(), RecordError> {
        if self.is_archived() { Err(RecordError::Archived) } else { Ok(()) }
    }

    /// Records a change: next version, new `updated_at`.
    pub fn touch(&mut self, now: Timestamp) {
        self.version += 1;
        self.updated_at = now;
    }

    /// Marks the entity archived. Returns `false`, changing nothing, if it
    /// already was.
    pub fn archive(&mut self, now: Timestamp) -> bool {
        if self.is_archived() {
            return false;
        }
        self.archived_at = Some(now);
        self.touch(now);
        true
    }
}
