//! The one way a stored, versioned entity is changed: read it in a
//! transaction, check the version the client expects, apply the domain rule,
//! and write it back guarded by that version, so no update is ever lost to a
//! concurrent one (optimistic concurrency).

use async_trait::async_trait;
use ordo_domain::RecordMeta;
use ordo_domain::audit::Actor;
use ordo_store::{Database, StoreResult, Transaction};
use serde::Serialize;

use crate::{ServiceError, ServiceResult};

/// An entity that [`modify`] can change.
#[async_trait]
pub(crate) trait Versioned: Serialize + Sized + Send + Sync {
    /// Names the entity in errors, e.g. `product`.
    const ENTITY: &'static str;
    type Id: Clone + std::fmt::Display + Send + Sync;

    fn id(&self) -> Self::Id;
    fn meta(&self) -> &RecordMeta;
    async fn load(tx: &mut dyn Transaction, id: Self::Id) -> StoreResult<Option<Self>>;
    /// Writes the entity if the stored row is at `expected_version`.
    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool>;
}

/// Loads entity `id`, checks it is at `expected_version` (when given), lets
/// `change` alter it, and writes it back, with an audit event named
/// `<entity>.<action>`, in the same transaction if `change` says it changed
/// anything.
pub(crate) async fn modify<T: Versioned>(
    db: &dyn Database,
    actor: &Actor,
    action: &str,
    id: T::Id,
    expected_version: Option<i64>,
    change: impl FnOnce(&mut T) -> ServiceResult<bool> + Send,
) -> ServiceResult<T> {
    let mut tx = db.begin().await?;
    let mut entity = T::load(tx.as_mut(), id.clone()).await?.ok_or_else(|| ServiceError::not_found(T::ENTITY, &id))?;
    let before = crate::audit::snapshot(&entity);
    let stored_version = entity.meta().version;
    if let Some(expected) = expected_version.filter(|v| *v != stored_version) {
        return Err(ServiceError::VersionMismatch { entity: T::ENTITY, expected, current: stored_version });
    }
    if !change(&mut entity)? {
        return Ok(entity);
    }
    if !entity.store(tx.as_mut(), stored_version).await? {
        // A concurrent writer committed between our read and our write.
        let current = T::load(tx.as_mut(), id.clone()).await?.map_or(stored_version + 1, |e| e.meta().version);
        return Err(ServiceError::VersionMismatch { entity: T::ENTITY, expected: stored_version, current });
    }
    crate::audit::record(
        tx.as_mut(),
        actor,
        &format!("{}.{action}", T::ENTITY),
        T::ENTITY,
        entity.id(),
        Some(before),
        &entity,
    )
    .await?;
    tx.commit().await?;
    Ok(entity)
}
