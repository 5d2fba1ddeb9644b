//! Storage of API keys and the web admin's sessions opened with them: the
//! `api_keys` and `admin_sessions` tables.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::auth::{AdminSession, ApiKey, ApiKeyId};

use crate::StoreResult;

#[async_trait]
pub trait KeyRepo: Send {
    async fn insert_api_key(&mut self, key: &ApiKey) -> StoreResult<()>;

    async fn api_key(&mut self, id: ApiKeyId) -> StoreResult<Option<ApiKey>>;

    /// Every key, oldest first (keys are few).
    async fn list_api_keys(&mut self) -> StoreResult<Vec<ApiKey>>;

    /// Whether any key exists, revoked or not.
    async fn any_api_key(&mut self) -> StoreResult<bool>;

    /// Revokes the key at `at`; returns the key as it was before, if it
    /// exists. Revoking a revoked key keeps the first revocation time.
    async fn revoke_api_key(&mut self, id: ApiKeyId, at: Timestamp) -> StoreResult<Option<ApiKey>>;

    /// Records that the key was used at `at`.
    async fn touch_api_key(&mut self, id: ApiKeyId, at: Timestamp) -> StoreResult<()>;

    async fn insert_admin_session(&mut self, session: &AdminSession) -> StoreResult<()>;

    /// The session with this id (the SHA-256 of its cookie), expired or not.
    async fn admin_session(&mut self, id_hash: &[u8; 32]) -> StoreResult<Option<AdminSession>>;

    /// Ends a session (sign-out); whether it existed.
    async fn delete_admin_session(&mut self, id_hash: &[u8; 32]) -> StoreResult<bool>;

    /// Deletes the sessions expired at `now`; returns how many.
    async fn sweep_admin_sessions(&mut self, now: Timestamp) -> StoreResult<u64>;
}
