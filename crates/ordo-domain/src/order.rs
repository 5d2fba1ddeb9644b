//! Orders: pricing at placement (prices frozen from the catalog, tax per
//! the market), and the lifecycle as an explicit state machine.
//!
//! ```text
//! placed ──pay──▶ paid ──confirm──▶ confirmed ──fulfil──▶ partially_fulfilled ──fulfil──▶ fulfilled ──complete──▶ completed
//!   │ └──confirm (paid offline)──────▲        └────────────fulfil (all)──────────────▲
//!   ├──fail payment──▶ payment_failed     (releases the reservation)
//!   ├──expire────────▶ expired            (releases the reservation)
//!   └──cancel────────▶ cancelled ◀──cancel── paid, confirmed
//!                          └──begin refund──▶ refund_pending ──finish refund──▶ refunded
//! ```
//!
//! The last two are the cancel saga's compensation: a cancelled order with
//! captured money is `refund_pending` while it goes back, and `refunded`
//! once all of it has.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customer::Address;
use crate::id::{CustomerId, OrderId, ProductId};
use crate::inventory::{LocationId, MAX_QUANTITY};
use crate::market::Market;
use crate::money::{AmountOverflow, Currency, checked_product, checked_sum};
use crate::sku::Sku;
use crate::time::Timestamp;
use crate::validation::{FieldError, ValidationErrors};

/// Most lines one order may have.
pub const MAX_LINES: usize = 200;

/// Where an order is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    /// Payment authorised (set by the payment workflow, not yet built).
    Paid,
    Confirmed,
    PartiallyFulfilled,
    Fulfilled,
    Completed,
    Cancelled,
    /// The payment was declined; the reservation is released.
    PaymentFailed,
    /// Not paid in time; the reservation is released.
    Expired,
    /// Cancelled with money captured: it is being given back.
    RefundPending,
    /// Cancelled, and all captured money given back.
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 11] = [
        OrderStatus::Placed,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::PartiallyFulfilled,
        OrderStatus::Fulfilled,
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::PaymentFailed,
        OrderStatus::Expired,
        OrderStatus::RefundPending,
        OrderStatus::Refunded,
    ];

    /// Whether an order in this status counts as sold: paid, and neither
    /// cancelled nor given back since.
    pub fn is_sale(self) -> bool {
        matches!(
            self,
            OrderStatus::Paid
                | OrderStatus::Confirmed
                | OrderStatus::PartiallyFulfilled
                | OrderStatus::Fulfilled
                | OrderStatus::Completed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::PartiallyFulfilled => "partially_fulfilled",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PaymentFailed => "payment_failed",
            OrderStatus::Expired => "expired",
            OrderStatus::RefundPending => "refund_pending",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// What a client (or, later, a workflow) asks an order to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAction {
    Confirm,
    Fulfil,
    Complete,
    Cancel,
    /// The payment was authorised.
    Pay,
    /// The payment was declined.
    FailPayment,
    /// The payment window closed.
    Expire,
    /// A cancelled order's captured money is being given back.
    BeginRefund,
    /// All of it was given back.
    FinishRefund,
}

impl OrderAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderAction::Confirm => "confirm",
            OrderAction::Fulfil => "fulfil",
            OrderAction::Complete => "complete",
            OrderAction::Cancel => "cancel",
            OrderAction::Pay => "pay",
            OrderAction::FailPayment => "fail the payment of",
            OrderAction::Expire => "expire",
            OrderAction::BeginRefund => "begin refunding",
            OrderAction::FinishRefund => "finish refunding",
        }
    }
}

/// An action the order's current status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} an order that is {}", action.as_str(), current.as_str())]
pub struct IllegalTransition {
    pub current: OrderStatus,
    pub action: OrderAction,
}

