//! SQL of markets.

use ordo_domain::market::{Market, Seller, ShippingRate};
use ordo_domain::payment::CapturePolicy;
use ordo_domain::{Currency, RecordMeta};

use crate::{Ts, corrupt, ts};

pub const COLUMNS: &str = "code, name, currency, tax_rate_bp, locale, version, created_at, updated_at, archived_at, capture_policy, seller, reduced_tax_rate_bp, shipping";

#[derive(Debug, sqlx::FromRow)]
pub struct MarketRow {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub tax_rate_bp: i64,
    pub locale: String,
    pub version: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub archived_at: Option<Ts>,
    pub capture_policy: String,
    pub seller: Option<sqlx::types::Json<Seller>>,
    /// NOT NULL on PostgreSQL; SQLite cannot add such a column.
    pub reduced_tax_rate_bp: Option<i64>,
    pub shipping: Option<sqlx::types::Json<ShippingRate>>,
}

impl TryFrom<MarketRow> for Market {
    type Error = ordo_store::StoreError;

    fn try_from(row: MarketRow) -> Result<Self, Self::Error> {
        Ok(Market {
            code: row.code,
            name: row.name,
            currency: Currency::parse(&row.currency).map_err(|e| corrupt("markets.currency", e.message))?,
            tax_rate_bp: row.tax_rate_bp,
            reduced_tax_rate_bp: row.reduced_tax_rate_bp.unwrap_or(row.tax_rate_bp),
            shipping: row.shipping.map(|s| s.0),
            locale: row.locale,
            capture_policy: CapturePolicy::parse(&row.capture_policy)
                .ok_or_else(|| corrupt("markets.capture_policy", &row.capture_policy))?,
            seller: row.seller.map(|s| s.0),
            meta: RecordMeta {
                version: row.version,
                created_at: row.created_at.0,
                updated_at: row.updated_at.0,
                archived_at: ts::opt(row.archived_at),
            },
        })
    }
}

/// Implements `MarketRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! market_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::market::Market;
            use ::ordo_domain::{Currency, RecordMeta, Timestamp};
            use ::ordo_store::{MarketRepo, StoreResult};
            use $crate::markets::*;
            use $crate::{SqlSession, Ts, ts, corrupt};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> MarketRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "markets.insert_market", skip_all)]
                async fn insert_market(&mut self, m: &Market) -> StoreResult<()> {
                    ::sqlx::query(&format!("INSERT INTO markets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"))
                        .bind(&m.code)
                        .bind(&m.name)
                        .bind(m.currency.code())
                        .bind(m.tax_rate_bp)
                        .bind(&m.locale)
                        .bind(m.meta.version)
                        .bind(Ts(m.meta.created_at))
                        .bind(Ts(m.meta.updated_at))
                        .bind(m.meta.archived_at.map(Ts))
                        .bind(m.capture_policy.as_str())
                        .bind(m.seller.as_ref().map(::sqlx::types::Json))
                        .bind(m.reduced_tax_rate_bp)
                        .bind(m.shipping.as_ref().map(::sqlx::types::Json))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "markets.market", skip_all)]
                async fn market(&mut self, code: &str) -> StoreResult<Option<Market>> {
                    let row: Option<MarketRow> = ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM markets WHERE code = $1"))
                        .bind(code)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(Market::try_from).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "markets.update_market", skip_all)]
                async fn update_market(&mut self, m: &Market, expected_version: i64) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE markets SET name = $3, tax_rate_bp = $4, locale = $5, version = $6, updated_at = $7, archived_at = $8,
                                capture_policy = $9, seller = $10, reduced_tax_rate_bp = $11, shipping = $12
                          WHERE code = $1 AND version = $2",
                    )
                    .bind(&m.code)
                    .bind(expected_version)
                    .bind(&m.name)
                    .bind(m.tax_rate_bp)
                    .bind(&m.locale)
                    .bind(m.meta.version)
                    .bind(Ts(m.meta.updated_at))
                    .bind(m.meta.archived_at.map(Ts))
                    .bind(m.capture_policy.as_str())
                    .bind(m.seller.as_ref().map(::sqlx::types::Json))
                    .bind(m.reduced_tax_rate_bp)
                    .bind(m.shipping.as_ref().map(::sqlx::types::Json))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "markets.list_markets", skip_all)]
                async fn list_markets(&mut self) -> StoreResult<Vec<Market>> {
                    let rows: Vec<MarketRow> = ::sqlx::query_as(&format!("SELECT {COLUMNS} FROM markets ORDER BY code"))
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    rows.into_iter().map(Market::try_from).collect()
                }
            }
        };
    };
}
