//! SQL of the catalog module.

use async_trait::async_trait;
use ordo_domain::catalog::{Prices, Product, ProductFilter};
use ordo_domain::page::PageRequest;
use ordo_domain::{Money, ProductId, RecordMeta, Sku};
use ordo_store::{CatalogRepo, StoreResult};
use sqlx::sqlite::SqliteConnection;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use std::ops::DerefMut;
use uuid::Uuid;

use crate::{SqliteSession, corrupt, from_micros, from_micros_opt, map_err, rows_per_insert, to_micros};

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
    created_at: i64,
    updated_at: i64,
    archived_at: Option<i64>,
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
                created_at: from_micros("created_at", row.created_at)?,
                updated_at: from_micros("updated_at", row.updated_at)?,
                archived_at: from_micros_opt("archived_at", row.archived_at)?,
            },
        })
    }
}

#[async_trait]
impl<C: DerefMut<Target = SqliteConnection> + Send> CatalogRepo for SqliteSession<C> {
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
        .bind(to_micros(p.meta.created_at))
        .bind(to_micros(p.meta.updated_at))
        .bind(p.meta.archived_at.map(to_micros))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.insert_products", skip_all)]
    async fn insert_products(&mut self, products: &[Product]) -> StoreResult<()> {
        for chunk in products.chunks(rows_per_insert(10)) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO products (id, sku, name, description, prices, active, version, created_at, updated_at, archived_at) ",
            );
            insert.push_values(chunk, |mut row, p| {
                row.push_bind(p.id.as_uuid())
                    .push_bind(p.sku.as_str())
                    .push_bind(&p.name)
                    .push_bind(&p.description)
                    .push_bind(Json(p.prices.as_slice()))
                    .push_bind(p.active)
                    .push_bind(p.meta.version)
                    .push_bind(to_micros(p.meta.created_at))
                    .push_bind(to_micros(p.meta.updated_at))
                    .push_bind(p.meta.archived_at.map(to_micros));
            });
            insert.build().execute(self.conn()).await.map_err(map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.product", skip_all)]
    async fn product(&mut self, id: ProductId) -> StoreResult<Option<Product>> {
        let row: Option<ProductRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        row.map(Product::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.update_product", skip_all)]
    async fn update_product(&mut self, p: &Product, expected_version: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE products
                SET name = $3, description = $4, prices = $5, active = $6, version = $7, updated_at = $8, archived_at = $9
              WHERE id = $1 AND version = $2",
        )
        .bind(p.id.as_uuid())
        .bind(expected_version)
        .bind(&p.name)
        .bind(&p.description)
        .bind(Json(p.prices.as_slice()))
        .bind(p.active)
        .bind(p.meta.version)
        .bind(to_micros(p.meta.updated_at))
        .bind(p.meta.archived_at.map(to_micros))
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.products_by_sku", skip_all)]
    async fn products_by_sku(&mut self, skus: &[Sku]) -> StoreResult<Vec<Product>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM products WHERE sku IN ("));
        let mut separated = query.separated(", ");
        for sku in skus {
            separated.push_bind(sku.as_str());
        }
        query.push(")");
        let rows: Vec<ProductRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter().map(Product::try_from).collect()
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.list_products", skip_all)]
    async fn list_products(&mut self, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Vec<Product>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM products WHERE archived_at IS "));
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
            query.push(" AND updated_at >= ").push_bind(to_micros(since));
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let rows: Vec<ProductRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter().map(Product::try_from).collect()
    }
}
