//! SQL of returns: the shared queries of `ordo_store_sql::returns`.

use crate::PgSession;

ordo_store_sql::return_repo!(PgSession, Postgres {});
