//! SQL of API keys: all of them shared, in `ordo_store_sql::keys`.

use crate::SqliteSession;

ordo_store_sql::key_repo!(SqliteSession, Sqlite {});
