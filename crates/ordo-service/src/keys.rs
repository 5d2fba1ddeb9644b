//! API keys: creating, listing and revoking them, bootstrapping the first
//! admin key, and authenticating a presented token.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ordo_domain::audit::Actor;
use ordo_domain::auth::{AdminSession, ApiKey, ApiKeyId, KeyRejection, Role, Token};
use ordo_domain::validation::required_text;
use ordo_domain::{Timestamp, ValidationErrors, time};
use ordo_store::Database;
use tracing::instrument;
use uuid::Uuid;

use crate::{ServiceError, ServiceResult, audit};

const ENTITY: &str = "api_key";
const NAME_MAX: usize = 100;
/// `last_used_at` is written at most this often per key and process, so
/// authentication adds no write to each request.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// A new key and its token: validated name, 256 random bits.
fn new_key(name: &str, role: Role, expires_at: Option<Timestamp>) -> ServiceResult<(ApiKey, Token)> {
    let name = required_text(name, NAME_MAX).map_err(|e| ValidationErrors::single("name", e.code, e.message))?;
    let now = time::now();
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ValidationErrors::single("expires_at", "in_the_past", "must be in the future").into());
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| {
        ServiceError::Internal(ordo_store::StoreError::Other(Box::new(std::io::Error::other(e.to_string()))))
    })?;
    let id = Uuid::now_v7();
    let token = Token::new(id, &random);
    let key = ApiKey {
        id,
        name,
        role,
        created_at: now,
        last_used_at: None,
        expires_at,
        revoked_at: None,
        secret_hash: token.secret_hash(),
    };
    Ok((key, token))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: ApiKeyId,
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// The actor for audit events of a request with this principal.
    pub fn actor(&self, request_id: Option<String>) -> Actor {
        Actor::key(self.key_id, self.name.clone(), self.role, request_id)
    }
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The key is refused; the kind is for logs, never for clients.
    #[error("API key refused: {0:?}")]
    Rejected(KeyRejection),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

#[derive(Debug)]
struct CachedKey {
    key: ApiKey,
    last_touched_micros: AtomicI64,
}

#[derive(Debug, Clone)]
pub struct KeyService {
    db: Arc<dyn Database>,
    /// Keys by id, so that authenticating costs no database round trip.
    /// Entries live `cache_ttl`: a key revoked by another process stops
    /// working here within that time.
    cache: moka::future::Cache<ApiKeyId, Arc<CachedKey>>,
}

impl KeyService {
    pub fn new(db: Arc<dyn Database>, cache_ttl: Duration) -> Self {
        let cache = moka::future::Cache::builder().max_capacity(100_000).time_to_live(cache_ttl).build();
        Self { db, cache }
    }

    /// Creates a key. The token is returned once and never stored.
    #[instrument(skip_all, fields(role = %role))]
    pub async fn create_key(
        &self,
        actor: &Actor,
        name: &str,
        role: Role,
        expires_at: Option<Timestamp>,
    ) -> ServiceResult<(ApiKey, Token)> {
        let (key, token) = new_key(name, role, expires_at)?;
        let mut tx = self.db.begin().await?;
        tx.insert_api_key(&key).await?;
        audit::record(tx.as_mut(), actor, "api_key.created", ENTITY, key.id, None, &key).await?;
        tx.commit().await?;
        Ok((key, token))
    }

    /// Creates an admin key if there is no key at all, for a newcomer's
    /// first start. Returns it, or `None` if keys exist. The check and the
    /// insert share one write transaction, so two processes starting at
    /// once cannot both create one.
    pub async fn bootstrap_admin(&self) -> ServiceResult<Option<(ApiKey, Token)>> {
        let mut tx = self.db.begin().await?;
        if tx.any_api_key().await? {
            return Ok(None);
        }
        let (key, token) = new_key("bootstrap admin", Role::Admin, None)?;
        tx.insert_api_key(&key).await?;
        audit::record(tx.as_mut(), &Actor::system("bootstrap"), "api_key.created", ENTITY, key.id, None, &key).await?;
        tx.commit().await?;
        Ok(Some((key, token)))
    }

    pub async fn list_keys(&self) -> ServiceResult<Vec<ApiKey>> {
        let mut session = self.db.session().await?;
        Ok(session.list_api_keys().await?)
    }

    /// Revokes a key; revoking it again changes nothing.
    #[instrument(skip_all, fields(key.id = %id))]
    pub async fn revoke_key(&self, actor: &Actor, id: ApiKeyId) -> ServiceResult<ApiKey> {
        let now = time::now();
        let mut tx = self.db.begin().await?;
        let before = tx.revoke_api_key(id, now).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        let after = tx.api_key(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        if before.revoked_at.is_none() {
            audit::record(tx.as_mut(), actor, "api_key.revoked", ENTITY, id, Some(audit::snapshot(&before)), &after)
                .await?;
        }
        tx.commit().await?;
        self.cache.invalidate(&id).await;
        Ok(after)
    }

    /// Checks a presented bearer token.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthError> {
        let (id, hash) = Token::parse(presented).ok_or(AuthError::Rejected(KeyRejection::Malformed))?;
        let cached = self.cached_key(id).await?;
        let now = time::now();
        cached.key.verify(&hash, now).map_err(AuthError::Rejected)?;
        self.touch_in_background(&cached, now);
        Ok(Principal { key_id: cached.key.id, name: cached.key.name.clone(), role: cached.key.role })
    }

