//! Storage of idempotency keys: the `idempotency_keys` table.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::idempotency::{Answer, IdempotencyRecord};
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait IdempotencyRepo: Send {
    /// Inserts the record unless the key exists; returns whether it did.
    async fn insert_idempotency_key(&mut self, record: &IdempotencyRecord) -> StoreResult<bool>;

    async fn idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<Option<IdempotencyRecord>>;

    /// Replaces an expired record, or takes over one whose holder's lock
    /// ran out, if it is still as `seen_created_at`/`seen_locked_until`
    /// describe; returns whether it did.
    async fn replace_idempotency_key(
        &mut self,
        record: &IdempotencyRecord,
        seen_created_at: Timestamp,
        seen_locked_until: Timestamp,
    ) -> StoreResult<bool>;

    /// Stores the answer of the request holding the key.
    async fn complete_idempotency_key(&mut self, principal: Uuid, key: &str, answer: &Answer) -> StoreResult<()>;

    /// Forgets a key (its request failed in a way worth retrying).
    async fn delete_idempotency_key(&mut self, principal: Uuid, key: &str) -> StoreResult<()>;

    /// Deletes keys that expired before `now`; returns how many.
    async fn sweep_idempotency_keys(&mut self, now: Timestamp) -> StoreResult<u64>;
}
