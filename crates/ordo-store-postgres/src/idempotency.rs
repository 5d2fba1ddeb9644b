//! SQL of idempotency keys: all of them shared, in `ordo_store_sql::idempotency`.

use crate::PgSession;

ordo_store_sql::idempotency_repo!(PgSession, Postgres {});