/// The state machine: the status after `action`, given whether every line
/// will then be fully shipped (only relevant to [`OrderAction::Fulfil`]).
pub fn next_status(
    current: OrderStatus,
    action: OrderAction,
    fully_shipped: bool,
) -> Result<OrderStatus, IllegalTransition> {
    use OrderStatus::*;
    let next = match (action, current) {
        (OrderAction::Confirm, Placed | Paid) => Confirmed,
        (OrderAction::Cancel, Placed | Paid | Confirmed) => Cancelled,
        (OrderAction::Fulfil, Confirmed | PartiallyFulfilled) if fully_shipped => Fulfilled,
        (OrderAction::Fulfil, Confirmed | PartiallyFulfilled) => PartiallyFulfilled,
        (OrderAction::Complete, Fulfilled) => Completed,
        (OrderAction::Pay, Placed) => Paid,
        (OrderAction::FailPayment, Placed) => PaymentFailed,
        (OrderAction::Expire, Placed) => Expired,
        (OrderAction::BeginRefund, Cancelled) => RefundPending,
        (OrderAction::FinishRefund, RefundPending) => Refunded,
        _ => return Err(IllegalTransition { current, action }),
    };
    Ok(next)
}

/// Units of a line reserved at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Allocation {
    pub location_id: Uuid,
    pub quantity: i64,
    /// Of those, units already shipped.
    pub shipped: i64,
}

/// One line of an order, priced when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    /// 1, 2, 3, ... in the order the client sent the lines.
    pub line: i32,
    #[schema(value_type = String)]
    pub sku: Sku,
    #[schema(value_type = String, format = Uuid)]
    pub product_id: ProductId,
    /// The product's name when the order was placed.
    pub name: String,
    pub quantity: i64,
    pub shipped_quantity: i64,
    /// Net unit price in minor units, frozen from the catalog.
    pub unit_price: i64,
    /// `unit_price × quantity`.
    pub subtotal: i64,
    /// The rate of the product's tax class in the market, frozen at
    /// placement, in basis points.
    #[schema(example = 1900)]
    pub tax_rate_bp: i64,
    /// Tax on `subtotal` at `tax_rate_bp`, rounded half away from zero.
    pub tax: i64,
    pub total: i64,
    /// Where the line's units are reserved, by the allocation rule.
    pub allocations: Vec<Allocation>,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    /// The market's code.
    pub market: String,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    /// The market's standard tax rate when the order was placed, in basis
    /// points; each line and the shipping state the rate they were taxed at.
    pub tax_rate_bp: i64,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub shipping_address: Address,
    /// Whom the order is invoiced to, where it differs from where it ships.
    #[serde(default)]
    pub billing: Billing,
    /// The shipping charge, frozen from the market at placement.
    pub shipping: ShippingCharge,
    /// Net amount: the lines' and the shipping's.
    pub subtotal: i64,
    /// Tax on the lines and the shipping.
    pub tax: i64,
    /// `subtotal + tax`: what the customer pays.
    pub total: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An order's shipping charge (zero when it ships free).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShippingCharge {
    /// Net fee, in minor units.
    pub net: i64,
    /// The rate it is taxed at, in basis points.
    pub tax_rate_bp: i64,
    /// Tax on `net` at `tax_rate_bp`, rounded half away from zero.
    pub tax: i64,
    pub total: i64,
}

impl ShippingCharge {
    /// What `market` charges to ship `lines`: its fee, unless the goods
    /// reach its free-shipping threshold, taxed at its shipping class's rate.
    pub fn for_lines(market: &Market, lines: &[OrderLine]) -> Result<Self, AmountOverflow> {
        let goods = checked_sum(lines.iter().map(|l| l.subtotal))?;
        let (net, tax_rate_bp) = market.shipping_for(goods);
        let tax = crate::market::tax_on(net, tax_rate_bp)?;
        Ok(Self { net, tax_rate_bp, tax, total: checked_sum([net, tax])? })
    }
}

/// An order's billing details, shown on its invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Billing {
    /// The invoice's address; the shipping address when none.
    pub address: Option<Address>,
    /// The customer's VAT identification number, for business customers.
    #[schema(example = "DE123456789")]
    pub vat_id: Option<String>,
}

/// A VAT identification number: a two-letter country prefix and 2 to 13
/// letters, digits or `+*.` (the EU's VIES shapes), spaces removed and
/// upper-cased: ` de 123 456 789` is `DE123456789`.
pub fn parse_vat_id(value: &str) -> Result<String, crate::validation::FieldError> {
    let id: String = value.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let (prefix, rest) = id.split_at(id.len().min(2));
    let valid = prefix.len() == 2
        && prefix.chars().all(|c| c.is_ascii_uppercase())
        && (2..=13).contains(&rest.len())
        && rest.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '+' | '*' | '.'));
    if valid {
        Ok(id)
    } else {
        Err(crate::validation::FieldError::new(
            "invalid_vat_id",
            "a VAT id is a country prefix and 2 to 13 letters or digits, e.g. DE123456789",
        ))
    }
}