    /// The key `id`, from the cache or the store.
    async fn cached_key(&self, id: ApiKeyId) -> Result<Arc<CachedKey>, AuthError> {
        if let Some(cached) = self.cache.get(&id).await {
            metrics::counter!("ordo_cache_requests_total", "cache" => "api_keys", "result" => "hit").increment(1);
            return Ok(cached);
        }
        metrics::counter!("ordo_cache_requests_total", "cache" => "api_keys", "result" => "miss").increment(1);
        let mut session = self.db.session().await.map_err(ServiceError::from)?;
        let key = session.api_key(id).await.map_err(ServiceError::from)?;
        drop(session);
        let key = key.ok_or(AuthError::Rejected(KeyRejection::Unknown))?;
        let micros = key.last_used_at.map_or(0, |t| t.timestamp_micros());
        let cached = Arc::new(CachedKey { key, last_touched_micros: AtomicI64::new(micros) });
        self.cache.insert(id, cached.clone()).await;
        Ok(cached)
    }

    /// Signs in to the web admin with an API key: opens a session of
    /// `lifetime` acting with the key's role, audited as the key. Returns
    /// the principal, the session and the cookie's secret (shown to the
    /// browser once, stored only hashed).
    #[instrument(skip_all)]
    pub async fn sign_in(
        &self,
        presented: &str,
        request_id: Option<String>,
        lifetime: chrono::Duration,
    ) -> Result<(Principal, AdminSession, String), AuthError> {
        let principal = self.authenticate(presented).await?;
        let mut random = [0u8; 64];
        getrandom::fill(&mut random).map_err(|e| {
            ServiceError::Internal(ordo_store::StoreError::Other(Box::new(std::io::Error::other(e.to_string()))))
        })?;
        let (session, cookie) = AdminSession::open(principal.key_id, &random, time::now(), lifetime);
        let mut tx = self.db.begin().await.map_err(ServiceError::from)?;
        tx.insert_admin_session(&session).await.map_err(ServiceError::from)?;
        let detail = serde_json::json!({"expires_at": session.expires_at});
        audit::record(
            tx.as_mut(),
            &principal.actor(request_id),
            "admin.signed_in",
            ENTITY,
            principal.key_id,
            None,
            &detail,
        )
        .await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok((principal, session, cookie))
    }

    /// The live session a web admin cookie names, with its principal: the
    /// session neither expired nor signed out, its key neither revoked nor
    /// expired.
    pub async fn admin_session(&self, cookie: &str) -> Result<(Principal, AdminSession), AuthError> {
        let id = AdminSession::id_of(cookie).ok_or(AuthError::Rejected(KeyRejection::Malformed))?;
        let mut store = self.db.session().await.map_err(ServiceError::from)?;
        let session = store.admin_session(&id).await.map_err(ServiceError::from)?;
        drop(store);
        let session = session.ok_or(AuthError::Rejected(KeyRejection::Unknown))?;
        let now = time::now();
        if !session.is_live(now) {
            return Err(AuthError::Rejected(KeyRejection::Expired));
        }
        let cached = self.cached_key(session.key_id).await?;
        cached.key.usable(now).map_err(AuthError::Rejected)?;
        self.touch_in_background(&cached, now);
        let principal = Principal { key_id: cached.key.id, name: cached.key.name.clone(), role: cached.key.role };
        Ok((principal, session))
    }

    /// Signs out: ends the session, audited as its key.
    pub async fn sign_out(&self, actor: &Actor, session: &AdminSession) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        if tx.delete_admin_session(&session.id_hash).await? {
            audit::record(tx.as_mut(), actor, "admin.signed_out", ENTITY, session.key_id, None, &serde_json::json!({}))
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes expired web admin sessions; returns how many.
    pub async fn sweep_sessions(&self) -> ServiceResult<u64> {
        let mut tx = self.db.begin().await?;
        let swept = tx.sweep_admin_sessions(time::now()).await?;
        tx.commit().await?;
        Ok(swept)
    }

    /// Records the key's use, at most once per [`TOUCH_EVERY`], off the
    /// request's path.
    fn touch_in_background(&self, cached: &CachedKey, now: Timestamp) {
        let last = cached.last_touched_micros.load(Ordering::Relaxed);
        let now_micros = now.timestamp_micros();
        if now_micros - last < TOUCH_EVERY.num_microseconds().unwrap_or(i64::MAX) {
            return;
        }
        if cached.last_touched_micros.compare_exchange(last, now_micros, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return; // another request is recording it
        }
        let db = self.db.clone();
        let id = cached.key.id;
        tokio::spawn(async move {
            let result = async {
                let mut tx = db.begin().await?;
                tx.touch_api_key(id, now).await?;
                tx.commit().await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(key.id = %id, error = %e, "could not record the key's last use");
            }
        });
    }
}
