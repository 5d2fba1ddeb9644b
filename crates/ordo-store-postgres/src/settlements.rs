//! SQL of settlement reconciliation: the shared queries of
//! `ordo_store_sql::settlements`.

use crate::PgSession;

ordo_store_sql::settlement_repo!(PgSession, Postgres);