/// A requested line: a SKU and a quantity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRequest {
    pub sku: Sku,
    pub quantity: i64,
}

/// A line quantity: 1 to [`MAX_QUANTITY`].
pub fn parse_quantity(quantity: i64) -> Result<i64, FieldError> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(FieldError::new("out_of_range", format!("a quantity is 1 to {MAX_QUANTITY}")))
    }
}

/// Checks the lines of an order request: 1 to [`MAX_LINES`], valid SKUs and
/// quantities, each SKU once.
pub fn parse_lines(raw: &[(String, i64)]) -> Result<Vec<LineRequest>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if raw.is_empty() || raw.len() > MAX_LINES {
        errors.add("", "out_of_range", format!("an order has 1 to {MAX_LINES} lines"));
        return Err(errors);
    }
    let mut lines: Vec<LineRequest> = Vec::with_capacity(raw.len());
    for (i, (sku, quantity)) in raw.iter().enumerate() {
        let sku = errors.check(&format!("[{i}].sku"), Sku::parse(sku));
        let quantity = errors.check(&format!("[{i}].quantity"), parse_quantity(*quantity));
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            if lines.iter().any(|l| l.sku == sku) {
                errors.add(
                    format!("[{i}].sku"),
                    "duplicate_line",
                    format!("{sku} appears twice; order it once with the total quantity"),
                );
            } else {
                lines.push(LineRequest { sku, quantity });
            }
        }
    }
    errors.into_result(|| lines)
}

/// A catalog product as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellableProduct {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    /// Its price in the market's currency, if it has one.
    pub unit_price: Option<i64>,
    pub tax_class: crate::market::TaxClass,
    /// Active and not archived.
    pub sellable: bool,
}

/// Why lines cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("unknown or unsellable SKUs: {0:?}")]
    Unsellable(Vec<Sku>),
    #[error("no price in the market's currency for: {0:?}")]
    NoPrice(Vec<Sku>),
    /// Lines whose amounts would exceed [`crate::money::MAX_ORDER_AMOUNT`].
    #[error("amounts too large for: {0:?}")]
    LineTooLarge(Vec<Sku>),
    /// Every line is within bounds, but the order's sums are not.
    #[error("the order's total would exceed the largest amount an order may have")]
    OrderTooLarge,
}

/// Prices the requested lines from the catalog in the market: frozen unit
/// prices, per-line tax at the rate of each product's tax class, and totals
/// (with the market's shipping charge). `allocations` gives each line's
/// reservation, in line order.
pub fn price_lines(
    market: &Market,
    requested: &[LineRequest],
    products: &[SellableProduct],
) -> Result<Vec<OrderLine>, PricingError> {
    let find = |sku: &Sku| products.iter().find(|p| &p.sku == sku);
    let unsellable: Vec<Sku> =
        requested.iter().filter(|l| !find(&l.sku).is_some_and(|p| p.sellable)).map(|l| l.sku.clone()).collect();
    if !unsellable.is_empty() {
        return Err(PricingError::Unsellable(unsellable));
    }
    let unpriced: Vec<Sku> =
        requested.iter().filter(|l| find(&l.sku).and_then(|p| p.unit_price).is_none()).map(|l| l.sku.clone()).collect();
    if !unpriced.is_empty() {
        return Err(PricingError::NoPrice(unpriced));
    }
    let mut lines = Vec::with_capacity(requested.len());
    let mut too_large = Vec::new();
    for (line, number) in requested.iter().zip(1..) {
        let Some((product, unit_price)) = find(&line.sku).and_then(|p| Some((p, p.unit_price?))) else { continue };
        let tax_rate_bp = market.rate_of(product.tax_class);
        let amounts = checked_product(unit_price, line.quantity).and_then(|subtotal| {
            let tax = crate::market::tax_on(subtotal, tax_rate_bp)?;
            Ok((subtotal, tax, checked_sum([subtotal, tax])?))
        });
        let Ok((subtotal, tax, total)) = amounts else {
            too_large.push(line.sku.clone());
            continue;
        };
        lines.push(OrderLine {
            line: number,
            sku: line.sku.clone(),
            product_id: product.id,
            name: product.name.clone(),
            quantity: line.quantity,
            shipped_quantity: 0,
            unit_price,
            subtotal,
            tax_rate_bp,
            tax,
            total,
            allocations: Vec::new(),
        });
    }
    if !too_large.is_empty() {
        return Err(PricingError::LineTooLarge(too_large));
    }
    ShippingCharge::for_lines(market, &lines)
        .and_then(|shipping| OrderTotals::of(&lines, &shipping))
        .map_err(|AmountOverflow| PricingError::OrderTooLarge)?;
    Ok(lines)
}

