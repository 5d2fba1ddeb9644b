//! SQL of the ledger: [`ledger_repo!`](crate::ledger_repo).

use ordo_domain::ledger::{AccountBalance, JournalTransaction, Posting, SourceKind};
use ordo_domain::{Currency, Timestamp};
use ordo_store::{StoreError, StoreResult};
use uuid::Uuid;

use crate::{Ts, corrupt};

/// Balances spread over this many rows per account and day (chosen by
/// the order), so concurrent postings do not all queue on one row.
pub const BUCKETS: u128 = 8;

pub const HEADER_COLUMNS: &str = "id, market, currency, source_kind, source_id, order_id, posted_at, occurred_at, memo";

#[derive(Debug, sqlx::FromRow)]
pub struct HeaderRow {
    pub id: Uuid,
    pub market: String,
    pub currency: String,
    pub source_kind: String,
    pub source_id: Uuid,
    pub order_id: Uuid,
    pub posted_at: Ts,
    pub occurred_at: Ts,
    pub memo: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct PostingRow {
    pub transaction_id: Uuid,
    pub account: String,
    pub amount: i64,
}

#[derive(Debug, sqlx::FromRow)]
pub struct BalanceRow {
    pub account: String,
    pub market: String,
    pub currency: String,
    pub balance: i64,
}

impl BalanceRow {
    pub fn into_balance(self) -> StoreResult<AccountBalance> {
        Ok(AccountBalance {
            account: self.account,
            market: self.market,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt("ledger.currency", e.message))?,
            balance: self.balance,
        })
    }
}

/// Joins headers with their postings (both in transaction order).
pub fn assemble(headers: Vec<HeaderRow>, postings: Vec<PostingRow>) -> StoreResult<Vec<JournalTransaction>> {
    let mut postings = postings.into_iter().peekable();
    headers
        .into_iter()
        .map(|h| {
            let mut own = Vec::new();
            while let Some(p) = postings.next_if(|p| p.transaction_id == h.id) {
                own.push(Posting { account: p.account, amount: p.amount });
            }
            Ok(JournalTransaction {
                id: h.id,
                market: h.market,
                currency: Currency::parse(&h.currency)
                    .map_err(|e| corrupt("ledger_transactions.currency", e.message))?,
                source_kind: SourceKind::parse(&h.source_kind)
                    .ok_or_else(|| corrupt("ledger_transactions.source_kind", &h.source_kind))?,
                source_id: h.source_id,
                // The nil UUID stands for no order in the NOT NULL column.
                order_id: (!h.order_id.is_nil()).then_some(h.order_id),
                posted_at: h.posted_at.0,
                occurred_at: h.occurred_at.0,
                memo: h.memo,
                postings: own,
            })
        })
        .collect()
}

/// Sums balances by account, market and currency, dropping zeros, in
/// account order.
pub fn merge(rows: impl IntoIterator<Item = AccountBalance>) -> StoreResult<Vec<AccountBalance>> {
    let mut sums: std::collections::BTreeMap<(String, String, String), i64> = Default::default();
    let mut currencies = std::collections::HashMap::new();
    for b in rows {
        currencies.insert(b.currency.code().to_owned(), b.currency);
        let sum = sums.entry((b.account, b.market, b.currency.code().to_owned())).or_insert(0);
        // Money never wraps: a balance beyond i64 is refused, not folded.
        *sum = sum.checked_add(b.balance).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a ledger balance overflows 64 bits adding {} {}",
                b.balance,
                b.currency.code()
            ))
        })?;
    }
    Ok(sums
        .into_iter()
        .filter(|(_, balance)| *balance != 0)
        .map(|((account, market, currency), balance)| AccountBalance {
            account,
            market,
            currency: currencies[&currency],
            balance,
        })
        .collect())
}

/// The start of `at`'s day (UTC).
pub fn day_start(at: Timestamp) -> Timestamp {
    at.date_naive().and_hms_opt(0, 0, 0).map_or(at, |d| d.and_utc())
}

