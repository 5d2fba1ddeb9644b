//! SQL of returns: [`return_repo!`](crate::return_repo). The document is
//! the whole return; `status` and `version` are kept beside it to filter
//! and to guard updates.

/// Implements `ReturnRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! return_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::OrderId;
            use ::ordo_domain::page::PageRequest;
            use ::ordo_domain::returns::{Return, ReturnFilter};
            use ::ordo_store::{ReturnRepo, StoreResult};
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use $crate::{SqlSession, Ts};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> ReturnRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "returns.insert_return", skip_all)]
                async fn insert_return(&mut self, r: &Return) -> StoreResult<()> {
                    ::sqlx::query(
                        "INSERT INTO returns (id, order_id, status, version, document, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(r.id)
                    .bind(r.order_id.as_uuid())
                    .bind(r.status.as_str())
                    .bind(r.version)
                    .bind(Json(r))
                    .bind(Ts(r.created_at))
                    .bind(Ts(r.updated_at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "returns.update_return", skip_all)]
                async fn update_return(&mut self, r: &Return) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE returns SET status = $2, version = $3, document = $4, updated_at = $5
                          WHERE id = $1 AND version = $3 - 1",
                    )
                    .bind(r.id)
                    .bind(r.status.as_str())
                    .bind(r.version)
                    .bind(Json(r))
                    .bind(Ts(r.updated_at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "returns.find_return", skip_all)]
                async fn find_return(&mut self, id: Uuid) -> StoreResult<Option<Return>> {
                    let row: Option<Json<Return>> = ::sqlx::query_scalar("SELECT document FROM returns WHERE id = $1")
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(row.map(|j| j.0))
                }

                #[tracing::instrument(target = "ordo_db", name = "returns.order_returns", skip_all)]
                async fn order_returns(&mut self, order_id: OrderId) -> StoreResult<Vec<Return>> {
                    let rows: Vec<Json<Return>> =
                        ::sqlx::query_scalar("SELECT document FROM returns WHERE order_id = $1 ORDER BY id")
                            .bind(order_id.as_uuid())
                            .persistent(self.persistent())
                            .fetch_all(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(|j| j.0).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "returns.list_returns", skip_all)]
                async fn list_returns(&mut self, filter: &ReturnFilter, page: &PageRequest) -> StoreResult<Vec<Return>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new("SELECT document FROM returns WHERE TRUE");
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(order_id) = filter.order_id {
                        query.push(" AND order_id = ").push_bind(*order_id.as_uuid());
                    }
                    if let Some(status) = filter.status {
                        query.push(" AND status = ").push_bind(status.as_str());
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<Json<Return>> =
                        query.build_query_scalar().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(|j| j.0).collect())
                }
            }
        };
    };
}
