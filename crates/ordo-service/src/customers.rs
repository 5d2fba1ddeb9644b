//! Customer use cases: create, read, change, archive and list customers.

use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::customer::{Customer, CustomerChanges, CustomerFilter, NewCustomer};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{CustomerId, time};
use ordo_store::{Database, StoreResult, Transaction};
use tracing::instrument;

use crate::versioned::{Versioned, modify};
use crate::{ServiceError, ServiceResult, audit};

/// Names the customers list in its cursors.
pub const CURSOR_SCOPE: &str = "customers";

#[derive(Debug, Clone)]
pub struct CustomerService {
    db: Arc<dyn Database>,
}

impl CustomerService {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
    }

    #[instrument(skip_all)]
    pub async fn create_customer(&self, actor: &Actor, new: NewCustomer) -> ServiceResult<Customer> {
        let customer = Customer::create(CustomerId::generate(), new, time::now());
        let mut tx = self.db.begin().await?;
        tx.insert_customer(&customer).await?;
        audit::record(tx.as_mut(), actor, "customer.created", Customer::ENTITY, customer.id, None, &customer).await?;
        tx.commit().await?;
        Ok(customer)
    }

    #[instrument(skip_all, fields(customer.id = %id))]
    pub async fn customer(&self, id: CustomerId) -> ServiceResult<Customer> {
        let mut session = self.db.session().await?;
        session.customer(id).await?.ok_or_else(|| ServiceError::not_found(Customer::ENTITY, id))
    }

    /// Applies `changes` if the customer is still at `expected_version` (any
    /// version when `None`).
    #[instrument(skip_all, fields(customer.id = %id))]
    pub async fn update_customer(
        &self,
        actor: &Actor,
        id: CustomerId,
        expected_version: Option<i64>,
        changes: CustomerChanges,
    ) -> ServiceResult<Customer> {
        modify(self.db.as_ref(), actor, "updated", id, expected_version, |customer: &mut Customer| {
            customer.apply(changes, time::now()).map_err(|e| ServiceError::from_record(Customer::ENTITY, e))
        })
        .await
    }

    /// Archives the customer; archiving it again changes nothing.
    /// `expected_version`, when given, must match.
    #[instrument(skip_all, fields(customer.id = %id))]
    pub async fn archive_customer(
        &self,
        actor: &Actor,
        id: CustomerId,
        expected_version: Option<i64>,
    ) -> ServiceResult<Customer> {
        modify(self.db.as_ref(), actor, "archived", id, expected_version, |customer: &mut Customer| {
            Ok(customer.archive(time::now()))
        })
        .await
    }

    #[instrument(skip_all)]
    pub async fn list_customers(&self, filter: &CustomerFilter, page: &PageRequest) -> ServiceResult<Page<Customer>> {
        let mut session = self.db.session().await?;
        let rows = session.list_customers(filter, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |p| *p.id.as_uuid()))
    }
}

#[async_trait]
impl Versioned for Customer {
    const ENTITY: &'static str = "customer";
    type Id = CustomerId;

    fn id(&self) -> CustomerId {
        self.id
    }

    fn version(&self) -> i64 {
        self.meta.version
    }

    async fn load(tx: &mut dyn Transaction, id: CustomerId) -> StoreResult<Option<Self>> {
        tx.customer(id).await
    }

    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool> {
        tx.update_customer(self, expected_version).await
    }
}
