//! Reports: what finance and operations ask of the data, compiled in the
//! background into a file ([`Report`]), over whole UTC days.
//!
//! A report's parameters ([`ReportParams`]) are its kind, its days, an
//! optional market and its format. The same parameters over unchanged data
//! (the same [watermark](Report::watermark)) give the same file, so a
//! repeated request is served the stored one.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::validation::ValidationErrors;

/// The longest span a report covers, in days: ten years.
pub const MAX_DAYS: i64 = 3_660;

/// What a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Sales by day × market × SKU: the paid orders placed on each day.
    Sales,
    /// Output tax by market × currency × rate over the period, from the
    /// invoices (positive) and credit notes (negative) issued in it: the
    /// figures a VAT return asks for.
    Tax,
    /// The invoice and credit-note register: every document issued in the
    /// period, invoices then credit notes, each in the order issued.
    Documents,
    /// Payments and refunds: every capture and refund made in the period.
    Payments,
    /// Receivables aging as of the end of the period's last day: every
    /// order that still owes money (its `receivables` balance in the
    /// ledger), by how long its invoice has been open.
    Aging,
    /// Stock on hand and movements per SKU × location: on hand at the
    /// period's start and end, and what came in, shipped and went out
    /// otherwise in between.
    Stock,
    /// An export: the orders placed in the period, with their lines.
    Orders,
    /// An export: the live customers created or changed in the period,
    /// with their addresses.
    Customers,
    /// An export: the live products created or changed in the period,
    /// with their prices.
    Products,
}

as_str!(ReportKind {
    Sales = "sales",
    Tax = "tax",
    Documents = "documents",
    Payments = "payments",
    Aging = "aging",
    Stock = "stock",
    Orders = "orders",
    Customers = "customers",
    Products = "products",
});

impl ReportKind {
    pub const ALL: [ReportKind; 9] = [
        Self::Sales,
        Self::Tax,
        Self::Documents,
        Self::Payments,
        Self::Aging,
        Self::Stock,
        Self::Orders,
        Self::Customers,
        Self::Products,
    ];

    /// Whether it is an export (records as they are, `/v1/exports`) rather
    /// than a report (figures compiled from them, `/v1/reports`).
    pub fn is_export(self) -> bool {
        matches!(self, Self::Orders | Self::Customers | Self::Products)
    }

    /// Whether its records belong to a market (customers and products do not).
    pub fn has_market(self) -> bool {
        !matches!(self, Self::Customers | Self::Products | Self::Stock)
    }

    /// The header of the report's file.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Sales => &["day", "market", "currency", "sku", "name", "orders", "quantity", "net", "tax", "gross"],
            Self::Tax => &["market", "currency", "tax_rate_percent", "documents", "net", "tax", "gross"],
            Self::Documents => &[
                "kind",
                "number",
                "issued_at",
                "market",
                "currency",
                "order_id",
                "invoice_number",
                "customer_name",
                "customer_email",
                "customer_vat_id",
                "net",
                "tax",
                "gross",
            ],
            Self::Payments => &[
                "created_at",
                "kind",
                "status",
                "market",
                "currency",
                "amount",
                "order_id",
                "payment_id",
                "provider",
                "provider_reference",
            ],
            Self::Aging => {
                &["market", "currency", "order_id", "invoice_number", "invoiced_at", "days_open", "bucket", "open"]
            }
            Self::Stock => &["sku", "location", "opening", "added", "shipped", "removed", "closing"],
            // One row per order line, the order's columns repeated.
            Self::Orders => &[
                "order_id",
                "created_at",
                "status",
                "market",
                "currency",
                "customer_id",
                "order_net",
                "order_tax",
                "order_gross",
                "line",
                "sku",
                "name",
                "quantity",
                "shipped_quantity",
                "unit_price",
                "line_net",
                "line_tax",
                "line_gross",
            ],
            // One row per customer, its addresses as JSON.
            Self::Customers => &["customer_id", "email", "name", "created_at", "updated_at", "addresses"],
            // One row per product, its prices as JSON.
            Self::Products => &["product_id", "sku", "name", "active", "created_at", "updated_at", "prices"],
        }
    }
}

