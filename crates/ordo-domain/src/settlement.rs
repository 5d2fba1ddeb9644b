//! Settlement reconciliation: a payment provider's report of what moved
//! through its balance (captures, refunds, fees, payouts), matched line by
//! line against the payments Ordo recorded.
//!
//! # Formats
//!
//! - `stripe`: Stripe's balance-transactions CSV export. Columns are found
//!   by name in the header, case-insensitively, as the Dashboard export
//!   (`id`, `Type`, `Source`, `Amount`, `Fee`, `Currency`, `Created (UTC)`)
//!   or the itemised balance report (`balance_transaction_id`,
//!   `reporting_category`, `source_id`, `gross`, `fee`, `currency`,
//!   `created_utc`) names them; a `payment_intent_id` column, when present
//!   and filled, is the reference matched (Ordo keeps the payment intent as
//!   a capture's reference). Other columns are ignored.
//! - `generic`: `id,type,reference,amount,fee,currency,created`, with
//!   `type` one of `capture`, `refund`, `payout`, `fee`, `adjustment`, and
//!   `created` in RFC 3339. `fee` is optional.
//!
//! Amounts are decimals in the currency's major unit (`12.34`), signed as
//! the provider's balance sees them: captures positive, refunds and payouts
//! negative. Fees are positive when charged.
//!
//! # Matching
//!
//! A capture or refund line matches the payment of its kind with its
//! reference that no report has settled yet, preferring one of equal
//! amount ([`reconcile`]): `matched` when amount and currency agree,
//! `amount_mismatch` when not, `duplicate` when every such payment was
//! settled already (or the line's own id was seen before), and
//! `missing_in_ordo` when Ordo has no such payment. Captures and refunds
//! in the report's span that no line matched are `missing_in_report`.
//! Payouts, fee lines and other adjustments are `booked`.
//!
//! # Postings
//!
//! The provider's clearing account is moved to what the provider says it
//! holds ([`postings`]): every line moves it by its net amount, less what
//! Ordo posted already for the matched payment. The counter-entries are
//! `provider_fees` (fees), `bank` (payouts) and `unallocated_cash`
//! (money the provider moved that matches nothing in Ordo, or differs from
//! it), so every difference is on an account for finance to clear.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ledger;
use crate::money::Currency;
use crate::validation::FieldError;

/// The file layouts a settlement report is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Stripe,
    Generic,
}

as_str!(Format { Stripe = "stripe", Generic = "generic" });

/// What a report line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Capture,
    Refund,
    Payout,
    Fee,
    Adjustment,
}

as_str!(LineKind {
    Capture = "capture",
    Refund = "refund",
    Payout = "payout",
    Fee = "fee",
    Adjustment = "adjustment",
});

/// What reconciling found for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// The line and Ordo's payment agree.
    Matched,
    /// The report lists money Ordo has no payment for.
    MissingInOrdo,
    /// Ordo has a capture or refund in the report's span that it does not list.
    MissingInReport,
    /// The line's payment exists, with another amount or currency.
    AmountMismatch,
    /// The line was settled already: its id seen before, or its payment
    /// settled by an earlier line.
    Duplicate,
    /// A payout, fee or adjustment, posted as reported.
    Booked,
}

as_str!(ItemStatus {
    Matched = "matched",
    MissingInOrdo = "missing_in_ordo",
    MissingInReport = "missing_in_report",
    AmountMismatch = "amount_mismatch",
    Duplicate = "duplicate",
    Booked = "booked",
});

impl ItemStatus {
    pub const ALL: [ItemStatus; 6] = [
        Self::Matched,
        Self::MissingInOrdo,
        Self::MissingInReport,
        Self::AmountMismatch,
        Self::Duplicate,
        Self::Booked,
    ];

    /// Whether finance has to look at it.
    pub fn is_discrepancy(self) -> bool {
        !matches!(self, Self::Matched | Self::Booked)
    }
}

