//! The one way a stored, versioned entity is changed: read it in a
//! transaction, check the version the client expects, apply the domain rule,
//! and write it back guarded by that version, so no update is ever lost to a
//! concurrent one (optimistic concurrency). The change is audited in the
//! same transaction.
//!
//! [`modify`] is the common case. [`modify_with`] is the same steps for a
//! change that writes more than the entity (an order's stock, timeline,
//! events and jobs), in the same transaction, after the guarded write: so
//! of two racing changes only the winner writes anything else.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
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
    /// The stored version, which every write increases by one.
    fn version(&self) -> i64;
    async fn load(tx: &mut dyn Transaction, id: Self::Id) -> StoreResult<Option<Self>>;
    /// Writes the entity if the stored row is at `expected_version`.
    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool>;
}

/// What a change that writes more than its entity hands on to its writes:
/// the action it was (the audit event is `<entity>.<action>`) and whatever
/// else the writes need.
pub(crate) struct Changed<R> {
    pub(crate) action: String,
    pub(crate) then: R,
}

/// The further writes of [`modify_with`], run in its transaction.
pub(crate) type Writes<'a> = Pin<Box<dyn Future<Output = ServiceResult<()>> + Send + 'a>>;

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
    modify_with(
        db,
        actor,
        id,
        expected_version,
        |entity| Ok(change(entity)?.then(|| Changed { action: action.to_owned(), then: () })),
        |_, _, ()| Box::pin(async { Ok(()) }),
    )
    .await
}

/// As [`modify`], for a change that also writes more: `change` alters the
/// entity and says which action it was and what `writes` needs (`None`: it
/// changed nothing, and nothing is written); after the guarded write and the
/// audit event, `writes` runs in the same transaction, before the commit.
pub(crate) async fn modify_with<T: Versioned, R: Send>(
    db: &dyn Database,
    actor: &Actor,
    id: T::Id,
    expected_version: Option<i64>,
    change: impl FnOnce(&mut T) -> ServiceResult<Option<Changed<R>>> + Send,
    writes: impl for<'a> FnOnce(&'a mut dyn Transaction, &'a T, R) -> Writes<'a> + Send,
) -> ServiceResult<T> {
    let mut tx = db.begin().await?;
    let mut entity = T::load(tx.as_mut(), id.clone()).await?.ok_or_else(|| ServiceError::not_found(T::ENTITY, &id))?;
    let before = crate::audit::snapshot(&entity);
    let stored_version = entity.version();
    if let Some(expected) = expected_version.filter(|v| *v != stored_version) {
        return Err(ServiceError::VersionMismatch { entity: T::ENTITY, expected, current: stored_version });
    }
    let Some(Changed { action, then }) = change(&mut entity)? else {
        return Ok(entity);
    };
    if !entity.store(tx.as_mut(), stored_version).await? {
        // A concurrent writer committed between our read and our write.
        let current = T::load(tx.as_mut(), id.clone()).await?.map_or(stored_version + 1, |e| e.version());
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
    writes(tx.as_mut(), &entity, then).await?;
    tx.commit().await?;
    Ok(entity)
}
