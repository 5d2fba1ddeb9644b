//! Inventory: stock locations, stock per SKU and location, and the rule that
//! allocates an order line's quantity across locations.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::record::RecordMeta;
use crate::sku::Sku;
use crate::validation::{FieldError, required_text};

/// Most units one receipt, adjustment or order line may move.
pub const MAX_QUANTITY: i64 = 1_000_000;

/// Most units one stock level may hold on hand (10^12). With
/// [`MAX_QUANTITY`] per movement, no stock arithmetic comes near `i64`'s
/// limits, even summed over every location of a SKU.
pub const MAX_ON_HAND: i64 = 1_000_000_000_000;

/// Identifies a stock location.
pub type LocationId = Uuid;

/// A place that holds stock: a warehouse, a store, a supplier's drop-ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Location {
    pub id: Uuid,
    /// Unique short code, e.g. `BER-1`.
    #[schema(example = "BER-1")]
    pub code: String,
    pub name: String,
    /// Allocation order: orders take stock from the lowest priority number
    /// first.
    pub priority: i32,
    #[serde(flatten)]
    pub meta: RecordMeta,
}

/// A validated location to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub priority: i32,
}

/// Stock of one SKU at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    #[schema(value_type = String)]
    pub sku: Sku,
    pub location_id: Uuid,
    /// Units physically there.
    pub on_hand: i64,
    /// Units promised to placed orders, not yet shipped.
    pub reserved: i64,
    /// `on_hand - reserved`: what new orders can take.
    pub available: i64,
}

impl StockLevel {
    pub fn new(sku: Sku, location_id: LocationId, on_hand: i64, reserved: i64) -> Self {
        Self { sku, location_id, on_hand, reserved, available: on_hand - reserved }
    }
}

/// Stock of one SKU across all locations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SkuStock {
    #[schema(value_type = String)]
    pub sku: Sku,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    /// Per location, in allocation order.
    pub locations: Vec<StockLevel>,
    /// Units returned damaged, per location that has any: counted, never
    /// sold. Given by `GET /v1/stock/{sku}`, not by the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damaged: Option<Vec<DamagedStock>>,
}

/// Damaged (not sellable) units of one SKU at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DamagedStock {
    pub location_id: Uuid,
    pub quantity: i64,
}

impl SkuStock {
    pub fn from_levels(sku: Sku, locations: Vec<StockLevel>) -> Self {
        let on_hand = locations.iter().map(|l| l.on_hand).sum();
        let reserved = locations.iter().map(|l| l.reserved).sum();
        Self { sku, on_hand, reserved, available: on_hand - reserved, locations, damaged: None }
    }
}

/// Why stock moved, for receipts and adjustments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Goods arrived from a supplier.
    Received,
    /// A customer sent goods back in sellable condition.
    Returned,
    /// Found damaged; removed from stock.
    Damaged,
    /// Missing, stolen or otherwise gone.
    Lost,
    /// Turned up again.
    Found,
    /// A stock count differed from the records.
    CountCorrection,
    /// Moved between locations.
    Transfer,
}

/// A validated change to on-hand stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockChange {
    pub sku: Sku,
    pub location_id: LocationId,
    /// Units added (positive) or removed (negative).
    pub delta: i64,
    pub reason: ReasonCode,
    pub note: Option<String>,
}

/// A receipt's quantity: 1 to [`MAX_QUANTITY`].
pub fn parse_receipt_quantity(quantity: i64) -> Result<i64, FieldError> {
    if (1..=MAX_QUANTITY).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(FieldError::new("out_of_range", format!("a quantity is 1 to {MAX_QUANTITY}")))
    }
}

/// An adjustment's delta: non-zero, at most [`MAX_QUANTITY`] either way.
pub fn parse_adjustment(delta: i64) -> Result<i64, FieldError> {
    // A range check, not `abs()`, which overflows on `i64::MIN`.
    if delta != 0 && (-MAX_QUANTITY..=MAX_QUANTITY).contains(&delta) {
        Ok(delta)
    } else {
        Err(FieldError::new("out_of_range", format!("an adjustment is -{MAX_QUANTITY} to {MAX_QUANTITY}, not zero")))
    }
}

/// On-hand stock after `delta`: refused past [`MAX_ON_HAND`] (a receipt
/// too many). Going below zero or below what is reserved is the storage
/// layer's guarded update to refuse, as it must see concurrent changes.
pub fn on_hand_after(on_hand: i64, delta: i64) -> Result<i64, FieldError> {
    match on_hand.checked_add(delta) {
        Some(after) if after <= MAX_ON_HAND => Ok(after),
        _ => Err(FieldError::new("out_of_range", format!("a stock level holds at most {MAX_ON_HAND} units on hand"))),
    }
}

/// A location code: 1 to 32 characters `A-Z 0-9 - _`, upper-cased.
pub fn parse_location_code(value: &str) -> Result<String, FieldError> {
    let code = value.trim().to_ascii_uppercase();
    let valid = (1..=32).contains(&code.len())
        && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid { Ok(code) } else { Err(FieldError::new("invalid_location_code", "use 1 to 32 letters, digits, - and _")) }
}

pub fn parse_location_name(value: &str) -> Result<String, FieldError> {
    required_text(value, 100)
}

/// The allocation rule: take the line's quantity from locations in
/// allocation order (priority, then code), as much as each has available,
/// until the quantity is covered. Returns the split, or `None` if all
/// locations together have too little.
///
/// `candidates` must already be in allocation order.
pub fn allocate(candidates: &[(LocationId, i64)], quantity: i64) -> Option<Vec<(LocationId, i64)>> {
    let mut left = quantity;
    let mut split = Vec::new();
    for &(location, available) in candidates {
        if left == 0 {
            break;
        }
        let take = available.min(left);
        if take > 0 {
            split.push((location, take));
            left -= take;
        }
    }
    (left == 0).then_some(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_fills_locations_in_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let candidates = [(a, 3), (b, 0), (c, 10)];
        assert_eq!(allocate(&candidates, 2), Some(vec![(a, 2)]));
        assert_eq!(allocate(&candidates, 5), Some(vec![(a, 3), (c, 2)]));
        assert_eq!(allocate(&candidates, 13), Some(vec![(a, 3), (c, 10)]));
        assert_eq!(allocate(&candidates, 14), None);
        assert_eq!(allocate(&[], 1), None);
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(parse_receipt_quantity(0).is_err() && parse_receipt_quantity(MAX_QUANTITY + 1).is_err());
        assert!(parse_adjustment(0).is_err() && parse_adjustment(-MAX_QUANTITY - 1).is_err());
        assert_eq!(parse_adjustment(-5), Ok(-5));
        for extreme in [i64::MIN, i64::MIN + 1, i64::MAX] {
            assert_eq!(parse_adjustment(extreme).unwrap_err().code, "out_of_range", "{extreme}");
        }
        assert_eq!(on_hand_after(MAX_ON_HAND - 1, 1), Ok(MAX_ON_HAND));
        assert!(on_hand_after(MAX_ON_HAND, 1).is_err() && on_hand_after(i64::MAX, 1).is_err());
        assert_eq!(parse_location_code(" ber-1 ").unwrap(), "BER-1");
        assert!(parse_location_code("BER 1").is_err());
    }
}
