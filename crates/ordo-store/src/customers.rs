//! Storage of the customers module: the `customers` table.

use async_trait::async_trait;
use ordo_domain::CustomerId;
use ordo_domain::customer::{Customer, CustomerFilter};
use ordo_domain::page::PageRequest;

use crate::StoreResult;

#[async_trait]
pub trait CustomerRepo: Send {
    /// Inserts a new customer; [`crate::StoreError::Duplicate`] with
    /// [`crate::UniqueKey::CustomerEmail`] if the e-mail address is taken.
    async fn insert_customer(&mut self, customer: &Customer) -> StoreResult<()>;

    /// Inserts many customers at once, for bulk loads (`ordo seed`).
    async fn insert_customers(&mut self, customers: &[Customer]) -> StoreResult<()>;

    async fn customer(&mut self, id: CustomerId) -> StoreResult<Option<Customer>>;

    /// Writes `customer` over the stored row if that row is still at
    /// `expected_version`; returns whether it was. A taken e-mail address is
    /// [`crate::StoreError::Duplicate`].
    async fn update_customer(&mut self, customer: &Customer, expected_version: i64) -> StoreResult<bool>;

    /// The customers (archived ones included) with these e-mail addresses.
    async fn customers_by_email(&mut self, emails: &[ordo_domain::Email]) -> StoreResult<Vec<Customer>>;

    /// Up to `page.fetch_limit()` customers after `page.after`, in id order.
    async fn list_customers(&mut self, filter: &CustomerFilter, page: &PageRequest) -> StoreResult<Vec<Customer>>;
}
