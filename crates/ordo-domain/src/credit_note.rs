//! Credit notes: the documents that correct an issued invoice downwards, for
//! a refund or a return. Numbered without gaps per market and year in their
//! own sequence (`CN-DE-2026-000001`), each naming the invoice it corrects.
//!
//! # Rounding
//!
//! A credit for `q` units of a line that has `c` units credited already is
//! `part(c + q) - part(c)` of its net and of its tax, where `part(k)` is the
//! line's amount × `k` / its quantity, rounded down. So a line credited in
//! pieces adds up to exactly what it was invoiced at, and the piece that
//! takes the last unit takes the rounding. The shipping charge is credited
//! whole, once. A credit by amount alone is first shared out over the tax
//! rates in proportion to what each rate has left to credit (gross; shares
//! rounded down, the minor units left over going one each to the rates in
//! the breakdown's order), then each share is split into net and tax at its
//! rate: the tax is `share × rate / (1 + rate)`, rounded half away from zero,
//! and the net the rest.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::OrderId;
use crate::customer::Address;
use crate::invoice::{Invoice, TaxLine};
use crate::money::Currency;
use crate::order::Order;
use crate::time::Timestamp;

/// What a credit note was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreditReason {
    /// A refund asked for by amount or by lines.
    Refund,
    /// Returned units, received.
    Return,
    /// The order was cancelled after it was invoiced.
    Cancellation,
}

as_str!(CreditReason { Refund = "refund", Return = "return", Cancellation = "cancellation" });

/// One credited line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditNoteLine {
    /// The order line credited; none for a credit by amount.
    pub line: Option<i32>,
    pub sku: Option<String>,
    pub name: String,
    /// Units credited (1 for a credit by amount or of the shipping).
    pub quantity: i64,
    /// Net, tax and total credited, positive minor units.
    pub subtotal: i64,
    /// The rate the credited amount was taxed at, in basis points.
    #[schema(example = 1900)]
    pub tax_rate_bp: i64,
    pub tax: i64,
    pub total: i64,
    /// Whether this credits the shipping charge.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shipping: bool,
}

/// An issued credit note. Its amounts are positive: they are taken off the
/// invoice it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreditNote {
    pub id: Uuid,
    /// `CN-<market>-<year>-<6-digit sequence>`, without gaps per market and year.
    #[schema(example = "CN-DE-2026-000007")]
    pub number: String,
    #[schema(value_type = Uuid)]
    pub order_id: OrderId,
    /// The invoice this credit note corrects.
    pub invoice_id: Uuid,
    #[schema(example = "INV-DE-2026-000123")]
    pub invoice_number: String,
    pub market: String,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub issued_at: DateTime<Utc>,
    pub reason: CreditReason,
    /// The refund this credit note documents, if money is given back.
    pub refund_id: Option<Uuid>,
    /// The return it was issued for.
    pub return_id: Option<Uuid>,
    /// The seller, as the invoice names it.
    #[serde(default)]
    pub seller: Option<crate::market::Seller>,
    pub customer_name: String,
    pub customer_email: String,
    pub billing_address: Address,
    /// The customer's VAT id, as the invoice names it.
    #[serde(default)]
    pub customer_vat_id: Option<String>,
    pub lines: Vec<CreditNoteLine>,
    pub tax_breakdown: Vec<TaxLine>,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
}

/// The credit note number for sequence `seq` of `market` in `year`.
pub fn number(market: &str, year: i32, seq: i64) -> String {
    format!("CN-{market}-{year}-{seq:06}")
}

/// The numbering year of a credit note issued at `at` (UTC).
pub fn year_of(at: Timestamp) -> i32 {
    at.year()
}

/// `amount × k / of`, rounded down (`of` > 0, 0 ≤ `k` ≤ `of`).
fn part(amount: i64, k: i64, of: i64) -> i64 {
    i64::try_from(i128::from(amount) * i128::from(k) / i128::from(of)).unwrap_or(amount)
}

/// Units of each order line credited by earlier credit notes.
pub fn credited_units(notes: &[CreditNote]) -> HashMap<i32, i64> {
    let mut units = HashMap::new();
    for line in notes.iter().flat_map(|n| &n.lines) {
        if let Some(number) = line.line {
            *units.entry(number).or_insert(0) += line.quantity;
        }
    }
    units
}

/// Whether earlier credit notes credited the shipping charge.
pub fn shipping_credited(notes: &[CreditNote]) -> bool {
    notes.iter().flat_map(|n| &n.lines).any(|l| l.shipping)
}

