//! The ledger: double-entry books posted with every money event.
//!
//! A [`JournalTransaction`] is one business event's postings: each line
//! moves an amount on one account, debits positive and credits negative,
//! and the lines of a transaction add up to zero in its one currency. The
//! journal is append-only: a correction is a reversing transaction.
//!
//! # Chart of accounts
//!
//! Accounts are named by code, per market and currency (the transaction
//! carries both). [`CHART`] lists them with the SKR03 account each maps to,
//! for an accountant's export:
//!
//! | code | meaning | SKR03 |
//! |---|---|---|
//! | `receivables` | what customers owe (invoiced, not yet paid) | 1400 |
//! | `clearing:<provider>` | money a provider holds for us (captured, not paid out) | 1360 |
//! | `bank` | money in the bank (offline payments, payouts) | 1200 |
//! | `revenue:goods` | net sales of goods | 8400 |
//! | `revenue:shipping` | net shipping charged | 8401 |
//! | `tax_payable:<rate_bp>` | output VAT owed at a rate | 1776 |
//! | `returns` | contra-revenue: net credited by credit notes | 8700 |
//! | `provider_fees` | what providers keep | 4970 |
//! | `unallocated_cash` | money received that matches nothing yet | 1590 |
//! | `write_offs` | receivables written off (bad debts) | 2400 |
//! | `rounding` | rounding differences | 4900 |
//!
//! # Postings
//!
//! - invoice issued: Dr `receivables` its total; Cr `revenue:goods` and
//!   `revenue:shipping` the net, Cr `tax_payable:<rate>` the tax per rate;
//! - credit note issued: the reverse, with the net on Dr `returns`;
//! - payment captured: Dr `clearing:<provider>`, Cr `receivables` (an
//!   offline payment: Dr `bank`);
//! - refund made: Dr `receivables`, Cr `clearing:<provider>` (offline
//!   money is refunded outside Ordo and so not posted here).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::credit_note::CreditNote;
use crate::invoice::Invoice;
use crate::money::Currency;
use crate::payment::{Payment, PaymentKind};

/// The account codes of the chart, with their meaning and SKR03 account.
/// `clearing:` and `tax_payable:` are families: one account per provider
/// and per rate.
pub const CHART: [(&str, &str, &str); 11] = [
    ("receivables", "Trade receivables: invoiced, not yet paid", "1400"),
    ("clearing:", "Provider clearing: captured, not yet paid out (one per provider)", "1360"),
    ("bank", "Bank", "1200"),
    ("revenue:goods", "Revenue from goods, net", "8400"),
    ("revenue:shipping", "Revenue from shipping, net", "8401"),
    ("tax_payable:", "Output VAT payable (one per rate, in basis points)", "1776"),
    ("returns", "Refunds and returns (contra-revenue), net", "8700"),
    ("provider_fees", "Payment provider fees", "4970"),
    ("unallocated_cash", "Cash received, not yet allocated", "1590"),
    ("write_offs", "Receivables written off (bad debts)", "2400"),
    ("rounding", "Rounding differences", "4900"),
];

pub const RECEIVABLES: &str = "receivables";
pub const BANK: &str = "bank";
pub const REVENUE_GOODS: &str = "revenue:goods";
pub const REVENUE_SHIPPING: &str = "revenue:shipping";
pub const RETURNS: &str = "returns";
pub const PROVIDER_FEES: &str = "provider_fees";
pub const UNALLOCATED_CASH: &str = "unallocated_cash";
pub const WRITE_OFFS: &str = "write_offs";

/// The clearing account of a payment provider.
pub fn clearing(provider: &str) -> String {
    format!("clearing:{provider}")
}

/// The output VAT account of a rate.
pub fn tax_payable(rate_bp: i64) -> String {
    format!("tax_payable:{rate_bp}")
}

/// The chart entry an account code belongs to (`clearing:stripe` is in the
/// `clearing:` family).
pub fn chart_entry(code: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    CHART
        .iter()
        .find(|(c, _, _)| if c.ends_with(':') { code.starts_with(c) && code.len() > c.len() } else { *c == code })
}

