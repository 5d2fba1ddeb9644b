//! SQL of reports: the shared queries of `ordo_store_sql::reports`.

use crate::SqliteSession;

ordo_store_sql::report_repo!(SqliteSession, Sqlite);
