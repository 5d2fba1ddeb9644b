//! Order use cases: placement that can never oversell, the lifecycle, and
//! queries.
//!
//! Placement runs in one transaction: it checks the customer, the market and
//! the catalog, reads the SKUs' stock, allocates each line by the domain's
//! rule, writes the order, its lines, its timeline entry, its audit event,
//! its domain event and its jobs, and reserves the stock last, with guarded
//! updates that lock the stock rows in a fixed order (SKU, then allocation
//! order) so concurrent orders cannot deadlock. Reserving last keeps a hot
//! SKU's row locked only from the reservation to the commit right after,
//! not for the whole placement. If the stock moved between the read and the
//! reservation, the transaction is rolled back and placement runs once more
//! with the rows locked before they are read. If any line is short, nothing
//! is written.
//!
//! Every later step goes through `transition`, built on
//! `versioned::modify_with`. [`ExpireUnpaidOrder`] is the job that expires
//! an order left unpaid.

use std::sync::Arc;

use ordo_domain::audit::Actor;
use ordo_domain::customer::Address;
use ordo_domain::idempotency::{Answer, Claim, Outcome};
use ordo_domain::inventory::allocate;
use ordo_domain::order::{
    Allocation, FulfilError, LineRequest, Order, OrderAction, OrderEvent, OrderFilter, OrderStatus, PricingError,
    SellableProduct, StockRelease, price_lines,
};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::payment::CapturePolicy;
use ordo_domain::{CustomerId, OrderId, Sku, ValidationErrors, time};
use ordo_store::{Database, NewPlacement, StockMove, StoreError, StoreResult, Transaction, UniqueKey};
use serde_json::json;
use tracing::instrument;
use uuid::Uuid;

use crate::versioned::{self, Changed, Versioned};
use crate::{ServiceError, ServiceResult, audit};

/// Names the orders list in its cursors.
pub const CURSOR_SCOPE: &str = "orders";
const ENTITY: &str = "order";

/// A validated order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub customer_id: CustomerId,
    pub market: String,
    pub lines: Vec<LineRequest>,
    pub shipping_address: Address,
    /// The invoice's address and VAT id, where given.
    pub billing: ordo_domain::order::Billing,
    /// The request's `Idempotency-Key`, stored with the order so that a
    /// retry can never place it twice, even if the replay record is lost.
    pub idempotency_key: Option<String>,
    /// With a token, the payment is authorised on the job queue and the
    /// order expires if it stays unpaid.
    pub payment_token: Option<crate::payments::PaymentToken>,
}

/// What placing an order came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // returned once per request, never stored
pub enum Placement {
    Placed(Order),
    /// A retry: the first request's answer (the order as it was placed, or
    /// the refusal), whatever happened since.
    Replayed(Answer),
}

#[derive(Debug, Clone)]
pub struct OrderService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    idempotency: crate::idempotency::IdempotencyService,
    /// How long an order's idempotency key stays bound to it.
    idempotency_ttl: chrono::Duration,
    /// How long an order may stay unpaid.
    unpaid_ttl: chrono::Duration,
    /// Whether a payment provider is configured: without one, an order
    /// cannot carry a payment token.
    payments_enabled: bool,
}

impl OrderService {
    pub fn new(
        db: Arc<dyn Database>,
        queue: ordo_jobs::Queue,
        idempotency: crate::idempotency::IdempotencyService,
        idempotency_ttl: std::time::Duration,
        unpaid_ttl: std::time::Duration,
        payments_enabled: bool,
    ) -> Self {
        let idempotency_ttl = chrono::Duration::from_std(idempotency_ttl).unwrap_or(chrono::Duration::days(1));
        let unpaid_ttl = chrono::Duration::from_std(unpaid_ttl).unwrap_or(chrono::Duration::minutes(30));
        Self { db, queue, idempotency, idempotency_ttl, unpaid_ttl, payments_enabled }
    }

