//! Ordo's domain: the pure types and rules of the business, with no I/O.
//!
//! Everything that crosses the HTTP edge is parsed into these types first
//! ("parse, don't validate"), so an invalid SKU, e-mail address or amount of
//! money cannot be represented past the edge.
//!
//! Modules:
//!
//! - [`audit`]: audit events and the hash chain that seals them.
//! - [`auth`]: roles, permissions and their matrix, API keys.
//! - [`catalog`]: products, identified by SKU, with a price per currency.
//! - [`credit_note`]: credit notes correcting an invoice, numbered without gaps.
//! - [`customer`]: customers, their unique e-mail address and addresses.
//! - [`email`]: e-mail addresses, parsed and normalised.
//! - [`event`]: domain events, the facts webhooks subscribe to.
//! - [`id`]: UUIDv7 identifiers, one type per entity.
//! - [`idempotency`]: idempotency keys, their claims and stored answers.
//! - [`import`]: bulk imports of products, customers and stock, and their rows.
//! - [`inventory`]: stock locations, stock levels and the allocation rule.
//! - [`invoice`]: invoices, numbered without gaps, with a tax breakdown.
//! - [`job`]: background jobs as data: state, attempts, retry policy.
//! - [`market`]: markets: currency, tax rate and locale.
//! - [`money`]: currencies (ISO 4217) and amounts in integer minor units.
//! - [`order`]: pricing at placement and the lifecycle state machine.
//! - [`page`]: keyset pagination (limits and opaque cursors).
//! - [`payment`]: provider calls that move money, and the refund rule.
//! - [`record`]: version, timestamps and archiving shared by stored entities.
//! - [`returns`]: returns (RMA) of shipped units and their dispositions.
//! - [`sku`]: stock-keeping units, parsed and normalised.
//! - [`time`]: timestamps at the microsecond precision both backends store.
//! - [`validation`]: per-field validation errors.
//! - [`webhook`]: webhooks and their deliveries.

/// `as_str` and `parse` for a fieldless enum stored as text: one spelling
/// per variant, the same as its serde name.
macro_rules! as_str {
    ($ty:ty { $($variant:ident = $text:literal),* $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            pub fn parse(value: &str) -> Option<Self> {
                match value { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod credit_note;
pub mod customer;
pub mod email;
pub mod event;
pub mod id;
pub mod idempotency;
pub mod import;
pub mod inventory;
pub mod invoice;
pub mod job;
pub mod ledger;
pub mod market;
pub mod money;
pub mod order;
pub mod page;
pub mod payment;
pub mod record;
pub mod report;
pub mod returns;
pub mod settlement;
pub mod sku;
pub mod time;
pub mod validation;
pub mod webhook;

pub use email::Email;
pub use id::{CustomerId, OrderId, ProductId};
pub use money::{Currency, Money};
pub use page::{Cursor, Page, PageRequest};
pub use record::{RecordError, RecordMeta};
pub use sku::Sku;
pub use time::Timestamp;
pub use validation::{FieldError, ValidationErrors};
