//! The ledger's use cases: posting business records in their own
//! transactions ([`post`]), reading accounts, the journal and the trial
//! balance, and proving the books ([`LedgerService::verify`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use ordo_jobs::{Job, JobError, JobRun};

use ordo_domain::audit::Actor;
use ordo_domain::ledger::{self, AccountBalance, Chart, ClosedPeriod, JournalTransaction, Period, SourceKind};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{Timestamp, time};
use ordo_store::{Database, Transaction};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::job_error;
use crate::{ServiceError, ServiceResult, Services};

/// Names the journal list in its cursors.
pub const CURSOR_SCOPE: &str = "ledger_entries";

/// Writes `journal` (if the record posts anything) in `tx`: the caller's
/// transaction, the one that records the business event, so books and
/// operations never drift. An event dated in a closed period posts at the
/// start of the first open one after it.
pub(crate) async fn post(tx: &mut dyn Transaction, journal: Option<JournalTransaction>) -> ServiceResult<()> {
    if !POSTING.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    if let Some(mut journal) = journal {
        // Most events happen in the current month, which no one can have
        // closed: they skip the lookup (one statement fewer per event).
        let period = Period::of(journal.occurred_at);
        if period.may_be_closed(time::now()) {
            let closed = tx.closed_periods_from(period).await?;
            journal.defer_past(&closed);
        }
        tx.insert_journal(&journal).await?;
        metrics::counter!("ordo_ledger_transactions_total", "source" => journal.source_kind.as_str()).increment(1);
    }
    Ok(())
}

/// Whether money events post (`ledger.enabled`, on by default).
///
/// Process-wide rather than per service because every module that records a
/// money event posts through [`post`] inside its own transaction; it is set
/// once at startup. Off, nothing posts and `ordo ledger verify` reports the
/// records without postings: the switch exists to measure the ledger's cost
/// (`bench/run`) and for a deployment that keeps its books elsewhere.
static POSTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns posting on or off for this process (see [`POSTING`]).
pub fn set_posting(enabled: bool) {
    POSTING.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// What `ordo ledger verify` found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerReport {
    /// Whether every check held.
    pub ok: bool,
    /// Accounts with a balance.
    pub accounts: usize,
    /// What does not hold, first found first; empty when `ok`.
    pub violations: Vec<String>,
}

/// An account of the chart with its balance in one market and currency.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    #[serde(flatten)]
    pub balance: AccountBalance,
    /// What the account holds.
    pub description: String,
    /// The SKR03 account it maps to.
    #[schema(example = "1400")]
    pub skr03: String,
}

/// Balances at one instant: every account's, and their sum per currency,
/// which is zero when the books balance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrialBalance {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub accounts: Vec<Account>,
    /// Debits and credits per currency: equal when the books balance.
    pub totals: Vec<CurrencyTotals>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CurrencyTotals {
    #[schema(example = "EUR")]
    pub currency: String,
    pub debits: i64,
    pub credits: i64,
}

fn described(chart: &Chart, balances: Vec<AccountBalance>) -> Vec<Account> {
    balances
        .into_iter()
        .map(|balance| {
            let entry = chart.entry(&balance.account);
            let description = entry.map(|e| e.description.clone()).unwrap_or_default();
            let skr03 = entry.map(|e| e.skr03.clone()).unwrap_or_default();
            Account { balance, description, skr03 }
        })
        .collect()
}

/// A manual entry as asked for.
#[derive(Debug, Clone)]
pub struct NewManualEntry {
    pub market: String,
    pub currency: ordo_domain::Currency,
    /// When it counts; now if absent. Never in a closed period, nor ahead.
    pub posted_at: Option<Timestamp>,
    pub memo: String,
    pub postings: Vec<ledger::Posting>,
}

/// An account over one period: its balance at the start, its movement in
/// the period and its balance at the end.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountInPeriod {
    pub account: String,
    pub market: String,
    #[schema(example = "EUR")]
    pub currency: String,
    pub opening: i64,
    pub movement: i64,
    pub closing: i64,
}