/// Implements `LedgerRepo` for `$session<C>` on `$db`, with the methods
/// the backend writes in its own dialect.
#[macro_export]
macro_rules! ledger_repo {
    ($session:ident, $db:ident { $($dialect:tt)* }) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::ledger::{AccountBalance, ClosedPeriod, JournalTransaction, Period, SourceKind};
            use ::ordo_domain::page::PageRequest;
            use ::ordo_store::{Expected, LedgerRepo, StoreResult};
            use ::uuid::Uuid;
            use $crate::ledger::*;
            use $crate::{SqlSession, Ts};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> LedgerRepo
                for $session<C>
            {
                $($dialect)*

                #[tracing::instrument(target = "ordo_db", name = "ledger.insert_journal", skip_all)]
                async fn insert_journal(&mut self, t: &JournalTransaction) -> StoreResult<()> {
                    let mut postings = ::sqlx::QueryBuilder::<::sqlx::$db>::new(
                        "INSERT INTO ledger_postings (transaction_id, line, account, market, currency, amount, posted_at) ",
                    );
                    postings.push_values(t.postings.iter().zip(1_i16..), |mut row, (p, line)| {
                        row.push_bind(t.id)
                            .push_bind(line)
                            .push_bind(&p.account)
                            .push_bind(&t.market)
                            .push_bind(t.currency.code())
                            .push_bind(p.amount)
                            .push_bind(Ts(t.posted_at));
                    });
                    postings.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    // The header (whose trigger proves the postings above balance)
                    // and the daily rows: on PostgreSQL in one statement, the header
                    // in a data-modifying CTE, one round trip fewer per journal;
                    // SQLite has no such CTEs and no round trips to save.
                    let combined = stringify!($db) == "Postgres";
                    let mut daily = ::sqlx::QueryBuilder::<::sqlx::$db>::new(if combined { "WITH header AS (" } else { "" });
                    daily.push(format!("INSERT INTO ledger_transactions ({HEADER_COLUMNS}) VALUES ("));
                    {
                        let mut header = daily.separated(", ");
                        header
                            .push_bind(t.id)
                            .push_bind(&t.market)
                            .push_bind(t.currency.code())
                            .push_bind(t.source_kind.as_str())
                            .push_bind(t.source_id)
                            .push_bind(t.order_id.unwrap_or(Uuid::nil()))
                            .push_bind(Ts(t.posted_at))
                            .push_bind(Ts(t.occurred_at))
                            .push_bind(&t.memo);
                    }
                    daily.push(")");
                    if combined {
                        daily.push(" RETURNING id) ");
                    } else {
                        daily.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                        daily.reset();
                    }
                    // By order: one database transaction's journals (an invoice and its
                    // credit note) share a bucket, and every journal takes its
                    // bucket's `receivables` row before the others but `bank` and
                    // `clearing:*` (accounts in name order), so concurrent
                    // postings wait for each other in one order and never deadlock.
                    let bucket = (t.order_id.unwrap_or(t.id).as_u128() % BUCKETS) as i16;
                    daily.push("INSERT INTO ledger_daily (day, account, market, currency, bucket, amount) ");
                    daily.push_values(&t.postings, |mut row, p| {
                        row.push_bind(t.day())
                            .push_bind(&p.account)
                            .push_bind(&t.market)
                            .push_bind(t.currency.code())
                            .push_bind(bucket)
                            .push_bind(p.amount);
                    });
                    daily.push(
                        " ON CONFLICT (day, account, market, currency, bucket) DO UPDATE SET amount = ledger_daily.amount + excluded.amount",
                    );
                    daily.build().persistent(self.persistent()).execute(self.conn()).await.map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.journal", skip_all)]
                async fn journal(&mut self, order_id: Option<Uuid>, page: &PageRequest) -> StoreResult<Vec<JournalTransaction>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {HEADER_COLUMNS} FROM ledger_transactions WHERE TRUE"));
                    if let Some(after) = page.after {
                        query.push(" AND id > ").push_bind(after);
                    }
                    if let Some(order_id) = order_id {
                        query.push(" AND order_id = ").push_bind(order_id);
                    }
                    query.push(" ORDER BY id LIMIT ").push_bind(page.fetch_limit());
                    let headers: Vec<HeaderRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    if headers.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(
                        "SELECT transaction_id, account, amount FROM ledger_postings WHERE transaction_id IN (",
                    );
                    let mut ids = query.separated(", ");
                    for h in &headers {
                        ids.push_bind(h.id);
                    }
                    query.push(") ORDER BY transaction_id, line");
                    let postings: Vec<PostingRow> =
                        query.build_query_as().fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    assemble(headers, postings)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.journal_transaction", skip_all)]
                async fn journal_transaction(&mut self, id: Uuid) -> StoreResult<Option<JournalTransaction>> {
                    let headers: Vec<HeaderRow> = ::sqlx::query_as(&format!("SELECT {HEADER_COLUMNS} FROM ledger_transactions WHERE id = $1"))
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_all(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    let postings: Vec<PostingRow> = ::sqlx::query_as(
                        "SELECT transaction_id, account, amount FROM ledger_postings WHERE transaction_id = $1 ORDER BY line",
                    )
                    .bind(id)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(assemble(headers, postings)?.pop())
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.source_posted", skip_all)]
                async fn source_posted(&mut self, kind: SourceKind, source_id: Uuid) -> StoreResult<bool> {
                    let found: Option<i32> = ::sqlx::query_scalar(
                        "SELECT 1 FROM ledger_transactions WHERE source_kind = $1 AND source_id = $2",
                    )
                    .bind(kind.as_str())
                    .bind(source_id)
                    .persistent(self.persistent())
                    .fetch_optional(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(found.is_some())
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.balances_at", skip_all)]
                async fn balances_at(&mut self, at: Timestamp) -> StoreResult<Vec<AccountBalance>> {
                    let rolled: Vec<BalanceRow> = ::sqlx::query_as(
                        "SELECT account, market, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_daily
                          WHERE day < $1 GROUP BY account, market, currency",
                    )
                    .bind(at.date_naive())
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    let tail: Vec<BalanceRow> = ::sqlx::query_as(
                        "SELECT account, market, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings
                          WHERE posted_at >= $1 AND posted_at <= $2 GROUP BY account, market, currency",
                    )
                    .bind(Ts(day_start(at)))
                    .bind(Ts(at))
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    let rows = rolled.into_iter().chain(tail).map(BalanceRow::into_balance).collect::<StoreResult<Vec<_>>>()?;
                    merge(rows)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.movements_between", skip_all)]
                async fn movements_between(&mut self, from: Timestamp, to: Timestamp) -> StoreResult<Vec<AccountBalance>> {
                    let rows: Vec<BalanceRow> = ::sqlx::query_as(
                        "SELECT account, market, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_daily
                          WHERE day >= $1 AND day < $2 GROUP BY account, market, currency",
                    )
                    .bind(from.date_naive())
                    .bind(to.date_naive())
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    merge(rows.into_iter().map(BalanceRow::into_balance).collect::<StoreResult<Vec<_>>>()?)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.balances_from_postings", skip_all)]
                async fn balances_from_postings(&mut self) -> StoreResult<Vec<AccountBalance>> {
                    let rows: Vec<BalanceRow> = ::sqlx::query_as(
                        "SELECT account, market, currency, CAST(SUM(amount) AS BIGINT) AS balance FROM ledger_postings GROUP BY account, market, currency",
                    )
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    merge(rows.into_iter().map(BalanceRow::into_balance).collect::<StoreResult<Vec<_>>>()?)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.unbalanced_transactions", skip_all)]
                async fn unbalanced_transactions(&mut self, limit: i64) -> StoreResult<Vec<(Uuid, i64)>> {
                    ::sqlx::query_as(
                        "SELECT p.transaction_id, CAST(SUM(p.amount) AS BIGINT) FROM ledger_postings p
                           LEFT JOIN ledger_transactions t ON t.id = p.transaction_id
                          GROUP BY p.transaction_id
                         HAVING SUM(p.amount) <> 0 OR COUNT(t.id) = 0
                          ORDER BY p.transaction_id LIMIT $1",
                    )
                    .bind(limit)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.unposted_sources", skip_all)]
                async fn unposted_sources(&mut self, limit: i64) -> StoreResult<Vec<(SourceKind, Uuid)>> {
                    let rows: Vec<(String, Uuid)> = ::sqlx::query_as(
                        "SELECT 'invoice', i.id FROM invoices i
                          WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.source_kind = 'invoice' AND t.source_id = i.id)
                         UNION ALL
                         SELECT 'credit_note', c.id FROM credit_notes c
                          WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.source_kind = 'credit_note' AND t.source_id = c.id)
                         UNION ALL
                         SELECT p.kind, p.id FROM payments p
                          WHERE p.status = 'succeeded' AND (p.kind = 'capture' OR (p.kind = 'refund' AND p.provider <> 'offline'))
                            AND NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.source_kind = p.kind AND t.source_id = p.id)
                         LIMIT $1",
                    )
                    .bind(limit)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    rows.into_iter()
                        .map(|(kind, id)| Ok((SourceKind::parse(&kind).ok_or_else(|| $crate::corrupt("source kind", &kind))?, id)))
                        .collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.posted_by_source", skip_all)]
                async fn posted_by_source(&mut self, kind: SourceKind, account: &str) -> StoreResult<Vec<(String, i64)>> {
                    ::sqlx::query_as(
                        "SELECT p.currency, CAST(SUM(p.amount) AS BIGINT) FROM ledger_postings p
                           JOIN ledger_transactions t ON t.id = p.transaction_id
                          WHERE t.source_kind = $1 AND p.account = $2 GROUP BY p.currency",
                    )
                    .bind(kind.as_str())
                    .bind(account)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.order_balance", skip_all)]
                async fn order_balance(&mut self, order_id: Uuid, account: &str) -> StoreResult<Vec<(String, i64)>> {
                    ::sqlx::query_as(
                        "SELECT p.currency, CAST(SUM(p.amount) AS BIGINT) FROM ledger_postings p
                           JOIN ledger_transactions t ON t.id = p.transaction_id
                          WHERE t.order_id = $1 AND p.account = $2 GROUP BY p.currency",
                    )
                    .bind(order_id)
                    .bind(account)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.closed_periods", skip_all)]
                async fn closed_periods(&mut self) -> StoreResult<Vec<ClosedPeriod>> {
                    let rows: Vec<(String, Ts, String)> =
                        ::sqlx::query_as("SELECT period, closed_at, closed_by FROM ledger_periods ORDER BY period")
                            .persistent(self.persistent())
                            .fetch_all(self.conn())
                            .await
                            .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(|(period, at, by)| ClosedPeriod { period, closed_at: at.0, closed_by: by }).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "ledger.reopen_period", skip_all)]
                async fn reopen_period(&mut self, period: Period) -> StoreResult<bool> {
                    let result = ::sqlx::query("DELETE FROM ledger_periods WHERE period = $1")
                        .bind(period.to_string())
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balance(account: &str, amount: i64) -> AccountBalance {
        let currency = Currency::parse("EUR").unwrap();
        AccountBalance { account: account.to_owned(), market: "DE".to_owned(), currency, balance: amount }
    }

    #[test]
    fn merge_sums_by_account_drops_zeros_and_refuses_to_wrap() {
        let merged =
            merge([balance("revenue", -500), balance("bank", 700), balance("revenue", -200), balance("bank", -700)])
                .unwrap();
        assert_eq!(merged.iter().map(|b| (b.account.as_str(), b.balance)).collect::<Vec<_>>(), [("revenue", -700)]);
        let overflow = merge([balance("bank", i64::MAX), balance("bank", 1)]).unwrap_err();
        assert!(overflow.to_string().contains("overflows 64 bits"), "{overflow}");
    }
}
