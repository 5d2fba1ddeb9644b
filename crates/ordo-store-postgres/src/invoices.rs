//! SQL of invoices: the shared queries of `ordo_store_sql::invoices`, and the ones
//! in this backend's dialect.

use crate::PgSession;

ordo_store_sql::invoice_repo!(PgSession, Postgres {});
