//! SQL of the catalog module: the shared queries of `ordo_store_sql::catalog`, and the ones
//! in this backend's dialect.

use crate::{SqliteSession, rows_per_insert};

ordo_store_sql::catalog_repo!(SqliteSession, Sqlite {
    #[tracing::instrument(target = "ordo_db", name = "catalog.insert_products", skip_all)]
    async fn insert_products(&mut self, products: &[Product]) -> StoreResult<()> {
        for chunk in products.chunks(rows_per_insert(11)) {
            let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("INSERT INTO products ({COLUMNS}) "));
            insert.push_values(chunk, |mut row, p| {
                row.push_bind(p.id.as_uuid())
                    .push_bind(p.sku.as_str())
                    .push_bind(&p.name)
                    .push_bind(&p.description)
                    .push_bind(Json(p.prices.as_slice()))
                    .push_bind(p.active)
                    .push_bind(p.meta.version)
                    .push_bind(Ts(p.meta.created_at))
                    .push_bind(Ts(p.meta.updated_at))
                    .push_bind(p.meta.archived_at.map(Ts))
                    .push_bind(p.tax_class.as_str());
            });
            insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
        }
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.update_product", skip_all)]
    async fn update_product(&mut self, p: &Product, expected_version: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE products
                SET name = $3, description = $4, prices = $5, active = $6, version = $7, updated_at = $8, archived_at = $9,
                    tax_class = $10
              WHERE id = $1 AND version = $2",
        )
        .bind(p.id.as_uuid())
        .bind(expected_version)
        .bind(&p.name)
        .bind(&p.description)
        .bind(Json(p.prices.as_slice()))
        .bind(p.active)
        .bind(p.meta.version)
        .bind(Ts(p.meta.updated_at))
        .bind(p.meta.archived_at.map(Ts))
        .bind(p.tax_class.as_str())
        .execute(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.products_by_sku", skip_all)]
    async fn products_by_sku(&mut self, skus: &[Sku]) -> StoreResult<Vec<Product>> {
        let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!("SELECT {COLUMNS} FROM products WHERE sku IN ("));
        let mut separated = query.separated(", ");
        for sku in skus {
            separated.push_bind(sku.as_str());
        }
        query.push(")");
        let rows: Vec<ProductRow> = query.build_query_as().fetch_all(self.conn()).await.map_err(Self::map_err)?;
        rows.into_iter().map(Product::try_from).collect()
    }
});
