//! Reports compiled in the background ([`CompileReport`]) into a file on
//! object storage, downloaded through a short-lived link.
//!
//! A report is read in bounded slices (one day of sales, or a page of
//! payments or documents after a cursor), written as CSV into a buffer
//! that is handed to the file store's multipart upload whenever it fills:
//! memory holds one slice and a few upload parts, whatever the report's
//! size. Between slices the report's progress is recorded, which is also
//! where a cancelled report stops (its upload is aborted).
//!
//! A report asked for with the parameters of a succeeded one over
//! unchanged data (the same watermark, see
//! [`ordo_store::ReportRepo::report_watermark`]) is served that report's
//! file at once: a hit of the `reports` cache in
//! `ordo_cache_requests_total`.

use std::collections::BTreeMap;
use std::io::Seek;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;
use ordo_domain::audit::Actor;
use ordo_domain::catalog::ProductFilter;
use ordo_domain::customer::CustomerFilter;
use ordo_domain::invoice::format_amount;
use ordo_domain::money::checked_sum;
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::report::{Report, ReportFormat, ReportKind, ReportParams, ReportStatus, day_start};
use ordo_domain::{Currency, Timestamp, ValidationErrors, time};
use ordo_jobs::{EnqueueOptions, Job, JobError, JobRun};
use ordo_store::{Cursor, Database};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::error::{internal, job_error};
use crate::files::{Files, Link};
use crate::{ServiceError, ServiceResult, Services};

/// Names the report list in its cursors.
pub const CURSOR_SCOPE: &str = "reports";

/// Rows read per page of a paged report.
const PAGE_ROWS: i64 = 2_000;

/// CSV buffered before it is handed to the upload.
const FLUSH_BYTES: usize = 256 * 1024;

/// Progress is recorded (and cancellation noticed) at most this often.
const TICK: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct ReportService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    files: Files,
}

impl ReportService {
    pub fn new(db: Arc<dyn Database>, queue: ordo_jobs::Queue, files: Files) -> Self {
        Self { db, queue, files }
    }

    /// Asks for a report: served at once from an earlier report with the
    /// same parameters over unchanged data, else compiled in the
    /// background (`cached` says which).
    pub async fn create(&self, actor: &Actor, params: ReportParams) -> ServiceResult<Report> {
        if params.kind.is_export() {
            return Err(ServiceError::Validation(ValidationErrors::single(
                "kind",
                "not_a_report",
                format!("{} is an export: ask /v1/exports", params.kind.as_str()),
            )));
        }
        self.request(actor, params).await
    }

    /// Asks for an export, as [`Self::create`] a report.
    pub async fn create_export(&self, actor: &Actor, params: ReportParams) -> ServiceResult<Report> {
        if !params.kind.is_export() {
            return Err(ServiceError::Validation(ValidationErrors::single(
                "kind",
                "not_an_export",
                format!("{} is a report: ask /v1/reports", params.kind.as_str()),
            )));
        }
        self.request(actor, params).await
    }

    async fn request(&self, actor: &Actor, params: ReportParams) -> ServiceResult<Report> {
        params.validate()?;
        let mut session = self.db.session().await?;
        if let Some(market) = &params.market
            && session.market(market).await?.is_none()
        {
            return Err(ServiceError::Validation(ValidationErrors::single(
                "market",
                "unknown_market",
                format!("market {market:?} does not exist"),
            )));
        }
        let (from, to) = params.window();
        let watermark = session.report_watermark(params.kind, from, to, params.market.as_deref()).await?;
        let cache_key = params.cache_key();
        let hit = match session.cached_report(&cache_key, &watermark).await? {
            Some(hit) => match &hit.file_key {
                Some(key) if self.files.exists(key).await? => Some(hit),
                _ => None,
            },
            None => None,
        };
        drop(session);
        let now = time::now();
        let mut report = Report {
            id: Uuid::now_v7(),
            params,
            status: ReportStatus::Running,
            progress: 0,
            rows: 0,
            sha256: None,
            size: None,
            file_key: None,
            watermark,
            cached: false,
            error: None,
            created_by: actor.name.clone(),
            created_at: now,
            finished_at: None,
        };
        let mut tx = self.db.begin().await?;
        if let Some(hit) = hit {
            metrics::counter!("ordo_cache_requests_total", "cache" => "reports", "result" => "hit").increment(1);
            report.status = ReportStatus::Succeeded;
            report.progress = 100;
            report.rows = hit.rows;
            report.sha256 = hit.sha256;
            report.size = hit.size;
            report.file_key = hit.file_key;
            report.cached = true;
            report.finished_at = Some(now);
        } else {
            metrics::counter!("ordo_cache_requests_total", "cache" => "reports", "result" => "miss").increment(1);
            ordo_jobs::enqueue(tx.as_mut(), &CompileReport { report_id: report.id }, EnqueueOptions::default()).await?;
        }
        tx.insert_report(&report, &report.params.cache_key()).await?;
        let action = if report.params.kind.is_export() { "export.requested" } else { "report.requested" };
        crate::audit::record(tx.as_mut(), actor, action, "report", report.id, None, &report).await?;
        if report.cached {
            announce(tx.as_mut(), &report).await?;
        }
        tx.commit().await?;
        if !report.cached {
            self.queue.wake();
        }
        Ok(report)
    }