/// The columns whose values are numbers: amounts (in major units), counts
/// and rates. A spreadsheet gets them as numbers, the rest as text (SKUs,
/// numbers of documents and postal codes keep their leading zeros).
pub const NUMERIC_COLUMNS: [&str; 24] = [
    "orders",
    "quantity",
    "net",
    "tax",
    "gross",
    "tax_rate_percent",
    "documents",
    "amount",
    "days_open",
    "open",
    "order_net",
    "order_tax",
    "order_gross",
    "line",
    "shipped_quantity",
    "unit_price",
    "line_net",
    "line_tax",
    "line_gross",
    "opening",
    "added",
    "shipped",
    "removed",
    "closing",
];

/// A report's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// RFC 4180: comma-separated, CRLF line ends, quoted where needed,
    /// UTF-8; amounts in major units (`19.99`).
    #[default]
    Csv,
    /// JSON Lines, exports only: one record per line as the API shows it.
    Jsonl,
    /// An Excel workbook: the CSV's columns and rows on a worksheet (a
    /// further one per 1,048,575 rows, Excel's limit), amounts and counts
    /// as numbers.
    Xlsx,
}

as_str!(ReportFormat { Csv = "csv", Jsonl = "jsonl", Xlsx = "xlsx" });

impl ReportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
            Self::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/jsonl",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// Where a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    /// Waiting for a worker, or being compiled.
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

as_str!(ReportStatus { Running = "running", Succeeded = "succeeded", Failed = "failed", Cancelled = "cancelled" });

impl ReportStatus {
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// What a report is asked for. (Requests refuse unknown fields; it is
/// also part of [`Report`], so the type itself does not.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportParams {
    pub kind: ReportKind,
    /// The first day (UTC), inclusive.
    #[schema(value_type = String, format = Date, example = "2026-11-01")]
    pub from: NaiveDate,
    /// The last day (UTC), inclusive.
    #[schema(value_type = String, format = Date, example = "2026-11-30")]
    pub to: NaiveDate,
    /// Only this market; all markets if absent.
    #[schema(example = "de")]
    pub market: Option<String>,
    /// `csv` (the default), `xlsx`, or `jsonl` for exports.
    #[serde(default)]
    pub format: ReportFormat,
}

impl ReportParams {
    /// Refuses a period that ends before it starts or spans more than
    /// [`MAX_DAYS`], JSON Lines for a report, and a market for records
    /// that belong to none.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if self.format == ReportFormat::Jsonl && !self.kind.is_export() {
            errors.add("format", "unsupported_format", "reports are CSV or XLSX; JSON Lines is for exports");
        }
        if self.market.is_some() && !self.kind.has_market() {
            errors.add("market", "no_market", format!("{} belong to no market", self.kind.as_str()));
        }
        if self.to < self.from {
            errors.add(
                "to",
                "invalid_period",
                format!("the period ends ({}) before it starts ({})", self.to, self.from),
            );
        } else if self.days() > MAX_DAYS {
            errors.add("to", "invalid_period", format!("a report spans at most {MAX_DAYS} days, not {}", self.days()));
        }
        errors.into_result(|| ())
    }

    /// Days covered.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The instants covered: from the first day's start (inclusive) to
    /// the day after the last's (exclusive).
    pub fn window(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (day_start(self.from), day_start(self.to) + Duration::days(1))
    }

    /// Identifies the parameters, whatever their spelling: SHA-256 of
    /// their canonical form, hex.
    pub fn cache_key(&self) -> String {
        let canonical = format!(
            "{}|{}|{}|{}|{}",
            self.kind.as_str(),
            self.from,
            self.to,
            self.market.as_deref().unwrap_or("*"),
            self.format.as_str()
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// The days a scheduled report covers, relative to the day it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Yesterday.
    PreviousDay,
    /// Last Monday-to-Sunday week.
    PreviousWeek,
    /// Last calendar month.
    PreviousMonth,
}

impl Span {
    /// The first and last day covered by a run on `today`.
    pub fn days(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        use chrono::Datelike;
        match self {
            Self::PreviousDay => {
                let day = today - Duration::days(1);
                (day, day)
            }
            Self::PreviousWeek => {
                let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
                (monday - Duration::days(7), monday - Duration::days(1))
            }
            Self::PreviousMonth => {
                let first = today.with_day(1).expect("every month has a first day");
                let last = first - Duration::days(1);
                (last.with_day(1).expect("every month has a first day"), last)
            }
        }
    }
}

/// The aging bucket of a receivable open for `days`.
pub fn aging_bucket(days: i64) -> &'static str {
    match days {
        ..=30 => "0-30",
        31..=60 => "31-60",
        61..=90 => "61-90",
        _ => "over 90",
    }
}

pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

/// A report: asked for, being compiled, or done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Report {
    pub id: Uuid,
    #[serde(flatten)]
    pub params: ReportParams,
    pub status: ReportStatus,
    /// 0 to 100.
    pub progress: i16,
    /// Data rows in the file (its header not counted).
    pub rows: i64,
    /// SHA-256 of the file, hex, once it is written.
    pub sha256: Option<String>,
    /// The file's size in bytes, once it is written.
    pub size: Option<i64>,
    /// Where the file is stored, once it is written.
    #[serde(skip)]
    pub file_key: Option<String>,
    /// The state of the data the report was compiled from: a report with
    /// the same parameters and watermark is served this report's file.
    pub watermark: String,
    /// Served from an earlier report's file, without compiling.
    pub cached: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: &str, to: &str) -> ReportParams {
        ReportParams {
            kind: ReportKind::Sales,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            market: None,
            format: ReportFormat::Csv,
        }
    }

    #[test]
    fn a_period_must_run_forwards_and_be_bounded() {
        assert!(params("2026-11-01", "2026-11-01").validate().is_ok(), "one day");
        let backwards = params("2026-11-02", "2026-11-01").validate().unwrap_err();
        assert_eq!(backwards.errors()[0].code, "invalid_period");
        assert!(params("2010-01-01", "2026-11-01").validate().is_err(), "over ten years");
    }

    #[test]
    fn json_lines_are_for_exports_and_markets_for_what_has_one() {
        let mut p = params("2026-11-01", "2026-11-30");
        p.format = ReportFormat::Jsonl;
        assert_eq!(p.validate().unwrap_err().errors()[0].code, "unsupported_format");
        p.kind = ReportKind::Orders;
        p.market = Some("DE".into());
        assert!(p.validate().is_ok());
        p.kind = ReportKind::Customers;
        assert_eq!(p.validate().unwrap_err().errors()[0].code, "no_market");
    }

    #[test]
    fn the_window_covers_whole_utc_days() {
        let p = params("2026-11-01", "2026-11-30");
        assert_eq!(p.days(), 30);
        let (from, to) = p.window();
        assert_eq!(from.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }

    #[test]
    fn spans_cover_the_whole_previous_day_week_and_month() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        // 2026-12-02 is a Wednesday.
        assert_eq!(Span::PreviousDay.days(d("2026-12-02")), (d("2026-12-01"), d("2026-12-01")));
        assert_eq!(Span::PreviousWeek.days(d("2026-12-02")), (d("2026-11-23"), d("2026-11-29")));
        assert_eq!(Span::PreviousWeek.days(d("2026-11-30")), (d("2026-11-23"), d("2026-11-29")), "on a Monday");
        assert_eq!(Span::PreviousMonth.days(d("2026-12-01")), (d("2026-11-01"), d("2026-11-30")));
        assert_eq!(Span::PreviousMonth.days(d("2026-03-15")), (d("2026-02-01"), d("2026-02-28")));
        assert_eq!(Span::PreviousMonth.days(d("2027-01-31")), (d("2026-12-01"), d("2026-12-31")));
    }

    #[test]
    fn aging_buckets_are_thirty_days_wide_up_to_ninety() {
        let buckets: Vec<_> = [0, 30, 31, 60, 61, 90, 91, 400].into_iter().map(aging_bucket).collect();
        assert_eq!(buckets, ["0-30", "0-30", "31-60", "31-60", "61-90", "61-90", "over 90", "over 90"]);
    }

    #[test]
    fn the_cache_key_names_every_parameter() {
        let base = params("2026-11-01", "2026-11-30");
        let mut market = base.clone();
        market.market = Some("de".into());
        let mut kind = base.clone();
        kind.kind = ReportKind::Payments;
        let keys =
            [base.cache_key(), market.cache_key(), kind.cache_key(), params("2026-11-01", "2026-11-29").cache_key()];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(base.cache_key(), params("2026-11-01", "2026-11-30").cache_key(), "stable");
    }
}
