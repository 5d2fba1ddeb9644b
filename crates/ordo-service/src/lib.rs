//! Ordo's use cases, one module per business capability. Services take
//! validated domain values, run them through the domain's rules and the
//! storage traits, and own transaction boundaries. They know nothing of HTTP
//! or of which database backs them.

use std::sync::Arc;

use ordo_store::Database;

pub mod catalog;
pub mod customers;
mod error;
mod versioned;

pub use error::{ServiceError, ServiceResult};

/// Every service, built once over one database and shared by the API, the
/// CLI and (later) the workers.
#[derive(Debug, Clone)]
pub struct Services {
    pub db: Arc<dyn Database>,
    pub catalog: catalog::CatalogService,
    pub customers: customers::CustomerService,
}

impl Services {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self {
            catalog: catalog::CatalogService::new(db.clone()),
            customers: customers::CustomerService::new(db.clone()),
            db,
        }
    }
}