    pub async fn get(&self, id: Uuid) -> ServiceResult<Report> {
        self.db.session().await?.report(id).await?.ok_or_else(|| ServiceError::not_found("report", id))
    }

    /// A report (`exports` false) or an export (true); the other kind is
    /// not found.
    pub async fn find(&self, exports: bool, id: Uuid) -> ServiceResult<Report> {
        match self.get(id).await? {
            report if report.params.kind.is_export() == exports => Ok(report),
            _ => Err(ServiceError::not_found(if exports { "export" } else { "report" }, id)),
        }
    }

    /// Reports (or exports), newest first.
    pub async fn list(&self, exports: bool, page: &PageRequest) -> ServiceResult<Page<Report>> {
        let rows = self.db.session().await?.reports(exports, page.after, page.fetch_limit()).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |r| r.id))
    }

    /// Cancels a running report: it stops at its next slice and stores
    /// no file.
    pub async fn cancel(&self, actor: &Actor, exports: bool, id: Uuid) -> ServiceResult<Report> {
        let mut report = self.find(exports, id).await?;
        if report.status.is_final() {
            return Err(ServiceError::ReportFinished { status: report.status.as_str() });
        }
        let before = crate::audit::snapshot(&report);
        report.status = ReportStatus::Cancelled;
        report.finished_at = Some(time::now());
        let mut tx = self.db.begin().await?;
        if !tx.finish_report(&report).await? {
            drop(tx);
            let now = self.get(id).await?;
            return Err(ServiceError::ReportFinished { status: now.status.as_str() });
        }
        let action = if exports { "export.cancelled" } else { "report.cancelled" };
        crate::audit::record(tx.as_mut(), actor, action, "report", id, Some(before), &report).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// A download link to a succeeded report's file.
    pub async fn link(&self, exports: bool, id: Uuid, origin: &str) -> ServiceResult<Link> {
        let report = self.find(exports, id).await?;
        match (&report.status, &report.file_key) {
            (ReportStatus::Succeeded, Some(key)) => Ok(self.files.link(key, origin, time::now()).await?),
            _ => Err(ServiceError::ReportNotReady { status: report.status.as_str() }),
        }
    }

    /// A succeeded report's file, streamed.
    pub async fn file(&self, id: Uuid) -> ServiceResult<crate::files::FileBody> {
        let report = self.get(id).await?;
        match (&report.status, &report.file_key) {
            (ReportStatus::Succeeded, Some(key)) => Ok(self.files.get(key).await?),
            _ => Err(ServiceError::ReportNotReady { status: report.status.as_str() }),
        }
    }

    /// Compiles a running report into its file and ends it succeeded; a
    /// report that is not running (cancelled, or done by another worker)
    /// is returned as it is. An error leaves it running, to be tried again.
    pub async fn compile(&self, id: Uuid, job: Option<&JobRun>) -> ServiceResult<Report> {
        let mut report = self.get(id).await?;
        if report.status != ReportStatus::Running {
            return Ok(report);
        }
        let started = Instant::now();
        let (from, to) = report.params.window();
        // Read again: what the file is compiled from is at least this new.
        report.watermark = self
            .db
            .session()
            .await?
            .report_watermark(report.params.kind, from, to, report.params.market.as_deref())
            .await?;
        let key = format!("reports/{}.{}", report.id, report.params.format.extension());
        let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        let body = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|item| (item, receiver))
        });
        let columns = report.params.kind.columns();
        let (header, sheet) = match report.params.format {
            ReportFormat::Csv => (Some(columns), None),
            ReportFormat::Jsonl => (None, None),
            ReportFormat::Xlsx => (None, Some(Sheet::new(columns).map_err(xlsx_error)?)),
        };
        let mut out = Out::new(sender, header, report.id, job, self.db.clone());
        out.sheet = sheet;
        let write = async {
            let written = self.write(&report.params, &report.watermark, &mut out).await;
            let written = match written {
                Ok(true) => out.finish().await.map(|()| true),
                other => other,
            };
            if !matches!(written, Ok(true)) {
                // Makes the upload abort rather than store a partial file.
                let _ = out.sender.send(Err(std::io::Error::other("the report stopped"))).await;
            }
            drop(out.sender);
            written.map(|done| done.then(|| (out.rows, hex::encode(out.hasher.finalize()), out.size)))
        };
        let (written, stored) = tokio::join!(write, self.files.put_stream(&key, body));
        let Some((rows, sha256, size)) = written? else {
            return self.get(id).await; // cancelled
        };
        let stored = stored?;
        debug_assert_eq!(stored, size);
        report.status = ReportStatus::Succeeded;
        report.progress = 100;
        report.rows = rows;
        report.sha256 = Some(sha256);
        report.size = Some(i64::try_from(size).unwrap_or(i64::MAX));
        report.file_key = Some(key);
        report.finished_at = Some(time::now());
        let mut tx = self.db.begin().await?;
        let finished = tx.finish_report(&report).await?;
        if finished {
            announce(tx.as_mut(), &report).await?;
        }
        tx.commit().await?;
        metrics::histogram!("ordo_report_seconds", "kind" => report.params.kind.as_str())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("ordo_report_rows_total", "kind" => report.params.kind.as_str()).increment(rows as u64);
        if finished { Ok(report) } else { self.get(id).await }
    }

    /// Writes the report's rows to `out`; false if it was cancelled.
    async fn write(&self, params: &ReportParams, watermark: &str, out: &mut Out<'_>) -> ServiceResult<bool> {
        let market = params.market.as_deref();
        let (from, to) = params.window();
        match params.kind {
            ReportKind::Sales => {
                let days = params.days();
                for (done, day) in (1..).zip(days_of(params.from, params.to)) {
                    let start = day_start(day);
                    let rows = self
                        .db
                        .session()
                        .await?
                        .sales_between(start, start + chrono::Duration::days(1), market)
                        .await?;
                    for r in rows {
                        let currency = Currency::parse(&r.currency).ok();
                        out.row(&[
                            day.to_string(),
                            r.market,
                            r.currency,
                            r.sku,
                            r.name,
                            r.orders.to_string(),
                            r.quantity.to_string(),
                            amount(r.net, currency),
                            amount(r.tax, currency),
                            amount(r.gross, currency),
                        ])?;
                    }
                    out.flush_if_full().await?;
                    if !out.tick(done * 100 / days).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Payments => {
                let mut after: Cursor = None;
                loop {
                    let page = self.db.session().await?.payments_between(from, to, market, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.created_at, last.id));
                    let reached = last.created_at;
                    for p in page {
                        let currency = Currency::parse(&p.currency).ok();
                        out.row(&[
                            p.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                            p.kind,
                            p.status,
                            p.market,
                            p.currency,
                            amount(p.amount, currency),
                            p.order_id.to_string(),
                            p.id.to_string(),
                            p.provider,
                            p.provider_reference.unwrap_or_default(),
                        ])?;
                    }
                    out.flush_if_full().await?;
                    if !out.tick(share(from, to, reached, 0, 100)).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Documents => {
                let mut after: Cursor = None;
                loop {
                    let page = self.db.session().await?.invoices_between(from, to, market, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.issued_at, last.id));
                    let reached = last.issued_at;
                    for i in page {
                        out.row(&[
                            "invoice".to_owned(),
                            i.number,
                            i.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                            i.market,
                            i.currency.code().to_owned(),
                            i.order_id.to_string(),
                            String::new(),
                            i.customer_name,
                            i.customer_email,
                            i.customer_vat_id.unwrap_or_default(),
                            format_amount(i.subtotal, i.currency),
                            format_amount(i.tax, i.currency),
                            format_amount(i.total, i.currency),
                        ])?;
                    }
                    out.flush_if_full().await?;
                    if !out.tick(share(from, to, reached, 0, 50)).await? {
                        return Ok(false);
                    }
                }
                let mut after: Cursor = None;
                loop {
                    let page =
                        self.db.session().await?.credit_notes_between(from, to, market, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.issued_at, last.id));
                    let reached = last.issued_at;
                    for n in page {
                        // Negative: the register's columns add up to what is owed.
                        out.row(&[
                            "credit_note".to_owned(),
                            n.number,
                            n.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                            n.market,
                            n.currency.code().to_owned(),
                            n.order_id.to_string(),
                            n.invoice_number,
                            n.customer_name,
                            n.customer_email,
                            n.customer_vat_id.unwrap_or_default(),
                            format_amount(-n.subtotal, n.currency),
                            format_amount(-n.tax, n.currency),
                            format_amount(-n.total, n.currency),
                        ])?;
                    }
                    out.flush_if_full().await?;
                    if !out.tick(share(from, to, reached, 50, 100)).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Tax => {
                // Per market, currency and rate: the documents, net and tax.
                let mut totals: BTreeMap<(String, Currency, i64), (i64, i64, i64)> = BTreeMap::new();
                let mut add = |market: &str, currency: Currency, rate: i64, net: i64, tax: i64| {
                    let t = totals.entry((market.to_owned(), currency, rate)).or_insert((0, 0, 0));
                    t.0 += 1;
                    t.1 = checked_sum([t.1, net]).map_err(|_| overflow())?;
                    t.2 = checked_sum([t.2, tax]).map_err(|_| overflow())?;
                    ServiceResult::Ok(())
                };
                let mut after: Cursor = None;
                loop {
                    let page = self.db.session().await?.invoices_between(from, to, market, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.issued_at, last.id));
                    let reached = last.issued_at;
                    for i in &page {
                        for line in &i.tax_breakdown {
                            add(&i.market, i.currency, line.rate_bp, line.net, line.tax)?;
                        }
                    }
                    if !out.tick(share(from, to, reached, 0, 50)).await? {
                        return Ok(false);
                    }
                }
                let mut after: Cursor = None;
                loop {
                    let page =
                        self.db.session().await?.credit_notes_between(from, to, market, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.issued_at, last.id));
                    let reached = last.issued_at;
                    for n in &page {
                        for line in &n.tax_breakdown {
                            add(&n.market, n.currency, line.rate_bp, -line.net, -line.tax)?;
                        }
                    }
                    if !out.tick(share(from, to, reached, 50, 100)).await? {
                        return Ok(false);
                    }
                }
                for ((market, currency, rate), (documents, net, tax)) in totals {
                    let gross = checked_sum([net, tax]).map_err(|_| overflow())?;
                    out.row(&[
                        market,
                        currency.code().to_owned(),
                        format!("{}.{:02}", rate / 100, rate % 100),
                        documents.to_string(),
                        format_amount(net, currency),
                        format_amount(tax, currency),
                        format_amount(gross, currency),
                    ])?;
                }
            }
            ReportKind::Aging => {
                // As of the end of the period's last day.
                let expected = expected_rows(watermark);
                let (mut after, mut done) = (None, 0_i64);
                loop {
                    let page = self.db.session().await?.open_receivables(to, market, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some(last.order_id);
                    done += page.len() as i64;
                    for r in page {
                        let currency = Currency::parse(&r.currency).ok();
                        let days = r.invoiced_at.map(|at| (to - at).num_days());
                        out.row(&[
                            r.market,
                            r.currency,
                            r.order_id.to_string(),
                            r.invoice_number.unwrap_or_default(),
                            r.invoiced_at.map(rfc3339).unwrap_or_default(),
                            days.map(|d| d.to_string()).unwrap_or_default(),
                            days.map_or("", ordo_domain::report::aging_bucket).to_owned(),
                            amount(r.open, currency),
                        ])?;
                    }
                    out.flush_if_full().await?;
                    // Postings, not orders, are counted: a rough share.
                    if !out.tick((done * 100 / expected).min(99)).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Stock => {
                // Closing: on hand now less what moved since the period's
                // end; opening: closing less what moved in the period.
                let expected = expected_rows(watermark);
                let (mut after, mut done) = (None, 0_i64);
                loop {
                    let page = self.db.session().await?.stock_between(from, to, after, PAGE_ROWS).await?;
                    let Some(last) = page.last() else { break };
                    after = Some((last.sku.clone(), last.location_id));
                    done += page.len() as i64;
                    for s in page {
                        let closing = s.on_hand - s.since;
                        let opening = closing - s.added + s.shipped + s.removed;
                        out.row(&[
                            s.sku,
                            s.location_code,
                            opening.to_string(),
                            s.added.to_string(),
                            s.shipped.to_string(),
                            s.removed.to_string(),
                            closing.to_string(),
                        ])?;
                    }
                    out.flush_if_full().await?;
                    // Levels and movements are counted: a rough share.
                    if !out.tick((done * 100 / expected).min(99)).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Orders => {
                let mut after: Cursor = None;
                loop {
                    let orders = self.db.session().await?.orders_between(from, to, market, after, PAGE_ROWS).await?;
                    let Some(last) = orders.last() else { break };
                    after = Some((last.created_at, *last.id.as_uuid()));
                    let reached = last.created_at;
                    for o in &orders {
                        if params.format == ReportFormat::Jsonl {
                            out.record(o)?;
                            continue;
                        }
                        let order = [
                            o.id.to_string(),
                            rfc3339(o.created_at),
                            o.status.as_str().to_owned(),
                            o.market.clone(),
                            o.currency.code().to_owned(),
                            o.customer_id.to_string(),
                            format_amount(o.subtotal, o.currency),
                            format_amount(o.tax, o.currency),
                            format_amount(o.total, o.currency),
                        ];
                        for l in &o.lines {
                            let mut row = order.to_vec();
                            row.extend([
                                l.line.to_string(),
                                l.sku.as_str().to_owned(),
                                l.name.clone(),
                                l.quantity.to_string(),
                                l.shipped_quantity.to_string(),
                                format_amount(l.unit_price, o.currency),
                                format_amount(l.subtotal, o.currency),
                                format_amount(l.tax, o.currency),
                                format_amount(l.total, o.currency),
                            ]);
                            out.row(&row)?;
                        }
                    }
                    out.flush_if_full().await?;
                    if !out.tick(share(from, to, reached, 0, 100)).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Customers => {
                let filter =
                    CustomerFilter { updated_since: Some(from), updated_before: Some(to), ..CustomerFilter::default() };
                let expected = expected_rows(watermark);
                let (mut page, mut done) = (PageRequest { limit: PAGE_ROWS as u32, after: None }, 0_i64);
                loop {
                    let customers = self.db.session().await?.list_customers(&filter, &page).await?;
                    let Some(last) = customers.last() else { break };
                    page.after = Some(*last.id.as_uuid());
                    done += customers.len() as i64;
                    for c in &customers {
                        if params.format == ReportFormat::Jsonl {
                            out.record(c)?;
                        } else {
                            out.row(&[
                                c.id.to_string(),
                                c.email.as_str().to_owned(),
                                c.name.clone(),
                                rfc3339(c.meta.created_at),
                                rfc3339(c.meta.updated_at),
                                json_text(&c.addresses)?,
                            ])?;
                        }
                    }
                    out.flush_if_full().await?;
                    if !out.tick(done * 100 / expected).await? {
                        return Ok(false);
                    }
                }
            }
            ReportKind::Products => {
                let filter =
                    ProductFilter { updated_since: Some(from), updated_before: Some(to), ..ProductFilter::default() };
                let expected = expected_rows(watermark);
                let (mut page, mut done) = (PageRequest { limit: PAGE_ROWS as u32, after: None }, 0_i64);
                loop {
                    let products = self.db.session().await?.list_products(&filter, &page).await?;
                    let Some(last) = products.last() else { break };
                    page.after = Some(*last.id.as_uuid());
                    done += products.len() as i64;
                    for p in &products {
                        if params.format == ReportFormat::Jsonl {
                            out.record(p)?;
                        } else {
                            out.row(&[
                                p.id.to_string(),
                                p.sku.as_str().to_owned(),
                                p.name.clone(),
                                p.active.to_string(),
                                rfc3339(p.meta.created_at),
                                rfc3339(p.meta.updated_at),
                                json_text(&p.prices)?,
                            ])?;
                        }
                    }
                    out.flush_if_full().await?;
                    if !out.tick(done * 100 / expected).await? {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(true)
    }
}

fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A nested value (addresses, prices) as one CSV field.
fn json_text(value: &impl serde::Serialize) -> ServiceResult<String> {
    serde_json::to_string(value).map_err(|e| internal(format!("writing a record: {e}")))
}

/// The rows a watermark (`<rows>@<latest>`) counted, at least 1.
fn expected_rows(watermark: &str) -> i64 {
    watermark.split('@').next().and_then(|n| n.parse().ok()).unwrap_or(1).max(1)
}

/// The days from `from` to `to`, both included.
fn days_of(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// How far `reached` is through `[from, to)`, scaled into `[low, high]`.
fn share(from: Timestamp, to: Timestamp, reached: Timestamp, low: i64, high: i64) -> i64 {
    let span = (to - from).num_seconds().max(1);
    let done = (reached - from).num_seconds().clamp(0, span);
    low + done * (high - low) / span
}

/// An amount in major units, or in minor units if the currency is unknown.
fn amount(minor: i64, currency: Option<Currency>) -> String {
    currency.map_or_else(|| minor.to_string(), |c| format_amount(minor, c))
}

/// Where a report's rows go: CSV into a buffer that is handed to the
/// upload as it fills, hashed and counted on the way.
struct Out<'a> {
    csv: csv::Writer<Vec<u8>>,
    /// The workbook the rows go to instead, for XLSX.
    sheet: Option<Sheet>,
    /// JSON Lines, written beside (exports in that format write no CSV).
    json: Vec<u8>,
    hasher: Sha256,
    rows: i64,
    size: u64,
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    report_id: Uuid,
    job: Option<&'a JobRun>,
    db: Arc<dyn Database>,
    last_tick: Instant,
}

impl<'a> Out<'a> {
    /// `header`: the CSV header, if the file is CSV.
    fn new(
        sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
        header: Option<&[&str]>,
        report_id: Uuid,
        job: Option<&'a JobRun>,
        db: Arc<dyn Database>,
    ) -> Self {
        let mut csv = csv_writer();
        if let Some(columns) = header {
            csv.write_record(columns).expect("writing to memory cannot fail");
        }
        Self {
            csv,
            sheet: None,
            json: Vec::new(),
            hasher: Sha256::new(),
            rows: 0,
            size: 0,
            sender,
            report_id,
            job,
            db,
            last_tick: Instant::now(),
        }
    }

    /// One JSON Lines record.
    fn record(&mut self, value: &impl serde::Serialize) -> ServiceResult<()> {
        serde_json::to_writer(&mut self.json, value).map_err(|e| internal(format!("writing a record: {e}")))?;
        self.json.push(b'\n');
        self.rows += 1;
        Ok(())
    }

    fn row(&mut self, fields: &[String]) -> ServiceResult<()> {
        match &mut self.sheet {
            Some(sheet) => sheet.row(fields).map_err(xlsx_error)?,
            None => self.csv.write_record(fields).map_err(|e| internal(format!("writing a report row: {e}")))?,
        }
        self.rows += 1;
        Ok(())
    }

    async fn flush_if_full(&mut self) -> ServiceResult<()> {
        if self.csv.get_ref().len() + self.json.len() >= FLUSH_BYTES { self.send().await } else { Ok(()) }
    }

    /// Hands the rest to the upload: what is buffered, or the workbook,
    /// written out to a temporary file and read back in parts.
    async fn finish(&mut self) -> ServiceResult<()> {
        let Some(sheet) = self.sheet.take() else { return self.send().await };
        let file = tokio::task::spawn_blocking(move || sheet.save())
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(xlsx_error)?;
        let mut file = tokio::fs::File::from_std(file);
        loop {
            let mut buffer = vec![0; FLUSH_BYTES];
            let n = file.read(&mut buffer).await.map_err(|e| internal(format!("reading the workbook: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            buffer.truncate(n);
            self.json = buffer;
            self.send().await?;
        }
    }

    /// Hands what is buffered to the upload.
    async fn send(&mut self) -> ServiceResult<()> {
        let mut buffer = std::mem::replace(&mut self.csv, csv_writer())
            .into_inner()
            .map_err(|e| internal(format!("writing a report: {}", e.error())))?;
        buffer.append(&mut self.json);
        if buffer.is_empty() {
            return Ok(());
        }
        self.hasher.update(&buffer);
        self.size += buffer.len() as u64;
        // Closed only when the upload failed; its error is the one reported.
        self.sender.send(Ok(Bytes::from(buffer))).await.map_err(|_| internal("the report's upload stopped"))
    }

    /// Records progress (at most every [`TICK`]); false if the report was
    /// cancelled meanwhile.
    async fn tick(&mut self, percent: i64) -> ServiceResult<bool> {
        if self.last_tick.elapsed() < TICK {
            return Ok(true);
        }
        self.last_tick = Instant::now();
        let percent = percent.clamp(0, 99) as i16;
        let mut tx = self.db.begin().await?;
        let running = tx.report_progress(self.report_id, percent, self.rows).await?;
        tx.commit().await?;
        if let Some(job) = self.job {
            job.progress(percent, Some(&format!("{} rows", self.rows))).await.map_err(|e| internal(e.to_string()))?;
        }
        Ok(running)
    }
}

/// Excel's most rows on a worksheet, its header included.
const XLSX_MAX_ROWS: u32 = 1_048_576;

/// An XLSX workbook written row by row in `rust_xlsxwriter`'s constant
/// memory mode: each row goes to a temporary file when the next begins.
struct Sheet {
    workbook: rust_xlsxwriter::Workbook,
    columns: &'static [&'static str],
    /// Which columns hold numbers (`NUMERIC_COLUMNS`).
    numeric: Vec<bool>,
    /// The worksheet being written, and the next row on it.
    sheet: usize,
    next: u32,
    /// Rows per worksheet, header included.
    max_rows: u32,
}

impl Sheet {
    fn new(columns: &'static [&'static str]) -> Result<Self, rust_xlsxwriter::XlsxError> {
        let numeric = columns.iter().map(|c| ordo_domain::report::NUMERIC_COLUMNS.contains(c)).collect();
        let mut sheet = Self {
            workbook: rust_xlsxwriter::Workbook::new(),
            columns,
            numeric,
            sheet: 0,
            next: 0,
            max_rows: XLSX_MAX_ROWS,
        };
        sheet.add_worksheet()?;
        Ok(sheet)
    }

    /// Starts a worksheet with the header.
    fn add_worksheet(&mut self) -> Result<(), rust_xlsxwriter::XlsxError> {
        let worksheet = self.workbook.add_worksheet_with_constant_memory()?;
        for (column, name) in (0..).zip(self.columns) {
            worksheet.write_string(0, column, *name)?;
        }
        self.sheet = self.workbook.worksheets().len() - 1;
        self.next = 1;
        Ok(())
    }

    fn row(&mut self, fields: &[String]) -> Result<(), rust_xlsxwriter::XlsxError> {
        if self.next >= self.max_rows {
            self.add_worksheet()?;
        }
        let (row, numeric) = (self.next, &self.numeric);
        let worksheet = self.workbook.worksheet_from_index(self.sheet)?;
        for ((column, field), number) in (0..).zip(fields).zip(numeric) {
            match field.parse::<f64>() {
                _ if field.is_empty() => {}
                Ok(value) if *number => {
                    worksheet.write_number(row, column, value)?;
                }
                _ => {
                    worksheet.write_string(row, column, field)?;
                }
            }
        }
        self.next += 1;
        Ok(())
    }

    /// The workbook as a file, read from its start.
    fn save(mut self) -> Result<std::fs::File, rust_xlsxwriter::XlsxError> {
        let mut file = tempfile::tempfile()?;
        self.workbook.save_to_writer(&mut file)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        Ok(file)
    }
}

#[allow(clippy::needless_pass_by_value)] // for `map_err`, which hands it over
fn xlsx_error(e: rust_xlsxwriter::XlsxError) -> ServiceError {
    internal(format!("writing the workbook: {e}"))
}

/// Totals past what an amount can hold: unreachable with real money, and
/// never written as a wrong figure.
fn overflow() -> ServiceError {
    internal("a report total exceeds the largest amount")
}

/// RFC 4180: CRLF after every record, fields quoted where needed.
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::with_capacity(FLUSH_BYTES + 4096))
}

/// Compiles a report (see the module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CompileReport {
    pub report_id: Uuid,
}

#[async_trait]
impl Job for CompileReport {
    const NAME: &'static str = "report.compile";
    const QUEUE: &'static str = "reports";
    const MAX_ATTEMPTS: i32 = 5;
    /// A report over years of orders takes minutes.
    const MAX_RUN_TIME: std::time::Duration = std::time::Duration::from_secs(3600);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(format!("report:{}", self.report_id))
    }

    async fn run(&self, services: &Services, run: &JobRun) -> Result<(), JobError> {
        services.reports.compile(self.report_id, Some(run)).await.map_err(job_error)?;
        Ok(())
    }

    /// The report ends failed with the job, rather than say "running" for
    /// work no job will do.
    async fn ended(&self, tx: &mut dyn ordo_store::Transaction, reason: &str) -> Result<(), ordo_store::StoreError> {
        let Some(mut report) = tx.report(self.report_id).await? else { return Ok(()) };
        report.status = ReportStatus::Failed;
        report.error = Some(format!("compiling stopped: {reason}"));
        report.finished_at = Some(time::now());
        if tx.finish_report(&report).await? {
            announce(tx, &report).await?;
        }
        Ok(())
    }
}

/// Records `report.succeeded` or `report.failed` (for webhooks) in `tx`.
async fn announce(tx: &mut dyn ordo_store::Transaction, report: &Report) -> Result<(), ordo_store::StoreError> {
    let event_type = match report.status {
        ReportStatus::Succeeded => "report.succeeded",
        ReportStatus::Failed => "report.failed",
        ReportStatus::Running | ReportStatus::Cancelled => return Ok(()),
    };
    let data = serde_json::to_value(report).map_err(|e| ordo_store::StoreError::Other(Box::new(e)))?;
    crate::webhooks::record(tx, event_type, report.id, data).await
}

/// A report compiled on a cron schedule (`[[reports.schedules]]`), over
/// the days its span names relative to each run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSchedule {
    /// Names the schedule: its runs are requested as `schedule:<name>`.
    pub name: String,
    /// When it runs (UTC), e.g. `"0 6 1 * *"`: 06:00 on the first of each month.
    pub cron: ordo_jobs::Schedule,
    pub kind: ReportKind,
    /// Which days: `previous_day`, `previous_week` or `previous_month`.
    pub span: ordo_domain::report::Span,
    /// Only this market; all if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<String>,
    /// `csv` (the default) or `xlsx`.
    #[serde(default)]
    pub format: ReportFormat,
}

impl ReportSchedule {
    /// The report a run at `tick` asks for.
    pub fn params(&self, tick: Timestamp) -> ReportParams {
        let (from, to) = self.span.days(tick.date_naive());
        ReportParams { kind: self.kind, from, to, market: self.market.clone(), format: self.format }
    }
}

/// Asks for a scheduled report at one tick of its schedule.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RequestScheduledReport {
    pub schedule: String,
    pub params: ReportParams,
}

#[async_trait]
impl Job for RequestScheduledReport {
    const NAME: &'static str = "report.scheduled";
    const QUEUE: &'static str = "reports";
    type Context = Services;

    async fn run(&self, services: &Services, _run: &JobRun) -> Result<(), JobError> {
        let actor = Actor::system(format!("schedule:{}", self.schedule));
        match services.reports.create(&actor, self.params.clone()).await {
            Ok(_) => Ok(()),
            // A schedule whose market no longer exists will not heal by retrying.
            Err(ServiceError::Validation(errors)) => Err(JobError::fatal(errors.to_string())),
            Err(e) => Err(job_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The sheets of a saved workbook, as their XML.
    fn sheets(sheet: Sheet) -> Vec<String> {
        let mut file = sheet.save().unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (1..)
            .map_while(|n| {
                let mut xml = String::new();
                zip.by_name(&format!("xl/worksheets/sheet{n}.xml")).ok()?.read_to_string(&mut xml).unwrap();
                Some(xml)
            })
            .collect()
    }

    #[test]
    fn a_workbook_writes_numbers_as_numbers_and_goes_on_to_a_new_worksheet_past_its_rows() {
        let mut sheet = Sheet::new(&["sku", "quantity", "net"]).unwrap();
        sheet.max_rows = 3; // the header and two rows a worksheet
        for i in 1..=5 {
            sheet.row(&[format!("00{i}"), i.to_string(), format!("{i}.50")]).unwrap();
        }
        let sheets = sheets(sheet);
        assert_eq!(sheets.len(), 3, "rows 1-2, 3-4 and 5, each under the header");
        for xml in &sheets {
            assert!(xml.contains("<t>sku</t>") && xml.contains("<t>net</t>"), "{xml}");
        }
        // A SKU of digits stays text; counts and amounts are numbers.
        assert!(sheets[0].contains("<t>001</t>") && sheets[0].contains("<v>1.5</v>"), "{}", sheets[0]);
        assert!(sheets[2].contains("<t>005</t>") && !sheets[2].contains("<t>004</t>"), "{}", sheets[2]);
        assert_eq!(sheets.iter().map(|x| x.matches("<row ").count()).sum::<usize>(), 5 + 3);
    }
}