    /// Places an order. With an idempotency key and the `request_hash` a
    /// retry must match, the key is claimed and the outcome (the placed
    /// order) recorded inside the placement's transaction: a retry replays
    /// it, a concurrent duplicate waits for it. A refusal (the request is
    /// invalid, the stock short) is recorded under the key in a transaction
    /// of its own, as the placement's rolled back: a retry gets the same
    /// refusal, whatever happened since.
    #[instrument(skip_all, fields(lines = request.lines.len()))]
    pub async fn place_order(
        &self,
        actor: &Actor,
        request: PlaceOrder,
        request_hash: Option<&str>,
    ) -> ServiceResult<Placement> {
        let placed = if request.payment_token.is_some() && !self.payments_enabled {
            Err(ServiceError::Validation(ValidationErrors::single(
                "payment_token",
                "no_payment_provider",
                "no payment provider is configured (payments.provider): place the order without a payment token",
            )))
        } else {
            self.place_keyed(actor, &request, request_hash).await
        };
        if let Err(e) = &placed
            && let Some(refusal) = e.refusal()
            && let Some(((principal, key), request_hash)) =
                actor.key_id.zip(request.idempotency_key.as_deref()).zip(request_hash)
            && let Err(e) = self.idempotency.record_refusal(principal, key, request_hash, refusal).await
        {
            // The refusal stands; only its replay record is missing.
            tracing::warn!(error = %e, "could not record the refused request's answer");
        }
        placed
    }

    async fn place_keyed(
        &self,
        actor: &Actor,
        request: &PlaceOrder,
        request_hash: Option<&str>,
    ) -> ServiceResult<Placement> {
        let idempotency = actor.key_id.zip(request.idempotency_key.clone());
        let keyed = idempotency.as_ref().map(|(p, k)| (*p, k.as_str()));
        match self.place_once(actor, request, keyed, request_hash).await {
            Err(ServiceError::Internal(StoreError::Duplicate(UniqueKey::OrderIdempotencyKey))) => {}
            other => return other,
        }
        // This key already placed an order: answer with it, unless the key
        // has expired, in which case it is released and the order placed.
        let Some((principal, key)) = idempotency else {
            return Err(ServiceError::Internal(StoreError::Corrupt("idempotency conflict without a key".into())));
        };
        let mut session = self.db.session().await?;
        let existing = session.order_by_idempotency_key(principal, &key).await?;
        drop(session);
        let cutoff = time::now() - self.idempotency_ttl;
        match existing {
            Some(order) if order.created_at >= cutoff => Ok(Placement::Placed(order)),
            _ => {
                self.forget_idempotency_keys().await?;
                self.place_once(actor, request, Some((principal, &key)), request_hash).await
            }
        }
    }

    /// Unbinds expired idempotency keys from their orders; returns how many.
    pub async fn forget_idempotency_keys(&self) -> ServiceResult<u64> {
        let mut tx = self.db.begin().await?;
        let forgotten = tx.forget_order_idempotency_keys(time::now() - self.idempotency_ttl).await?;
        tx.commit().await?;
        Ok(forgotten)
    }

    /// Places the order reading stock without locks; if the stock moved
    /// before the reservation, once more with the stock rows locked first.
    async fn place_once(
        &self,
        actor: &Actor,
        request: &PlaceOrder,
        idempotency: Option<(Uuid, &str)>,
        request_hash: Option<&str>,
    ) -> ServiceResult<Placement> {
        if let Some(placement) = self.try_place(actor, request, idempotency, request_hash, false).await? {
            return Ok(placement);
        }
        metrics::counter!("ordo_order_placement_retries_total").increment(1);
        match self.try_place(actor, request, idempotency, request_hash, true).await? {
            Some(placement) => Ok(placement),
            // With the rows locked since they were read, the reservation
            // cannot fall short; refuse rather than oversell if it does.
            None => {
                Err(ServiceError::InsufficientStock { skus: request.lines.iter().map(|l| l.sku.to_string()).collect() })
            }
        }
    }