/// A period's summary: every account with a balance or a movement in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodSummary {
    #[schema(example = "2026-11")]
    pub period: String,
    /// Whether the period is closed.
    pub closed: bool,
    pub accounts: Vec<AccountInPeriod>,
}

#[derive(Debug, Clone)]
pub struct LedgerService {
    db: Arc<dyn Database>,
    chart: Chart,
}

fn invalid(field: &str, code: impl Into<std::borrow::Cow<'static, str>>, message: impl Into<String>) -> ServiceError {
    ServiceError::Validation(ordo_domain::ValidationErrors::single(field, code, message))
}

impl LedgerService {
    pub fn new(db: Arc<dyn Database>, chart: Chart) -> Self {
        Self { db, chart }
    }

    /// The chart of accounts.
    pub fn chart(&self) -> &Chart {
        &self.chart
    }

    /// Posts a manual entry, dated `posted_at` (now if absent): refused
    /// whole, with nothing posted, unless it balances on accounts of the
    /// chart that no business record controls, in a market that exists,
    /// dated neither ahead nor in a closed period. Audited.
    pub async fn post_manual(&self, actor: &Actor, new: NewManualEntry) -> ServiceResult<JournalTransaction> {
        let now = time::now();
        let posted_at = new.posted_at.unwrap_or(now);
        if posted_at > now {
            return Err(invalid("posted_at", "future_date", "an entry is dated now or earlier"));
        }
        let memo =
            ordo_domain::validation::required_text(&new.memo, 500).map_err(|e| invalid("memo", e.code, e.message))?;
        let mut entry = ledger::manual_entry(&self.chart, &new.market, new.currency, posted_at, &new.postings)?;
        entry.memo = Some(memo);
        let mut tx = self.db.begin().await?;
        if tx.market(&new.market).await?.is_none() {
            return Err(invalid("market", "unknown_market", format!("no market {:?}", new.market)));
        }
        let period = Period::of(posted_at);
        if tx.closed_periods_from(period).await?.first() == Some(&period) {
            return Err(invalid(
                "posted_at",
                "period_closed",
                format!("{period} is closed: date the entry in an open period"),
            ));
        }
        tx.insert_journal(&entry).await?;
        crate::audit::record(tx.as_mut(), actor, "ledger.entry_posted", "ledger_transaction", entry.id, None, &entry)
            .await?;
        tx.commit().await?;
        metrics::counter!("ordo_ledger_transactions_total", "source" => "manual").increment(1);
        Ok(entry)
    }

    /// Reverses a manual entry with one of opposite signs, posted now (or
    /// at the start of the first open period): once. Audited.
    pub async fn reverse(&self, actor: &Actor, id: Uuid, memo: &str) -> ServiceResult<JournalTransaction> {
        let memo = ordo_domain::validation::required_text(memo, 500).map_err(|e| invalid("memo", e.code, e.message))?;
        let mut tx = self.db.begin().await?;
        let original =
            tx.journal_transaction(id).await?.ok_or_else(|| ServiceError::not_found("journal transaction", id))?;
        if original.source_kind != SourceKind::Manual {
            // Business records are corrected by their own documents (a
            // credit note, a refund), which post their own reversal.
            return Err(ServiceError::IllegalTransition { current: "not manual", action: "reverse" });
        }
        if tx.source_posted(SourceKind::Reversal, id).await? {
            return Err(ServiceError::IllegalTransition { current: "reversed", action: "reverse" });
        }
        let mut reversal = ledger::reversal(&original, time::now())
            .ok_or_else(|| invalid("id", "not_reversible", "the entry posts nothing"))?;
        reversal.memo = Some(memo);
        post(tx.as_mut(), Some(reversal.clone())).await?;
        crate::audit::record(tx.as_mut(), actor, "ledger.entry_reversed", "ledger_transaction", id, None, &reversal)
            .await?;
        tx.commit().await?;
        Ok(reversal)
    }