/// One line of a report, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Its line number in the file (the header is line 1).
    pub line: i64,
    /// The provider's id of the line (`txn_...`).
    pub id: String,
    pub kind: LineKind,
    pub reference: Option<String>,
    /// Minor units, signed as the provider's balance sees it.
    pub amount: i64,
    /// Minor units charged by the provider.
    pub fee: i64,
    pub currency: Currency,
    pub occurred_at: DateTime<Utc>,
}

impl Line {
    /// What reaches the provider's balance: the amount less the fee.
    pub fn net(&self) -> i64 {
        self.amount - self.fee
    }
}

/// Where a format's fields are in a file, found from its header.
#[derive(Debug, Clone)]
pub struct Layout {
    format: Format,
    id: usize,
    kind: usize,
    /// Columns holding the reference, the first filled one wins.
    reference: Vec<usize>,
    amount: usize,
    fee: Option<usize>,
    currency: usize,
    created: usize,
}

const MAX_TEXT: usize = 255;

impl Layout {
    /// Reads the header of a `format` file; names the columns it misses.
    pub fn new(format: Format, header: &[&str]) -> Result<Self, FieldError> {
        let names: Vec<String> =
            header.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase()).collect();
        let find = |candidates: &[&str]| candidates.iter().find_map(|c| names.iter().position(|n| n == c));
        let mut missing = Vec::new();
        let mut need = |what: &'static str, candidates: &[&str]| {
            find(candidates).unwrap_or_else(|| {
                missing.push(what);
                0
            })
        };
        let layout = match format {
            Format::Stripe => Layout {
                format,
                id: need("id", &["id", "balance_transaction_id"]),
                kind: need("type", &["type", "reporting_category"]),
                amount: need("amount", &["amount", "gross"]),
                currency: need("currency", &["currency"]),
                created: need("created (utc)", &["created (utc)", "created_utc", "created"]),
                fee: find(&["fee"]),
                reference: ["payment_intent_id", "source", "source_id"]
                    .iter()
                    .filter_map(|c| names.iter().position(|n| n == c))
                    .collect(),
            },
            Format::Generic => Layout {
                format,
                id: need("id", &["id"]),
                kind: need("type", &["type"]),
                amount: need("amount", &["amount"]),
                currency: need("currency", &["currency"]),
                created: need("created", &["created"]),
                fee: find(&["fee"]),
                reference: find(&["reference"]).into_iter().collect(),
            },
        };
        if missing.is_empty() {
            Ok(layout)
        } else {
            Err(FieldError::new(
                "missing_columns",
                format!("a {} settlement file needs the columns {}", format.as_str(), missing.join(", ")),
            ))
        }
    }

    /// Reads line number `line` from its fields; every field's error.
    pub fn line(&self, line: i64, fields: &[&str]) -> Result<Line, Vec<FieldError>> {
        let mut errors = Vec::new();
        let field = |index: usize| fields.get(index).map_or("", |f| f.trim());
        let mut fail = |name: &str, code: &'static str, message: String| {
            errors.push(FieldError { field: format!("line[{line}].{name}"), ..FieldError::new(code, message) });
        };
        let id = field(self.id);
        if id.is_empty() || id.chars().count() > MAX_TEXT || id.chars().any(char::is_control) {
            fail("id", "invalid_id", format!("a line needs an id of 1 to {MAX_TEXT} characters"));
        }
        let kind = match (self.format, field(self.kind).to_lowercase().as_str()) {
            (Format::Stripe, "charge" | "payment") | (Format::Generic, "capture") => Some(LineKind::Capture),
            (Format::Stripe, "refund" | "payment_refund") | (Format::Generic, "refund") => Some(LineKind::Refund),
            (_, "payout") => Some(LineKind::Payout),
            (Format::Stripe, "stripe_fee" | "fee") | (Format::Generic, "fee") => Some(LineKind::Fee),
            (Format::Stripe, other) if !other.is_empty() => Some(LineKind::Adjustment),
            (Format::Generic, "adjustment") => Some(LineKind::Adjustment),
            (_, other) => {
                fail(
                    "type",
                    "invalid_type",
                    format!("{other:?} is not a line type of the {} format", self.format.as_str()),
                );
                None
            }
        };
        let currency = match Currency::parse(&field(self.currency).to_uppercase()) {
            Ok(c) => Some(c),
            Err(e) => {
                fail("currency", "unknown_currency", e.message);
                None
            }
        };
        let mut amount_of = |name: &str, text: &str| match currency.map(|c| parse_amount(text, c)) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                fail(name, "invalid_amount", e);
                None
            }
            None => None,
        };
        let amount = amount_of("amount", field(self.amount));
        let fee = match self.fee.map(field) {
            None | Some("") => Some(0),
            Some(text) => amount_of("fee", text),
        };
        let occurred_at = parse_time(field(self.created));
        if occurred_at.is_none() {
            fail(
                "created",
                "invalid_time",
                format!("{:?} is not a time (RFC 3339, or YYYY-MM-DD HH:MM[:SS] in UTC)", field(self.created)),
            );
        }
        let reference = self.reference.iter().map(|&i| field(i)).find(|r| !r.is_empty()).map(str::to_owned);
        if reference.as_ref().is_some_and(|r| r.chars().count() > MAX_TEXT || r.chars().any(char::is_control)) {
            fail("reference", "invalid_reference", format!("a reference has at most {MAX_TEXT} characters"));
        }
        if matches!(kind, Some(LineKind::Capture | LineKind::Refund)) && reference.is_none() {
            fail("reference", "required", "a capture or refund line needs its payment's reference".to_owned());
        }
        match (kind, amount, fee, currency, occurred_at) {
            (Some(kind), Some(amount), Some(fee), Some(currency), Some(occurred_at)) if errors.is_empty() => {
                Ok(Line { line, id: id.to_owned(), kind, reference, amount, fee, currency, occurred_at })
            }
            _ => Err(errors),
        }
    }
}

