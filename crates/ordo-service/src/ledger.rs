//! The ledger's use cases: posting business records in their own
//! transactions ([`post`]), reading accounts, the journal and the trial
//! balance, and proving the books ([`LedgerService::verify`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use ordo_domain::ledger::{self, AccountBalance, JournalTransaction, SourceKind};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::{Timestamp, time};
use ordo_store::{Database, Transaction};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ServiceResult;

/// Names the journal list in its cursors.
pub const CURSOR_SCOPE: &str = "ledger_entries";

/// Writes `journal` (if the record posts anything) in `tx`: the caller's
/// transaction, the one that records the business event, so books and
/// operations never drift.
pub(crate) async fn post(tx: &mut dyn Transaction, journal: Option<JournalTransaction>) -> ServiceResult<()> {
    if let Some(journal) = journal {
        tx.insert_journal(&journal).await?;
        metrics::counter!("ordo_ledger_transactions_total", "source" => journal.source_kind.as_str()).increment(1);
    }
    Ok(())
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
    pub description: &'static str,
    /// The SKR03 account it maps to.
    #[schema(example = "1400")]
    pub skr03: &'static str,
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

fn described(balances: Vec<AccountBalance>) -> Vec<Account> {
    balances
        .into_iter()
        .map(|balance| {
            let (_, description, skr03) = ledger::chart_entry(&balance.account).copied().unwrap_or(("", "", ""));
            Account { balance, description, skr03 }
        })
        .collect()
}

#[derive(Debug, Clone)]
pub struct LedgerService {
    db: Arc<dyn Database>,
}

impl LedgerService {
    pub fn new(db: Arc<dyn Database>) -> Self {
        Self { db }
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
            accounts: described(balances),
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
        for (kind, id) in session.unposted_sources(10).await? {
            let kind = match kind {
                SourceKind::Invoice => "invoice",
                SourceKind::CreditNote => "credit note",
                SourceKind::Capture => "capture",
                SourceKind::Refund => "refund",
            };
            violations.push(format!("{kind} {id} has no postings"));
        }
        for expected in session.expected_balances(ordo_domain::payment::OFFLINE_PROVIDER).await? {
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
