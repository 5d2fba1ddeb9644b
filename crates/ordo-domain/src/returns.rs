//! Returns (RMA): shipped units a customer sends back.
//!
//! ```text
//! requested ──approve──▶ approved ──receive──▶ received
//!     └──────reject──▶ rejected
//! ```
//!
//! A return is requested for units that were shipped and are not in another
//! return already (a rejected one frees its units). Receiving it at a
//! location puts each line's units back to sellable stock or to damaged
//! stock, which orders never take; the money side (refund, credit note) is
//! the service's.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OrderId;
use crate::order::Order;
use crate::time::Timestamp;
use crate::validation::ValidationErrors;

/// Longest reason a return or a rejection may give.
pub const MAX_REASON: usize = 500;

/// Where a return is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnStatus {
    Requested,
    Approved,
    Rejected,
    /// Received at a location: its units are back in stock (or in damaged
    /// stock), its refund and credit note issued.
    Received,
}

as_str!(ReturnStatus { Requested = "requested", Approved = "approved", Rejected = "rejected", Received = "received" });

/// What becomes of a returned unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Back to the location's on-hand stock, for new orders to take.
    Sellable,
    /// To the location's damaged stock: counted, never sold.
    Damaged,
}

as_str!(Disposition { Sellable = "sellable", Damaged = "damaged" });

/// Units of one order line to return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReturnLine {
    /// The order line.
    pub line: i32,
    pub sku: String,
    pub quantity: i64,
    /// Set when the return is received.
    pub disposition: Option<Disposition>,
}

/// A return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Return {
    pub id: Uuid,
    #[schema(value_type = Uuid)]
    pub order_id: OrderId,
    pub status: ReturnStatus,
    /// Why the customer returns it, as told.
    pub reason: Option<String>,
    pub lines: Vec<ReturnLine>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// Where it was received.
    pub location_id: Option<Uuid>,
    /// The refund its receipt made (none when nothing captured was left).
    pub refund_id: Option<Uuid>,
    /// The credit note its receipt issued.
    pub credit_note_id: Option<Uuid>,
    /// What was refunded for it, in minor units.
    pub refunded: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Filters for listing returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnFilter {
    pub order_id: Option<OrderId>,
    pub status: Option<ReturnStatus>,
}

/// Why a return cannot be requested or move on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error(transparent)]
    Invalid(ValidationErrors),
    /// More units than were shipped and are not returned already.
    #[error("order line {line} has {returnable} shipped units that can be returned, not {requested}")]
    NotReturnable { line: i32, requested: i64, returnable: i64 },
    #[error("cannot {action} a return that is {}", current.as_str())]
    IllegalTransition { current: ReturnStatus, action: &'static str },
}

/// Units of each line that returns not rejected already take.
pub fn returned_units(returns: &[Return]) -> HashMap<i32, i64> {
    let mut units = HashMap::new();
    for line in returns.iter().filter(|r| r.status != ReturnStatus::Rejected).flat_map(|r| &r.lines) {
        *units.entry(line.line).or_insert(0) += line.quantity;
    }
    units
}

/// A reason as given: trimmed, none if blank, at most [`MAX_REASON`]
/// characters and no control characters.
pub fn parse_reason(field: &str, reason: Option<&str>) -> Result<Option<String>, ValidationErrors> {
    let Some(reason) = reason else { return Ok(None) };
    let mut errors = ValidationErrors::new();
    let reason = errors.check(field, crate::validation::optional_text(reason, MAX_REASON));
    errors.into_result(|| reason.filter(|r| !r.is_empty()))
}