    /// One attempt: `None` if the stock read without `lock_first` moved
    /// before it could be reserved (everything is rolled back).
    async fn try_place(
        &self,
        actor: &Actor,
        request: &PlaceOrder,
        idempotency: Option<(Uuid, &str)>,
        request_hash: Option<&str>,
        lock_first: bool,
    ) -> ServiceResult<Option<Placement>> {
        let request = request.clone();
        let answered = idempotency.zip(request_hash);
        // Reads first, on a read connection: on SQLite they then run beside
        // the one writer instead of inside its critical section. They see
        // what is committed, as they would inside the transaction, where
        // nothing locks them either.
        let mut session = self.db.session().await?;
        let checked = check_order(session.as_mut(), &request).await;
        let skus = sorted_skus(&request);
        let stock = match (&checked, lock_first) {
            (Ok(_), false) => Some(session.available_stock(&skus, false).await?),
            _ => None,
        };
        drop(session);
        let (market, lines) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                // A retry of a request answered since may fail the checks
                // now (a product archived meanwhile): it replays instead.
                if let Some(((principal, key), request_hash)) = answered
                    && let Some(answer) = self.idempotency.answer(principal, key, request_hash).await?
                {
                    return Ok(Some(Placement::Replayed(answer)));
                }
                return Err(e);
            }
        };

        let mut tx = self.db.begin().await?;
        if let Some(((principal, key), request_hash)) = answered {
            match self.idempotency.claim_in(tx.as_mut(), principal, key, request_hash).await? {
                Claim::Proceed => {}
                Claim::Replay(answer) => return Ok(Some(Placement::Replayed(answer))),
                Claim::Mismatch => return Err(ServiceError::IdempotencyMismatch),
                Claim::InFlight => return Err(ServiceError::IdempotencyInFlight),
            }
        }
        let stock = match stock {
            Some(stock) => stock,
            None => tx.available_stock(&skus, true).await?,
        };
        let (lines, moves) = allocate_lines(&stock, lines)?;
        // The sums were checked when the lines were priced.
        let mut order = Order::place(
            OrderId::generate(),
            request.customer_id,
            &market,
            lines,
            request.shipping_address,
            time::now(),
        )
        .map_err(|_| order_too_large())?;
        order.billing = request.billing;
        let event = timeline_event(&order, "placed", None, actor, None);
        let audit = audit::event(actor, "order.placed", ENTITY, order.id, None, &order);
        // The audit event's snapshot of the order is the domain event's data:
        // serialised once.
        let snapshot = audit.after.clone().unwrap_or_default();
        let domain_event = crate::webhooks::prepare("order.placed", *order.id.as_uuid(), snapshot)?;
        // The transactional outbox: the jobs exist if and only if the order
        // does.
        let confirmation = crate::mail::SendOrderConfirmation { order_id: order.id };
        let mut jobs = vec![ordo_jobs::prepare(&confirmation, ordo_jobs::EnqueueOptions::default())?];
        if let Some(token) = &request.payment_token {
            let authorize = crate::payments::AuthorizePayment { order_id: order.id, token: token.clone() };
            jobs.push(ordo_jobs::prepare(&authorize, ordo_jobs::EnqueueOptions::default())?);
            let expire = ExpireUnpaidOrder { order_id: order.id };
            let run_at = Some(order.created_at + self.unpaid_ttl);
            jobs.push(ordo_jobs::prepare(&expire, ordo_jobs::EnqueueOptions { run_at })?);
        }
        let answer = answered.map(|_| Answer::Outcome(Outcome::OrderPlaced { order: Box::new(order.clone()) }));
        let placement = NewPlacement {
            order: &order,
            idempotency,
            answer: answer.as_ref(),
            event: &event,
            audit: &audit,
            domain_event: domain_event.as_ref().map(|(event, fan_out)| (event, fan_out)),
            jobs: &jobs,
            moves: &moves,
        };
        // One write, the guarded reservation in it: the stock rows' locks
        // (unless taken first) are held only from there through the commit.
        // A taken idempotency key maps to `Internal(Duplicate(..))`, which
        // place_order recognises.
        if tx.insert_placement(&placement).await? != moves.len() as u64 {
            return Ok(None); // dropped: rolled back
        }
        tx.commit().await?;
        self.queue.wake();
        metrics::counter!("ordo_orders_placed_total", "market" => order.market.clone()).increment(1);
        metrics::counter!("ordo_order_value_minor_units_total", "currency" => order.currency.code())
            .increment(order.total.max(0) as u64);
        Ok(Some(Placement::Placed(order)))
    }

    pub async fn order(&self, id: OrderId) -> ServiceResult<Order> {
        let mut session = self.db.session().await?;
        session.order(id).await?.ok_or_else(|| ServiceError::not_found(ENTITY, id))
    }

    pub async fn list_orders(&self, filter: &OrderFilter, page: &PageRequest) -> ServiceResult<Page<Order>> {
        let mut session = self.db.session().await?;
        let rows = session.list_orders(filter, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |o| *o.id.as_uuid()))
    }

    pub async fn events(&self, id: OrderId) -> ServiceResult<Vec<OrderEvent>> {
        let mut session = self.db.session().await?;
        if session.order(id).await?.is_none() {
            return Err(ServiceError::not_found(ENTITY, id));
        }
        Ok(session.order_events(id).await?)
    }

    pub async fn confirm(&self, actor: &Actor, id: OrderId, expected_version: Option<i64>) -> ServiceResult<Order> {
        self.transition(actor, id, expected_version, "confirmed", None, |order| {
            Ok(order.confirm(time::now()).map(|()| Vec::new())?)
        })
        .await
    }

    pub async fn complete(&self, actor: &Actor, id: OrderId, expected_version: Option<i64>) -> ServiceResult<Order> {
        self.transition(actor, id, expected_version, "completed", None, |order| {
            Ok(order.complete(time::now()).map(|()| Vec::new())?)
        })
        .await
    }

    /// Records an authorised payment: `placed` → `paid`, and (in the same
    /// transaction) enqueues the invoice.
    pub async fn record_payment(&self, actor: &Actor, id: OrderId) -> ServiceResult<Order> {
        self.transition(actor, id, None, "paid", None, |order| Ok(order.pay(time::now()).map(|()| Vec::new())?)).await
    }

    /// Records a payment received outside Ordo (a bank transfer) for an
    /// unpaid order: of exactly its total, with the transfer's reference.
    /// Marks it paid, in one transaction with the payment record, so its
    /// invoice is issued as for any paid order.
    pub async fn pay_offline(
        &self,
        actor: &Actor,
        id: OrderId,
        expected_version: Option<i64>,
        amount: i64,
        reference: &str,
    ) -> ServiceResult<Order> {
        let reference = ordo_domain::validation::required_text(reference, ordo_domain::payment::MAX_OFFLINE_REFERENCE)
            .map_err(|mut e| {
                e.field = "reference".to_owned();
                ServiceError::Validation(ValidationErrors::from_errors(vec![e]))
            })?;
        let writer = actor.clone();
        let detail = json!({"method": "bank_transfer", "reference": reference});
        let order = versioned::modify_with(
            self.db.as_ref(),
            actor,
            id,
            expected_version,
            |order: &mut Order| {
                let from = order.status;
                order.pay(time::now())?;
                if amount != order.total {
                    return Err(ServiceError::Validation(ValidationErrors::single(
                        "amount",
                        "not_the_total",
                        format!("an offline payment is of the order's total, {}", order.total),
                    )));
                }
                let event = timeline_event(order, "paid", Some(from), actor, Some(detail));
                Ok(Some(Changed { action: "paid".to_owned(), then: event }))
            },
            move |tx, order, event| {
                Box::pin(async move {
                    crate::payments::record_offline(tx, &writer, order, &reference).await?;
                    transition_writes(tx, &writer, order, Vec::new(), event).await
                })
            },
        )
        .await?;
        self.queue.wake(); // the event's fan-out, and the invoice
        metrics::counter!("ordo_order_transitions_total", "to" => order.status.as_str()).increment(1);
        Ok(order)
    }

    /// Records a declined payment and releases the reservation.
    pub async fn record_declined_payment(&self, actor: &Actor, id: OrderId) -> ServiceResult<Order> {
        self.transition(actor, id, None, "payment_failed", None, |order| Ok(order.fail_payment(time::now())?)).await
    }

    /// Expires the order if it is still unpaid, releasing the reservation.
    pub async fn expire_unpaid(&self, actor: &Actor, id: OrderId) -> ServiceResult<Order> {
        self.transition(actor, id, None, "expired", None, |order| Ok(order.expire(time::now())?)).await
    }

    /// A step of the cancel saga's compensation (`refund_pending`, then
    /// `refunded`), taken by the payments workflow.
    pub(crate) async fn refund_step(&self, actor: &Actor, id: OrderId, action: OrderAction) -> ServiceResult<Order> {
        let kind = if action == OrderAction::BeginRefund { "refund_pending" } else { "refunded" };
        self.transition(actor, id, None, kind, None, move |order| {
            order.refund_step(action, time::now())?;
            Ok(Vec::new())
        })
        .await
    }

    /// Cancels the order and releases its reservations.
    pub async fn cancel(&self, actor: &Actor, id: OrderId, expected_version: Option<i64>) -> ServiceResult<Order> {
        self.transition(actor, id, expected_version, "cancelled", None, |order| Ok(order.cancel(time::now())?)).await
    }

    /// Ships `(line, quantity)` pairs, committing their reserved stock.
    pub async fn fulfil(
        &self,
        actor: &Actor,
        id: OrderId,
        expected_version: Option<i64>,
        shipments: Vec<(i32, i64)>,
    ) -> ServiceResult<Order> {
        let detail = json!({"lines": shipments.iter().map(|(line, quantity)| json!({"line": line, "quantity": quantity})).collect::<Vec<_>>()});
        self.transition(actor, id, expected_version, "", Some(detail), move |order| {
            order.fulfil(&shipments, time::now()).map_err(|e| match e {
                FulfilError::Illegal(e) => e.into(),
                FulfilError::Invalid(errors) => ServiceError::Validation(errors),
            })
        })
        .await
    }

    /// Changes the order through [`versioned::modify_with`]: loads it,
    /// checks its version, applies `change` (which returns the stock to
    /// release), writes it guarded by its version and audits it, then
    /// releases the stock and writes the timeline entry, the domain event
    /// and (once paid) the invoice job, all in one transaction. The guarded
    /// order update comes first, so of two racing transitions only the
    /// winner touches stock.
    async fn transition(
        &self,
        actor: &Actor,
        id: OrderId,
        expected_version: Option<i64>,
        kind: &str,
        detail: Option<serde_json::Value>,
        change: impl FnOnce(&mut Order) -> ServiceResult<Vec<StockRelease>> + Send,
    ) -> ServiceResult<Order> {
        let writer = actor.clone();
        let order = versioned::modify_with(
            self.db.as_ref(),
            actor,
            id,
            expected_version,
            |order: &mut Order| {
                let from = order.status;
                let releases = change(order)?;
                let kind = if kind.is_empty() { order.status.as_str() } else { kind };
                let event = timeline_event(order, kind, Some(from), actor, detail);
                Ok(Some(Changed { action: kind.to_owned(), then: (releases, event) }))
            },
            move |tx, order, (releases, event)| {
                Box::pin(async move { transition_writes(tx, &writer, order, releases, event).await })
            },
        )
        .await?;
        self.queue.wake(); // the event's fan-out, and the invoice once paid
        metrics::counter!("ordo_order_transitions_total", "to" => order.status.as_str()).increment(1);
        Ok(order)
    }
}

