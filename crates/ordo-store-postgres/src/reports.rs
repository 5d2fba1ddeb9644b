//! SQL of reports: the shared queries of `ordo_store_sql::reports`.

use crate::PgSession;

ordo_store_sql::report_repo!(PgSession, Postgres);
