//! Catalog use cases: create, read, change, archive and list products.
//!
//! Products are reference data read far more often than written, so
//! single-product reads go through an in-process cache. Writes in this
//! process invalidate it as they commit; on PostgreSQL, other processes'
//! writes arrive through the database's change notifications
//! ([`CatalogService::follow_changes`]); the time-to-live bounds staleness
//! where no notifications can arrive (behind PgBouncer). Order placement
//! never uses the cache: it reads prices inside its own transaction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use ordo_domain::audit::Actor;
use ordo_domain::catalog::{NewProduct, Product, ProductChanges, ProductFilter};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{ProductId, time};
use ordo_store::{Change, Database, StoreResult, Transaction};
use tracing::instrument;

use crate::versioned::{Versioned, modify};
use crate::{ServiceError, ServiceResult, audit};

/// Names the products list in its cursors.
pub const CURSOR_SCOPE: &str = "products";

#[derive(Debug, Clone)]
pub struct CatalogService {
    db: Arc<dyn Database>,
    cache: Option<Arc<ProductCache>>,
}

/// Products by id, with a generation counter that keeps a read which raced
/// a write from caching what it read before the write committed.
#[derive(Debug)]
struct ProductCache {
    products: moka::future::Cache<ProductId, Arc<CachedProduct>>,
    /// Bumped before every invalidation.
    generation: AtomicU64,
    /// Reads answered from the cache, and reads that loaded the product,
    /// since the process started (for the admin's dashboard; Prometheus
    /// gets the same as `ordo_cache_requests_total`).
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The product cache's reads since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub misses: u64,
}

/// A product as single-product reads return it: the product and, made on
/// first use, its JSON form. A cached product is read far more often than it
/// changes, so a hot product is serialised once per cached version instead
/// of once per read (serialisation was 7-8 % of the server's time under a
/// load of cached reads).
#[derive(Debug)]
pub struct CachedProduct {
    pub product: Product,
    json: OnceLock<Bytes>,
}

impl CachedProduct {
    fn new(product: Product) -> Self {
        Self { product, json: OnceLock::new() }
    }

    /// The product's JSON form (its `Serialize` implementation).
    pub fn json(&self) -> Result<Bytes, serde_json::Error> {
        if let Some(json) = self.json.get() {
            return Ok(json.clone());
        }
        let json = Bytes::from(serde_json::to_vec(&self.product)?);
        Ok(self.json.get_or_init(|| json).clone())
    }
}

impl ProductCache {
    async fn invalidate(&self, id: ProductId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.products.invalidate(&id).await;
    }

    fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.products.invalidate_all();
    }
}

impl CatalogService {
    /// `cache_ttl` zero turns the product cache off.
    pub fn new(db: Arc<dyn Database>, cache_ttl: Duration, cache_capacity: u64) -> Self {
        let cache = (!cache_ttl.is_zero()).then(|| {
            Arc::new(ProductCache {
                products: moka::future::Cache::builder().max_capacity(cache_capacity).time_to_live(cache_ttl).build(),
                generation: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            })
        });
        Self { db, cache }
    }

