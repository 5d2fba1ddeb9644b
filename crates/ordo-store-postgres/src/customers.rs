//! SQL of the customers module.

use async_trait::async_trait;
use ordo_domain::customer::{Address, Customer, CustomerFilter};
use ordo_domain::page::PageRequest;
use ordo_domain::{CustomerId, Email, RecordMeta, Timestamp};
use ordo_store::{CustomerRepo, StoreResult};
use sqlx::postgres::PgConnection;
use sqlx::types::Json;
use sqlx::{Postgres, QueryBuilder};
use std::ops::DerefMut;
use uuid::Uuid;

use crate::copy::CopyIn;
use crate::{PgSession, corrupt, map_err};

const COLUMNS: &str = "id, email, name, addresses, version, created_at, updated_at, archived_at";

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    email: String,
    name: String,
    addresses: Json<Vec<Address>>,
    version: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    archived_at: Option<Timestamp>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = ordo_store::StoreError;

    fn try_from(row: CustomerRow) -> Result<Self, Self::Error> {
        Ok(Customer {
            id: CustomerId::from_uuid(row.id),
            email: Email::parse(&row.email).map_err(|e| corrupt("customers.email", e.message))?,
            name: row.name,
            addresses: row.addresses.0,
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
impl<C: DerefMut<Target = PgConnection> + Send> CustomerRepo for PgSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "customers.insert_customer", skip_all)]
    async fn insert_customer(&mut self, c: &Customer) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO customers (id, email, name, addresses, version, created_at, updated_at, archived_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.id.as_uuid())
        .bind(c.email.as_str())
        .bind(&c.name)
        .bind(Json(&c.addresses))
        .bind(c.meta.version)
        .bind(c.meta.created_at)
        .bind(c.meta.updated_at)
        .bind(c.meta.archived_at)
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "customers.insert_customers", skip_all)]
    async fn insert_customers(&mut self, customers: &[Customer]) -> StoreResult<()> {
        let mut copy =
            CopyIn::new("customers (id, email, name, addresses, version, created_at, updated_at, archived_at)");
        for c in customers {
            copy.uuid(c.id.as_uuid()).text(c.email.as_str()).text(&c.name).json(&c.addresses)?;
            copy.int(c.meta.version).timestamp(c.meta.created_at).timestamp(c.meta.updated_at);
            copy.opt_timestamp(c.meta.archived_at).end_row();
        }
        copy.send(self.conn()).await?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "customers.customer", skip_all)]
    async fn customer(&mut self, id: CustomerId) -> StoreResult<Option<Customer>> {
        let row: Option<CustomerRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM customers WHERE id = $1"))
            .bind(id.as_uuid())
            .persistent(self.persistent)
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        row.map(Customer::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "customers.update_customer", skip_all)]
    async fn update_customer(&mut self, c: &Customer, expected_version: i64) -> StoreResult<bool> {
        let result = sqlx::query(
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
        .bind(c.meta.updated_at)
        .bind(c.meta.archived_at)
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "customers.list_customers", skip_all)]
    async fn list_customers(&mut self, filter: &CustomerFilter, page: &PageRequest) -> StoreResult<Vec<Customer>> {
        let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM customers WHERE archived_at IS "));
        query.push(if filter.archived { "NOT NULL" } else { "NULL" });
        if let Some(after) = page.after {
            query.push(" AND id > ").push_bind(after);
        }
        if let Some(email) = &filter.email {
            query.push(" AND email = ").push_bind(email.as_str());
        }
        if let Some(since) = filter.updated_since {
            query.push(" AND updated_at >= ").push_bind(since);
        }
        query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
        let rows: Vec<CustomerRow> =
            query.build_query_as().persistent(self.persistent).fetch_all(self.conn()).await.map_err(map_err)?;
        rows.into_iter().map(Customer::try_from).collect()
    }
}
