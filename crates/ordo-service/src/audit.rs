//! Audit use cases: recording events inside the caller's transaction,
//! listing them, sealing them into hash-chained segments, and verifying the
//! chain. The [`SealAuditTrail`] job seals periodically.

use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::audit::{AuditEvent, AuditFilter, AuditSeal, GENESIS_HASH, seal_hash};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{Timestamp, audit::Actor, time};
use ordo_jobs::{Job, JobError, JobRun};
use ordo_store::{Database, StoreError, Transaction, UniqueKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::instrument;
use uuid::Uuid;

use crate::error::job_error;
use crate::{ServiceResult, Services};

/// Names the audit list in its cursors.
pub const CURSOR_SCOPE: &str = "audit-events";

/// How long a write transaction can stay open: an unsealed event that
/// occurred this long before the latest seal cannot be a late commit, so it
/// was inserted behind Ordo's back.
const LATE_COMMIT_GRACE: chrono::Duration = chrono::Duration::minutes(5);

/// An entity as JSON, for an event's `before` and `after`.
pub(crate) fn snapshot<T: Serialize>(entity: &T) -> Value {
    serde_json::to_value(entity).unwrap_or(Value::Null)
}

/// Appends an audit event to `tx`, so it commits or rolls back with the
/// change it describes.
pub(crate) async fn record(
    tx: &mut dyn Transaction,
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: impl std::fmt::Display + Send,
    before: Option<Value>,
    after: &(impl Serialize + Sync),
) -> ServiceResult<()> {
    tx.insert_audit_event(&event(actor, action, entity_type, entity_id, before, after)).await?;
    Ok(())
}

/// The audit event [`record`] appends, for a store call that writes it
/// together with the change it describes.
pub(crate) fn event(
    actor: &Actor,
    action: &str,
    entity_type: &str,
    entity_id: impl std::fmt::Display,
    before: Option<Value>,
    after: &impl Serialize,
) -> AuditEvent {
    AuditEvent::record(actor, action, entity_type, entity_id, before, Some(snapshot(after)), time::now())
}

/// The first sign of tampering found by [`AuditService::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Tamper {
    /// A seal is missing from the numbering.
    SealMissing { segment: i64 },
    /// A seal does not chain to the one before it, or was altered.
    SealAltered { segment: i64 },
    /// An event's content no longer matches its hash.
    EventAltered { segment: Option<i64>, event_id: Uuid },
    /// The event numbered `seq` in a sealed segment is gone.
    EventDeleted { segment: i64, seq: i64, after_event_id: Option<Uuid> },
    /// An event that Ordo did not write in this place: an extra event in a
    /// sealed segment, or an unsealed event older than the latest seal.
    EventInserted { segment: Option<i64>, event_id: Uuid },
    /// The segment's event hashes (re-hashed after an alteration) or the
    /// seal's own fields no longer give its seal's hash.
    SegmentAltered { segment: i64 },
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub segments: usize,
    pub sealed_events: usize,
    pub unsealed_events: usize,
    /// The latest seal's hash: store it outside the database to detect a
    /// rewrite of the whole chain.
    pub head_hash: String,
    pub tamper: Option<Tamper>,
}

#[derive(Debug, Clone)]
pub struct AuditService {
    db: Arc<dyn Database>,
    /// Most events in one segment when sealing on schedule or on shutdown
    /// (`audit.seal_batch`).
    seal_batch: i64,
}

impl AuditService {
    pub fn new(db: Arc<dyn Database>, seal_batch: i64) -> Self {
        Self { db, seal_batch: seal_batch.max(1) }
    }

    /// Seals the unsealed events in segments of the configured size; see
    /// [`Self::seal_all`].
    pub async fn seal_pending(&self) -> ServiceResult<Vec<AuditSeal>> {
        self.seal_all(self.seal_batch).await
    }