/// What a transition writes besides the order and its audit event, in its
/// transaction: the released stock, the timeline entry, the domain event,
/// and the invoice job once the order is paid.
async fn transition_writes(
    tx: &mut dyn Transaction,
    actor: &Actor,
    order: &Order,
    releases: Vec<StockRelease>,
    event: OrderEvent,
) -> ServiceResult<()> {
    if !releases.is_empty() {
        let moves: Vec<(StockMove, i64)> = releases
            .into_iter()
            .map(|r| (StockMove { sku: r.sku, location_id: r.location_id, quantity: r.release }, r.ship))
            .collect();
        let released = tx.release_stock(&moves).await?;
        if released != moves.len() as u64 {
            return Err(ServiceError::Internal(ordo_store::StoreError::Corrupt(format!(
                "order {}: {released} of {} reservations found",
                order.id,
                moves.len()
            ))));
        }
    }
    tx.insert_order_event(&event).await?;
    crate::webhooks::record(tx, &format!("order.{}", event.kind), *order.id.as_uuid(), audit::snapshot(order)).await?;
    if order.status == OrderStatus::Paid {
        // The invoice job exists if and only if the payment is recorded.
        let issue = crate::invoices::IssueInvoice { order_id: order.id };
        ordo_jobs::enqueue(tx, &issue, ordo_jobs::EnqueueOptions::default()).await?;
        if capture_policy(tx, &order.market).await? == CapturePolicy::AtPayment {
            crate::payments::enqueue_capture(tx, order.id).await?;
        }
    }
    if matches!(event.kind.as_str(), "partially_fulfilled" | "fulfilled") {
        match capture_policy(tx, &order.market).await? {
            CapturePolicy::AtFulfilment => crate::payments::capture_shipment(tx, actor, order).await?,
            // Also when the market captured at fulfilment when the order was
            // paid: whatever is not captured is captured now (the capture job
            // captures once, however often it is enqueued).
            CapturePolicy::AtPayment => crate::payments::enqueue_capture(tx, order.id).await?,
        }
    }
    if order.status == OrderStatus::Cancelled
        && matches!(event.from_status, Some(OrderStatus::Paid | OrderStatus::Confirmed))
    {
        // The saga's compensation: whatever was captured goes back. (An
        // order cancelled while `placed` was never paid; its authorisation
        // job, should one run later, does nothing for it.)
        crate::payments::enqueue_compensation(tx, order.id).await?;
    }
    Ok(())
}

