//! Storage of the catalog module: the `products` table.

use async_trait::async_trait;
use ordo_domain::ProductId;
use ordo_domain::catalog::{Product, ProductFilter};
use ordo_domain::page::PageRequest;

use crate::StoreResult;

#[async_trait]
pub trait CatalogRepo: Send {
    /// Inserts a new product; [`crate::StoreError::Duplicate`] with
    /// [`crate::UniqueKey::ProductSku`] if the SKU is taken.
    async fn insert_product(&mut self, product: &Product) -> StoreResult<()>;

    /// Inserts many products at once, for bulk loads (`ordo seed`).
    async fn insert_products(&mut self, products: &[Product]) -> StoreResult<()>;

    async fn product(&mut self, id: ProductId) -> StoreResult<Option<Product>>;

    /// Writes `product` over the stored row if that row is still at
    /// `expected_version`; returns whether it was.
    async fn update_product(&mut self, product: &Product, expected_version: i64) -> StoreResult<bool>;

    /// The products with these SKUs (those that exist).
    async fn products_by_sku(&mut self, skus: &[ordo_domain::Sku]) -> StoreResult<Vec<Product>>;

    /// Up to `page.fetch_limit()` products after `page.after`, in id order.
    async fn list_products(&mut self, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Vec<Product>>;
}
