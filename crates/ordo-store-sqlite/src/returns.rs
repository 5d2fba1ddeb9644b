//! SQL of returns: the shared queries of `ordo_store_sql::returns`.

use crate::SqliteSession;

ordo_store_sql::return_repo!(SqliteSession, Sqlite {});
