//! Returns (RMA): a customer sends shipped units back. Requested, then
//! approved or rejected; an approved return is received at a location,
//! where each line goes back to sellable stock or to damaged stock, and its
//! receipt refunds what the units were invoiced at (as far as captured
//! money is left) and issues the credit note that corrects the invoice.
//! Each step is one transaction with its audit entry, its `return.*` event
//! and its place on the order's timeline, under the order's money lock, so
//! that concurrent returns and refunds never give back a unit twice.

use std::collections::HashMap;
use std::sync::Arc;

use ordo_domain::audit::Actor;
use ordo_domain::credit_note::{self, CreditReason};
use ordo_domain::order::{Order, OrderEvent};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::returns::{Disposition, Return, ReturnFilter};
use ordo_domain::{OrderId, Sku, ValidationErrors, time};
use ordo_store::{Database, Transaction};
use uuid::Uuid;

use crate::invoices::{Credit, issue_credit_note};
use crate::{ServiceError, ServiceResult, audit};

/// Cursor scope of return lists.
pub const CURSOR_SCOPE: &str = "returns";
const ENTITY: &str = "return";

/// How a return is received.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub location_id: Uuid,
    /// The disposition of lines not named in `lines`.
    pub disposition: Disposition,
    /// Per order line, where it differs.
    pub lines: HashMap<i32, Disposition>,
}

#[derive(Debug, Clone)]
pub struct ReturnService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    /// The payment provider's name, recorded with the refunds receipts make.
    provider_name: String,
}

impl ReturnService {
    pub fn new(db: Arc<dyn Database>, queue: ordo_jobs::Queue, provider_name: String) -> Self {
        Self { db, queue, provider_name }
    }

    /// Requests the return of `units` (`(order line, quantity)`) of an order:
    /// only shipped units that no other return (not rejected) takes.
    pub async fn request(
        &self,
        actor: &Actor,
        order_id: OrderId,
        units: &[(i32, i64)],
        reason: Option<&str>,
    ) -> ServiceResult<Return> {
        let reason = ordo_domain::returns::parse_reason("reason", reason)?;
        let mut tx = self.db.begin().await?;
        let order = order_of(tx.as_mut(), order_id).await?;
        tx.lock_order_payments(order_id).await?;
        let earlier = tx.order_returns(order_id).await?;
        let r = Return::request(&order, units, reason, &earlier, time::now())?;
        tx.insert_return(&r).await?;
        announce(tx.as_mut(), actor, &order, None, &r, "return.requested", "return_requested").await?;
        tx.commit().await?;
        self.queue.wake();
        metrics::counter!("ordo_returns_total", "step" => "requested").increment(1);
        Ok(r)
    }

    pub async fn approve(&self, actor: &Actor, id: Uuid) -> ServiceResult<Return> {
        self.step(actor, id, "return.approved", "return_approved", |r| r.approve(time::now())).await
    }

    pub async fn reject(&self, actor: &Actor, id: Uuid, reason: Option<&str>) -> ServiceResult<Return> {
        let reason = ordo_domain::returns::parse_reason("reason", reason)?;
        self.step(actor, id, "return.rejected", "return_rejected", move |r| r.reject(reason, time::now())).await
    }

