//! SQL of the catalog module.

use ordo_domain::catalog::{Prices, Product};
use ordo_domain::market::TaxClass;
use ordo_domain::{Money, ProductId, RecordMeta, Sku};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Ts, corrupt, ts};

pub const COLUMNS: &str =
    "id, sku, name, description, prices, active, version, created_at, updated_at, archived_at, tax_class";

#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub prices: Json<Vec<Money>>,
    pub active: bool,
    pub version: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub archived_at: Option<Ts>,
    pub tax_class: String,
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
            tax_class: TaxClass::parse(&row.tax_class).ok_or_else(|| corrupt("products.tax_class", &row.tax_class))?,
            meta: RecordMeta {
                version: row.version,
                created_at: row.created_at.0,
                updated_at: row.updated_at.0,
                archived_at: ts::opt(row.archived_at),
            },
        })
    }
}

/// Implements `CatalogRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! catalog_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::catalog::{Prices, Product, ProductFilter};
            use ::ordo_domain::page::PageRequest;
            use ::ordo_domain::{Money, ProductId, RecordMeta, Sku, Timestamp};
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use ::ordo_store::{CatalogRepo, StoreResult};
            use $crate::catalog::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> CatalogRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "catalog.insert_product", skip_all)]
                async fn insert_product(&mut self, p: &Product) -> StoreResult<()> {
                    ::sqlx::query(&format!(
                        "INSERT INTO products ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                    ))
                    .bind(p.id.as_uuid())
                    .bind(p.sku.as_str())
                    .bind(&p.name)
                    .bind(&p.description)
                    .bind(Json(p.prices.as_slice()))
                    .bind(p.active)
                    .bind(p.meta.version)
                    .bind(Ts(p.meta.created_at))
                    .bind(Ts(p.meta.updated_at))
                    .bind(p.meta.archived_at.map(Ts))
                    .bind(p.tax_class.as_str())
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "catalog.product", skip_all)]
                async fn product(&mut self, id: ProductId) -> StoreResult<Option<Product>> {
                    let row: Option<ProductRow> = ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE id = $1"))
                        .bind(id.as_uuid())
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(Product::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "catalog.list_products", skip_all)]
                async fn list_products(&mut self, filter: &ProductFilter, page: &PageRequest) -> StoreResult<Vec<Product>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {COLUMNS} FROM products WHERE archived_at IS "));
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
                        query.push(" AND updated_at >= ").push_bind(Ts(since));
                    }
                    if let Some(before) = filter.updated_before {
                        query.push(" AND updated_at < ").push_bind(Ts(before));
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<ProductRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(Product::try_from).collect()
                }
            }
        };
    };
}