    /// Applies other processes' product changes to this process's cache
    /// until the database closes; runs for the server's lifetime. Returns at
    /// once where the backend has no change notifications.
    pub async fn follow_changes(&self) {
        let Some(cache) = &self.cache else { return };
        let mut delay = Duration::from_millis(100);
        loop {
            let mut listener = match self.db.change_listener().await {
                Ok(Some(listener)) => listener,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for catalog changes; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            // Anything cached before listening may have changed unheard.
            cache.invalidate_all();
            delay = Duration::from_millis(100);
            // When the listener is lost, what is cached stays (within its
            // time-to-live) until a new listener is up: while the database
            // is down, cached products are still served; once it is back,
            // everything changed meanwhile is dropped above.
            loop {
                match listener.recv().await {
                    Ok(Change::Product(id)) => cache.invalidate(ProductId::from_uuid(id)).await,
                    Ok(Change::Unknown) => {
                        tracing::info!("the catalog change listener lost its connection; reconnecting");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the catalog change listener; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    #[instrument(skip_all, fields(sku = %new.sku))]
    pub async fn create_product(&self, actor: &Actor, new: NewProduct) -> ServiceResult<Product> {
        let product = Product::create(ProductId::generate(), new, time::now());
        let mut tx = self.db.begin().await?;
        tx.insert_product(&product).await?;
        audit::record(tx.as_mut(), actor, "product.created", Product::ENTITY, product.id, None, &product).await?;
        tx.commit().await?;
        Ok(product)
    }

    /// The product cache's reads since the process started; none when the
    /// cache is off.
    pub fn cache_counts(&self) -> Option<CacheCounts> {
        self.cache
            .as_ref()
            .map(|c| CacheCounts { hits: c.hits.load(Ordering::Relaxed), misses: c.misses.load(Ordering::Relaxed) })
    }

    #[instrument(skip_all, fields(product.id = %id))]
    pub async fn product(&self, id: ProductId) -> ServiceResult<Arc<CachedProduct>> {
        let Some(cache) = &self.cache else { return Ok(Arc::new(CachedProduct::new(self.load_product(id).await?))) };
        if let Some(product) = cache.products.get(&id).await {
            cache.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("ordo_cache_requests_total", "cache" => "products", "result" => "hit").increment(1);
            return Ok(product);
        }
        cache.misses.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("ordo_cache_requests_total", "cache" => "products", "result" => "miss").increment(1);
        let generation = cache.generation.load(Ordering::SeqCst);
        let product = Arc::new(CachedProduct::new(self.load_product(id).await?));
        cache.products.insert(id, product.clone()).await;
        // An invalidation since the read began may have been for this very
        // product, and may have run before the insert: undo it.
        if cache.generation.load(Ordering::SeqCst) != generation {
            cache.products.invalidate(&id).await;
        }
        Ok(product)
    }

    async fn load_product(&self, id: ProductId) -> ServiceResult<Product> {
        let mut session = self.db.session().await?;
        session.product(id).await?.ok_or_else(|| ServiceError::not_found(Product::ENTITY, id))
    }

    /// Drops a product this process changed from the cache.
    pub(crate) async fn forget(&self, id: ProductId) {
        if let Some(cache) = &self.cache {
            cache.invalidate(id).await;
        }
    }

    /// Applies `changes` if the product is still at `expected_version` (any
    /// version when `None`).
    #[instrument(skip_all, fields(product.id = %id))]
    pub async fn update_product(
        &self,
        actor: &Actor,
        id: ProductId,
        expected_version: Option<i64>,
        changes: ProductChanges,
    ) -> ServiceResult<Product> {
        let updated = modify(self.db.as_ref(), actor, "updated", id, expected_version, |product: &mut Product| {
            product.apply(changes, time::now()).map_err(|e| ServiceError::from_record(Product::ENTITY, e))
        })
        .await;
        self.forget(id).await;
        updated
    }

    /// Archives the product; archiving it again changes nothing.
    /// `expected_version`, when given, must match.
    #[instrument(skip_all, fields(product.id = %id))]
    pub async fn archive_product(
        &self,
        actor: &Actor,
        id: ProductId,
        expected_version: Option<i64>,
    ) -> ServiceResult<Product> {
        let archived = modify(self.db.as_ref(), actor, "archived", id, expected_version, |product: &mut Product| {
            Ok(product.archive(time::now()))
        })
        .await;
        self.forget(id).await;
        archived
    }

    #[instrument(skip_all)]
    pub async fn list_products(&self, filter: &ProductFilter, page: &PageRequest) -> ServiceResult<Page<Product>> {
        let mut session = self.db.session().await?;
        let rows = session.list_products(filter, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |p| *p.id.as_uuid()))
    }
}

#[async_trait]
impl Versioned for Product {
    const ENTITY: &'static str = "product";
    type Id = ProductId;

    fn id(&self) -> ProductId {
        self.id
    }

    fn version(&self) -> i64 {
        self.meta.version
    }

    async fn load(tx: &mut dyn Transaction, id: ProductId) -> StoreResult<Option<Self>> {
        tx.product(id).await
    }

    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool> {
        tx.update_product(self, expected_version).await
    }
}
