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

/// One invoiced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceLine {
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
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
        let lines: Vec<InvoiceLine> = order
            .lines
            .iter()
            .map(|l| InvoiceLine {
                sku: l.sku.to_string(),
                name: l.name.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                subtotal: l.subtotal,
                tax: l.tax,
                total: l.total,
            })
            .collect();
        let tax_breakdown = vec![TaxLine { rate_bp: order.tax_rate_bp, net: order.subtotal, tax: order.tax }];
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