/// Accounts that only their own business records post to, never a manual
/// entry: `receivables` (invoices, credit notes, payments, write-offs) and
/// each provider's clearing account (payments, settlement reports), so that
/// `ordo ledger verify` can prove them against those records.
pub fn is_controlled(code: &str) -> bool {
    code == RECEIVABLES || code.starts_with("clearing:")
}

/// An account of the chart: its code, what it holds, and the SKR03
/// account it maps to. Code families (`clearing:`, `tax_payable:`) end
/// with a colon and stand for every account of the family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartAccount {
    #[schema(example = "marketing")]
    pub code: String,
    #[serde(default)]
    pub description: String,
    #[schema(example = "4600")]
    pub skr03: String,
}

/// The chart of accounts: the standard [`CHART`], with accounts remapped
/// or added by configuration (`ledger.accounts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    accounts: Vec<ChartAccount>,
}

impl Default for Chart {
    fn default() -> Self {
        Self {
            accounts: CHART
                .iter()
                .map(|(code, description, skr03)| ChartAccount {
                    code: (*code).to_owned(),
                    description: (*description).to_owned(),
                    skr03: (*skr03).to_owned(),
                })
                .collect(),
        }
    }
}

impl Chart {
    /// The standard chart with `accounts` added, or remapping the standard
    /// account of the same code (its description kept unless given).
    pub fn extended(accounts: &[ChartAccount]) -> Result<Self, String> {
        let mut chart = Self::default();
        for account in accounts {
            let valid = (1..=64).contains(&account.code.len())
                && account.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':')
                && !account.skr03.trim().is_empty();
            if !valid {
                return Err(format!(
                    "ledger.accounts: {:?} needs a code of 1 to 64 of a-z, 0-9, _ and :, and an skr03 account",
                    account.code
                ));
            }
            match chart.accounts.iter_mut().find(|a| a.code == account.code) {
                Some(standard) => {
                    standard.skr03.clone_from(&account.skr03);
                    if !account.description.is_empty() {
                        standard.description.clone_from(&account.description);
                    }
                }
                None if account.code.ends_with(':') => {
                    return Err(format!("ledger.accounts: {:?} is not a family of the chart", account.code));
                }
                None => chart.accounts.push(account.clone()),
            }
        }
        Ok(chart)
    }

    /// The chart entry `code` belongs to (`clearing:stripe` is in the
    /// `clearing:` family).
    pub fn entry(&self, code: &str) -> Option<&ChartAccount> {
        self.accounts.iter().find(|a| {
            if a.code.ends_with(':') { code.starts_with(&a.code) && code.len() > a.code.len() } else { a.code == code }
        })
    }

    pub fn accounts(&self) -> &[ChartAccount] {
        &self.accounts
    }
}