    /// Receives an approved return at a location: puts each line's units to
    /// sellable or damaged stock there, credits the units not credited yet
    /// (a refund by lines may have credited some) on a credit note, and
    /// refunds as much of that as captured money is left.
    pub async fn receive(&self, actor: &Actor, id: Uuid, receipt: &Receipt) -> ServiceResult<Return> {
        let mut tx = self.db.begin().await?;
        let before = tx.find_return(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        let order = order_of(tx.as_mut(), before.order_id).await?;
        tx.lock_order_payments(order.id).await?;
        let Some(location) = tx.location(receipt.location_id).await?.filter(|l| l.meta.archived_at.is_none()) else {
            return Err(ServiceError::Validation(ValidationErrors::single(
                "location_id",
                "unknown_location",
                "no such location (or it is archived)",
            )));
        };
        let mut r = before.clone();
        r.receive(location.id, receipt.disposition, &receipt.lines, time::now())?;
        for line in &r.lines {
            let sku = Sku::parse(&line.sku).map_err(|e| {
                ServiceError::Internal(ordo_store::StoreError::Corrupt(format!("return line SKU: {}", e.message)))
            })?;
            match line.disposition {
                Some(Disposition::Damaged) => {
                    tx.add_damaged_stock(&sku, location.id, line.quantity).await?;
                }
                _ => {
                    tx.change_on_hand(&sku, location.id, line.quantity).await?;
                }
            }
        }

        // The money: credit what of these units is not credited yet, and
        // refund that, as far as captured money is left.
        let credited = credit_note::credited_units(&tx.order_credit_notes(*order.id.as_uuid()).await?);
        let returned: Vec<(i32, i64)> = r.lines.iter().map(|l| (l.line, l.quantity)).collect();
        let units = credit_note::creditable_units(&order, &credited, &returned);
        let lines = credit_note::credit_lines(&order, &credited, &units)?;
        let value: i64 = lines.iter().map(|l| l.total).sum();
        let refundable = tx.payment_totals(order.id).await?.refundable();
        let amount = value.min(refundable);
        if amount > 0 {
            let refund =
                crate::payments::record_refund(tx.as_mut(), actor, &order, amount, &self.provider_name).await?;
            r.refund_id = Some(refund.id);
            r.refunded = amount;
        }
        if !lines.is_empty() {
            let note = issue_credit_note(
                tx.as_mut(),
                actor,
                &order,
                CreditReason::Return,
                r.refund_id,
                Some(r.id),
                Credit::Lines(lines),
            )
            .await?;
            r.credit_note_id = note.map(|n| n.id);
        }
        if !tx.update_return(&r).await? {
            return Err(ServiceError::VersionMismatch {
                entity: ENTITY,
                expected: before.version,
                current: before.version + 1,
            });
        }
        announce(tx.as_mut(), actor, &order, Some(&before), &r, "return.received", "return_received").await?;
        tx.commit().await?;
        self.queue.wake();
        metrics::counter!("ordo_returns_total", "step" => "received").increment(1);
        Ok(r)
    }

    pub async fn get(&self, id: Uuid) -> ServiceResult<Return> {
        self.db.session().await?.find_return(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))
    }

    /// An order's returns, oldest first.
    pub async fn of_order(&self, order_id: OrderId) -> ServiceResult<Vec<Return>> {
        let mut session = self.db.session().await?;
        if session.order(order_id).await?.is_none() {
            return Err(ServiceError::not_found("order", order_id));
        }
        Ok(session.order_returns(order_id).await?)
    }

    pub async fn list(&self, filter: &ReturnFilter, page: &PageRequest) -> ServiceResult<Page<Return>> {
        let rows = self.db.session().await?.list_returns(filter, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |r| r.id))
    }

    /// Moves a return one step by `change`, in one transaction with its
    /// audit entry, event and timeline step.
    async fn step(
        &self,
        actor: &Actor,
        id: Uuid,
        event: &str,
        timeline: &str,
        change: impl FnOnce(&mut Return) -> Result<(), ordo_domain::returns::ReturnError>,
    ) -> ServiceResult<Return> {
        let mut tx = self.db.begin().await?;
        let before = tx.find_return(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))?;
        let order = order_of(tx.as_mut(), before.order_id).await?;
        let mut r = before.clone();
        change(&mut r)?;
        if !tx.update_return(&r).await? {
            return Err(ServiceError::VersionMismatch {
                entity: ENTITY,
                expected: before.version,
                current: before.version + 1,
            });
        }
        announce(tx.as_mut(), actor, &order, Some(&before), &r, event, timeline).await?;
        tx.commit().await?;
        self.queue.wake();
        Ok(r)
    }
}

async fn order_of(tx: &mut dyn Transaction, order_id: OrderId) -> ServiceResult<Order> {
    tx.order(order_id).await?.ok_or_else(|| ServiceError::not_found("order", order_id))
}

/// The return's audit entry, `return.*` event and timeline step.
async fn announce(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &Order,
    before: Option<&Return>,
    after: &Return,
    event: &str,
    timeline: &str,
) -> ServiceResult<()> {
    audit::record(tx, actor, event, ENTITY, after.id, before.map(audit::snapshot), after).await?;
    crate::webhooks::record(tx, event, *order.id.as_uuid(), audit::snapshot(after)).await?;
    let step = OrderEvent {
        id: Uuid::now_v7(),
        order_id: order.id,
        occurred_at: after.updated_at,
        kind: timeline.to_owned(),
        from_status: Some(order.status),
        to_status: order.status,
        actor_name: actor.name.clone(),
        detail: Some(serde_json::json!({
            "return_id": after.id, "status": after.status, "lines": after.lines,
            "refund_id": after.refund_id, "refunded": after.refunded, "credit_note_id": after.credit_note_id,
        })),
    };
    tx.insert_order_event(&step).await?;
    Ok(())
}