impl Return {
    /// A return of `units` (`(line, quantity)`) of `order`, given its
    /// earlier returns: every line exists, quantities are positive, and no
    /// line gets back more than it shipped less what is returned already.
    pub fn request(
        order: &Order,
        units: &[(i32, i64)],
        reason: Option<String>,
        earlier: &[Return],
        now: Timestamp,
    ) -> Result<Self, ReturnError> {
        let mut errors = ValidationErrors::new();
        if units.is_empty() {
            errors.add("lines", "required", "a return has at least one line");
        }
        for (i, &(number, quantity)) in units.iter().enumerate() {
            if !order.lines.iter().any(|l| l.line == number) {
                errors.add(format!("lines[{i}].line"), "unknown_line", "no such order line");
            }
            if quantity <= 0 {
                errors.add(format!("lines[{i}].quantity"), "not_positive", "at least 1");
            }
        }
        if !errors.is_empty() {
            return Err(ReturnError::Invalid(errors));
        }
        let mut taken = returned_units(earlier);
        let mut lines: Vec<ReturnLine> = Vec::with_capacity(units.len());
        for &(number, quantity) in units {
            let Some(line) = order.lines.iter().find(|l| l.line == number) else { continue };
            let already = taken.entry(number).or_insert(0);
            let returnable = line.shipped_quantity - *already;
            if quantity > returnable {
                return Err(ReturnError::NotReturnable { line: number, requested: quantity, returnable });
            }
            *already += quantity;
            match lines.iter_mut().find(|l| l.line == number) {
                Some(existing) => existing.quantity += quantity,
                None => lines.push(ReturnLine { line: number, sku: line.sku.to_string(), quantity, disposition: None }),
            }
        }
        Ok(Self {
            id: Uuid::now_v7(),
            order_id: order.id,
            status: ReturnStatus::Requested,
            reason,
            lines,
            rejection_reason: None,
            location_id: None,
            refund_id: None,
            credit_note_id: None,
            refunded: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    fn step(
        &mut self,
        from: ReturnStatus,
        to: ReturnStatus,
        action: &'static str,
        now: Timestamp,
    ) -> Result<(), ReturnError> {
        if self.status != from {
            return Err(ReturnError::IllegalTransition { current: self.status, action });
        }
        self.status = to;
        self.version += 1;
        self.updated_at = now;
        Ok(())
    }

    pub fn approve(&mut self, now: Timestamp) -> Result<(), ReturnError> {
        self.step(ReturnStatus::Requested, ReturnStatus::Approved, "approve", now)
    }

    pub fn reject(&mut self, reason: Option<String>, now: Timestamp) -> Result<(), ReturnError> {
        self.step(ReturnStatus::Requested, ReturnStatus::Rejected, "reject", now)?;
        self.rejection_reason = reason;
        Ok(())
    }

    /// Receives the return at `location`: each line's disposition is
    /// `dispositions`' for it, else `default`.
    pub fn receive(
        &mut self,
        location: Uuid,
        default: Disposition,
        dispositions: &HashMap<i32, Disposition>,
        now: Timestamp,
    ) -> Result<(), ReturnError> {
        let mut unknown = ValidationErrors::new();
        for n in dispositions.keys().filter(|n| !self.lines.iter().any(|l| l.line == **n)) {
            unknown.add("lines", "unknown_line", format!("line {n} is not in this return"));
        }
        if !unknown.is_empty() {
            return Err(ReturnError::Invalid(unknown));
        }
        self.step(ReturnStatus::Approved, ReturnStatus::Received, "receive", now)?;
        self.location_id = Some(location);
        for line in &mut self.lines {
            line.disposition = Some(dispositions.get(&line.line).copied().unwrap_or(default));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_order(quantity: i64, shipped: i64) -> Order {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::now_v7(), "customer_id": Uuid::now_v7(), "market": "DE", "currency": "EUR",
            "tax_rate_bp": 1900, "status": "partially_fulfilled",
            "lines": [{
                "line": 1, "sku": "TEE", "product_id": Uuid::now_v7(), "name": "Tee", "quantity": quantity,
                "shipped_quantity": shipped, "unit_price": 1000, "subtotal": 1000 * quantity, "tax_rate_bp": 1900,
                "tax": 190 * quantity, "total": 1190 * quantity, "allocations": []
            }],
            "shipping_address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
            "shipping": {"net": 0, "tax_rate_bp": 1900, "tax": 0, "total": 0},
            "subtotal": 1000 * quantity, "tax": 190 * quantity, "total": 1190 * quantity, "version": 1,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn only_shipped_units_not_returned_yet_can_be_returned() {
        let order = shipped_order(4, 2);
        let now = crate::time::now();
        assert_eq!(
            Return::request(&order, &[(1, 3)], None, &[], now),
            Err(ReturnError::NotReturnable { line: 1, requested: 3, returnable: 2 })
        );
        let first = Return::request(&order, &[(1, 2)], None, &[], now).unwrap();
        assert_eq!(
            Return::request(&order, &[(1, 1)], None, std::slice::from_ref(&first), now),
            Err(ReturnError::NotReturnable { line: 1, requested: 1, returnable: 0 })
        );
        let mut rejected = first;
        rejected.reject(None, now).unwrap();
        assert!(
            Return::request(&order, &[(1, 1), (1, 1)], None, &[rejected], now).is_ok(),
            "a rejection frees its units"
        );
        assert!(matches!(Return::request(&order, &[(2, 1)], None, &[], now), Err(ReturnError::Invalid(_))));
        assert!(matches!(Return::request(&order, &[(1, 0)], None, &[], now), Err(ReturnError::Invalid(_))));
        assert!(matches!(Return::request(&order, &[], None, &[], now), Err(ReturnError::Invalid(_))));
        assert_eq!(parse_reason("reason", Some("  too small ")), Ok(Some("too small".to_owned())));
        assert_eq!(parse_reason("reason", Some("   ")), Ok(None));
        assert!(parse_reason("reason", Some("bad\u{7}bell")).is_err());
        assert!(parse_reason("reason", Some(&"x".repeat(MAX_REASON + 1))).is_err());
    }

    #[test]
    fn a_return_is_approved_then_received_once() {
        let order = shipped_order(2, 2);
        let now = crate::time::now();
        let mut r = Return::request(&order, &[(1, 2)], None, &[], now).unwrap();
        let location = Uuid::now_v7();
        assert_eq!(
            r.receive(location, Disposition::Sellable, &HashMap::new(), now),
            Err(ReturnError::IllegalTransition { current: ReturnStatus::Requested, action: "receive" })
        );
        r.approve(now).unwrap();
        r.receive(location, Disposition::Sellable, &HashMap::from([(1, Disposition::Damaged)]), now).unwrap();
        assert_eq!(
            (r.status, r.version, r.lines[0].disposition),
            (ReturnStatus::Received, 3, Some(Disposition::Damaged))
        );
        assert!(r.reject(None, now).is_err());
        assert_eq!(ReturnStatus::parse("received"), Some(ReturnStatus::Received));
    }
}
