//! Market use cases: markets are configuration managed through the API.

use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::market::{Market, MarketChanges, NewMarket};
use ordo_domain::time;
use ordo_store::{Database, StoreResult, Transaction};
use tracing::instrument;

use crate::versioned::{Versioned, modify};
use crate::{ServiceError, ServiceResult, audit};

#[derive(Debug, Clone)]
pub struct MarketService {
    db: Arc<dyn Database>,
}

impl MarketService {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
    }

    #[instrument(skip_all, fields(market = %new.code))]
    pub async fn create_market(&self, actor: &Actor, new: NewMarket) -> ServiceResult<Market> {
        let market = Market::create(new, time::now());
        let mut tx = self.db.begin().await?;
        tx.insert_market(&market).await?;
        audit::record(tx.as_mut(), actor, "market.created", Market::ENTITY, &market.code, None, &market).await?;
        tx.commit().await?;
        Ok(market)
    }

    pub async fn market(&self, code: &str) -> ServiceResult<Market> {
        let mut session = self.db.session().await?;
        session.market(code).await?.ok_or_else(|| ServiceError::not_found(Market::ENTITY, code))
    }

    #[instrument(skip_all, fields(market = %code))]
    pub async fn update_market(
        &self,
        actor: &Actor,
        code: &str,
        expected_version: Option<i64>,
        changes: MarketChanges,
    ) -> ServiceResult<Market> {
        modify(
            self.db.as_ref(),
            actor,
            "updated",
            MarketCode(code.to_owned()),
            expected_version,
            |market: &mut Market| {
                market.apply(changes, time::now()).map_err(|e| ServiceError::from_record(Market::ENTITY, e))
            },
        )
        .await
    }

    pub async fn list_markets(&self) -> ServiceResult<Vec<Market>> {
        let mut session = self.db.session().await?;
        Ok(session.list_markets().await?)
    }
}

/// A market's code as its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarketCode(String);

impl std::fmt::Display for MarketCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[async_trait]
impl Versioned for Market {
    const ENTITY: &'static str = "market";
    type Id = MarketCode;

    fn id(&self) -> MarketCode {
        MarketCode(self.code.clone())
    }

    fn version(&self) -> i64 {
        self.meta.version
    }

    async fn load(tx: &mut dyn Transaction, id: MarketCode) -> StoreResult<Option<Self>> {
        tx.market(&id.0).await
    }

    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool> {
        tx.update_market(self, expected_version).await
    }
}