/// What is left to credit of `invoice` after `notes`, gross per tax rate,
/// in the breakdown's order (highest rate first).
pub fn left_by_rate(invoice: &Invoice, notes: &[CreditNote]) -> Vec<(i64, i64)> {
    invoice
        .tax_breakdown
        .iter()
        .map(|t| {
            let credited: i64 = notes
                .iter()
                .flat_map(|n| &n.tax_breakdown)
                .filter(|c| c.rate_bp == t.rate_bp)
                .map(|c| c.net + c.tax)
                .sum();
            (t.rate_bp, (t.net + t.tax - credited).max(0))
        })
        .collect()
}

/// Of `units` (`(line, quantity)`), what each line has left to credit
/// after `credited`: each quantity cut to what is left, lines with nothing
/// left (or unknown) dropped.
pub fn creditable_units(order: &Order, credited: &HashMap<i32, i64>, units: &[(i32, i64)]) -> Vec<(i32, i64)> {
    units
        .iter()
        .filter_map(|&(number, quantity)| {
            let line = order.lines.iter().find(|l| l.line == number)?;
            let left = line.quantity - credited.get(&number).copied().unwrap_or(0);
            Some((number, quantity.min(left))).filter(|(_, units)| *units > 0)
        })
        .collect()
}

/// Why lines cannot be credited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("order line {0} does not exist")]
    UnknownLine(i32),
    #[error("order line {line} has {creditable} units left to credit, not {requested}")]
    TooMany { line: i32, requested: i64, creditable: i64 },
    #[error("the order has no shipping charge")]
    NoShipping,
    #[error("the shipping charge is credited already")]
    ShippingCredited,
}

/// The credit lines for `units` of order lines (`(line, quantity)`, each
/// quantity positive), given what earlier credit notes credited: the line's
/// net and tax in proportion (see the module's rounding rule). Refused if a
/// line does not exist or would be credited past its quantity.
pub fn credit_lines(
    order: &Order,
    credited: &HashMap<i32, i64>,
    units: &[(i32, i64)],
) -> Result<Vec<CreditNoteLine>, CreditError> {
    let mut taken: HashMap<i32, i64> = HashMap::new();
    let mut lines = Vec::with_capacity(units.len());
    for &(number, quantity) in units {
        let line = order.lines.iter().find(|l| l.line == number).ok_or(CreditError::UnknownLine(number))?;
        let before = credited.get(&number).copied().unwrap_or(0) + taken.get(&number).copied().unwrap_or(0);
        let creditable = line.quantity - before;
        if quantity > creditable {
            return Err(CreditError::TooMany { line: number, requested: quantity, creditable });
        }
        *taken.entry(number).or_insert(0) += quantity;
        let subtotal =
            part(line.subtotal, before + quantity, line.quantity) - part(line.subtotal, before, line.quantity);
        let tax = part(line.tax, before + quantity, line.quantity) - part(line.tax, before, line.quantity);
        lines.push(CreditNoteLine {
            line: Some(number),
            sku: Some(line.sku.to_string()),
            name: line.name.clone(),
            quantity,
            subtotal,
            tax_rate_bp: line.tax_rate_bp,
            tax,
            total: subtotal + tax,
            shipping: false,
        });
    }
    Ok(lines)
}

/// The line crediting `order`'s whole shipping charge, unless earlier
/// credit notes took it or the order has none.
pub fn shipping_line(order: &Order, notes: &[CreditNote]) -> Result<CreditNoteLine, CreditError> {
    let shipping = order.shipping;
    if shipping.total <= 0 {
        return Err(CreditError::NoShipping);
    }
    if shipping_credited(notes) {
        return Err(CreditError::ShippingCredited);
    }
    Ok(CreditNoteLine {
        line: None,
        sku: None,
        name: crate::invoice::SHIPPING.to_owned(),
        quantity: 1,
        subtotal: shipping.net,
        tax_rate_bp: shipping.tax_rate_bp,
        tax: shipping.tax,
        total: shipping.total,
        shipping: true,
    })
}

/// One line crediting `amount` (tax included) at `rate_bp`.
pub fn amount_line(amount: i64, rate_bp: i64) -> CreditNoteLine {
    let product = i128::from(amount) * i128::from(rate_bp);
    let divisor = 10_000 + i128::from(rate_bp);
    let tax = i64::try_from((2 * product + divisor) / (2 * divisor)).unwrap_or(0);
    CreditNoteLine {
        line: None,
        sku: None,
        name: "Refund".to_owned(),
        quantity: 1,
        subtotal: amount - tax,
        tax_rate_bp: rate_bp,
        tax,
        total: amount,
        shipping: false,
    }
}

