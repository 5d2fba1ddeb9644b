//! SQL of settlement reconciliation: [`settlement_repo!`](crate::settlement_repo).

use ordo_domain::Currency;
use ordo_domain::settlement::{Format, ItemStatus, LineKind, RunStatus, SettlementItem, SettlementRun};
use ordo_store::StoreResult;
use uuid::Uuid;

use crate::{Ts, corrupt};

pub const RUN_COLUMNS: &str = "id, provider, format, sha256, status, lines, chunks, chunks_done, window_from, window_to, \
                               counts, error, created_by, created_at, finished_at";

pub const ITEM_COLUMNS: &str = "run_id, line, line_id, kind, reference, status, amount, fee, currency, occurred_at, payment_id, expected, clearing";

/// Items inserted per statement (13 values each, within both drivers'
/// limits on bound parameters).
pub const ITEM_BATCH: usize = 1000;

/// References looked up per query.
pub const REFERENCE_BATCH: usize = 500;

#[derive(Debug, sqlx::FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub provider: String,
    pub format: String,
    pub sha256: String,
    pub status: String,
    pub lines: i64,
    pub chunks: i32,
    pub chunks_done: i32,
    pub window_from: Option<Ts>,
    pub window_to: Option<Ts>,
    pub counts: String,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: Ts,
    pub finished_at: Option<Ts>,
}