/// When the order's market captures payments (a market is never deleted;
/// one that cannot be read captures at payment, as markets did before the
/// policy existed).
async fn capture_policy(tx: &mut dyn Transaction, market: &str) -> ServiceResult<CapturePolicy> {
    Ok(tx.market(market).await?.map(|m| m.capture_policy).unwrap_or_default())
}

/// Orders change through [`versioned::modify_with`].
#[async_trait::async_trait]
impl Versioned for Order {
    const ENTITY: &'static str = ENTITY;
    type Id = OrderId;

    fn id(&self) -> OrderId {
        self.id
    }

    fn version(&self) -> i64 {
        self.version
    }

    async fn load(tx: &mut dyn Transaction, id: OrderId) -> StoreResult<Option<Self>> {
        tx.order(id).await
    }

    async fn store(&self, tx: &mut dyn Transaction, expected_version: i64) -> StoreResult<bool> {
        tx.update_order(self, expected_version).await
    }
}

/// Checks the customer, the market and the catalog, and prices the lines:
/// the market and the priced (not yet allocated) lines, or the request's
/// faults, field by field.
async fn check_order(
    session: &mut dyn ordo_store::Session,
    request: &PlaceOrder,
) -> ServiceResult<(ordo_domain::market::Market, Vec<ordo_domain::order::OrderLine>)> {
    let mut errors = ValidationErrors::new();
    let customer = session.customer(request.customer_id).await?;
    if customer.as_ref().is_none_or(|c| c.meta.is_archived()) {
        errors.add("customer_id", "unknown_customer", "no such active customer");
    }
    let market = session.market(&request.market).await?.filter(|m| !m.meta.is_archived());
    let Some(market) = market else {
        errors.add("market", "unknown_market", format!("no market `{}`", request.market));
        return Err(errors.into());
    };
    let skus: Vec<Sku> = request.lines.iter().map(|l| l.sku.clone()).collect();
    let products: Vec<SellableProduct> = session
        .products_by_sku(&skus)
        .await?
        .into_iter()
        .map(|p| SellableProduct {
            id: p.id,
            unit_price: p.prices.get(market.currency).map(|m| m.amount),
            tax_class: p.tax_class,
            sellable: p.active && !p.meta.is_archived(),
            sku: p.sku,
            name: p.name,
        })
        .collect();
    let lines = match price_lines(&market, &request.lines, &products) {
        Ok(lines) => lines,
        Err(PricingError::OrderTooLarge) => return Err(order_too_large()),
        Err(e) => {
            let (field, code, problem, bad) = match e {
                PricingError::Unsellable(skus) => ("sku", "unknown_sku", "is not an active product", skus),
                PricingError::NoPrice(skus) => {
                    ("sku", "currency_mismatch", "has no price in the market's currency", skus)
                }
                PricingError::LineTooLarge(skus) => (
                    "quantity",
                    "amount_overflow",
                    "at this quantity comes to more than an order may (10^15 minor units)",
                    skus,
                ),
                PricingError::OrderTooLarge => unreachable!("handled above"),
            };
            for (i, line) in request.lines.iter().enumerate() {
                if bad.contains(&line.sku) {
                    errors.add(
                        format!("lines[{i}].{field}"),
                        code,
                        format!("{} {problem} ({})", line.sku, market.currency),
                    );
                }
            }
            return Err(errors.into());
        }
    };
    if !errors.is_empty() {
        return Err(errors.into());
    }
    Ok((market, lines))
}