/// The lines crediting `amount` (tax included, at most the sum of `left`),
/// shared over the rates of `left` (`(rate, gross left)`) as the module's
/// rounding rule says; one line at `fallback_rate` when nothing is left at
/// any rate.
pub fn amount_lines(amount: i64, left: &[(i64, i64)], fallback_rate: i64) -> Vec<CreditNoteLine> {
    let total: i128 = left.iter().map(|(_, gross)| i128::from(*gross)).sum();
    if total <= 0 {
        return vec![amount_line(amount, fallback_rate)];
    }
    let mut shares: Vec<i64> = left
        .iter()
        .map(|(_, gross)| i64::try_from(i128::from(amount) * i128::from(*gross) / total).unwrap_or(0))
        .collect();
    let mut rest = amount - shares.iter().sum::<i64>();
    for (share, (_, gross)) in shares.iter_mut().zip(left) {
        if rest > 0 && *share < *gross {
            *share += 1;
            rest -= 1;
        }
    }
    // Only when `amount` exceeds what is left, which callers never ask.
    if let Some(first) = shares.first_mut() {
        *first += rest;
    }
    left.iter()
        .zip(shares)
        .filter(|(_, share)| *share > 0)
        .map(|((rate, _), share)| amount_line(share, *rate))
        .collect()
}

