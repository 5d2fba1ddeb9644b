//! Ordo's domain: the pure types and rules of the business, with no I/O.
//!
//! Everything that crosses the HTTP edge is parsed into these types first
//! ("parse, don't validate"), so an invalid SKU, e-mail address or amount of
//! money cannot be represented past the edge.
//!
//! - [`money`]: currencies (ISO 4217) and amounts in integer minor units.
//! - [`sku`], [`email`]: identifiers people type, parsed and normalised.
//! - [`id`]: UUIDv7 identifiers, one type per entity.
//! - [`page`]: keyset pagination (limits and opaque cursors).
//! - [`catalog`], [`customer`]: the first business modules' entities.
//! - [`record`]: version, timestamps and archiving shared by stored entities.
//! - [`auth`]: roles, permissions and their matrix, API keys.
//! - [`audit`]: audit events and the hash chain that seals them.
//! - [`inventory`], [`market`], [`order`]: stock and its allocation rule,
//!   markets and tax, orders and their lifecycle state machine.
//! - [`validation`]: per-field validation errors.

pub mod audit;
pub mod auth;
pub mod catalog;
pub mod customer;
pub mod email;
pub mod event;
pub mod id;
pub mod idempotency;
pub mod inventory;
pub mod invoice;
pub mod job;
pub mod market;
pub mod money;
pub mod order;
pub mod page;
pub mod record;
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