/// An order whose sums would exceed the largest amount an order may have.
fn order_too_large() -> ServiceError {
    ValidationErrors::single(
        "lines",
        "amount_overflow",
        format!("the order's total would exceed {} minor units", ordo_domain::money::MAX_ORDER_AMOUNT),
    )
    .into()
}

fn sorted_skus(request: &PlaceOrder) -> Vec<Sku> {
    let mut skus: Vec<Sku> = request.lines.iter().map(|l| l.sku.clone()).collect();
    skus.sort();
    skus
}

/// Allocates every line's quantity from the SKUs' available `stock`, or
/// fails naming the short SKUs. Returns the lines with their allocations
/// and the reservations to make, in allocation order.
fn allocate_lines(
    stock: &[ordo_store::RankedStock],
    mut lines: Vec<ordo_domain::order::OrderLine>,
) -> ServiceResult<(Vec<ordo_domain::order::OrderLine>, Vec<StockMove>)> {
    let mut short = Vec::new();
    let mut moves = Vec::new();
    for line in &mut lines {
        let candidates: Vec<(Uuid, i64)> = stock
            .iter()
            .filter(|s| s.level.sku == line.sku)
            .map(|s| (s.level.location_id, s.level.available))
            .collect();
        match allocate(&candidates, line.quantity) {
            Some(split) => {
                for &(location_id, quantity) in &split {
                    moves.push(StockMove { sku: line.sku.clone(), location_id, quantity });
                }
                line.allocations = split
                    .into_iter()
                    .map(|(location_id, quantity)| Allocation { location_id, quantity, shipped: 0 })
                    .collect();
            }
            None => short.push(line.sku.to_string()),
        }
    }
    if !short.is_empty() {
        short.sort();
        return Err(ServiceError::InsufficientStock { skus: short });
    }
    moves.sort_by(|a, b| (&a.sku, a.location_id).cmp(&(&b.sku, b.location_id)));
    Ok((lines, moves))
}

