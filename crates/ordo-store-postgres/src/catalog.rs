//! SQL of the catalog module: the shared queries of `ordo_store_sql::catalog`, and the ones
//! in this backend's dialect.

use crate::PgSession;
use crate::copy::CopyIn;

ordo_store_sql::catalog_repo!(PgSession, Postgres {
    #[tracing::instrument(target = "ordo_db", name = "catalog.insert_products", skip_all)]
    async fn insert_products(&mut self, products: &[Product]) -> StoreResult<()> {
        let mut copy = CopyIn::new(&format!("products ({COLUMNS})"));
        for p in products {
            copy.uuid(p.id.as_uuid()).text(p.sku.as_str()).text(&p.name).opt_text(p.description.as_deref());
            copy.json(&p.prices.as_slice())?.bool(p.active).int(p.meta.version);
            copy.timestamp(p.meta.created_at).timestamp(p.meta.updated_at).opt_timestamp(p.meta.archived_at);
            copy.text(p.tax_class.as_str()).end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.update_product", skip_all)]
    async fn update_product(&mut self, p: &Product, expected_version: i64) -> StoreResult<bool> {
        // The notification is sent on commit, so other processes drop the
        // product from their caches only once the change is visible.
        let updated: i64 = sqlx::query_scalar(
            "WITH updated AS (
                UPDATE products
                   SET name = $3, description = $4, prices = $5, active = $6, version = $7, updated_at = $8, archived_at = $9,
                       tax_class = $10
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
        .bind(Ts(p.meta.updated_at))
        .bind(p.meta.archived_at.map(Ts))
        .bind(p.tax_class.as_str())
        .persistent(self.persistent())
        .fetch_one(self.conn())
        .await
        .map_err(Self::map_err)?;
        Ok(updated == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "catalog.products_by_sku", skip_all)]
    async fn products_by_sku(&mut self, skus: &[Sku]) -> StoreResult<Vec<Product>> {
        let skus: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let rows: Vec<ProductRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM products WHERE sku = ANY($1)"))
            .bind(&skus)
            .persistent(self.persistent())
            .fetch_all(self.conn())
            .await
            .map_err(Self::map_err)?;
        rows.into_iter().map(Product::try_from).collect()
    }
});
