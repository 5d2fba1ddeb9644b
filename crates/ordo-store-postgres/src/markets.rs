//! SQL of markets: the shared queries of `ordo_store_sql::markets`, and the ones
//! in this backend's dialect.

use crate::PgSession;

ordo_store_sql::market_repo!(PgSession, Postgres {});