impl RunRow {
    pub fn into_run(self) -> StoreResult<SettlementRun> {
        let status = RunStatus::parse(&self.status).ok_or_else(|| corrupt("settlement_runs.status", &self.status))?;
        let progress = match status {
            RunStatus::Running => (i64::from(self.chunks_done) * 100 / i64::from(self.chunks.max(1))).min(99) as i16,
            RunStatus::Succeeded | RunStatus::Failed => 100,
        };
        Ok(SettlementRun {
            id: self.id,
            provider: self.provider,
            format: Format::parse(&self.format).ok_or_else(|| corrupt("settlement_runs.format", &self.format))?,
            sha256: self.sha256,
            status,
            lines: self.lines,
            chunks: self.chunks,
            chunks_done: self.chunks_done,
            progress,
            window_from: self.window_from.map(|t| t.0),
            window_to: self.window_to.map(|t| t.0),
            counts: serde_json::from_str(&self.counts).map_err(|e| corrupt("settlement_runs.counts", e))?,
            error: self.error,
            created_by: self.created_by,
            created_at: self.created_at.0,
            finished_at: self.finished_at.map(|t| t.0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct ItemRow {
    pub run_id: Uuid,
    pub line: i64,
    pub line_id: Option<String>,
    pub kind: String,
    pub reference: Option<String>,
    pub status: String,
    pub amount: i64,
    pub fee: i64,
    pub currency: String,
    pub occurred_at: Ts,
    pub payment_id: Option<Uuid>,
    pub expected: Option<i64>,
    pub clearing: i64,
}

impl ItemRow {
    pub fn into_item(self) -> StoreResult<SettlementItem> {
        Ok(SettlementItem {
            run_id: self.run_id,
            line: self.line,
            line_id: self.line_id,
            kind: LineKind::parse(&self.kind).ok_or_else(|| corrupt("settlement_items.kind", &self.kind))?,
            reference: self.reference,
            status: ItemStatus::parse(&self.status).ok_or_else(|| corrupt("settlement_items.status", &self.status))?,
            amount: self.amount,
            fee: self.fee,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt("settlement_items.currency", e.message))?,
            occurred_at: self.occurred_at.0,
            payment_id: self.payment_id,
            expected: self.expected,
            clearing: self.clearing,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct CandidateRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub market: String,
    pub kind: String,
    pub reference: String,
    pub amount: i64,
    pub currency: String,
    pub settled: bool,
}

/// Implements `SettlementRepo` for `$session<C>` on `$db`.
#[macro_export]
macro_rules! settlement_repo {
    ($session:ident, $db:ident) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::std::collections::{BTreeMap, HashSet};
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::settlement::{Candidate, ItemStatus, LineKind, RunStatus, SettlementItem, SettlementRun};
            use ::ordo_store::{SettlementRepo, StoreResult};
            use ::uuid::Uuid;
            use $crate::settlements::*;
            use $crate::{SqlSession, Ts};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> SettlementRepo
                for $session<C>
            {
                #[tracing::instrument(target = "ordo_db", name = "settlements.insert_run", skip_all)]
                async fn insert_settlement_run(&mut self, run: &SettlementRun, header: &str) -> StoreResult<bool> {
                    let counts = ::serde_json::to_string(&run.counts).unwrap_or_else(|_| "{}".to_owned());
                    let result = ::sqlx::query(&format!(
                        "INSERT INTO settlement_runs ({RUN_COLUMNS}, header)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                         ON CONFLICT (provider, sha256) DO NOTHING"
                    ))
                    .bind(run.id)
                    .bind(&run.provider)
                    .bind(run.format.as_str())
                    .bind(&run.sha256)
                    .bind(run.status.as_str())
                    .bind(run.lines)
                    .bind(run.chunks)
                    .bind(run.chunks_done)
                    .bind(run.window_from.map(Ts))
                    .bind(run.window_to.map(Ts))
                    .bind(counts)
                    .bind(&run.error)
                    .bind(&run.created_by)
                    .bind(Ts(run.created_at))
                    .bind(run.finished_at.map(Ts))
                    .bind(header)
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.insert_chunk", skip_all)]
                async fn insert_settlement_chunk(
                    &mut self,
                    run_id: Uuid,
                    seq: i32,
                    first_line: i64,
                    start: u64,
                    end: u64,
                ) -> StoreResult<()> {
                    // Files are bounded by the upload limit, far below i64::MAX.
                    let offset = |o: u64| i64::try_from(o).unwrap_or(i64::MAX);
                    ::sqlx::query(
                        "INSERT INTO settlement_chunks (run_id, seq, first_line, body, start_offset, end_offset)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(run_id)
                    .bind(seq)
                    .bind(first_line)
                    .bind(&[] as &[u8])
                    .bind(offset(start))
                    .bind(offset(end))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.provider_has_payments", skip_all)]
                async fn provider_has_payments(&mut self, provider: &str) -> StoreResult<bool> {
                    let found: Option<i32> = ::sqlx::query_scalar("SELECT 1 FROM payments WHERE provider = $1 LIMIT 1")
                        .bind(provider)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(found.is_some())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.run", skip_all)]
                async fn settlement_run(&mut self, id: Uuid) -> StoreResult<Option<SettlementRun>> {
                    let row: Option<RunRow> = ::sqlx::query_as(&format!("SELECT {RUN_COLUMNS} FROM settlement_runs WHERE id = $1"))
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(RunRow::into_run).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.run_by_file", skip_all)]
                async fn settlement_run_by_file(&mut self, provider: &str, sha256: &str) -> StoreResult<Option<SettlementRun>> {
                    let row: Option<RunRow> = ::sqlx::query_as(&format!(
                        "SELECT {RUN_COLUMNS} FROM settlement_runs WHERE provider = $1 AND sha256 = $2"
                    ))
                    .bind(provider)
                    .bind(sha256)
                    .persistent(self.persistent())
                    .fetch_optional(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    row.map(RunRow::into_run).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.runs", skip_all)]
                async fn settlement_runs(&mut self, before: Option<Uuid>, limit: i64) -> StoreResult<Vec<SettlementRun>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {RUN_COLUMNS} FROM settlement_runs WHERE TRUE"));
                    if let Some(before) = before {
                        query.push(" AND id < ").push_bind(before);
                    }
                    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
                    let rows: Vec<RunRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(RunRow::into_run).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.header", skip_all)]
                async fn settlement_header(&mut self, run_id: Uuid) -> StoreResult<String> {
                    ::sqlx::query_scalar("SELECT header FROM settlement_runs WHERE id = $1")
                        .bind(run_id)
                        .persistent(self.persistent())
                        .fetch_one(self.conn())
                        .await
                        .map_err(Self::map_err)
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.chunk", skip_all)]
                async fn settlement_chunk(&mut self, run_id: Uuid, seq: i32) -> StoreResult<Option<(i64, ::ordo_store::ChunkBody)>> {
                    let row: Option<(i64, Vec<u8>, Option<i64>, Option<i64>)> = ::sqlx::query_as(
                        "SELECT first_line, body, start_offset, end_offset FROM settlement_chunks WHERE run_id = $1 AND seq = $2",
                    )
                    .bind(run_id)
                    .bind(seq)
                    .persistent(self.persistent())
                    .fetch_optional(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(row.map(|(first_line, body, start, end)| {
                        let body = match (start, end) {
                            (Some(start), Some(end)) => ::ordo_store::ChunkBody::Range {
                                start: start.unsigned_abs(),
                                end: end.unsigned_abs(),
                            },
                            _ => ::ordo_store::ChunkBody::Inline(body),
                        };
                        (first_line, body)
                    }))
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.candidates", skip_all)]
                async fn settlement_candidates(&mut self, provider: &str, references: &[&str]) -> StoreResult<Vec<Candidate>> {
                    if references.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut rows: Vec<CandidateRow> = Vec::new();
                    // Short lists, so that the planner looks each up by the
                    // reference index rather than scanning against a long list.
                    for batch in references.chunks(REFERENCE_BATCH) {
                        let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(
                            "SELECT p.id, p.order_id, o.market, p.kind, p.provider_reference AS reference, p.amount, p.currency,
                                    EXISTS (SELECT 1 FROM settlement_items i WHERE i.payment_id = p.id
                                               AND i.status IN ('matched', 'amount_mismatch')) AS settled
                               FROM payments p JOIN orders o ON o.id = p.order_id
                              WHERE p.status = 'succeeded' AND p.kind IN ('capture', 'refund') AND p.provider = ",
                        );
                        query.push_bind(provider).push(" AND p.provider_reference IN (");
                        let mut list = query.separated(", ");
                        for reference in batch {
                            list.push_bind(*reference);
                        }
                        query.push(") ORDER BY p.id");
                        rows.extend(query.build_query_as::<CandidateRow>().fetch_all(self.conn()).await.map_err(Self::map_err)?);
                    }
                    rows.into_iter()
                        .map(|r| {
                            Ok(Candidate {
                                payment_id: r.id,
                                order_id: r.order_id,
                                market: r.market,
                                kind: if r.kind == "capture" { LineKind::Capture } else { LineKind::Refund },
                                reference: r.reference,
                                amount: r.amount,
                                currency: ::ordo_domain::Currency::parse(&r.currency)
                                    .map_err(|e| $crate::corrupt("payments.currency", e.message))?,
                                settled: r.settled,
                            })
                        })
                        .collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.see_line_ids", skip_all)]
                async fn see_line_ids(&mut self, provider: &str, line_ids: &[&str]) -> StoreResult<HashSet<String>> {
                    // Inserted by primary key: what comes back is new, the rest was seen.
                    let mut new = HashSet::new();
                    for batch in line_ids.chunks(ITEM_BATCH) {
                        let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new("INSERT INTO settlement_line_ids (provider, line_id) ");
                        query.push_values(batch, |mut row, id| {
                            row.push_bind(provider).push_bind(*id);
                        });
                        query.push(" ON CONFLICT (provider, line_id) DO NOTHING RETURNING line_id");
                        let rows: Vec<String> = query.build_query_scalar().fetch_all(self.conn()).await.map_err(Self::map_err)?;
                        new.extend(rows);
                    }
                    Ok(line_ids.iter().filter(|id| !new.contains(**id)).map(|id| (*id).to_owned()).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.insert_items", skip_all)]
                async fn insert_settlement_items(&mut self, provider: &str, items: &[SettlementItem]) -> StoreResult<()> {
                    for batch in items.chunks(ITEM_BATCH) {
                        let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!(
                            "INSERT INTO settlement_items (provider, {ITEM_COLUMNS}) "
                        ));
                        query.push_values(batch, |mut row, i| {
                            row.push_bind(provider)
                                .push_bind(i.run_id)
                                .push_bind(i.line)
                                .push_bind(&i.line_id)
                                .push_bind(i.kind.as_str())
                                .push_bind(&i.reference)
                                .push_bind(i.status.as_str())
                                .push_bind(i.amount)
                                .push_bind(i.fee)
                                .push_bind(i.currency.code())
                                .push_bind(Ts(i.occurred_at))
                                .push_bind(i.payment_id)
                                .push_bind(i.expected)
                                .push_bind(i.clearing);
                        });
                        query.build().execute(self.conn()).await.map_err(Self::map_err)?;
                    }
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.advance", skip_all)]
                async fn advance_settlement_run(&mut self, run_id: Uuid, seq: i32) -> StoreResult<bool> {
                    let result = ::sqlx::query(
                        "UPDATE settlement_runs SET chunks_done = chunks_done + 1 WHERE id = $1 AND chunks_done = $2 AND status = 'running'",
                    )
                    .bind(run_id)
                    .bind(seq)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.insert_missing_in_report", skip_all)]
                async fn insert_missing_in_report(&mut self, run: &SettlementRun) -> StoreResult<u64> {
                    let (Some(from), Some(to)) = (run.window_from, run.window_to) else {
                        return Ok(0);
                    };
                    let result = ::sqlx::query(&format!(
                        "INSERT INTO settlement_items (provider, {ITEM_COLUMNS})
                         SELECT p.provider, $1, $2 + ROW_NUMBER() OVER (ORDER BY p.id), NULL, p.kind, p.provider_reference,
                                'missing_in_report', CASE p.kind WHEN 'capture' THEN p.amount ELSE -p.amount END, 0,
                                p.currency, p.updated_at, p.id, CASE p.kind WHEN 'capture' THEN p.amount ELSE -p.amount END, 0
                           FROM payments p
                          WHERE p.provider = $3 AND p.status = 'succeeded' AND p.kind IN ('capture', 'refund')
                            AND p.updated_at >= $4 AND p.updated_at <= $5
                            AND NOT EXISTS (SELECT 1 FROM settlement_items i WHERE i.payment_id = p.id
                                               AND i.status IN ('matched', 'amount_mismatch'))"
                    ))
                    .bind(run.id)
                    .bind(run.lines + 1)
                    .bind(&run.provider)
                    .bind(Ts(from))
                    .bind(Ts(to))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(result.rows_affected())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.counts", skip_all)]
                async fn settlement_counts(&mut self, run_id: Uuid) -> StoreResult<BTreeMap<String, i64>> {
                    let rows: Vec<(String, i64)> = ::sqlx::query_as(
                        "SELECT status, CAST(COUNT(*) AS BIGINT) FROM settlement_items WHERE run_id = $1 GROUP BY status",
                    )
                    .bind(run_id)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(rows.into_iter().collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.finish", skip_all)]
                async fn finish_settlement_run(
                    &mut self,
                    run_id: Uuid,
                    status: RunStatus,
                    counts: &BTreeMap<String, i64>,
                    error: Option<&str>,
                    at: Timestamp,
                ) -> StoreResult<()> {
                    ::sqlx::query("UPDATE settlement_runs SET status = $2, counts = $3, error = $4, finished_at = $5 WHERE id = $1")
                        .bind(run_id)
                        .bind(status.as_str())
                        .bind(::serde_json::to_string(counts).unwrap_or_else(|_| "{}".to_owned()))
                        .bind(error)
                        .bind(Ts(at))
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.items", skip_all)]
                async fn settlement_items(
                    &mut self,
                    run_id: Uuid,
                    status: Option<ItemStatus>,
                    after: i64,
                    limit: i64,
                ) -> StoreResult<Vec<SettlementItem>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {ITEM_COLUMNS} FROM settlement_items WHERE run_id = "));
                    query.push_bind(run_id).push(" AND line > ").push_bind(after);
                    if let Some(status) = status {
                        query.push(" AND status = ").push_bind(status.as_str());
                    }
                    query.push(" ORDER BY line LIMIT ").push_bind(limit);
                    let rows: Vec<ItemRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(ItemRow::into_item).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "settlements.clearing", skip_all)]
                async fn settlement_clearing(&mut self) -> StoreResult<Vec<(String, String, i64)>> {
                    ::sqlx::query_as(
                        "SELECT provider, currency, CAST(SUM(clearing) AS BIGINT) FROM settlement_items GROUP BY provider, currency",
                    )
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)
                }
            }
        };
    };
}