    /// Writes off what an order still owes on its receivable (its invoices
    /// less its credit notes and payments): Dr `write_offs`, Cr
    /// `receivables`, in its market. Audited; 409 when nothing is owed.
    pub async fn write_off(
        &self,
        actor: &Actor,
        order_id: ordo_domain::OrderId,
        memo: &str,
    ) -> ServiceResult<JournalTransaction> {
        let memo = ordo_domain::validation::required_text(memo, 500).map_err(|e| invalid("memo", e.code, e.message))?;
        let mut tx = self.db.begin().await?;
        let order = tx.order(order_id).await?.ok_or_else(|| ServiceError::not_found("order", order_id))?;
        let owed = tx.order_balance(*order_id.as_uuid(), ledger::RECEIVABLES).await?;
        let owed = owed.into_iter().find(|(currency, _)| currency == order.currency.code()).map_or(0, |(_, n)| n);
        let mut entry = ledger::write_off(&order.market, order.currency, *order_id.as_uuid(), owed, time::now())
            .ok_or(ServiceError::IllegalTransition { current: "settled", action: "write off" })?;
        entry.memo = Some(memo);
        post(tx.as_mut(), Some(entry.clone())).await?;
        crate::audit::record(tx.as_mut(), actor, "ledger.written_off", "order", order_id, None, &entry).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The trial balance at `at` (now if none): each account's balance from
    /// the daily balances before its day and that day's postings up to it.
    pub async fn trial_balance(&self, at: Option<Timestamp>) -> ServiceResult<TrialBalance> {
        let at = at.unwrap_or_else(time::now);
        let mut session = self.db.session().await?;
        let balances = session.balances_at(at).await?;
        let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for b in &balances {
            let entry = totals.entry(b.currency.code().to_owned()).or_default();
            if b.balance > 0 { entry.0 += b.balance } else { entry.1 -= b.balance }
        }
        Ok(TrialBalance {
            at,
            accounts: described(&self.chart, balances),
            totals: totals
                .into_iter()
                .map(|(currency, (debits, credits))| CurrencyTotals { currency, debits, credits })
                .collect(),
        })
    }

    /// Every account with a balance now.
    pub async fn accounts(&self) -> ServiceResult<Vec<Account>> {
        Ok(self.trial_balance(None).await?.accounts)
    }

    /// Journal transactions in posting order, of one order if given.
    pub async fn entries(&self, order_id: Option<Uuid>, page: &PageRequest) -> ServiceResult<Page<JournalTransaction>> {
        let mut session = self.db.session().await?;
        let rows = session.journal(order_id, page).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |t| t.id))
    }

    /// `period`'s summary: each account's opening balance, movement and
    /// closing balance, from the daily balances.
    pub async fn summary(&self, period: Period) -> ServiceResult<PeriodSummary> {
        let (start, end) = (period.start(), period.next().start());
        let mut session = self.db.session().await?;
        let opening = session.balances_at(start - chrono::TimeDelta::microseconds(1)).await?;
        let movements = session.movements_between(start, end).await?;
        let closed = session.closed_periods_from(period).await?.first() == Some(&period);
        let mut accounts: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
        for b in opening {
            accounts.entry((b.account, b.market, b.currency.code().to_owned())).or_default().0 += b.balance;
        }
        for b in movements {
            accounts.entry((b.account, b.market, b.currency.code().to_owned())).or_default().1 += b.balance;
        }
        let accounts = accounts
            .into_iter()
            .map(|((account, market, currency), (opening, movement))| AccountInPeriod {
                account,
                market,
                currency,
                opening,
                movement,
                closing: opening + movement,
            })
            .collect();
        Ok(PeriodSummary { period: period.to_string(), closed, accounts })
    }

    /// Every closed period.
    pub async fn periods(&self) -> ServiceResult<Vec<ClosedPeriod>> {
        Ok(self.db.session().await?.closed_periods().await?)
    }

    /// Closes `period` (a month that has ended): nothing is posted dated in
    /// it from now on. Audited; closing a closed period changes nothing.
    pub async fn close(&self, actor: &Actor, period: Period) -> ServiceResult<ClosedPeriod> {
        let now = time::now();
        if !period.has_ended(now) {
            return Err(ServiceError::Validation(ordo_domain::ValidationErrors::single(
                "period",
                "period_not_ended",
                format!("{period} has not ended yet; only a past month can be closed"),
            )));
        }
        let mut tx = self.db.begin().await?;
        let closed = ClosedPeriod { period: period.to_string(), closed_at: now, closed_by: actor.name.clone() };
        if tx.close_period(&closed).await? {
            crate::audit::record(
                tx.as_mut(),
                actor,
                "ledger.period_closed",
                "ledger_period",
                &closed.period,
                None,
                &closed,
            )
            .await?;
            tx.commit().await?;
            return Ok(closed);
        }
        drop(tx);
        let periods = self.periods().await?;
        Ok(periods.into_iter().find(|p| p.period == closed.period).unwrap_or(closed))
    }

    /// Reopens a closed period. Audited.
    pub async fn reopen(&self, actor: &Actor, period: Period) -> ServiceResult<()> {
        let mut tx = self.db.begin().await?;
        let before = tx.closed_periods().await?.into_iter().find(|p| p.period == period.to_string());
        if !tx.reopen_period(period).await? {
            return Err(ServiceError::IllegalTransition { current: "open", action: "reopen" });
        }
        let before = before.map(|p| crate::audit::snapshot(&p));
        let after = serde_json::json!({"period": period.to_string(), "open": true});
        crate::audit::record(
            tx.as_mut(),
            actor,
            "ledger.period_reopened",
            "ledger_period",
            &period.to_string(),
            before,
            &after,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Posts the business records that have no journal transaction yet
    /// (those recorded before the ledger existed), each in its own
    /// transaction at its own time; returns how many it posted.
    pub async fn backfill(&self) -> ServiceResult<usize> {
        let mut posted = 0;
        loop {
            let mut session = self.db.session().await?;
            let sources = session.unposted_sources(500).await?;
            drop(session);
            let before = posted;
            for (kind, id) in &sources {
                let mut tx = self.db.begin().await?;
                let journal = match kind {
                    SourceKind::Invoice => tx.invoice(*id).await?.as_ref().and_then(ledger::for_invoice),
                    SourceKind::CreditNote => tx.credit_note(*id).await?.as_ref().and_then(ledger::for_credit_note),
                    SourceKind::Capture | SourceKind::Refund => match tx.payment(*id).await? {
                        Some(payment) => match tx.order(payment.order_id).await? {
                            Some(order) => {
                                ledger::for_payment(&payment, &order.market, ordo_domain::payment::OFFLINE_PROVIDER)
                            }
                            None => None,
                        },
                        None => None,
                    },
                    // Events that exist only in the ledger are never unposted.
                    SourceKind::Settlement | SourceKind::WriteOff | SourceKind::Manual | SourceKind::Reversal => None,
                };
                if journal.is_some() {
                    post(tx.as_mut(), journal).await?;
                    tx.commit().await?;
                    posted += 1;
                }
            }
            // Done, or only records that post nothing (a zero invoice) are left.
            if sources.len() < 500 || posted == before {
                return Ok(posted);
            }
        }
    }

    /// Proves the books: every transaction balances (and has its header),
    /// the daily balances equal the postings, debits equal credits per
    /// currency, every invoice, credit note, capture and refund has its
    /// postings, and `receivables` and each provider's clearing account
    /// hold what the business records say.
    pub async fn verify(&self) -> ServiceResult<LedgerReport> {
        let mut session = self.db.session().await?;
        let mut violations = Vec::new();
        for (id, sum) in session.unbalanced_transactions(10).await? {
            violations.push(format!(
                "journal transaction {id} does not balance: its postings add up to {sum}, or it has no header"
            ));
        }
        let posted = session.balances_from_postings().await?;
        let rolled = session.balances_at(time::now() + chrono::TimeDelta::days(36_500)).await?;
        if posted != rolled {
            let differs = posted
                .iter()
                .find(|p| !rolled.contains(p))
                .or_else(|| rolled.iter().find(|r| !posted.contains(r)))
                .map(|b| format!("{} ({}, {})", b.account, b.market, b.currency))
                .unwrap_or_default();
            violations.push(format!("the daily balances differ from the postings, first on {differs}"));
        }
        let mut per_currency: BTreeMap<&str, i64> = BTreeMap::new();
        let mut per_account: BTreeMap<(String, &str), i64> = BTreeMap::new();
        for b in &posted {
            *per_currency.entry(b.currency.code()).or_default() += b.balance;
            *per_account.entry((b.account.clone(), b.currency.code())).or_default() += b.balance;
        }
        for (currency, sum) in per_currency.iter().filter(|(_, sum)| **sum != 0) {
            violations.push(format!("debits and credits in {currency} differ by {sum}"));
        }
        let mut unposted = 0;
        for (kind, id) in session.unposted_sources(100).await? {
            // A zero invoice or credit note posts nothing, rightly.
            let posts_nothing = match kind {
                SourceKind::Invoice => session.invoice(id).await?.is_some_and(|i| ledger::for_invoice(&i).is_none()),
                SourceKind::CreditNote => {
                    session.credit_note(id).await?.is_some_and(|n| ledger::for_credit_note(&n).is_none())
                }
                _ => false,
            };
            if posts_nothing || unposted == 10 {
                continue;
            }
            unposted += 1;
            let kind = kind.as_str().replace('_', " ");
            violations.push(format!("{kind} {id} has no postings"));
        }
        let mut expected = session.expected_balances(ordo_domain::payment::OFFLINE_PROVIDER).await?;
        // Write-offs exist only in the ledger: the open invoice amounts are
        // what was invoiced and not paid, credited or written off.
        for (currency, amount) in session.posted_by_source(SourceKind::WriteOff, ledger::RECEIVABLES).await? {
            add_expected(&mut expected, ledger::RECEIVABLES, currency, amount);
        }
        // Clearing holds what was captured, less refunds, and what the
        // provider's settlement reports moved: fees, payouts, differences.
        for (provider, currency, amount) in session.settlement_clearing().await? {
            add_expected(&mut expected, &ledger::clearing(&provider), currency, amount);
        }
        for expected in expected {
            let actual = per_account.get(&(expected.account.clone(), expected.currency.as_str())).copied().unwrap_or(0);
            if actual != expected.amount {
                violations.push(format!(
                    "{} in {} holds {actual}, but the records say {}",
                    expected.account, expected.currency, expected.amount
                ));
            }
        }
        metrics::gauge!("ordo_ledger_violations").set(violations.len() as f64);
        Ok(LedgerReport { ok: violations.is_empty(), accounts: posted.len(), violations })
    }
}

fn add_expected(expected: &mut Vec<ordo_store::Expected>, account: &str, currency: String, amount: i64) {
    match expected.iter_mut().find(|e| e.account == account && e.currency == currency) {
        Some(e) => e.amount += amount,
        None => expected.push(ordo_store::Expected { account: account.to_owned(), currency, amount }),
    }
}

/// Proves the books periodically (what `ordo ledger verify` does): its
/// violations set the `ordo_ledger_violations` gauge, which the
/// `OrdoLedgerViolations` alert watches, and are logged as errors.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct VerifyLedger;

#[async_trait]
impl Job for VerifyLedger {
    const NAME: &'static str = "ledger.verify";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 3;
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let report = services.ledger.verify().await.map_err(job_error)?;
        for violation in &report.violations {
            tracing::error!(violation, "the ledger does not prove");
        }
        Ok(())
    }
}
