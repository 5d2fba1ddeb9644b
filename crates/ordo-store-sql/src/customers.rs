//! Customers: the row, its mapping, and [`customer_repo!`](crate::customer_repo)
//! (every method but the bulk insert, which is dialect).

use ordo_domain::customer::{Address, Customer};
use ordo_domain::{CustomerId, Email, RecordMeta};
use ordo_store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Ts, corrupt, ts};

/// The columns of [`CustomerRow`], in the order bulk inserts use.
pub const COLUMNS: &str = "id, email, name, addresses, version, created_at, updated_at, archived_at";

#[derive(Debug, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub addresses: Json<Vec<Address>>,
    pub version: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub archived_at: Option<Ts>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(row: CustomerRow) -> Result<Self, Self::Error> {
        Ok(Customer {
            id: CustomerId::from_uuid(row.id),
            email: Email::parse(&row.email).map_err(|e| corrupt("customers.email", e.message))?,
            name: row.name,
            addresses: row.addresses.0,
            meta: RecordMeta {
                version: row.version,
                created_at: row.created_at.0,
                updated_at: row.updated_at.0,
                archived_at: ts::opt(row.archived_at),
            },
        })
    }
}

/// Implements `CustomerRepo` for `$session<C>` on `$db`; the backend
/// writes `insert_customers` (bulk) in its dialect.
#[macro_export]
macro_rules! customer_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        const _: () = {
            use ::ordo_domain::customer::{Customer, CustomerFilter};
            use ::ordo_domain::page::PageRequest;
            use ::ordo_domain::CustomerId;
            use ::ordo_store::{CustomerRepo, StoreResult};
            use ::sqlx::types::Json;
            use $crate::customers::{COLUMNS, CustomerRow};
            use $crate::{SqlSession, Ts};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> CustomerRepo
                for $session<C>
            {
                $($dialect)*

                #[::tracing::instrument(target = "ordo_db", name = "customers.insert_customer", skip_all)]
                async fn insert_customer(&mut self, c: &Customer) -> StoreResult<()> {
                    ::sqlx::query(&format!(
                        "INSERT INTO customers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(c.id.as_uuid())
                    .bind(c.email.as_str())
                    .bind(&c.name)
                    .bind(Json(&c.addresses))
                    .bind(c.meta.version)
                    .bind(Ts(c.meta.created_at))
                    .bind(Ts(c.meta.updated_at))
                    .bind(c.meta.archived_at.map(Ts))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[::tracing::instrument(target = "ordo_db", name = "customers.customer", skip_all)]
                async fn customer(&mut self, id: CustomerId) -> StoreResult<Option<Customer>> {
                    let row: Option<CustomerRow> =
                        ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM customers WHERE id = $1"))
                            .bind(id.as_uuid())
                            .persistent(self.persistent())
                            .fetch_optional(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    row.map(Customer::try_from).transpose()
                }

                #[::tracing::instrument(target = "ordo_db", name = "customers.update_customer", skip_all)]
                async fn update_customer(&mut self, c: &Customer, expected_version: i64) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE customers
                            SET email = $3, name = $4, addresses = $5, version = $6, updated_at = $7, archived_at = $8
                          WHERE id = $1 AND version = $2",
                    )
                    .bind(c.id.as_uuid())
                    .bind(expected_version)
                    .bind(c.email.as_str())
                    .bind(&c.name)
                    .bind(Json(&c.addresses))
                    .bind(c.meta.version)
                    .bind(Ts(c.meta.updated_at))
                    .bind(c.meta.archived_at.map(Ts))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[::tracing::instrument(target = "ordo_db", name = "customers.by_email", skip_all)]
                async fn customers_by_email(&mut self, emails: &[::ordo_domain::Email]) -> StoreResult<Vec<Customer>> {
                    if emails.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!(
                        "SELECT {COLUMNS} FROM customers WHERE email IN ("
                    ));
                    let mut list = query.separated(", ");
                    for email in emails {
                        list.push_bind(email.as_str());
                    }
                    query.push(")");
                    let rows: Vec<CustomerRow> =
                        query.build_query_as().fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(Customer::try_from).collect()
                }

                #[::tracing::instrument(target = "ordo_db", name = "customers.list_customers", skip_all)]
                async fn list_customers(
                    &mut self,
                    filter: &CustomerFilter,
                    page: &PageRequest,
                ) -> StoreResult<Vec<Customer>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!(
                        "SELECT {COLUMNS} FROM customers WHERE archived_at IS "
                    ));
                    query.push(if filter.archived { "NOT NULL" } else { "NULL" });
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(email) = &filter.email {
                        query.push(" AND email = ").push_bind(email.as_str());
                    }
                    if let Some(since) = filter.updated_since {
                        query.push(" AND updated_at >= ").push_bind(Ts(since));
                    }
                    if let Some(before) = filter.updated_before {
                        query.push(" AND updated_at < ").push_bind(Ts(before));
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let rows: Vec<CustomerRow> = query
                        .build_query_as()
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    rows.into_iter().map(Customer::try_from).collect()
                }
            }
        };
    };
}