/// A manual entry's postings, checked: every account in `chart` and none
/// controlled ([`is_controlled`]), amounts non-zero, at least two lines,
/// and balanced. Errors name the posting (`postings[1].account`).
pub fn manual_entry(
    chart: &Chart,
    market: &str,
    currency: Currency,
    posted_at: DateTime<Utc>,
    postings: &[Posting],
) -> Result<JournalTransaction, crate::ValidationErrors> {
    let mut errors = crate::ValidationErrors::new();
    for (i, p) in postings.iter().enumerate() {
        if chart.entry(&p.account).is_none() {
            errors.add(
                format!("postings[{i}].account"),
                "unknown_account",
                format!("{:?} is not an account of the chart", p.account),
            );
        } else if is_controlled(&p.account) {
            errors.add(
                format!("postings[{i}].account"),
                "controlled_account",
                format!("{} is posted only by its business records; use a write-off or a settlement report", p.account),
            );
        }
        if p.amount == 0 {
            errors.add(format!("postings[{i}].amount"), "zero_amount", "a posting moves a non-zero amount");
        }
    }
    let sum = crate::money::checked_sum(postings.iter().map(|p| p.amount));
    match sum {
        Ok(0) => {}
        Ok(sum) => errors.add(
            "postings",
            "unbalanced",
            format!("debits and credits differ by {sum}: the postings must add up to zero"),
        ),
        Err(_) => errors.add("postings", "amount_overflow", "the postings' sum overflows"),
    }
    if postings.len() < 2 {
        errors.add("postings", "too_few_postings", "an entry has at least two postings");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let id = Uuid::now_v7();
    let lines = postings.iter().map(|p| (p.account.clone(), p.amount));
    let mut entry = JournalTransaction::new(market, currency, (SourceKind::Manual, id), None, posted_at, lines)
        .map_err(|e| crate::ValidationErrors::single("postings", "unbalanced", e.to_string()))?;
    entry.id = id;
    Ok(entry)
}

/// The reversal of `original`: the same postings with opposite signs,
/// posted at `at`.
pub fn reversal(original: &JournalTransaction, at: DateTime<Utc>) -> Option<JournalTransaction> {
    let lines = original.postings.iter().map(|p| (p.account.clone(), -p.amount));
    JournalTransaction::new(
        &original.market,
        original.currency,
        (SourceKind::Reversal, original.id),
        original.order_id,
        at,
        lines,
    )
    .ok()
}

/// Writes off `amount` of an order's open receivable: Dr `write_offs`,
/// Cr `receivables` (`None` unless positive). The output VAT in it is not
/// corrected here: that is a manual entry once the loss is final.
pub fn write_off(
    market: &str,
    currency: Currency,
    order_id: Uuid,
    amount: i64,
    at: DateTime<Utc>,
) -> Option<JournalTransaction> {
    let lines = [(WRITE_OFFS.to_owned(), amount), (RECEIVABLES.to_owned(), -amount)];
    let id = Uuid::now_v7();
    (amount > 0)
        .then(|| JournalTransaction::new(market, currency, (SourceKind::WriteOff, id), Some(order_id), at, lines).ok())
        .flatten()
}

/// What a journal transaction posts: the kind of the business record and
/// its id. Each source posts exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Invoice,
    CreditNote,
    Capture,
    Refund,
    /// A chunk of a settlement report: its fees, payouts and differences
    /// (the source is the reconciliation run).
    Settlement,
    /// An order's open receivable written off (the source is the order).
    WriteOff,
    /// A manual entry by finance.
    Manual,
    /// The reversal of a manual entry (the source is the reversed entry).
    Reversal,
}

as_str!(SourceKind {
    Invoice = "invoice",
    CreditNote = "credit_note",
    Capture = "capture",
    Refund = "refund",
    Settlement = "settlement",
    WriteOff = "write_off",
    Manual = "manual",
    Reversal = "reversal",
});

/// One line of a journal transaction: `amount` on `account`, a debit if
/// positive, a credit if negative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Posting {
    #[schema(example = "receivables")]
    pub account: String,
    /// Minor units: positive debits, negative credits.
    pub amount: i64,
}

/// One business event's balanced postings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JournalTransaction {
    pub id: Uuid,
    pub market: String,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    pub source_kind: SourceKind,
    pub source_id: Uuid,
    /// The order the event belongs to, if it belongs to one.
    pub order_id: Option<Uuid>,
    /// When it counts in the books: when the event occurred, or the start
    /// of the first open period after that if its own was closed.
    pub posted_at: DateTime<Utc>,
    /// When the event occurred.
    pub occurred_at: DateTime<Utc>,
    /// Why it was posted: a manual entry's, a reversal's or a write-off's
    /// explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    pub postings: Vec<Posting>,
}

/// Why postings cannot form a journal transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("the postings add up to {0}, not zero")]
    Unbalanced(i64),
    #[error("a transaction has at least two non-zero postings")]
    TooFew,
}