fn timeline_event(
    order: &Order,
    kind: &str,
    from: Option<OrderStatus>,
    actor: &Actor,
    detail: Option<serde_json::Value>,
) -> OrderEvent {
    OrderEvent {
        id: Uuid::now_v7(),
        order_id: order.id,
        occurred_at: order.updated_at,
        kind: kind.to_owned(),
        from_status: from,
        to_status: order.status,
        actor_name: actor.name.clone(),
        detail,
    }
}

/// Expires an order still unpaid when its payment window closes, releasing
/// its stock. Enqueued with the order when it is placed with a payment
/// token, to run when the window closes; acts only while the order is still
/// `placed`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExpireUnpaidOrder {
    pub order_id: OrderId,
}

#[async_trait::async_trait]
impl ordo_jobs::Job for ExpireUnpaidOrder {
    const NAME: &'static str = "order.expire_unpaid";
    const QUEUE: &'static str = "orders";
    type Context = crate::Services;

    fn unique_key(&self) -> Option<String> {
        Some(self.order_id.to_string())
    }

    async fn run(&self, services: &crate::Services, _run: &ordo_jobs::JobRun) -> Result<(), ordo_jobs::JobError> {
        match services.orders.expire_unpaid(&Actor::system("expiry"), self.order_id).await {
            Ok(_) | Err(ServiceError::IllegalTransition { .. }) => Ok(()),
            Err(e) => Err(crate::error::job_error(e)),
        }
    }
}