/// A decimal in `currency`'s major unit (`-12.34`) in minor units, exactly:
/// no more decimals than the currency has, and within ±10¹⁵ minor units.
pub fn parse_amount(text: &str, currency: Currency) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an amount in {currency} (a decimal such as 12.34)");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let exponent = usize::from(currency.exponent());
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 15 || !all_digits(whole) || !all_digits(fraction) || fraction.len() > exponent
    {
        return Err(bad());
    }
    if digits.contains('.') && fraction.is_empty() {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let fraction: i64 = format!("{fraction:0<exponent$}").parse().unwrap_or(0);
    let minor = whole
        .checked_mul(10_i64.pow(u32::from(currency.exponent())))
        .and_then(|w| w.checked_add(fraction))
        .filter(|m| *m <= 1_000_000_000_000_000)
        .ok_or_else(bad)?;
    Ok(if negative { -minor } else { minor })
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|at| at.and_utc())
}

/// A payment a line may settle: a succeeded capture or refund with the
/// line's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    /// The order's market.
    pub market: String,
    /// `Capture` or `Refund`.
    pub kind: LineKind,
    pub reference: String,
    /// Minor units, positive.
    pub amount: i64,
    pub currency: Currency,
    /// Settled by a line already (of this report or an earlier one).
    pub settled: bool,
}

/// What reconciling a line found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: ItemStatus,
    /// The payment it settles.
    pub payment: Option<Candidate>,
    /// What Ordo recorded for it, signed as the report: what Ordo posted to
    /// clearing already, when in the line's currency.
    pub expected: Option<i64>,
    /// What the line moves on the provider's clearing account.
    pub clearing: i64,
}