    #[instrument(skip_all)]
    pub async fn list_events(&self, filter: &AuditFilter, page: &PageRequest) -> ServiceResult<Page<AuditEvent>> {
        let mut session = self.db.session().await?;
        let rows = session.list_audit_events(filter, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |e| e.id))
    }

    /// Seals up to `max_events` unsealed events into the next segment.
    /// Returns the new seal, or `None` if there was nothing to seal or
    /// another process sealed them first.
    #[instrument(skip_all)]
    pub async fn seal(&self, max_events: i64) -> ServiceResult<Option<AuditSeal>> {
        // Read and hash outside the write transaction, so that on SQLite a
        // large segment does not hold the one writer. A concurrent sealer is
        // caught below: the assignment is guarded and the segment number is
        // the seals' primary key.
        let mut session = self.db.session().await?;
        let previous = session.latest_audit_seal().await?;
        let events = session.unsealed_audit_events(max_events).await?;
        drop(session);
        let Some(seal) = AuditSeal::next(previous.as_ref(), &events, time::now()) else { return Ok(None) };
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let mut tx = self.db.begin().await?;
        if tx.assign_audit_segment(seal.segment, &ids).await? != ids.len() as u64 {
            return Ok(None); // a concurrent sealer took some of them; rolled back
        }
        match tx.insert_audit_seal(&seal).await {
            Ok(()) => {}
            Err(StoreError::Duplicate(UniqueKey::AuditSegment)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(Some(seal))
    }

    /// Seals the unsealed events, in segments of at most `max_events`,
    /// until a segment comes out short of `max_events`: what is recorded
    /// after that waits for the next run. Sealing until nothing was left
    /// never ended under steady writes: each pass found the few events
    /// recorded during the last one, and the sealer ran back to back (571
    /// segments in 18 s of placements on PostgreSQL, each reading past
    /// every event sealed since the table was last vacuumed).
    pub async fn seal_all(&self, max_events: i64) -> ServiceResult<Vec<AuditSeal>> {
        let mut seals = Vec::new();
        while let Some(seal) = self.seal(max_events).await? {
            let full = seal.event_count >= max_events;
            seals.push(seal);
            if !full {
                break;
            }
        }
        Ok(seals)
    }

    /// Recomputes the whole chain and reports the first sign of tampering.
    #[instrument(skip_all)]
    pub async fn verify(&self) -> ServiceResult<VerifyReport> {
        let mut session = self.db.session().await?;
        let seals = session.audit_seals().await?;
        let mut report = VerifyReport {
            segments: seals.len(),
            sealed_events: 0,
            unsealed_events: 0,
            head_hash: GENESIS_HASH.to_owned(),
            tamper: None,
        };
        let mut previous_hash = GENESIS_HASH.to_owned();
        for (expected_segment, seal) in (1_i64..).zip(&seals) {
            if seal.segment != expected_segment {
                report.tamper = Some(Tamper::SealMissing { segment: expected_segment });
                return Ok(report);
            }
            if seal.previous_hash != previous_hash {
                report.tamper = Some(Tamper::SealAltered { segment: seal.segment });
                return Ok(report);
            }
            let events = session.audit_segment_events(seal.segment).await?;
            report.sealed_events += events.len();
            if let Some(tamper) = check_segment(seal, &events) {
                report.tamper = Some(tamper);
                return Ok(report);
            }
            previous_hash = seal.hash.clone();
        }
        report.head_hash = previous_hash;
        if let Some(last) = seals.last() {
            let cutoff: Timestamp = last.sealed_at - LATE_COMMIT_GRACE;
            let suspicious = session.unsealed_audit_events_before(cutoff).await?;
            if let Some(event) = suspicious.first() {
                report.tamper = Some(Tamper::EventInserted { segment: None, event_id: event.id });
                return Ok(report);
            }
        }
        let unsealed = session.unsealed_audit_events(i64::MAX).await?;
        report.unsealed_events = unsealed.len();
        for event in unsealed {
            if event.content_hash() != event.hash {
                report.tamper = Some(Tamper::EventAltered { segment: None, event_id: event.id });
                return Ok(report);
            }
        }
        Ok(report)
    }
}

/// Checks one sealed segment's events (in `seq` order) against its seal.
fn check_segment(seal: &AuditSeal, events: &[(AuditEvent, Option<i64>)]) -> Option<Tamper> {
    let segment = seal.segment;
    let mut expected_seq = 1;
    let mut previous_id = None;
    for (event, seq) in events {
        match *seq {
            Some(seq) if seq == expected_seq => {}
            Some(seq) if seq > expected_seq && seq <= seal.event_count => {
                return Some(Tamper::EventDeleted { segment, seq: expected_seq, after_event_id: previous_id });
            }
            _ => return Some(Tamper::EventInserted { segment: Some(segment), event_id: event.id }),
        }
        if event.content_hash() != event.hash {
            return Some(Tamper::EventAltered { segment: Some(segment), event_id: event.id });
        }
        expected_seq += 1;
        previous_id = Some(event.id);
    }
    if expected_seq <= seal.event_count {
        return Some(Tamper::EventDeleted { segment, seq: expected_seq, after_event_id: previous_id });
    }
    if seal_hash(&seal.previous_hash, segment, seal.sealed_at, events.iter().map(|(e, _)| e.hash.as_str())) != seal.hash
    {
        return Some(Tamper::SegmentAltered { segment });
    }
    None
}

/// Seals new audit events into the hash chain, in segments of at most
/// `audit.seal_batch` events. Runs every `audit.seal_interval_ms` on the
/// workers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SealAuditTrail;

#[async_trait]
impl Job for SealAuditTrail {
    const NAME: &'static str = "audit.seal";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 3;
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let seals = services.audit.seal_pending().await.map_err(job_error)?;
        if !seals.is_empty() {
            tracing::debug!(segments = seals.len(), "sealed audit events");
        }
        Ok(())
    }
}
