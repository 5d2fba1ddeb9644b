//! Catalog use cases: create, read, change, archive and list products.

use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::catalog::{NewProduct, Product, ProductChanges, ProductFilter};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{ProductId, RecordMeta, time};
use ordo_store::{Database, StoreResult, Transaction};
use tracing::instrument;

use crate::versioned::{Versioned, modify};
use crate::{ServiceError, ServiceResult, audit};

/// Names the products list in its cursors.
pub const CURSOR_SCOPE: &str = "products";

#[derive(Debug, Clone)]
pub struct CatalogService {
    db: Arc<dyn Database>,
}

impl CatalogService {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
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

    #[instrument(skip_all, fields(product.id = %id))]
    pub async fn product(&self, id: ProductId) -> ServiceResult<Product> {
        let mut session = self.db.session().await?;
        session.product(id).await?.ok_or_else(|| ServiceError::not_found(Product::ENTITY, id))
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
        modify(self.db.as_ref(), actor, "updated", id, expected_version, |product: &mut Product| {
            product.apply(changes, time::now()).map_err(|e| ServiceError::from_record(Product::ENTITY, e))
        })
        .await
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
        modify(self.db.as_ref(), actor, "archived", id, expected_version, |product: &mut Product| {
            Ok(product.archive(time::now()))
        })
        .await
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

    fn meta(&self) -> &RecordMeta {
        &self.meta
    }

    async fn load(tx: &mut dyn Transaction, id: ProductId) -> StoreResult<Option<Self>> {
        tx.product(id).await
    }

    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool> {
        tx.update_product(self, expected_version).await
    }
}
