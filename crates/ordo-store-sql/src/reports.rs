//! SQL of reports: [`report_repo!`](crate::report_repo).

use chrono::NaiveDate;
use ordo_domain::report::{Report, ReportFormat, ReportKind, ReportParams, ReportStatus};
use ordo_store::{PaymentRow, ReceivableRow, SalesRow, StoreResult};
use uuid::Uuid;

use crate::{Ts, corrupt};

pub const REPORT_COLUMNS: &str = "id, kind, day_from, day_to, market, format, watermark, status, progress, rows_written, \
                                  sha256, size, file_key, cached, error, created_by, created_at, finished_at";

#[derive(Debug, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub kind: String,
    pub day_from: NaiveDate,
    pub day_to: NaiveDate,
    pub market: Option<String>,
    pub format: String,
    pub watermark: String,
    pub status: String,
    pub progress: i16,
    pub rows_written: i64,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub file_key: Option<String>,
    pub cached: bool,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: Ts,
    pub finished_at: Option<Ts>,
}

impl ReportRow {
    pub fn into_report(self) -> StoreResult<Report> {
        Ok(Report {
            id: self.id,
            params: ReportParams {
                kind: ReportKind::parse(&self.kind).ok_or_else(|| corrupt("reports.kind", &self.kind))?,
                from: self.day_from,
                to: self.day_to,
                market: self.market,
                format: ReportFormat::parse(&self.format).ok_or_else(|| corrupt("reports.format", &self.format))?,
            },
            status: ReportStatus::parse(&self.status).ok_or_else(|| corrupt("reports.status", &self.status))?,
            progress: self.progress,
            rows: self.rows_written,
            sha256: self.sha256,
            size: self.size,
            file_key: self.file_key,
            watermark: self.watermark,
            cached: self.cached,
            error: self.error,
            created_by: self.created_by,
            created_at: self.created_at.0,
            finished_at: self.finished_at.map(|t| t.0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct SalesRecord {
    pub market: String,
    pub currency: String,
    pub sku: String,
    pub name: String,
    pub orders: i64,
    pub quantity: i64,
    pub net: i64,
    pub tax: i64,
    pub gross: i64,
}

impl From<SalesRecord> for SalesRow {
    fn from(r: SalesRecord) -> Self {
        SalesRow {
            market: r.market,
            currency: r.currency,
            sku: r.sku,
            name: r.name,
            orders: r.orders,
            quantity: r.quantity,
            net: r.net,
            tax: r.tax,
            gross: r.gross,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct PaymentRecord {
    pub id: Uuid,
    pub order_id: Uuid,
    pub market: String,
    pub kind: String,
    pub status: String,
    pub provider: String,
    pub provider_reference: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub created_at: Ts,
}

impl From<PaymentRecord> for PaymentRow {
    fn from(r: PaymentRecord) -> Self {
        PaymentRow {
            id: r.id,
            order_id: r.order_id,
            market: r.market,
            kind: r.kind,
            status: r.status,
            provider: r.provider,
            provider_reference: r.provider_reference,
            amount: r.amount,
            currency: r.currency,
            created_at: r.created_at.0,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct ReceivableRecord {
    pub order_id: Uuid,
    pub market: String,
    pub currency: String,
    pub open: i64,
    pub invoice_number: Option<String>,
    pub invoiced_at: Option<Ts>,
}

impl From<ReceivableRecord> for ReceivableRow {
    fn from(r: ReceivableRecord) -> Self {
        ReceivableRow {
            order_id: r.order_id,
            market: r.market,
            currency: r.currency,
            open: r.open,
            invoice_number: r.invoice_number,
            invoiced_at: r.invoiced_at.map(|t| t.0),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct StockMovementRecord {
    pub sku: String,
    pub location_id: Uuid,
    pub location_code: String,
    pub on_hand: i64,
    pub added: i64,
    pub shipped: i64,
    pub removed: i64,
    pub since: i64,
}

impl From<StockMovementRecord> for ordo_store::StockMovementRow {
    fn from(r: StockMovementRecord) -> Self {
        ordo_store::StockMovementRow {
            sku: r.sku,
            location_id: r.location_id,
            location_code: r.location_code,
            on_hand: r.on_hand,
            added: r.added,
            shipped: r.shipped,
            removed: r.removed,
            since: r.since,
        }
    }
}

/// A watermark part: how many rows and the latest change among them.
#[derive(Debug, sqlx::FromRow)]
pub struct MarkRow {
    pub rows: i64,
    pub latest: Option<Ts>,
}

impl MarkRow {
    pub fn text(&self) -> String {
        format!("{}@{}", self.rows, self.latest.map_or(0, |t| t.0.timestamp_micros()))
    }
}

/// Implements `ReportRepo` for `$session<C>` on `$db`.
#[macro_export]
macro_rules! report_repo {
    ($session:ident, $db:ident) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::credit_note::CreditNote;
            use ::ordo_domain::invoice::Invoice;
            use ::ordo_domain::order::OrderStatus;
            use ::ordo_domain::report::{Report, ReportKind};
            use ::ordo_store::{Cursor, PaymentRow, ReceivableRow, ReportRepo, SalesRow, StoreResult};
            use ::sqlx::types::Json;
            use ::uuid::Uuid;
            use $crate::invoices::Document;
            use $crate::reports::*;
            use $crate::{SqlSession, Ts};

            type Builder<'a> = ::sqlx::QueryBuilder<'a, ::sqlx::$db>;

            /// `AND <column> = market` if a market is given.
            fn push_market<'a>(query: &mut Builder<'a>, column: &str, market: Option<&'a str>) {
                if let Some(market) = market {
                    query.push(format!(" AND {column} = ")).push_bind(market);
                }
            }

            /// `AND (<at>, <id>) > cursor` if a cursor is given.
            fn push_after(query: &mut Builder<'_>, at: &str, id: &str, after: Cursor) {
                if let Some((t, uuid)) = after {
                    query.push(format!(" AND ({at}, {id}) > (")).push_bind(Ts(t)).push(", ").push_bind(uuid).push(")");
                }
            }

            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> $session<C> {
                /// The documents of `table` (`invoices` or `credit_notes`)
                /// issued in `[from, to)`, in the order issued, after `after`.
                async fn documents_between(
                    &mut self,
                    table: &str,
                    from: Timestamp,
                    to: Timestamp,
                    market: Option<&str>,
                    after: Cursor,
                    limit: i64,
                ) -> StoreResult<Vec<Json<Document>>> {
                    let mut query = Builder::new(format!("SELECT document FROM {table} WHERE issued_at >= "));
                    query.push_bind(Ts(from)).push(" AND issued_at < ").push_bind(Ts(to));
                    push_market(&mut query, "market", market);
                    push_after(&mut query, "issued_at", "id", after);
                    query.push(" ORDER BY issued_at, id LIMIT ").push_bind(limit);
                    query.build_query_scalar().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)
                }

                async fn report_mark(&mut self, mut query: Builder<'_>) -> StoreResult<String> {
                    let row: MarkRow =
                        query.build_query_as().persistent(self.persistent()).fetch_one(self.conn()).await.map_err(Self::map_err)?;
                    Ok(row.text())
                }
            }

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> ReportRepo
                for $session<C>
            {
                #[tracing::instrument(target = "ordo_db", name = "reports.insert", skip_all)]
                async fn insert_report(&mut self, r: &Report, cache_key: &str) -> StoreResult<()> {
                    ::sqlx::query(&format!(
                        "INSERT INTO reports ({REPORT_COLUMNS}, cache_key)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
                    ))
                    .bind(r.id)
                    .bind(r.params.kind.as_str())
                    .bind(r.params.from)
                    .bind(r.params.to)
                    .bind(&r.params.market)
                    .bind(r.params.format.as_str())
                    .bind(&r.watermark)
                    .bind(r.status.as_str())
                    .bind(r.progress)
                    .bind(r.rows)
                    .bind(&r.sha256)
                    .bind(r.size)
                    .bind(&r.file_key)
                    .bind(r.cached)
                    .bind(&r.error)
                    .bind(&r.created_by)
                    .bind(Ts(r.created_at))
                    .bind(r.finished_at.map(Ts))
                    .bind(cache_key)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.stock_between", skip_all)]
                async fn stock_between(
                    &mut self,
                    from: Timestamp,
                    to: Timestamp,
                    after: Option<(String, Uuid)>,
                    limit: i64,
                ) -> StoreResult<Vec<::ordo_store::StockMovementRow>> {
                    let mut query = Builder::new(
                        "SELECT s.sku, s.location_id, l.code AS location_code, s.on_hand,
                                CAST(COALESCE(SUM(CASE WHEN m.at < ",
                    );
                    query.push_bind(Ts(to)).push(" AND m.delta > 0 THEN m.delta END), 0) AS BIGINT) AS added,
                                CAST(COALESCE(SUM(CASE WHEN m.at < ").push_bind(Ts(to)).push(" AND m.shipped THEN -m.delta END), 0) AS BIGINT) AS shipped,
                                CAST(COALESCE(SUM(CASE WHEN m.at < ").push_bind(Ts(to)).push(" AND m.delta < 0 AND NOT m.shipped THEN -m.delta END), 0) AS BIGINT) AS removed,
                                CAST(COALESCE(SUM(CASE WHEN m.at >= ").push_bind(Ts(to)).push(" THEN m.delta END), 0) AS BIGINT) AS since
                           FROM stock_levels s
                           JOIN locations l ON l.id = s.location_id
                           LEFT JOIN stock_movements m ON m.sku = s.sku AND m.location_id = s.location_id AND m.at >= ");
                    query.push_bind(Ts(from));
                    query.push(" WHERE TRUE");
                    if let Some((sku, location)) = after {
                        query.push(" AND (s.sku, s.location_id) > (").push_bind(sku).push(", ").push_bind(location).push(")");
                    }
                    query.push(" GROUP BY s.sku, s.location_id, l.code, s.on_hand ORDER BY s.sku, s.location_id LIMIT ").push_bind(limit);
                    let rows: Vec<StockMovementRecord> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.get", skip_all)]
                async fn report(&mut self, id: Uuid) -> StoreResult<Option<Report>> {
                    let row: Option<ReportRow> = ::sqlx::query_as(&format!("SELECT {REPORT_COLUMNS} FROM reports WHERE id = $1"))
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(ReportRow::into_report).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.list", skip_all)]
                async fn reports(&mut self, exports: bool, before: Option<Uuid>, limit: i64) -> StoreResult<Vec<Report>> {
                    let mut query = Builder::new(format!("SELECT {REPORT_COLUMNS} FROM reports WHERE kind IN ("));
                    let mut kinds = query.separated(", ");
                    for kind in ReportKind::ALL.into_iter().filter(|k| k.is_export() == exports) {
                        kinds.push_bind(kind.as_str());
                    }
                    query.push(")");
                    if let Some(before) = before {
                        query.push(" AND id < ").push_bind(before);
                    }
                    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
                    let rows: Vec<ReportRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(ReportRow::into_report).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.cached", skip_all)]
                async fn cached_report(&mut self, cache_key: &str, watermark: &str) -> StoreResult<Option<Report>> {
                    let row: Option<ReportRow> = ::sqlx::query_as(&format!(
                        "SELECT {REPORT_COLUMNS} FROM reports
                          WHERE cache_key = $1 AND watermark = $2 AND status = 'succeeded' AND NOT cached
                          ORDER BY id LIMIT 1"
                    ))
                    .bind(cache_key)
                    .bind(watermark)
                    .persistent(self.persistent())
                    .fetch_optional(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    row.map(ReportRow::into_report).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.progress", skip_all)]
                async fn report_progress(&mut self, id: Uuid, progress: i16, rows: i64) -> StoreResult<bool> {
                    let done = ::sqlx::query("UPDATE reports SET progress = $2, rows_written = $3 WHERE id = $1 AND status = 'running'")
                        .bind(id)
                        .bind(progress)
                        .bind(rows)
                        .persistent(self.persistent())
                        .execute(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.finish", skip_all)]
                async fn finish_report(&mut self, r: &Report) -> StoreResult<bool> {
                    let done = ::sqlx::query(
                        "UPDATE reports SET status = $2, progress = $3, rows_written = $4, sha256 = $5, size = $6,
                                file_key = $7, error = $8, finished_at = $9, watermark = $10
                          WHERE id = $1 AND status = 'running'",
                    )
                    .bind(r.id)
                    .bind(r.status.as_str())
                    .bind(r.progress)
                    .bind(r.rows)
                    .bind(&r.sha256)
                    .bind(r.size)
                    .bind(&r.file_key)
                    .bind(&r.error)
                    .bind(r.finished_at.map(Ts))
                    .bind(&r.watermark)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.watermark", skip_all)]
                async fn report_watermark(
                    &mut self,
                    kind: ReportKind,
                    from: Timestamp,
                    to: Timestamp,
                    market: Option<&str>,
                ) -> StoreResult<String> {
                    let range = |query: &mut Builder<'_>, column: &str| {
                        query.push(format!(" WHERE {column} >= ")).push_bind(Ts(from));
                        query.push(format!(" AND {column} < ")).push_bind(Ts(to));
                    };
                    match kind {
                        ReportKind::Sales | ReportKind::Orders => {
                            let mut query = Builder::new("SELECT COUNT(*) AS rows, MAX(updated_at) AS latest FROM orders");
                            range(&mut query, "created_at");
                            push_market(&mut query, "market", market);
                            self.report_mark(query).await
                        }
                        ReportKind::Payments => {
                            let mut query = Builder::new(
                                "SELECT COUNT(*) AS rows, MAX(p.updated_at) AS latest FROM payments p JOIN orders o ON o.id = p.order_id",
                            );
                            range(&mut query, "p.created_at");
                            query.push(" AND p.kind IN ('capture', 'refund')");
                            push_market(&mut query, "o.market", market);
                            self.report_mark(query).await
                        }
                        ReportKind::Aging => {
                            // The postings up to the period's end, by when they count.
                            let mut query = Builder::new("SELECT COUNT(*) AS rows, MAX(posted_at) AS latest FROM ledger_postings WHERE posted_at < ");
                            query.push_bind(Ts(to));
                            push_market(&mut query, "market", market);
                            self.report_mark(query).await
                        }
                        ReportKind::Stock => {
                            // Any movement, or a new level, changes the report.
                            let query = Builder::new(
                                "SELECT (SELECT COUNT(*) FROM stock_movements) + (SELECT COUNT(*) FROM stock_levels) AS rows,
                                        (SELECT MAX(at) FROM stock_movements) AS latest",
                            );
                            self.report_mark(query).await
                        }
                        ReportKind::Customers | ReportKind::Products => {
                            let table = if kind == ReportKind::Customers { "customers" } else { "products" };
                            let mut query = Builder::new(format!("SELECT COUNT(*) AS rows, MAX(updated_at) AS latest FROM {table}"));
                            range(&mut query, "updated_at");
                            query.push(" AND archived_at IS NULL");
                            self.report_mark(query).await
                        }
                        ReportKind::Documents | ReportKind::Tax => {
                            // Documents never change once issued: a new one is the only change.
                            let mut invoices = Builder::new("SELECT COUNT(*) AS rows, MAX(issued_at) AS latest FROM invoices");
                            range(&mut invoices, "issued_at");
                            push_market(&mut invoices, "market", market);
                            let mut notes = Builder::new("SELECT COUNT(*) AS rows, MAX(issued_at) AS latest FROM credit_notes");
                            range(&mut notes, "issued_at");
                            push_market(&mut notes, "market", market);
                            Ok(format!("{}/{}", self.report_mark(invoices).await?, self.report_mark(notes).await?))
                        }
                    }
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.sales_between", skip_all)]
                async fn sales_between(&mut self, from: Timestamp, to: Timestamp, market: Option<&str>) -> StoreResult<Vec<SalesRow>> {
                    let mut query = Builder::new(
                        "SELECT o.market, o.currency, l.sku, MAX(l.name) AS name, COUNT(DISTINCT o.id) AS orders,
                                CAST(SUM(l.quantity) AS BIGINT) AS quantity, CAST(SUM(l.subtotal) AS BIGINT) AS net,
                                CAST(SUM(l.tax) AS BIGINT) AS tax, CAST(SUM(l.total) AS BIGINT) AS gross
                           FROM orders o JOIN order_lines l ON l.order_id = o.id
                          WHERE o.created_at >= ",
                    );
                    query.push_bind(Ts(from)).push(" AND o.created_at < ").push_bind(Ts(to));
                    push_market(&mut query, "o.market", market);
                    query.push(" AND o.status IN (");
                    let mut statuses = query.separated(", ");
                    for status in OrderStatus::ALL.into_iter().filter(|s| s.is_sale()) {
                        statuses.push_bind(status.as_str());
                    }
                    query.push(") GROUP BY o.market, o.currency, l.sku ORDER BY o.market, o.currency, l.sku");
                    let rows: Vec<SalesRecord> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(SalesRow::from).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.payments_between", skip_all)]
                async fn payments_between(
                    &mut self,
                    from: Timestamp,
                    to: Timestamp,
                    market: Option<&str>,
                    after: Cursor,
                    limit: i64,
                ) -> StoreResult<Vec<PaymentRow>> {
                    let mut query = Builder::new(
                        "SELECT p.id, p.order_id, o.market, p.kind, p.status, p.provider, p.provider_reference, p.amount,
                                p.currency, p.created_at
                           FROM payments p JOIN orders o ON o.id = p.order_id
                          WHERE p.kind IN ('capture', 'refund') AND p.created_at >= ",
                    );
                    query.push_bind(Ts(from)).push(" AND p.created_at < ").push_bind(Ts(to));
                    push_market(&mut query, "o.market", market);
                    push_after(&mut query, "p.created_at", "p.id", after);
                    query.push(" ORDER BY p.created_at, p.id LIMIT ").push_bind(limit);
                    let rows: Vec<PaymentRecord> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(PaymentRow::from).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.open_receivables", skip_all)]
                async fn open_receivables(
                    &mut self,
                    at: Timestamp,
                    market: Option<&str>,
                    after: Option<Uuid>,
                    limit: i64,
                ) -> StoreResult<Vec<ReceivableRow>> {
                    let mut query = Builder::new(
                        "SELECT t.order_id, t.market, t.currency, CAST(SUM(p.amount) AS BIGINT) AS open,
                                MIN(i.number) AS invoice_number, MIN(i.issued_at) AS invoiced_at
                           FROM ledger_transactions t
                           JOIN ledger_postings p ON p.transaction_id = t.id AND p.account = 'receivables'
                           LEFT JOIN invoices i ON i.order_id = t.order_id
                          WHERE t.posted_at < ",
                    );
                    query.push_bind(Ts(at));
                    push_market(&mut query, "t.market", market);
                    if let Some(after) = after {
                        query.push(" AND t.order_id > ").push_bind(after);
                    }
                    query.push(
                        " GROUP BY t.order_id, t.market, t.currency HAVING SUM(p.amount) <> 0 ORDER BY t.order_id LIMIT ",
                    );
                    query.push_bind(limit);
                    let rows: Vec<ReceivableRecord> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(ReceivableRow::from).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.orders_between", skip_all)]
                async fn orders_between(
                    &mut self,
                    from: Timestamp,
                    to: Timestamp,
                    market: Option<&str>,
                    after: Cursor,
                    limit: i64,
                ) -> StoreResult<Vec<::ordo_domain::order::Order>> {
                    let mut query = Builder::new(format!(
                        "SELECT {} FROM orders WHERE created_at >= ",
                        $crate::orders::ORDER_COLUMNS
                    ));
                    query.push_bind(Ts(from)).push(" AND created_at < ").push_bind(Ts(to));
                    push_market(&mut query, "market", market);
                    push_after(&mut query, "created_at", "id", after);
                    query.push(" ORDER BY created_at, id LIMIT ").push_bind(limit);
                    let mut rows: Vec<$crate::orders::OrderRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    if rows.is_empty() {
                        return Ok(Vec::new());
                    }
                    // Lines come in id order, and are matched to their orders in it.
                    rows.sort_by_key(|o| o.id);
                    let ids: Vec<Uuid> = rows.iter().map(|o| o.id).collect();
                    let lines = self.lines_of(&ids).await?;
                    let mut orders = $crate::orders::assemble(rows, lines)?;
                    orders.sort_by_key(|o| (o.created_at, *o.id.as_uuid()));
                    Ok(orders)
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.invoices_between", skip_all)]
                async fn invoices_between(
                    &mut self,
                    from: Timestamp,
                    to: Timestamp,
                    market: Option<&str>,
                    after: Cursor,
                    limit: i64,
                ) -> StoreResult<Vec<Invoice>> {
                    let rows = self.documents_between("invoices", from, to, market, after, limit).await?;
                    rows.into_iter().map(|j| j.0.decode()).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "reports.credit_notes_between", skip_all)]
                async fn credit_notes_between(
                    &mut self,
                    from: Timestamp,
                    to: Timestamp,
                    market: Option<&str>,
                    after: Cursor,
                    limit: i64,
                ) -> StoreResult<Vec<CreditNote>> {
                    let rows = self.documents_between("credit_notes", from, to, market, after, limit).await?;
                    rows.into_iter().map(|j| j.0.decode()).collect()
                }
            }
        };
    };
}
