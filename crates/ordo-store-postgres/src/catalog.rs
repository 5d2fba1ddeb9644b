//! SQL of the catalog module.

use async_trait::async_trait;
use ordo_domain::catalog::{Prices, Product, ProductFilter};
use ordo_domain::page::PageRequest;
use ordo_domain::{Money, ProductId, RecordMeta, Sku, Timestamp};
use ordo_store::{CatalogRepo, StoreResult};
use sqlx::postgres::PgConnection;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use std::ops::DerefMut;
use uuid::Uuid;

use crate::copy::CopyIn;
use crate::{PgSession, corrupt, map_err};

const COLUMNS: &str = "id, sku, name, description, prices, active, version, created_at, updated_at, archived_at";

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    sku: String,
    name: String,
    description: Option<String>,
    prices: Json<Vec<Money>>,
    active: bool,
    version: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    archived_at: Option<Timestamp>,
}

impl TryFrom<ProductRow> for Product {
    type Error = ordo_store::StoreError;

    fn try_from(row: ProductRow) -> Result<Self, Self::Error> {
        Ok(Product {
            id: ProductId::from_uuid(row.id),
            sku: Sku::parse(&row.sku).map_err(|e| corrupt("products.sku", e.message))?,
            name: row.name,
            description: row.description,
            prices: Prices::from_stored(row.prices.0),
            active: row.active,
            meta: RecordMeta {
                version: row.version,
                created_at: row.created_at,
                updated_at: row.updated_at,
                archived_at: row.archived_at,
            },
        })
    }
}

#[async_trait]
impl<C: DerefMut<Target = PgConnection> + Send> CatalogRepo for PgSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "catalog.insert_product", skip_all)]
    async fn insert_product(&mut self, p: &Product) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, prices, active, version, created_at, updated_at, archived_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.id.as_uuid())
        .bind(p.sku.as_str())
        .bind(&p.name)
        .bind(&p.description)
        .bind(Json(p.prices.as_slice()))
        .bind(p.active)
        .bind(p.meta.version)
        .bind(p.meta.created_at)
        .bind(p.meta.updated_at)
        .bind(p.meta.archived_at)
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.insert_products", skip_all)]
    async fn insert_products(&mut self, products: &[Product]) -> StoreResult<()> {
        let mut copy = CopyIn::new(
            "products (id, sku, name, description, prices, active, version, created_at, updated_at, archived_at)",
        );
        for p in products {
            copy.uuid(p.id.as_uuid()).text(p.sku.as_str()).text(&p.name).opt_text(p.description.as_deref());
            copy.json(&p.prices.as_slice())?.bool(p.active).int(p.meta.version);
            copy.timestamp(p.meta.created_at).timestamp(p.meta.updated_at).opt_timestamp(p.meta.archived_at);
            copy.end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.product", skip_all)]
    async fn product(&mut self, id: ProductId) -> StoreResult<Option<Product>> {
        let row: Option<ProductRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
            .bind(id.as_uuid())
            .persistent(self.persistent)
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        row.map(Product::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.update_product", skip_all)]
    async fn update_product(&mut self, p: &Product, expected_version: i64) -> StoreResult<bool> {
        // The notification is sent on commit, so other processes drop the
        // product from their caches only once the change is visible.
        let updated: i64 = sqlx::query_scalar(
            "WITH updated AS (
                UPDATE products
                   SET name = $3, description = $4, prices = $5, active = $6, version = $7, updated_at = $8, archived_at = $9
                 WHERE id = $1 AND version = $2
                RETURNING id)
             SELECT count(pg_notify('ordo_changes', 'product:' || id::text)) FROM updated",
        )
        .bind(p.id.as_uuid())
        .bind(expected_version)
        .bind(&p.name)
        .bind(&p.description)
        .bind(Json(p.prices.as_slice()))
        .bind(p.active)
        .bind(p.meta.version)
        .bind(p.meta.updated_at)
        .bind(p.meta.archived_at)
        .persistent(self.persistent)
        .fetch_one(self.conn())
        .await
        .map_err(map_err)?;
        Ok(updated == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.products_by_sku", skip_all)]
    async fn products_by_sku(&mut self, skus: &[Sku]) -> StoreResult<Vec<Product>> {
        let skus: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let rows: Vec<ProductRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE sku = ANY($1)"))
            .bind(&skus)
            .persistent(self.persistent)
            .fetch_all(self.conn())
            .await
            .map_err(map_err)?;
        rows.into_iter().map(Product::try_from).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.list_products", skip_all)]
    async fn list_products(&mut self, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Vec<Product>> {
        let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM products WHERE archived_at IS "));
        query.push(if filter.archived { "NOT NULL" } else { "NULL" });
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        if let Some(active) = filter.active {
            query.push(" AND active = ").push_bind(active);
        }
        if let Some(prefix) = &filter.sku_prefix {
            query.push(" AND sku >= ").push_bind(&prefix.low);
            query.push(" AND sku < ").push_bind(&prefix.high);
        }
        if let Some(since) = filter.updated_since {
            query.push(" AND updated_at >= ").push_bind(since);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let rows: Vec<ProductRow> =
            query.build_query_as().persistent(self.persistent).fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter().map(Product::try_from).collect()
    }
}
