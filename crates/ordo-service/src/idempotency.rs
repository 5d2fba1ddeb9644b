//! Idempotency keys: claiming a key for a request, recording its answer,
//! and sweeping expired keys.

use std::sync::Arc;
use std::time::Duration;

use ordo_domain::idempotency::{Answer, Claim, IdempotencyRecord, Outcome, Refusal};
use ordo_domain::time;
use ordo_store::Database;
use uuid::Uuid;

use crate::ServiceResult;

#[derive(Debug, Clone)]
pub struct IdempotencyService {
    db: Arc<dyn Database>,
    /// How long a key is remembered.
    ttl: chrono::Duration,
    /// How long an in-flight request may hold its key before a retry may
    /// take it over (the request's process is presumed dead by then).
    lock: chrono::Duration,
}

impl IdempotencyService {
    pub fn new(db: Arc<dyn Database>, ttl: Duration, lock: Duration) -> Self {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1));
        let lock = chrono::Duration::from_std(lock).unwrap_or(chrono::Duration::minutes(1));
        Self { db, ttl, lock }
    }

    fn record(&self, principal: Uuid, key: &str, request_hash: &str, answer: Option<Answer>) -> IdempotencyRecord {
        let now = time::now();
        IdempotencyRecord {
            principal,
            key: key.to_owned(),
            request_hash: request_hash.to_owned(),
            answer,
            created_at: now,
            expires_at: now + self.ttl,
            locked_until: now + self.lock,
        }
    }

    /// Decides what to do with a request carrying `key`, claiming it in a
    /// transaction of its own (for requests whose work commits separately).
    pub async fn claim(&self, principal: Uuid, key: &str, request_hash: &str) -> ServiceResult<Claim> {
        let mut tx = self.db.begin().await?;
        let claim = self.claim_in(tx.as_mut(), principal, key, request_hash).await?;
        tx.commit().await?;
        Ok(claim)
    }

    /// Claims `key` inside `tx`, for work that records its answer in the same
    /// transaction (a placement stores it through `NewPlacement::answer`):
    /// the key, the work and the answer
    /// then commit together or not at all. A concurrent request with the same
    /// key waits at the claim until this transaction ends, then replays its
    /// answer. Only [`Claim::Proceed`] leaves anything written.
    pub(crate) async fn claim_in(
        &self,
        tx: &mut dyn ordo_store::Transaction,
        principal: Uuid,
        key: &str,
        request_hash: &str,
    ) -> ServiceResult<Claim> {
        let now = time::now();
        let record = self.record(principal, key, request_hash, None);
        if tx.insert_idempotency_key(&record).await? {
            return Ok(Claim::Proceed);
        }
        let Some(existing) = tx.idempotency_key(principal, key).await? else {
            // Swept between the two statements: the next attempt inserts.
            return Ok(Claim::InFlight);
        };
        Ok(if existing.expires_at <= now {
            self.take_over(tx, &record, &existing).await?
        } else if existing.request_hash != request_hash {
            Claim::Mismatch
        } else if let Some(answer) = existing.answer {
            Claim::Replay(answer)
        } else if existing.locked_until > now {
            Claim::InFlight
        } else {
            self.take_over(tx, &record, &existing).await?
        })
    }

    /// The answer stored under `key` for the same request, if there is one
    /// and the key has not expired.
    pub(crate) async fn answer(&self, principal: Uuid, key: &str, request_hash: &str) -> ServiceResult<Option<Answer>> {
        let mut session = self.db.session().await?;
        let record = session.idempotency_key(principal, key).await?;
        Ok(record.filter(|r| r.request_hash == request_hash && r.expires_at > time::now()).and_then(|r| r.answer))
    }

    /// Remembers that a request was refused without changing anything (its
    /// work rolled back), so that a retry gets the same refusal. Keeps an
    /// answer recorded meanwhile by a concurrent request with the same key.
    pub(crate) async fn record_refusal(
        &self,
        principal: Uuid,
        key: &str,
        request_hash: &str,
        refusal: Refusal,
    ) -> ServiceResult<()> {
        let answer = Answer::Outcome(Outcome::Refused { refusal });
        let mut tx = self.db.begin().await?;
        tx.insert_idempotency_key(&self.record(principal, key, request_hash, Some(answer))).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_over(
        &self,
        tx: &mut dyn ordo_store::Transaction,
        record: &IdempotencyRecord,
        existing: &IdempotencyRecord,
    ) -> ServiceResult<Claim> {
        let taken = tx.replace_idempotency_key(record, existing.created_at, existing.locked_until).await?;
        Ok(if taken { Claim::Proceed } else { Claim::InFlight })
    }

    /// Records the answer of the request that holds `key`.
    pub async fn complete(&self, principal: Uuid, key: &str, answer: &Answer) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        tx.complete_idempotency_key(principal, key, answer).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lets go of `key` so that the request may be retried (it failed with
    /// an error worth retrying).
    pub async fn release(&self, principal: Uuid, key: &str) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        tx.delete_idempotency_key(principal, key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes expired keys; returns how many.
    pub async fn sweep(&self) -> ServiceResult<u64> {
        let mut tx = self.db.begin().await?;
        let swept = tx.sweep_idempotency_keys(time::now()).await?;
        tx.commit().await?;
        Ok(swept)
    }
}

/// Forgets expired idempotency keys (the replay records, and the keys bound
/// to orders) and expired web admin sessions. Runs every `idempotency.sweep_interval_ms` on the workers.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SweepExpiredKeys;

#[async_trait::async_trait]
impl ordo_jobs::Job for SweepExpiredKeys {
    const NAME: &'static str = "idempotency.sweep";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 3;
    type Context = crate::Services;

    async fn run(&self, services: &crate::Services, _run: &ordo_jobs::JobRun) -> Result<(), ordo_jobs::JobError> {
        services.idempotency.sweep().await.map_err(crate::error::job_error)?;
        services.orders.forget_idempotency_keys().await.map_err(crate::error::job_error)?;
        services.keys.sweep_sessions().await.map_err(crate::error::job_error)?;
        Ok(())
    }
}