/// An order's sums over its lines and its shipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTotals {
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
}

impl OrderTotals {
    /// The sums of `lines` and `shipping`, each checked against
    /// [`crate::money::MAX_ORDER_AMOUNT`].
    pub fn of(lines: &[OrderLine], shipping: &ShippingCharge) -> Result<Self, AmountOverflow> {
        let sum = |amount: fn(&OrderLine) -> i64, shipped: i64| {
            checked_sum(lines.iter().map(amount).chain(std::iter::once(shipped)))
        };
        Ok(Self {
            subtotal: sum(|l| l.subtotal, shipping.net)?,
            tax: sum(|l| l.tax, shipping.tax)?,
            total: sum(|l| l.total, shipping.total)?,
        })
    }
}

/// Stock to move when an order changes: `reserved -= release` and
/// `on_hand -= ship` for `sku` at `location_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRelease {
    pub sku: Sku,
    pub location_id: LocationId,
    /// Units no longer reserved.
    pub release: i64,
    /// Of those, units that left the building (shipped).
    pub ship: i64,
}

/// Why a fulfilment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FulfilError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("invalid shipment")]
    Invalid(ValidationErrors),
}

impl Order {
    /// A new order from priced, allocated lines, with the market's shipping
    /// charge; refused if its sums would exceed
    /// [`crate::money::MAX_ORDER_AMOUNT`].
    pub fn place(
        id: OrderId,
        customer_id: CustomerId,
        market: &Market,
        lines: Vec<OrderLine>,
        shipping_address: Address,
        now: Timestamp,
    ) -> Result<Self, AmountOverflow> {
        let shipping = ShippingCharge::for_lines(market, &lines)?;
        let OrderTotals { subtotal, tax, total } = OrderTotals::of(&lines, &shipping)?;
        Ok(Self {
            id,
            customer_id,
            market: market.code.clone(),
            currency: market.currency,
            tax_rate_bp: market.tax_rate_bp,
            status: OrderStatus::Placed,
            lines,
            shipping_address,
            billing: Billing::default(),
            shipping,
            subtotal,
            tax,
            total,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    fn advance(&mut self, status: OrderStatus, now: Timestamp) {
        self.status = status;
        self.version += 1;
        self.updated_at = now;
    }

    pub fn confirm(&mut self, now: Timestamp) -> Result<(), IllegalTransition> {
        let next = next_status(self.status, OrderAction::Confirm, false)?;
        self.advance(next, now);
        Ok(())
    }

    pub fn complete(&mut self, now: Timestamp) -> Result<(), IllegalTransition> {
        let next = next_status(self.status, OrderAction::Complete, false)?;
        self.advance(next, now);
        Ok(())
    }

    /// Records an authorised payment.
    /// A step of the cancel saga's compensation ([`OrderAction::BeginRefund`]
    /// or [`OrderAction::FinishRefund`]); nothing is released (the
    /// cancellation did that).
    pub fn refund_step(&mut self, action: OrderAction, now: Timestamp) -> Result<(), IllegalTransition> {
        let next = match action {
            OrderAction::BeginRefund | OrderAction::FinishRefund => next_status(self.status, action, false)?,
            _ => return Err(IllegalTransition { current: self.status, action }),
        };
        self.advance(next, now);
        Ok(())
    }

    pub fn pay(&mut self, now: Timestamp) -> Result<(), IllegalTransition> {
        let next = next_status(self.status, OrderAction::Pay, false)?;
        self.advance(next, now);
        Ok(())
    }

    /// What the shipped units are worth: each line's total in proportion to
    /// its shipped quantity, rounded down (so the last shipment, which takes
    /// whatever is left, gets the rounding). What a capture at fulfilment
    /// takes by the time these units are shipped.
    pub fn shipped_value(&self) -> i64 {
        let value: i128 = self
            .lines
            .iter()
            .filter(|l| l.quantity > 0)
            .map(|l| i128::from(l.total) * i128::from(l.shipped_quantity) / i128::from(l.quantity))
            .sum();
        i64::try_from(value).unwrap_or(i64::MAX)
    }

    /// Cancels the order; returns the reservations to release.
    pub fn cancel(&mut self, now: Timestamp) -> Result<Vec<StockRelease>, IllegalTransition> {
        self.release(OrderAction::Cancel, now)
    }

    /// Records a declined payment; returns the reservations to release.
    pub fn fail_payment(&mut self, now: Timestamp) -> Result<Vec<StockRelease>, IllegalTransition> {
        self.release(OrderAction::FailPayment, now)
    }

    /// Expires an unpaid order; returns the reservations to release.
    pub fn expire(&mut self, now: Timestamp) -> Result<Vec<StockRelease>, IllegalTransition> {
        self.release(OrderAction::Expire, now)
    }

    /// Ends the order with `action`, releasing every unshipped reservation.
    fn release(&mut self, action: OrderAction, now: Timestamp) -> Result<Vec<StockRelease>, IllegalTransition> {
        let next = next_status(self.status, action, false)?;
        let releases = self
            .lines
            .iter()
            .flat_map(|line| {
                line.allocations.iter().filter(|a| a.quantity > a.shipped).map(|a| StockRelease {
                    sku: line.sku.clone(),
                    location_id: a.location_id,
                    release: a.quantity - a.shipped,
                    ship: 0,
                })
            })
            .collect();
        self.advance(next, now);
        Ok(releases)
    }

    /// Ships `quantities` (line number, units) and returns the reserved stock
    /// they take, location by location in allocation order.
    pub fn fulfil(&mut self, shipments: &[(i32, i64)], now: Timestamp) -> Result<Vec<StockRelease>, FulfilError> {
        let mut errors = ValidationErrors::new();
        if shipments.is_empty() {
            errors.add("lines", "required", "name at least one line to ship");
        }
        for (i, (line_no, quantity)) in shipments.iter().enumerate() {
            match self.lines.iter().find(|l| l.line == *line_no) {
                None => {
                    errors.add(format!("lines[{i}].line"), "unknown_line", format!("the order has no line {line_no}"));
                }
                Some(line) => {
                    let open = line.quantity - line.shipped_quantity;
                    if *quantity < 1 || *quantity > open {
                        errors.add(
                            format!("lines[{i}].quantity"),
                            "out_of_range",
                            format!("line {line_no} has {open} unit(s) left to ship"),
                        );
                    }
                }
            }
            if shipments[..i].iter().any(|(other, _)| other == line_no) {
                errors.add(format!("lines[{i}].line"), "duplicate_line", format!("line {line_no} appears twice"));
            }
        }
        // Only meaningful for a valid shipment, where each line appears at
        // most once with at most its open quantity: no sum can overflow.
        let fully_shipped = errors.is_empty()
            && self.lines.iter().all(|l| {
                let shipping = shipments.iter().find(|(n, _)| *n == l.line).map_or(0, |(_, q)| *q);
                l.shipped_quantity + shipping == l.quantity
            });
        let next = next_status(self.status, OrderAction::Fulfil, fully_shipped)?;
        if !errors.is_empty() {
            return Err(FulfilError::Invalid(errors));
        }
        let mut moves = Vec::new();
        for (line_no, quantity) in shipments {
            let Some(line) = self.lines.iter_mut().find(|l| l.line == *line_no) else { continue };
            let mut left = *quantity;
            for allocation in &mut line.allocations {
                let take = (allocation.quantity - allocation.shipped).min(left);
                if take > 0 {
                    allocation.shipped += take;
                    left -= take;
                    moves.push(StockRelease {
                        sku: line.sku.clone(),
                        location_id: allocation.location_id,
                        release: take,
                        ship: take,
                    });
                }
            }
            line.shipped_quantity += quantity;
        }
        self.advance(next, now);
        Ok(moves)
    }
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrderEvent {
    pub id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub order_id: OrderId,
    pub occurred_at: DateTime<Utc>,
    /// `placed`, `confirmed`, `fulfilled`, `partially_fulfilled`, `completed`, `cancelled`.
    pub kind: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    /// Who acted.
    pub actor_name: String,
    /// For fulfilments: the lines and units shipped.
    pub detail: Option<serde_json::Value>,
}

/// Filters for listing orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<CustomerId>,
    pub created_from: Option<Timestamp>,
    pub created_to: Option<Timestamp>,
    /// Only orders of this market.
    pub market: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderAction::*;
    use OrderStatus::*;

    #[test]
    fn the_state_machine_allows_only_its_edges() {
        let allowed = [
            (Placed, Confirm, Confirmed),
            (Paid, Confirm, Confirmed),
            (Placed, Cancel, Cancelled),
            (Paid, Cancel, Cancelled),
            (Confirmed, Cancel, Cancelled),
            (Confirmed, Fulfil, PartiallyFulfilled),
            (PartiallyFulfilled, Fulfil, PartiallyFulfilled),
            (Fulfilled, Complete, Completed),
            (Placed, Pay, Paid),
            (Placed, FailPayment, PaymentFailed),
            (Placed, Expire, Expired),
        ];
        for current in OrderStatus::ALL {
            for action in [Confirm, Fulfil, Complete, Cancel, Pay, FailPayment, Expire] {
                let expected = allowed.iter().find(|(c, a, _)| *c == current && *a == action).map(|(_, _, n)| *n);
                assert_eq!(next_status(current, action, false).ok(), expected, "{current:?} {action:?}");
            }
        }
        assert_eq!(next_status(Confirmed, Fulfil, true), Ok(Fulfilled));
        assert_eq!(next_status(PartiallyFulfilled, Fulfil, true), Ok(Fulfilled));
        let err = next_status(Cancelled, Confirm, false).unwrap_err();
        assert_eq!(err.to_string(), "cannot confirm an order that is cancelled");
    }

    #[test]
    fn lines_are_validated_and_deduplicated() {
        let raw = vec![
            ("A".to_owned(), 1),
            ("B".to_owned(), 0),
            ("A".to_owned(), 2),
            ("bad sku".to_owned(), 1),
            ("C".to_owned(), 2_000_000),
        ];
        let errors = parse_lines(&raw).unwrap_err();
        let got: Vec<_> = errors.errors().iter().map(|e| (e.field.as_str(), &*e.code)).collect();
        assert_eq!(
            got,
            [
                ("[1].quantity", "out_of_range"),
                ("[2].sku", "duplicate_line"),
                ("[3].sku", "invalid_sku"),
                ("[4].quantity", "out_of_range")
            ]
        );
        assert!(parse_lines(&[]).is_err());
    }

    #[test]
    fn vat_ids_are_normalised_or_refused() {
        assert_eq!(parse_vat_id(" de 123 456 789").unwrap(), "DE123456789");
        assert_eq!(parse_vat_id("ATU12345678").unwrap(), "ATU12345678");
        for bad in ["", "D", "1E123456", "DE1", "DE12345678901234", "DE12-34"] {
            assert!(parse_vat_id(bad).is_err(), "{bad}");
        }
    }

    fn market(tax_rate_bp: i64) -> Market {
        Market {
            code: "DE".into(),
            name: "Germany".into(),
            currency: Currency::parse("EUR").unwrap(),
            tax_rate_bp,
            reduced_tax_rate_bp: tax_rate_bp / 2,
            shipping: None,
            locale: "de-DE".into(),
            capture_policy: crate::payment::CapturePolicy::AtPayment,
            seller: None,
            meta: crate::record::RecordMeta::new(crate::time::now()),
        }
    }

    fn address() -> crate::customer::Address {
        let raw =
            crate::customer::RawAddress {
                line1: "Hauptstraße 1", city: "Berlin", country: "DE", ..Default::default()
            };
        crate::customer::Address::parse(&raw).unwrap()
    }

    /// A placed order is kept as JSON with its idempotency key and sent
    /// again to a retry: read back, it serialises to the same bytes.
    #[test]
    fn an_order_reads_back_from_its_json_unchanged() {
        let (requested, offered) = products(&[1_999, 250]);
        let lines = price_lines(&market(1_900), &requested, &offered).unwrap();
        let order = Order::place(
            OrderId::generate(),
            CustomerId::generate(),
            &market(1_900),
            lines,
            address(),
            crate::time::now(),
        )
        .unwrap();
        let json = serde_json::to_vec(&order).unwrap();
        let back: Order = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, order);
        assert_eq!(serde_json::to_vec(&back).unwrap(), json);
    }

    fn products(prices: &[i64]) -> (Vec<LineRequest>, Vec<SellableProduct>) {
        prices
            .iter()
            .enumerate()
            .map(|(i, price)| {
                let sku = Sku::parse(&format!("SKU-{i}")).unwrap();
                let product = SellableProduct {
                    id: ProductId::generate(),
                    sku: sku.clone(),
                    name: format!("Product {i}"),
                    unit_price: Some(*price),
                    tax_class: crate::market::TaxClass::Standard,
                    sellable: true,
                };
                (LineRequest { sku, quantity: 0 }, product)
            })
            .unzip()
    }

    /// Each line is taxed at its product's class rate, and the shipping
    /// charge at its class's rate, until the goods reach the threshold.
    #[test]
    fn lines_and_shipping_are_taxed_at_their_class_rate() {
        use crate::market::{ShippingRate, TaxClass};
        let (mut requested, mut offered) = products(&[1_000, 999, 500]);
        for line in &mut requested {
            line.quantity = 1;
        }
        offered[1].tax_class = TaxClass::Reduced;
        offered[2].tax_class = TaxClass::Zero;
        let mut de = market(1_900);
        de.reduced_tax_rate_bp = 700;
        de.shipping = Some(ShippingRate { fee: 495, free_from: Some(3_000), tax_class: TaxClass::Standard });
        let lines = price_lines(&de, &requested, &offered).unwrap();
        let rates: Vec<_> = lines.iter().map(|l| (l.tax_rate_bp, l.tax)).collect();
        assert_eq!(rates, [(1_900, 190), (700, 70), (0, 0)]); // 69.93 rounds to 70
        let order =
            Order::place(OrderId::generate(), CustomerId::generate(), &de, lines, address(), crate::time::now())
                .unwrap();
        assert_eq!(order.shipping, ShippingCharge { net: 495, tax_rate_bp: 1_900, tax: 94, total: 589 });
        assert_eq!((order.subtotal, order.tax, order.total), (2_994, 354, 3_348));
        // From the threshold on, shipping is free.
        requested[0].quantity = 2;
        let lines = price_lines(&de, &requested, &offered).unwrap();
        let order =
            Order::place(OrderId::generate(), CustomerId::generate(), &de, lines, address(), crate::time::now())
                .unwrap();
        assert_eq!(order.shipping, ShippingCharge { net: 0, tax_rate_bp: 1_900, tax: 0, total: 0 });
        assert_eq!(order.total, 2_000 + 380 + 999 + 70 + 500);
    }

    /// The outsider's reproduction: 100 % tax, five products at 10^12 and
    /// 10^6 of each wrapped to a negative total.
    #[test]
    fn an_order_whose_totals_would_overflow_is_refused() {
        let (mut requested, offered) = products(&[crate::money::MAX_AMOUNT; 5]);
        for line in &mut requested {
            line.quantity = MAX_QUANTITY;
        }
        assert_eq!(
            price_lines(&market(10_000), &requested, &offered),
            Err(PricingError::LineTooLarge(requested.iter().map(|l| l.sku.clone()).collect()))
        );
        // Each line within the bound, the sum over it.
        for line in &mut requested {
            line.quantity = 500;
        }
        assert_eq!(price_lines(&market(10_000), &requested, &offered), Err(PricingError::OrderTooLarge));
        requested.truncate(1);
        let lines = price_lines(&market(10_000), &requested, &offered).unwrap();
        assert_eq!(lines[0].total, crate::money::MAX_ORDER_AMOUNT);
    }

    proptest::proptest! {
        /// Whatever the prices, quantities and tax rate: either every amount
        /// is the exact arithmetic result (computed here in i128) and within
        /// the bound, or the order is refused for being too large; never a
        /// wrapped or negative total.
        #[test]
        fn order_amounts_are_exact_or_refused(
            lines in proptest::collection::vec((0..=crate::money::MAX_AMOUNT, 1..=MAX_QUANTITY), 1..=8),
            tax_rate_bp in 0_i64..=10_000,
        ) {
            let (mut requested, offered) = products(&lines.iter().map(|(price, _)| *price).collect::<Vec<_>>());
            for (line, (_, quantity)) in requested.iter_mut().zip(&lines) {
                line.quantity = *quantity;
            }
            let bound = i128::from(crate::money::MAX_ORDER_AMOUNT);
            let exact: Vec<(i128, i128)> = lines
                .iter()
                .map(|(price, quantity)| {
                    let subtotal = i128::from(*price) * i128::from(*quantity);
                    let tax = (subtotal * i128::from(tax_rate_bp) + 5_000) / 10_000;
                    (subtotal, tax)
                })
                .collect();
            let line_over = exact.iter().any(|(subtotal, tax)| subtotal + tax > bound);
            let sums = (
                exact.iter().map(|(s, _)| s).sum::<i128>(),
                exact.iter().map(|(_, t)| t).sum::<i128>(),
            );
            match price_lines(&market(tax_rate_bp), &requested, &offered) {
                Ok(priced) => {
                    proptest::prop_assert!(!line_over && sums.0 + sums.1 <= bound);
                    for (line, (subtotal, tax)) in priced.iter().zip(&exact) {
                        proptest::prop_assert_eq!(i128::from(line.subtotal), *subtotal);
                        proptest::prop_assert_eq!(i128::from(line.tax), *tax);
                        proptest::prop_assert_eq!(line.total, line.subtotal + line.tax);
                    }
                    let address = address();
                    let order = Order::place(
                        OrderId::generate(),
                        CustomerId::generate(),
                        &market(tax_rate_bp),
                        priced,
                        address,
                        crate::time::now(),
                    )
                    .unwrap();
                    proptest::prop_assert_eq!(i128::from(order.subtotal), sums.0);
                    proptest::prop_assert_eq!(i128::from(order.tax), sums.1);
                    proptest::prop_assert_eq!(order.total, order.subtotal + order.tax);
                    proptest::prop_assert!(order.total >= 0);
                }
                Err(PricingError::LineTooLarge(_)) => proptest::prop_assert!(line_over),
                Err(PricingError::OrderTooLarge) => {
                    proptest::prop_assert!(!line_over && sums.0 + sums.1 > bound);
                }
                Err(other) => proptest::prop_assert!(false, "unexpected {other:?}"),
            }
        }

        /// Any shipment request, however hostile its numbers, is either
        /// refused or ships exactly what it names, never more than was
        /// ordered, and never panics.
        #[test]
        fn fulfilment_never_ships_more_than_ordered(
            quantities in proptest::collection::vec(1..=MAX_QUANTITY, 1..=4),
            shipments in proptest::collection::vec(
                (0_i32..=5, proptest::prop_oneof![proptest::prelude::any::<i64>(), 1_i64..=3]),
                0..=3,
            ),
        ) {
            let (mut requested, offered) = products(&vec![100; quantities.len()]);
            for (line, quantity) in requested.iter_mut().zip(&quantities) {
                line.quantity = *quantity;
            }
            let mut lines = price_lines(&market(1_900), &requested, &offered).unwrap();
            for line in &mut lines {
                line.allocations = vec![Allocation { location_id: Uuid::now_v7(), quantity: line.quantity, shipped: 0 }];
            }
            let address = address();
            let mut order = Order::place(
                OrderId::generate(),
                CustomerId::generate(),
                &market(1_900),
                lines,
                address,
                crate::time::now(),
            )
            .unwrap();
            order.confirm(crate::time::now()).unwrap();
            let before = order.clone();
            match order.fulfil(&shipments, crate::time::now()) {
                Ok(moves) => {
                    let shipped: i64 = moves.iter().map(|m| m.ship).sum();
                    proptest::prop_assert_eq!(shipped, shipments.iter().map(|(_, q)| q).sum::<i64>());
                    for line in &order.lines {
                        proptest::prop_assert!((0..=line.quantity).contains(&line.shipped_quantity));
                    }
                }
                Err(_) => proptest::prop_assert_eq!(order, before),
            }
        }
    }
}
