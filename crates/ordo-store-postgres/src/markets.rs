//! SQL of markets.

use std::ops::DerefMut;

use async_trait::async_trait;
use ordo_domain::market::Market;
use ordo_domain::{Currency, RecordMeta, Timestamp};
use ordo_store::{MarketRepo, StoreResult};
use sqlx::postgres::PgConnection;

use crate::{PgSession, corrupt, map_err};

const COLUMNS: &str = "code, name, currency, tax_rate_bp, locale, version, created_at, updated_at, archived_at";

#[derive(sqlx::FromRow)]
struct MarketRow {
    code: String,
    name: String,
    currency: String,
    tax_rate_bp: i64,
    locale: String,
    version: i64,
    created_at: Timestamp,
    updated_at: Timestamp,
    archived_at: Option<Timestamp>,
}

impl TryFrom<MarketRow> for Market {
    type Error = ordo_store::StoreError;

    fn try_from(row: MarketRow) -> Result<Self, Self::Error> {
        Ok(Market {
            code: row.code,
            name: row.name,
            currency: Currency::parse(&row.currency).map_err(|e| corrupt("markets.currency", e.message))?,
            tax_rate_bp: row.tax_rate_bp,
            locale: row.locale,
            meta: RecordMeta {
                version: row.version,
                created_at: row.created_at,
                updated_at: row.updated_at,
                archived_at: row.archived_at,
            },
        })
    }
}

#[async_trait]
impl<C: DerefMut<Target = PgConnection> + Send> MarketRepo for PgSession<C> {
    #[tracing::instrument(target = "ordo_db", name = "markets.insert_market", skip_all)]
    async fn insert_market(&mut self, m: &Market) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO markets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&m.code)
            .bind(&m.name)
            .bind(m.currency.code())
            .bind(m.tax_rate_bp)
            .bind(&m.locale)
            .bind(m.meta.version)
            .bind(m.meta.created_at)
            .bind(m.meta.updated_at)
            .bind(m.meta.archived_at)
            .persistent(self.persistent)
            .execute(self.conn())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(target = "ordo_db", name = "markets.market", skip_all)]
    async fn market(&mut self, code: &str) -> StoreResult<Option<Market>> {
        let row: Option<MarketRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM markets WHERE code = $1"))
            .bind(code)
            .persistent(self.persistent)
            .fetch_optional(self.conn())
            .await
            .map_err(map_err)?;
        row.map(Market::try_from).transpose()
    }

    #[tracing::instrument(target = "ordo_db", name = "markets.update_market", skip_all)]
    async fn update_market(&mut self, m: &Market, expected_version: i64) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE markets SET name = $3, tax_rate_bp = $4, locale = $5, version = $6, updated_at = $7, archived_at = $8
              WHERE code = $1 AND version = $2",
        )
        .bind(&m.code)
        .bind(expected_version)
        .bind(&m.name)
        .bind(m.tax_rate_bp)
        .bind(&m.locale)
        .bind(m.meta.version)
        .bind(m.meta.updated_at)
        .bind(m.meta.archived_at)
        .persistent(self.persistent)
        .execute(self.conn())
        .await
        .map_err(map_err)?;
        Ok(result.rows_affected() == 1)
    }

    #[tracing::instrument(target = "ordo_db", name = "markets.list_markets", skip_all)]
    async fn list_markets(&mut self) -> StoreResult<Vec<Market>> {
        let rows: Vec<MarketRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM markets ORDER BY code"))
            .persistent(self.persistent)
            .fetch_all(self.conn())
            .await
            .map_err(map_err)?;
        rows.into_iter().map(Market::try_from).collect()
    }
}