/// Reconciles `line` against `candidates` (the payments with its
/// reference; the one it settles is marked settled). `seen` says whether
/// its id was in an earlier line.
pub fn reconcile(line: &Line, seen: bool, candidates: &mut [Candidate]) -> Outcome {
    let outcome = |status, payment, expected: Option<i64>, clearing| Outcome { status, payment, expected, clearing };
    if seen {
        return outcome(ItemStatus::Duplicate, None, None, 0);
    }
    let sign = match line.kind {
        LineKind::Capture => 1,
        LineKind::Refund => -1,
        LineKind::Payout | LineKind::Fee | LineKind::Adjustment => {
            return outcome(ItemStatus::Booked, None, None, line.net());
        }
    };
    let of_kind = |c: &Candidate| c.kind == line.kind && Some(&c.reference) == line.reference.as_ref();
    let agrees = |c: &Candidate| c.currency == line.currency && sign * c.amount == line.amount;
    let open = candidates.iter().position(|c| of_kind(c) && !c.settled && agrees(c));
    let open = open.or_else(|| candidates.iter().position(|c| of_kind(c) && !c.settled));
    match open {
        Some(index) => {
            let candidate = &mut candidates[index];
            candidate.settled = true;
            let status = if agrees(candidate) { ItemStatus::Matched } else { ItemStatus::AmountMismatch };
            // In another currency nothing Ordo posted is on this clearing account.
            let expected = (candidate.currency == line.currency).then_some(sign * candidate.amount);
            outcome(status, Some(candidate.clone()), expected, line.net() - expected.unwrap_or(0))
        }
        None if candidates.iter().any(of_kind) => outcome(ItemStatus::Duplicate, None, None, 0),
        None => outcome(ItemStatus::MissingInOrdo, None, None, line.net()),
    }
}

/// The postings of a reconciled line for `provider`: its clearing movement
/// and the counter-entries, which add up to zero.
pub fn postings(provider: &str, line: &Line, outcome: &Outcome) -> Vec<(String, i64)> {
    if outcome.status == ItemStatus::Duplicate {
        return Vec::new();
    }
    let counter = match line.kind {
        LineKind::Payout => ledger::BANK,
        LineKind::Fee => ledger::PROVIDER_FEES,
        _ => ledger::UNALLOCATED_CASH,
    };
    vec![
        (ledger::clearing(provider), outcome.clearing),
        (ledger::PROVIDER_FEES.to_owned(), line.fee),
        (counter.to_owned(), -(line.amount - outcome.expected.unwrap_or(0))),
    ]
}

/// A reconciliation run: one imported report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettlementRun {
    pub id: Uuid,
    #[schema(example = "stripe")]
    pub provider: String,
    pub format: Format,
    /// SHA-256 of the file, hex: the same file imported again is this run.
    pub sha256: String,
    pub status: RunStatus,
    /// Lines in the report (its header not counted).
    pub lines: i64,
    /// The report's lines are reconciled in this many chunks.
    pub chunks: i32,
    pub chunks_done: i32,
    /// 0 to 100.
    pub progress: i16,
    /// The span of the report's captures and refunds, within which Ordo's
    /// captures and refunds are expected in it.
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    /// Items per status, once reconciled.
    pub counts: std::collections::BTreeMap<String, i64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Reconciling, chunk by chunk, in the background.
    Running,
    Succeeded,
    Failed,
}

as_str!(RunStatus { Running = "running", Succeeded = "succeeded", Failed = "failed" });

