//! Storage of API keys: the `api_keys` table.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::auth::{ApiKey, ApiKeyId};

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
}
