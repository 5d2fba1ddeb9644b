//! Invoices: issued once an order is paid, numbered without gaps per market
//! and year, with a tax breakdown.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::customer::Address;
use crate::market::Seller;
use crate::money::Currency;
use crate::order::Order;
use crate::time::Timestamp;

/// One invoiced line: an order line, or the shipping charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    /// The product's SKU; none for the shipping charge.
    pub sku: Option<String>,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub subtotal: i64,
    /// The rate this line is taxed at, in basis points.
    #[schema(example = 1900)]
    pub tax_rate_bp: i64,
    pub tax: i64,
    pub total: i64,
    /// Whether this is the shipping charge.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shipping: bool,
}

/// The tax breakdown of `lines` (`(rate, net, tax)`): one entry per rate,
/// highest rate first, each the sum of its lines.
pub fn breakdown(lines: impl IntoIterator<Item = (i64, i64, i64)>) -> Vec<TaxLine> {
    let mut by_rate: std::collections::BTreeMap<std::cmp::Reverse<i64>, TaxLine> = Default::default();
    for (rate_bp, net, tax) in lines {
        let entry = by_rate.entry(std::cmp::Reverse(rate_bp)).or_insert(TaxLine { rate_bp, net: 0, tax: 0 });
        entry.net += net;
        entry.tax += tax;
    }
    by_rate.into_values().collect()
}

/// Brings a stored invoice or credit note document up to the current
/// shape. Documents issued before each line named its tax rate had one
/// rate, the breakdown's: each line without a rate gets that one.
pub fn upgrade_document(document: &mut serde_json::Value) {
    let rate = document.pointer("/tax_breakdown/0/rate_bp").cloned().unwrap_or(serde_json::Value::from(0));
    if let Some(lines) = document.get_mut("lines").and_then(serde_json::Value::as_array_mut) {
        for line in lines.iter_mut().filter_map(serde_json::Value::as_object_mut) {
            line.entry("tax_rate_bp").or_insert_with(|| rate.clone());
        }
    }
}

/// Tax at one rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxLine {
    pub rate_bp: i64,
    /// Net amount taxed at this rate.
    pub net: i64,
    pub tax: i64,
}

/// An issued invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invoice {
    pub id: Uuid,
    /// `INV-<market>-<year>-<6-digit sequence>`, without gaps per market and year.
    #[schema(example = "INV-DE-2026-000123")]
    pub number: String,
    pub order_id: Uuid,
    pub market: String,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub issued_at: DateTime<Utc>,
    /// The seller, as its market names it (none if the market does not).
    #[serde(default)]
    pub seller: Option<Seller>,
    pub customer_name: String,
    pub customer_email: String,
    /// The order's billing address, or its shipping address.
    pub billing_address: Address,
    /// The customer's VAT id, where the order gave one.
    #[serde(default)]
    pub customer_vat_id: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub tax_breakdown: Vec<TaxLine>,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
}

/// The name of the shipping charge's line (documents translate it).
pub const SHIPPING: &str = "Shipping";

/// The invoice number for sequence `seq` of `market` in `year`.
pub fn number(market: &str, year: i32, seq: i64) -> String {
    format!("INV-{market}-{year}-{seq:06}")
}

/// The numbering year of an invoice issued at `at` (UTC).
pub fn year_of(at: Timestamp) -> i32 {
    at.year()
}

impl Invoice {
    /// The invoice for a paid order.
    pub fn for_order(
        order: &Order,
        number: String,
        customer_name: &str,
        customer_email: &str,
        seller: Option<Seller>,
        issued_at: Timestamp,
    ) -> Self {
        let mut lines: Vec<InvoiceLine> = order
            .lines
            .iter()
            .map(|l| InvoiceLine {
                sku: Some(l.sku.to_string()),
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                subtotal: l.subtotal,
                tax_rate_bp: l.tax_rate_bp,
                tax: l.tax,
                total: l.total,
                shipping: false,
            })
            .collect();
        let shipping = order.shipping;
        if shipping.total > 0 {
            lines.push(InvoiceLine {
                sku: None,
                name: SHIPPING.to_owned(),
                quantity: 1,
                unit_price: shipping.net,
                subtotal: shipping.net,
                tax_rate_bp: shipping.tax_rate_bp,
                tax: shipping.tax,
                total: shipping.total,
                shipping: true,
            });
        }
        let tax_breakdown = breakdown(lines.iter().map(|l| (l.tax_rate_bp, l.subtotal, l.tax)));
        Self {
            id: Uuid::now_v7(),
            number,
            order_id: *order.id.as_uuid(),
            market: order.market.clone(),
            currency: order.currency,
            issued_at,
            seller,
            customer_name: customer_name.to_owned(),
            customer_email: customer_email.to_owned(),
            billing_address: order.billing.address.clone().unwrap_or_else(|| order.shipping_address.clone()),
            customer_vat_id: order.billing.vat_id.clone(),
            lines,
            tax_breakdown,
            subtotal: order.subtotal,
            tax: order.tax,
            total: order.total,
        }
    }
}

/// An amount in minor units, formatted in major units: `1999` EUR is `19.99`.
pub fn format_amount(amount: i64, currency: Currency) -> String {
    let exponent = u32::from(currency.exponent());
    if exponent == 0 {
        return amount.to_string();
    }
    let divisor = 10_i64.pow(exponent);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:0width$}", abs / divisor as u64, abs % divisor as u64, width = exponent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breakdown_sums_lines_per_rate_highest_first() {
        let got = breakdown([(700, 100, 7), (1900, 1000, 190), (700, 50, 4), (0, 10, 0)]);
        let want = [
            TaxLine { rate_bp: 1900, net: 1000, tax: 190 },
            TaxLine { rate_bp: 700, net: 150, tax: 11 },
            TaxLine { rate_bp: 0, net: 10, tax: 0 },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn documents_without_line_rates_take_the_breakdowns_rate() {
        let mut old = serde_json::json!({
            "tax_breakdown": [{"rate_bp": 1900, "net": 1, "tax": 0}],
            "lines": [{"name": "a"}, {"name": "b", "tax_rate_bp": 700}],
        });
        upgrade_document(&mut old);
        assert_eq!(old["lines"][0]["tax_rate_bp"], 1900);
        assert_eq!(old["lines"][1]["tax_rate_bp"], 700);
    }

    #[test]
    fn numbers_and_amounts_are_formatted() {
        assert_eq!(number("DE", 2026, 123), "INV-DE-2026-000123");
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(format_amount(1999, eur), "19.99");
        assert_eq!(format_amount(5, eur), "0.05");
        assert_eq!(format_amount(-150, eur), "-1.50");
        assert_eq!(format_amount(1500, Currency::parse("JPY").unwrap()), "1500");
        assert_eq!(format_amount(1234, Currency::parse("KWD").unwrap()), "1.234");
    }
}
