//! SQL of idempotency keys: all of them shared, in `ordo_store_sql::idempotency`.

use crate::SqliteSession;

ordo_store_sql::idempotency_repo!(SqliteSession, Sqlite {});
