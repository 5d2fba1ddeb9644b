//! Inventory use cases: locations, receipts and adjustments (audited), and
//! stock queries.

use std::sync::Arc;

use ordo_domain::audit::Actor;
use ordo_domain::inventory::{Location, LocationId, NewLocation, SkuStock, StockChange, StockLevel};
use ordo_domain::page::Cursor;
use ordo_domain::sku::SkuPrefix;
use ordo_domain::{RecordMeta, Sku, ValidationErrors, time};
use ordo_store::Database;
use serde::Serialize;
use tracing::instrument;
use uuid::Uuid;

use crate::{ServiceError, ServiceResult, audit};

/// Names the stock list in its cursors.
pub const CURSOR_SCOPE: &str = "stock";

/// A page of stock, keyed by SKU.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StockPage {
    pub items: Vec<SkuStock>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InventoryService {
    db: Arc<dyn Database>,
}

impl InventoryService {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
    }

    #[instrument(skip_all, fields(location = %new.code))]
    pub async fn create_location(&self, actor: &Actor, new: NewLocation) -> ServiceResult<Location> {
        let location = Location {
            id: Uuid::now_v7(),
            code: new.code,
            name: new.name,
            priority: new.priority,
            meta: RecordMeta::new(time::now()),
        };
        let mut tx = self.db.begin().await?;
        tx.insert_location(&location).await?;
        audit::record(tx.as_mut(), actor, "location.created", "location", location.id, None, &location).await?;
        tx.commit().await?;
        Ok(location)
    }

    pub async fn location(&self, id: LocationId) -> ServiceResult<Location> {
        let mut session = self.db.session().await?;
        session.location(id).await?.ok_or_else(|| ServiceError::not_found("location", id))
    }

    pub async fn list_locations(&self) -> ServiceResult<Vec<Location>> {
        let mut session = self.db.session().await?;
        Ok(session.list_locations().await?)
    }

    /// Applies a receipt (positive) or an adjustment, audited with its
    /// reason. Refused if it would take on-hand stock below zero or below
    /// what is reserved.
    #[instrument(skip_all, fields(sku = %change.sku))]
    pub async fn change_stock(&self, actor: &Actor, action: &str, change: StockChange) -> ServiceResult<StockLevel> {
        let mut tx = self.db.begin().await?;
        let location = tx.location(change.location_id).await?;
        if location.as_ref().is_none_or(|l| l.meta.is_archived()) {
            return Err(ValidationErrors::single("location_id", "unknown_location", "no such active location").into());
        }
        let before = tx.stock_of(&change.sku).await?.into_iter().find(|l| l.location_id == change.location_id);
        // The bound on hand; a concurrent receipt can pass it by at most one
        // movement each, far from any overflow.
        let on_hand = before.as_ref().map_or(0, |b| b.on_hand);
        if let Err(e) = ordo_domain::inventory::on_hand_after(on_hand, change.delta) {
            let field = if action == "received" { "quantity" } else { "delta" };
            return Err(ValidationErrors::single(field, e.code, e.message).into());
        }
        let Some(after) = tx.change_on_hand(&change.sku, change.location_id, change.delta).await? else {
            return Err(ServiceError::InsufficientStock { skus: vec![change.sku.to_string()] });
        };
        #[derive(Serialize)]
        struct Movement<'a> {
            level: &'a StockLevel,
            delta: i64,
            reason: ordo_domain::inventory::ReasonCode,
            note: &'a Option<String>,
        }
        let entity_id = format!("{}@{}", change.sku, change.location_id);
        let movement = Movement { level: &after, delta: change.delta, reason: change.reason, note: &change.note };
        let before = before.map(|b| audit::snapshot(&b));
        audit::record(tx.as_mut(), actor, &format!("stock.{action}"), "stock", entity_id, before, &movement).await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn stock_of(&self, sku: &Sku) -> ServiceResult<SkuStock> {
        let mut session = self.db.session().await?;
        let levels = session.stock_of(sku).await?;
        if levels.is_empty() {
            return Err(ServiceError::not_found("stock for SKU", sku));
        }
        let damaged = session.damaged_stock_of(sku).await?;
        let mut stock = SkuStock::from_levels(sku.clone(), levels);
        stock.damaged = Some(
            damaged
                .into_iter()
                .map(|(location_id, quantity)| ordo_domain::inventory::DamagedStock { location_id, quantity })
                .collect(),
        );
        Ok(stock)
    }

    /// Stock per SKU, by SKU, `limit` SKUs per page.
    pub async fn list_stock(
        &self,
        prefix: Option<&SkuPrefix>,
        after: Option<&str>,
        limit: u32,
    ) -> ServiceResult<StockPage> {
        let mut session = self.db.session().await?;
        let range = prefix.map(|p| (p.low.as_str(), p.high.as_str()));
        let rows = session.list_stock(after, range, i64::from(limit) + 1).await?;
        let mut items: Vec<SkuStock> = Vec::new();
        let mut current: Vec<StockLevel> = Vec::new();
        for level in rows {
            if current.first().is_some_and(|c| c.sku != level.sku) {
                let sku = current[0].sku.clone();
                items.push(SkuStock::from_levels(sku, std::mem::take(&mut current)));
            }
            current.push(level);
        }
        if let Some(first) = current.first() {
            let sku = first.sku.clone();
            items.push(SkuStock::from_levels(sku, current));
        }
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|s| Cursor::encode_key(CURSOR_SCOPE, s.sku.as_str()))
        } else {
            None
        };
        Ok(StockPage { items, next_cursor })
    }
}