/// One line of a run (or a payment missing from its report) and what
/// reconciling found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettlementItem {
    pub run_id: Uuid,
    /// The line in the file (the header is line 1); past the last line for
    /// a payment missing from the report.
    pub line: i64,
    /// The provider's id of the line.
    pub line_id: Option<String>,
    pub kind: LineKind,
    pub reference: Option<String>,
    pub status: ItemStatus,
    /// Minor units, signed as the report (or Ordo, if missing from it).
    pub amount: i64,
    pub fee: i64,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub occurred_at: DateTime<Utc>,
    /// The payment it settles.
    pub payment_id: Option<Uuid>,
    /// What Ordo recorded for that payment, signed as the report.
    pub expected: Option<i64>,
    /// What it moved on the provider's clearing account.
    pub clearing: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn amounts_parse_exactly_in_minor_units() {
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(parse_amount("12.34", eur()), Ok(1234));
        assert_eq!(parse_amount("-500", eur()), Ok(-50_000));
        assert_eq!(parse_amount("0.5", eur()), Ok(50));
        assert_eq!(parse_amount("1200", jpy), Ok(1200));
        for bad in ["", "-", "1.234", "12.", ".5", "1,00", "1e3", "abc", "12.3.4", "9999999999999999"] {
            assert!(parse_amount(bad, eur()).is_err(), "{bad}");
        }
        assert!(parse_amount("1.5", jpy).is_err());
    }

    #[test]
    fn stripe_exports_are_read_by_their_column_names() {
        let header = ["id", "Type", "Source", "Amount", "Fee", "Net", "Currency", "Created (UTC)", "Description"];
        let layout = Layout::new(Format::Stripe, &header).unwrap();
        let line = layout
            .line(2, &["txn_1", "charge", "ch_1", "12.34", "0.45", "11.89", "eur", "2026-11-03 14:22", "x"])
            .unwrap();
        assert_eq!((line.kind, line.amount, line.fee, line.net()), (LineKind::Capture, 1234, 45, 1189));
        assert_eq!(line.reference.as_deref(), Some("ch_1"));
        assert_eq!(line.occurred_at, "2026-11-03T14:22:00Z".parse::<DateTime<Utc>>().unwrap());
        let payout = layout.line(3, &["txn_2", "payout", "po_1", "-100.00", "0.00", "", "eur", "2026-11-04 00:00:00"]);
        assert_eq!(payout.unwrap().kind, LineKind::Payout);
        let errors = layout.line(4, &["", "charge", "", "12,34", "", "", "xxx", "yesterday"]).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["line[4].id", "line[4].currency", "line[4].created", "line[4].reference"]);
        let missing = Layout::new(Format::Generic, &["id", "type", "amount"]).unwrap_err();
        assert!(missing.message.contains("currency, created"), "{}", missing.message);
    }

    fn line(kind: LineKind, amount: i64, fee: i64) -> Line {
        Line {
            line: 2,
            id: "t".into(),
            kind,
            reference: Some("r".into()),
            amount,
            fee,
            currency: eur(),
            occurred_at: crate::time::now(),
        }
    }

    fn candidate(kind: LineKind, amount: i64) -> Candidate {
        Candidate {
            payment_id: Uuid::now_v7(),
            order_id: Uuid::nil(),
            market: "DE".into(),
            kind,
            reference: "r".into(),
            amount,
            currency: eur(),
            settled: false,
        }
    }

    #[test]
    fn lines_match_once_and_their_postings_balance() {
        let mut candidates = vec![candidate(LineKind::Capture, 1000), candidate(LineKind::Refund, 300)];
        let capture = line(LineKind::Capture, 1000, 30);
        let first = reconcile(&capture, false, &mut candidates);
        assert_eq!((first.status, first.clearing), (ItemStatus::Matched, -30));
        assert_eq!(reconcile(&capture, false, &mut candidates).status, ItemStatus::Duplicate);
        assert_eq!(reconcile(&capture, true, &mut candidates).status, ItemStatus::Duplicate);
        let refund = line(LineKind::Refund, -250, 0);
        let mismatch = reconcile(&refund, false, &mut candidates);
        assert_eq!(
            (mismatch.status, mismatch.expected, mismatch.clearing),
            (ItemStatus::AmountMismatch, Some(-300), 50)
        );
        let unknown = line(LineKind::Capture, 700, 20);
        let missing = reconcile(&unknown, false, &mut []);
        assert_eq!((missing.status, missing.clearing), (ItemStatus::MissingInOrdo, 680));
        let payout = line(LineKind::Payout, -5000, 0);
        let booked = reconcile(&payout, false, &mut []);
        assert_eq!(booked.status, ItemStatus::Booked);
        for (l, o) in [(&capture, &first), (&refund, &mismatch), (&unknown, &missing), (&payout, &booked)] {
            let postings = postings("stripe", l, o);
            assert_eq!(postings.iter().map(|p| p.1).sum::<i64>(), 0, "{postings:?}");
        }
        assert_eq!(postings("stripe", &payout, &booked)[2], ("bank".to_owned(), 5000));
    }
}
