//! SQL of bulk imports: the shared queries of `ordo_store_sql::imports`.

use crate::PgSession;

ordo_store_sql::import_repo!(PgSession, Postgres);