impl JournalTransaction {
    /// A transaction of `postings` (zero lines dropped, lines on one
    /// account merged), refused unless they balance.
    pub fn new(
        market: &str,
        currency: Currency,
        source: (SourceKind, Uuid),
        order_id: Option<Uuid>,
        posted_at: DateTime<Utc>,
        postings: impl IntoIterator<Item = (String, i64)>,
    ) -> Result<Self, JournalError> {
        let mut merged: BTreeMap<String, i64> = BTreeMap::new();
        for (account, amount) in postings {
            *merged.entry(account).or_insert(0) += amount;
        }
        let postings: Vec<Posting> =
            merged.into_iter().filter(|(_, a)| *a != 0).map(|(account, amount)| Posting { account, amount }).collect();
        let sum: i64 = postings.iter().map(|p| p.amount).sum();
        if sum != 0 {
            return Err(JournalError::Unbalanced(sum));
        }
        if postings.len() < 2 {
            return Err(JournalError::TooFew);
        }
        Ok(Self {
            id: Uuid::now_v7(),
            market: market.to_owned(),
            currency,
            source_kind: source.0,
            source_id: source.1,
            order_id,
            posted_at,
            occurred_at: posted_at,
            memo: None,
            postings,
        })
    }

    /// Moves its posting date past `closed` periods: if the month it
    /// occurred in is closed, it posts at the start of the first open month
    /// after it (its `occurred_at` keeps the original date).
    pub fn defer_past(&mut self, closed: &[Period]) {
        let mut period = Period::of(self.occurred_at);
        if !closed.contains(&period) {
            return;
        }
        while closed.contains(&period) {
            period = period.next();
        }
        self.posted_at = period.start();
    }

    /// The day its postings count in for daily balances (UTC).
    pub fn day(&self) -> NaiveDate {
        self.posted_at.date_naive()
    }
}

/// The postings of an issued invoice (`None` for a zero invoice).
pub fn for_invoice(invoice: &Invoice) -> Option<JournalTransaction> {
    let mut postings = vec![(RECEIVABLES.to_owned(), invoice.total)];
    for line in &invoice.lines {
        let revenue = if line.shipping { REVENUE_SHIPPING } else { REVENUE_GOODS };
        postings.push((revenue.to_owned(), -line.subtotal));
        postings.push((tax_payable(line.tax_rate_bp), -line.tax));
    }
    let source = (SourceKind::Invoice, invoice.id);
    JournalTransaction::new(
        &invoice.market,
        invoice.currency,
        source,
        Some(invoice.order_id),
        invoice.issued_at,
        postings,
    )
    .ok()
}

/// The postings of an issued credit note (`None` for a zero one).
pub fn for_credit_note(note: &CreditNote) -> Option<JournalTransaction> {
    let mut postings = vec![(RECEIVABLES.to_owned(), -note.total)];
    for line in &note.lines {
        postings.push((RETURNS.to_owned(), line.subtotal));
        postings.push((tax_payable(line.tax_rate_bp), line.tax));
    }
    let source = (SourceKind::CreditNote, note.id);
    JournalTransaction::new(
        &note.market,
        note.currency,
        source,
        Some(*note.order_id.as_uuid()),
        note.issued_at,
        postings,
    )
    .ok()
}

/// The postings of a succeeded capture or refund, in `market` (`None` for
/// other records, failed or pending ones, and refunds of offline money,
/// made outside Ordo).
pub fn for_payment(payment: &Payment, market: &str, offline_provider: &str) -> Option<JournalTransaction> {
    if payment.status != crate::payment::PaymentStatus::Succeeded {
        return None;
    }
    let offline = payment.provider == offline_provider;
    let cash = if offline { BANK.to_owned() } else { clearing(&payment.provider) };
    let (kind, postings) = match payment.kind {
        PaymentKind::Capture => {
            (SourceKind::Capture, vec![(cash, payment.amount), (RECEIVABLES.to_owned(), -payment.amount)])
        }
        PaymentKind::Refund if !offline => {
            (SourceKind::Refund, vec![(RECEIVABLES.to_owned(), payment.amount), (cash, -payment.amount)])
        }
        _ => return None,
    };
    let order_id = Some(*payment.order_id.as_uuid());
    JournalTransaction::new(market, payment.currency, (kind, payment.id), order_id, payment.updated_at, postings).ok()
}