impl CreditNote {
    /// A credit note for `lines` of `order`, correcting `invoice`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        order: &Order,
        invoice: &Invoice,
        number: String,
        reason: CreditReason,
        refund_id: Option<Uuid>,
        return_id: Option<Uuid>,
        lines: Vec<CreditNoteLine>,
        issued_at: Timestamp,
    ) -> Self {
        let subtotal = lines.iter().map(|l| l.subtotal).sum();
        let tax = lines.iter().map(|l| l.tax).sum();
        Self {
            id: Uuid::now_v7(),
            number,
            order_id: order.id,
            invoice_id: invoice.id,
            invoice_number: invoice.number.clone(),
            market: order.market.clone(),
            currency: order.currency,
            issued_at,
            reason,
            refund_id,
            return_id,
            seller: invoice.seller.clone(),
            customer_name: invoice.customer_name.clone(),
            customer_email: invoice.customer_email.clone(),
            billing_address: invoice.billing_address.clone(),
            customer_vat_id: invoice.customer_vat_id.clone(),
            tax_breakdown: crate::invoice::breakdown(lines.iter().map(|l| (l.tax_rate_bp, l.subtotal, l.tax))),
            lines,
            subtotal,
            tax,
            total: subtotal + tax,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order_with(quantity: i64, subtotal: i64, tax: i64) -> Order {
        let mut order: Order = serde_json::from_value(serde_json::json!({
            "id": Uuid::now_v7(), "customer_id": Uuid::now_v7(), "market": "DE", "currency": "EUR",
            "tax_rate_bp": 1900, "status": "fulfilled", "lines": [],
            "shipping": {"net": 0, "tax_rate_bp": 1900, "tax": 0, "total": 0},
            "shipping_address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"},
            "subtotal": subtotal, "tax": tax, "total": subtotal + tax, "version": 1,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        order.lines = serde_json::from_value(serde_json::json!([{
            "line": 1, "sku": "TEE", "product_id": Uuid::now_v7(), "name": "Tee", "quantity": quantity,
            "shipped_quantity": quantity, "unit_price": subtotal / quantity, "subtotal": subtotal,
            "tax_rate_bp": 1900, "tax": tax, "total": subtotal + tax, "allocations": []
        }]))
        .unwrap();
        order
    }

    #[test]
    fn numbers_have_their_own_prefix() {
        assert_eq!(number("DE", 2026, 7), "CN-DE-2026-000007");
    }

    #[test]
    fn an_amount_is_split_at_the_rate() {
        let line = amount_line(1190, 1900);
        assert_eq!((line.subtotal, line.tax, line.total), (1000, 190, 1190));
        let line = amount_line(500, 1900); // 79.83... → 80
        assert_eq!((line.subtotal, line.tax), (420, 80));
        assert_eq!(amount_line(500, 0).tax, 0);
    }

    #[test]
    fn an_amount_is_shared_over_the_rates_left() {
        // 1190 left at 19 %, 1070 at 7 %: 1000 shares 526 and 473, +1.
        let lines = amount_lines(1000, &[(1900, 1190), (700, 1070)], 1900);
        let got: Vec<_> = lines.iter().map(|l| (l.tax_rate_bp, l.total, l.tax)).collect();
        assert_eq!(got, [(1900, 527, 84), (700, 473, 31)]);
        // A rate with nothing left takes nothing.
        let lines = amount_lines(100, &[(1900, 0), (700, 1070)], 1900);
        assert_eq!(lines.iter().map(|l| (l.tax_rate_bp, l.total)).collect::<Vec<_>>(), [(700, 100)]);
        assert_eq!(amount_lines(100, &[], 1900)[0].tax_rate_bp, 1900);
    }

    #[test]
    fn shipping_is_credited_whole_and_once() {
        let mut order = order_with(1, 1000, 190);
        assert_eq!(shipping_line(&order, &[]), Err(CreditError::NoShipping));
        order.shipping = crate::order::ShippingCharge { net: 495, tax_rate_bp: 1900, tax: 94, total: 589 };
        let line = shipping_line(&order, &[]).unwrap();
        assert_eq!((line.subtotal, line.tax, line.total, line.shipping), (495, 94, 589, true));
        let invoice = Invoice::for_order(&order, "INV".into(), "A", "a@example.com", None, crate::time::now());
        let note = CreditNote::new(
            &order,
            &invoice,
            "CN".into(),
            CreditReason::Refund,
            None,
            None,
            vec![line],
            crate::time::now(),
        );
        assert_eq!(shipping_line(&order, &[note]), Err(CreditError::ShippingCredited));
    }

    proptest! {
        /// An amount shared over rates adds up to the amount, and no rate
        /// takes more than it has left.
        #[test]
        fn shares_add_up_and_fit(left in prop::collection::vec((0i64..3000, 0i64..1_000_000), 1..4), pick in 0.0f64..=1.0) {
            let total: i64 = left.iter().map(|(_, g)| g).sum();
            let amount = ((total as f64) * pick) as i64;
            let lines = amount_lines(amount, &left, 1900);
            prop_assert_eq!(lines.iter().map(|l| l.total).sum::<i64>(), amount);
            for line in &lines {
                prop_assert_eq!(line.subtotal + line.tax, line.total);
                let room: i64 = left.iter().filter(|(r, _)| *r == line.tax_rate_bp).map(|(_, g)| g).sum();
                prop_assert!(total == 0 || line.total <= room);
            }
        }
    }

    #[test]
    fn lines_past_their_quantity_or_unknown_are_refused() {
        let order = order_with(3, 5997, 1139);
        let credited = HashMap::from([(1, 2)]);
        assert_eq!(
            credit_lines(&order, &credited, &[(1, 2)]),
            Err(CreditError::TooMany { line: 1, requested: 2, creditable: 1 })
        );
        assert_eq!(
            credit_lines(&order, &HashMap::new(), &[(1, 2), (1, 2)]),
            Err(CreditError::TooMany { line: 1, requested: 2, creditable: 1 })
        );
        assert_eq!(credit_lines(&order, &HashMap::new(), &[(2, 1)]), Err(CreditError::UnknownLine(2)));
        assert_eq!(creditable_units(&order, &credited, &[(1, 3), (2, 1)]), [(1, 1)], "cut to what is left");
        assert!(creditable_units(&order, &HashMap::from([(1, 3)]), &[(1, 1)]).is_empty());
    }

    proptest! {
        /// However a line is credited in pieces, the pieces add up to
        /// exactly what it was invoiced at.
        #[test]
        fn pieces_add_up_to_the_line(quantity in 1i64..50, unit in 1i64..100_000, cut in prop::collection::vec(1i64..10, 0..50)) {
            let subtotal = unit * quantity;
            let tax = crate::market::tax_on(subtotal, 1900).unwrap();
            let order = order_with(quantity, subtotal, tax);
            let mut credited = HashMap::new();
            let (mut net, mut taxed) = (0, 0);
            let mut cuts = cut.into_iter();
            while credited.get(&1).copied().unwrap_or(0) < quantity {
                let left = quantity - credited.get(&1).copied().unwrap_or(0);
                let q = cuts.next().unwrap_or(left).min(left);
                let lines = credit_lines(&order, &credited, &[(1, q)]).unwrap();
                net += lines[0].subtotal;
                taxed += lines[0].tax;
                *credited.entry(1).or_insert(0) += q;
            }
            prop_assert_eq!((net, taxed), (subtotal, tax));
        }
    }
}
