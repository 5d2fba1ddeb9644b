//! SQL of settlement reconciliation: the shared queries of
//! `ordo_store_sql::settlements`.

use crate::SqliteSession;

ordo_store_sql::settlement_repo!(SqliteSession, Sqlite);