/// How far apart the clocks of Ordo's processes may be, at most, for
/// [`Period::may_be_closed`].
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::hours(1);

/// A period of the books: a calendar month (UTC), written `2026-11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    /// The month of `at`.
    pub fn of(at: DateTime<Utc>) -> Self {
        use chrono::Datelike;
        Self { year: at.year(), month: at.month() }
    }

    /// `YYYY-MM`, a month from 2000 to 9999.
    pub fn parse(value: &str) -> Result<Self, crate::validation::FieldError> {
        let parsed = value.split_once('-').and_then(|(y, m)| {
            let valid = y.len() == 4 && m.len() == 2 && (y.chars().chain(m.chars())).all(|c| c.is_ascii_digit());
            valid.then(|| (y.parse::<i32>().ok(), m.parse::<u32>().ok()))
        });
        match parsed {
            Some((Some(year), Some(month))) if (2000..=9999).contains(&year) && (1..=12).contains(&month) => {
                Ok(Self { year, month })
            }
            _ => Err(crate::validation::FieldError::new("invalid_period", "a period is a month, written YYYY-MM")),
        }
    }

    /// Its first instant.
    pub fn start(self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(DateTime::<Utc>::MIN_UTC, |d| d.and_utc())
    }

    /// The month after it.
    pub fn next(self) -> Self {
        if self.month == 12 { Self { year: self.year + 1, month: 1 } } else { Self { month: self.month + 1, ..self } }
    }

    /// Whether it is over at `now` (only a past month can be closed).
    pub fn has_ended(self, now: DateTime<Utc>) -> bool {
        self.next().start() <= now
    }

    /// Whether any process may have closed it by `now`: it has ended by a
    /// clock up to [`MAX_CLOCK_SKEW`] ahead of this one. A month that
    /// cannot be closed yet (the current one, until its last hour) needs
    /// no look at the closed periods before posting into it.
    pub fn may_be_closed(self, now: DateTime<Utc>) -> bool {
        self.has_ended(now + MAX_CLOCK_SKEW)
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A closed period: nothing is posted dated in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClosedPeriod {
    #[schema(example = "2026-11")]
    pub period: String,
    pub closed_at: DateTime<Utc>,
    /// Who closed it.
    pub closed_by: String,
}

/// An account's balance: debits minus credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountBalance {
    pub account: String,
    pub market: String,
    #[schema(value_type = String, example = "EUR")]
    pub currency: Currency,
    /// Minor units: positive is a debit balance, negative a credit one.
    pub balance: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbalanced_or_empty_postings_are_refused_and_lines_merge() {
        let eur = Currency::parse("EUR").unwrap();
        let at = crate::time::now();
        let src = (SourceKind::Invoice, Uuid::now_v7());
        let t = |p: Vec<(&str, i64)>| {
            JournalTransaction::new("DE", eur, src, None, at, p.into_iter().map(|(a, n)| (a.to_owned(), n)))
        };
        assert_eq!(t(vec![("a", 5), ("b", -4)]).unwrap_err(), JournalError::Unbalanced(1));
        assert_eq!(t(vec![("a", 0), ("b", 0)]).unwrap_err(), JournalError::TooFew);
        let ok = t(vec![("b", -3), ("a", 5), ("b", -2), ("c", 0)]).unwrap();
        assert_eq!(
            ok.postings,
            [Posting { account: "a".into(), amount: 5 }, Posting { account: "b".into(), amount: -5 }]
        );
    }

    #[test]
    fn periods_parse_and_late_events_post_in_the_first_open_one() {
        assert_eq!(Period::parse("2026-11").unwrap().to_string(), "2026-11");
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "", "1999-12", "2026-00"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(Period::parse("2026-12").unwrap().next().to_string(), "2027-01");
        assert!(Period::parse("2026-11").unwrap().has_ended(at("2026-12-01T00:00:00Z")));
        assert!(!Period::parse("2026-12").unwrap().has_ended(at("2026-12-31T23:59:59Z")));
        // The current month cannot have been closed, until its last hour
        // (another process's clock may run ahead); a past month may.
        let december = Period::parse("2026-12").unwrap();
        assert!(!december.may_be_closed(at("2026-12-15T12:00:00Z")));
        assert!(!december.may_be_closed(at("2026-12-31T22:59:59Z")));
        assert!(december.may_be_closed(at("2026-12-31T23:00:00Z")));
        assert!(Period::parse("2026-11").unwrap().may_be_closed(at("2026-12-15T12:00:00Z")));
        let eur = Currency::parse("EUR").unwrap();
        let postings = [("a".to_owned(), 5), ("b".to_owned(), -5)];
        let mut t = JournalTransaction::new(
            "DE",
            eur,
            (SourceKind::Capture, Uuid::now_v7()),
            None,
            at("2026-10-15T12:00:00Z"),
            postings,
        )
        .unwrap();
        t.defer_past(&[Period::parse("2026-09").unwrap()]);
        assert_eq!(t.posted_at, at("2026-10-15T12:00:00Z"), "its own period is open");
        t.defer_past(&[Period::parse("2026-10").unwrap(), Period::parse("2026-11").unwrap()]);
        assert_eq!((t.posted_at, t.occurred_at), (at("2026-12-01T00:00:00Z"), at("2026-10-15T12:00:00Z")));
    }

    #[test]
    fn manual_entries_balance_on_chart_accounts_that_are_not_controlled() {
        let eur = Currency::parse("EUR").unwrap();
        let chart = Chart::extended(&[ChartAccount {
            code: "marketing".into(),
            description: String::new(),
            skr03: "4600".into(),
        }])
        .unwrap();
        let p = |a: &str, n: i64| Posting { account: a.to_owned(), amount: n };
        let at = crate::time::now();
        let ok = manual_entry(&chart, "DE", eur, at, &[p("marketing", 500), p("bank", -500)]).unwrap();
        assert_eq!((ok.source_kind, ok.source_id), (SourceKind::Manual, ok.id));
        let fields = |postings: &[Posting]| -> Vec<String> {
            manual_entry(&chart, "DE", eur, at, postings)
                .unwrap_err()
                .errors()
                .iter()
                .map(|e| e.field.clone())
                .collect()
        };
        assert_eq!(fields(&[p("marketing", 500), p("bank", -400)]), ["postings"]);
        assert_eq!(fields(&[p("nope", 5), p("receivables", -5)]), ["postings[0].account", "postings[1].account"]);
        assert_eq!(fields(&[p("bank", 0)]), ["postings[0].amount", "postings"]);
        let reversed = reversal(&ok, at).unwrap();
        assert_eq!(reversed.postings.iter().map(|p| p.amount).collect::<Vec<_>>(), [500, -500]);
        assert_eq!(reversed.source_id, ok.id);
        assert!(
            Chart::extended(&[ChartAccount { code: "Bad Code".into(), description: String::new(), skr03: "1".into() }])
                .is_err()
        );
        let remapped =
            Chart::extended(&[ChartAccount { code: "bank".into(), description: String::new(), skr03: "1800".into() }])
                .unwrap();
        assert_eq!(remapped.entry("bank").unwrap().skr03, "1800");
        assert!(write_off("DE", eur, Uuid::nil(), 0, at).is_none());
    }

    #[test]
    fn accounts_belong_to_the_chart() {
        assert_eq!(chart_entry("clearing:stripe").unwrap().2, "1360");
        assert_eq!(chart_entry("tax_payable:1900").unwrap().2, "1776");
        assert_eq!(chart_entry("receivables").unwrap().2, "1400");
        assert!(chart_entry("clearing:").is_none() && chart_entry("nope").is_none());
    }
}
