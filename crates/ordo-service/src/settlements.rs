//! Settlement reconciliation: importing a provider's settlement report
//! ([`SettlementService::import`]) and reconciling it in the background,
//! chunk by chunk ([`ReconcileSettlement`]).
//!
//! The import reads the file twice, streaming: once for its SHA-256 (the
//! same file imported again is the same run, and changes nothing), once to
//! check every line, so a malformed file is refused whole with an error per
//! row and nothing stored. A good file is streamed to the file store, its
//! chunks of whole records recorded as byte ranges, and a job reconciles
//! them: each chunk, read back by its range, in one transaction that
//! writes its items, posts its fees, payouts and differences, and counts
//! the chunk done, so a crash resumes after the last chunk committed.
//! Memory holds one chunk at a time, whatever the file's size.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::audit::Actor;
use ordo_domain::ledger::{JournalTransaction, SourceKind};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::payment::OFFLINE_PROVIDER;
use ordo_domain::settlement::{
    self, Format, ItemStatus, Layout, Line, LineKind, RunStatus, SettlementItem, SettlementRun,
};
use ordo_domain::validation::FieldError;
use ordo_domain::{Timestamp, ValidationErrors, time};
use ordo_jobs::{EnqueueOptions, Job, JobError, JobRun};
use ordo_store::{ChunkBody, Database};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{internal, job_error};
use crate::files::Files;
use crate::{ServiceError, ServiceResult, Services};

/// Names the run list in its cursors.
pub const RUNS_CURSOR_SCOPE: &str = "settlement_runs";
/// Names a run's item list in its cursors.
pub const ITEMS_CURSOR_SCOPE: &str = "settlement_items";

/// Lines reconciled per chunk unless configured otherwise.
pub const DEFAULT_CHUNK_LINES: usize = 5_000;

/// Row errors reported for a malformed file; the rest are counted.
const MAX_ROW_ERRORS: usize = 100;

/// The market of postings that belong to no order's market: payouts,
/// provider fee lines, and money that matches no payment.
pub const NO_MARKET: &str = "-";

#[derive(Debug, Clone)]
pub struct SettlementService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    files: Files,
    /// The payment provider Ordo is configured with.
    provider: String,
    chunk_lines: usize,
}

/// What the checking pass found in a good file.
#[derive(Debug)]
struct Scan {
    sha256: String,
    header: Vec<String>,
    lines: i64,
    /// Each chunk's byte range and first line.
    chunks: Vec<(u64, u64, i64)>,
    window: Option<(Timestamp, Timestamp)>,
}

impl SettlementService {
    pub fn new(
        db: Arc<dyn Database>,
        queue: ordo_jobs::Queue,
        files: Files,
        provider: String,
        chunk_lines: usize,
    ) -> Self {
        Self { db, queue, files, provider, chunk_lines: chunk_lines.max(1) }
    }

    /// Imports a settlement report of `provider` in `format` from `file`
    /// and starts reconciling it; the run, and whether it is new (the same
    /// file imported before is its earlier run, and nothing changes).
    pub async fn import(
        &self,
        actor: &Actor,
        provider: &str,
        format: Format,
        file: std::fs::File,
    ) -> ServiceResult<(SettlementRun, bool)> {
        self.check_provider(provider).await?;
        let chunk_lines = self.chunk_lines;
        let (file, scan) = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let scan = scan(&mut file, format, chunk_lines);
            (file, scan)
        })
        .await
        .map_err(|e| internal(e.to_string()))?;
        let scan = scan?;
        let mut session = self.db.session().await?;
        if let Some(run) = session.settlement_run_by_file(provider, &scan.sha256).await? {
            return Ok((run, false));
        }
        drop(session);
        let id = Uuid::now_v7();
        self.files.put_file(&file_key(id), file).await?;
        let run = SettlementRun {
            id,
            provider: provider.to_owned(),
            format,
            sha256: scan.sha256.clone(),
            status: RunStatus::Running,
            lines: scan.lines,
            chunks: i32::try_from(scan.chunks.len()).unwrap_or(i32::MAX),
            chunks_done: 0,
            progress: 0,
            window_from: scan.window.map(|w| w.0),
            window_to: scan.window.map(|w| w.1),
            counts: BTreeMap::new(),
            error: None,
            created_by: actor.name.clone(),
            created_at: time::now(),
            finished_at: None,
        };
        let header = serde_json::to_string(&scan.header).map_err(|e| internal(e.to_string()))?;
        let mut tx = self.db.begin().await?;
        if !tx.insert_settlement_run(&run, &header).await? {
            drop(tx);
            // Imported meanwhile by another request.
            let mut session = self.db.session().await?;
            let existing = session.settlement_run_by_file(provider, &scan.sha256).await?;
            return existing.map(|run| (run, false)).ok_or(internal("a settlement run vanished"));
        }
        for (seq, (start, end, first_line)) in scan.chunks.iter().enumerate() {
            tx.insert_settlement_chunk(run.id, seq as i32, *first_line, *start, *end).await?;
        }
        crate::audit::record(tx.as_mut(), actor, "settlement.imported", "settlement_run", run.id, None, &run).await?;
        ordo_jobs::enqueue(tx.as_mut(), &ReconcileSettlement { run_id: run.id }, EnqueueOptions::default()).await?;
        tx.commit().await?;
        self.queue.wake();
        metrics::counter!("ordo_settlement_lines_imported_total").increment(scan.lines as u64);
        Ok((run, true))
    }

    /// A provider's report can be imported if Ordo is configured with it or
    /// has payments of it; never offline money.
    async fn check_provider(&self, provider: &str) -> ServiceResult<()> {
        let known = provider != OFFLINE_PROVIDER
            && (provider == self.provider || self.db.session().await?.provider_has_payments(provider).await?);
        if known {
            Ok(())
        } else {
            Err(ServiceError::Validation(ValidationErrors::single(
                "provider",
                "unknown_provider",
                format!(
                    "{provider:?} is not a payment provider of this Ordo (it is configured with {:?})",
                    self.provider
                ),
            )))
        }
    }

    pub async fn run(&self, id: Uuid) -> ServiceResult<SettlementRun> {
        self.db.session().await?.settlement_run(id).await?.ok_or_else(|| ServiceError::not_found("settlement run", id))
    }

    /// Runs, newest first.
    pub async fn runs(&self, page: &PageRequest) -> ServiceResult<Page<SettlementRun>> {
        let rows = self.db.session().await?.settlement_runs(page.after, page.fetch_limit()).await?;
        Ok(Page::from_rows(RUNS_CURSOR_SCOPE, page, rows, |r| r.id))
    }

    /// A run's items in line order, of one status if given. The cursor
    /// carries the last line (as the low bits of a UUID).
    pub async fn items(
        &self,
        run_id: Uuid,
        status: Option<ItemStatus>,
        page: &PageRequest,
    ) -> ServiceResult<Page<SettlementItem>> {
        self.run(run_id).await?;
        let after = page.after.map_or(0, |a| a.as_u128() as i64);
        let rows = self.db.session().await?.settlement_items(run_id, status, after, page.fetch_limit()).await?;
        Ok(Page::from_rows(ITEMS_CURSOR_SCOPE, page, rows, |i| Uuid::from_u128(i.line as u128)))
    }

    /// Up to `limit` of a run's items after line `after`: for streaming
    /// them all out.
    pub async fn item_batch(
        &self,
        run_id: Uuid,
        status: Option<ItemStatus>,
        after: i64,
        limit: i64,
    ) -> ServiceResult<Vec<SettlementItem>> {
        Ok(self.db.session().await?.settlement_items(run_id, status, after, limit).await?)
    }

    /// Reconciles the run's chunks not done yet, then flags the payments
    /// its report misses and ends it. Resumable at any point.
    pub async fn reconcile(&self, run_id: Uuid, progress: Option<&JobRun>) -> ServiceResult<SettlementRun> {
        let header: Vec<String> = {
            let raw = self.db.session().await?.settlement_header(run_id).await?;
            serde_json::from_str(&raw).map_err(|e| internal(e.to_string()))?
        };
        loop {
            let run = self.run(run_id).await?;
            if run.status != RunStatus::Running {
                return Ok(run);
            }
            if run.chunks_done >= run.chunks {
                return self.finish(run).await;
            }
            let fields: Vec<&str> = header.iter().map(String::as_str).collect();
            let layout = Layout::new(run.format, &fields).map_err(|e| internal(e.message))?;
            match self.reconcile_chunk(&run, &layout).await {
                Ok(()) => {}
                Err(ServiceError::Validation(errors)) => {
                    // Checked at import: only a changed stored chunk gets here.
                    let error = format!("chunk {} no longer reads: {errors}", run.chunks_done);
                    let mut tx = self.db.begin().await?;
                    let counts = tx.settlement_counts(run.id).await?;
                    tx.finish_settlement_run(run.id, RunStatus::Failed, &counts, Some(&error), time::now()).await?;
                    tx.commit().await?;
                    return self.run(run_id).await;
                }
                Err(e) => return Err(e),
            }
            if let Some(job) = progress {
                let done = (i64::from(run.chunks_done + 1) * 100 / i64::from(run.chunks.max(1))) as i16;
                job.progress(done.min(99), Some(&format!("chunk {} of {}", run.chunks_done + 1, run.chunks)))
                    .await
                    .map_err(|e| internal(e.to_string()))?;
            }
        }
    }

    async fn reconcile_chunk(&self, run: &SettlementRun, layout: &Layout) -> ServiceResult<()> {
        let seq = run.chunks_done;
        let Some((first_line, body)) = self.db.session().await?.settlement_chunk(run.id, seq).await? else {
            return Err(internal(format!("settlement run {} lacks chunk {seq}", run.id)));
        };
        let body = match body {
            ChunkBody::Range { start, end } => self.files.get_range(&file_key(run.id), start, end).await?,
            ChunkBody::Inline(body) => bytes::Bytes::from(body),
        };
        let lines = read_chunk(layout, first_line, &body)?;
        drop(body);
        let references: Vec<&str> = {
            let set: HashSet<&str> = lines
                .iter()
                .filter(|l| matches!(l.kind, LineKind::Capture | LineKind::Refund))
                .filter_map(|l| l.reference.as_deref())
                .collect();
            set.into_iter().collect()
        };
        let ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
        let mut tx = self.db.begin().await?;
        let seen_before = tx.see_line_ids(&run.provider, &ids).await?;
        let mut candidates: HashMap<String, Vec<settlement::Candidate>> = HashMap::new();
        for candidate in tx.settlement_candidates(&run.provider, &references).await? {
            candidates.entry(candidate.reference.clone()).or_default().push(candidate);
        }
        let mut seen_here = HashSet::new();
        let mut items = Vec::with_capacity(lines.len());
        // Postings summed per market, currency and day: one journal
        // transaction each, posted when the day's last line occurred.
        let mut groups: BTreeMap<GroupKey, (Timestamp, BTreeMap<String, i64>)> = BTreeMap::new();
        let mut currencies = HashMap::new();
        for line in &lines {
            let seen = seen_before.contains(&line.id) || !seen_here.insert(line.id.as_str());
            let own = line.reference.as_ref().and_then(|r| candidates.get_mut(r)).map_or(&mut [][..], |c| &mut c[..]);
            let outcome = settlement::reconcile(line, seen, own);
            let postings = settlement::postings(&run.provider, line, &outcome);
            if !postings.is_empty() {
                let market = outcome.payment.as_ref().map_or(NO_MARKET, |p| p.market.as_str());
                currencies.insert(line.currency.code(), line.currency);
                let group = groups
                    .entry((market.to_owned(), line.currency.code().to_owned(), line.occurred_at.date_naive()))
                    .or_insert((line.occurred_at, BTreeMap::new()));
                group.0 = group.0.max(line.occurred_at);
                for (account, amount) in postings {
                    *group.1.entry(account).or_insert(0) += amount;
                }
            }
            metrics::counter!("ordo_settlement_items_total", "status" => outcome.status.as_str()).increment(1);
            items.push(SettlementItem {
                run_id: run.id,
                line: line.line,
                line_id: Some(line.id.clone()),
                kind: line.kind,
                reference: line.reference.clone(),
                status: outcome.status,
                amount: line.amount,
                fee: line.fee,
                currency: line.currency,
                occurred_at: line.occurred_at,
                payment_id: outcome.payment.as_ref().map(|p| p.payment_id),
                expected: outcome.expected,
                clearing: outcome.clearing,
            });
        }
        tx.insert_settlement_items(&run.provider, &items).await?;
        for ((market, currency, _), (at, postings)) in groups {
            let journal = JournalTransaction::new(
                &market,
                currencies[currency.as_str()],
                (SourceKind::Settlement, run.id),
                None,
                at,
                postings,
            );
            match journal {
                Ok(mut journal) => {
                    // Many per run: each its own source id, the run named in its items.
                    journal.source_id = journal.id;
                    crate::ledger::post(tx.as_mut(), Some(journal)).await?;
                }
                Err(ordo_domain::ledger::JournalError::TooFew) => {} // nothing moved
                Err(e) => return Err(internal(format!("settlement postings: {e}"))),
            }
        }
        if !tx.advance_settlement_run(run.id, seq).await? {
            // Another worker did this chunk meanwhile; its work stands.
            return Ok(());
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish(&self, run: SettlementRun) -> ServiceResult<SettlementRun> {
        let mut tx = self.db.begin().await?;
        let missing = tx.insert_missing_in_report(&run).await?;
        metrics::counter!("ordo_settlement_items_total", "status" => "missing_in_report").increment(missing);
        let counts = tx.settlement_counts(run.id).await?;
        tx.finish_settlement_run(run.id, RunStatus::Succeeded, &counts, None, time::now()).await?;
        tx.commit().await?;
        self.run(run.id).await
    }
}

/// The postings of a chunk are summed per market, currency and day.
type GroupKey = (String, String, chrono::NaiveDate);

/// Reads `[start, end)` of `file`.
/// Where a run's file is kept on the file store.
fn file_key(run_id: Uuid) -> String {
    format!("settlements/{run_id}/source.csv")
}

fn reader<R: Read>(source: R, headers: bool) -> csv::Reader<R> {
    csv::ReaderBuilder::new().has_headers(headers).flexible(true).from_reader(source)
}

/// Hashes `file` and checks every line of it, streaming; its chunks'
/// byte ranges for storing it.
fn scan(file: &mut std::fs::File, format: Format, chunk_lines: usize) -> Result<Scan, ServiceError> {
    let io = |e: std::io::Error| internal(format!("reading the uploaded file: {e}"));
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    let size = loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break file.stream_position().map_err(io)?;
        }
        hasher.update(&buffer[..n]);
    };
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut csv = reader(std::io::BufReader::new(&mut *file), true);
    let header: Vec<String> = match csv.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => return Err(file_error("invalid_csv", format!("the header does not read as CSV: {e}"))),
    };
    let fields: Vec<&str> = header.iter().map(String::as_str).collect();
    let layout = Layout::new(format, &fields).map_err(|e| file_error(e.code, e.message))?;
    let (mut errors, mut bad_rows) = (ValidationErrors::new(), 0_usize);
    let (mut lines, mut chunks, mut window) = (0_i64, Vec::<(u64, u64, i64)>::new(), None::<(Timestamp, Timestamp)>);
    let mut record = csv::StringRecord::new();
    loop {
        let start = csv.position().clone();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(start.line(), csv::Position::line) as i64;
                if lines % chunk_lines as i64 == 0 {
                    let at = record.position().map_or(start.byte(), csv::Position::byte);
                    if let Some(last) = chunks.last_mut() {
                        last.1 = at;
                    }
                    chunks.push((at, size, line));
                }
                lines += 1;
                let fields: Vec<&str> = record.iter().collect();
                match layout.line(line, &fields) {
                    Ok(l) if matches!(l.kind, LineKind::Capture | LineKind::Refund) => {
                        window = Some(window.map_or((l.occurred_at, l.occurred_at), |(from, to)| {
                            (from.min(l.occurred_at), to.max(l.occurred_at))
                        }));
                    }
                    Ok(_) => {}
                    Err(row) => {
                        bad_rows += 1;
                        if bad_rows <= MAX_ROW_ERRORS {
                            for e in row {
                                errors.add(e.field, e.code, e.message);
                            }
                        }
                    }
                }
            }
            Err(e) => {
                bad_rows += 1;
                let line = e.position().map_or(start.line(), csv::Position::line);
                if bad_rows <= MAX_ROW_ERRORS {
                    errors.add(format!("line[{line}]"), "invalid_csv", format!("the line does not read as CSV: {e}"));
                }
                if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }) {
                    break; // an I/O error: no further line can be read
                }
            }
        }
    }
    if bad_rows > MAX_ROW_ERRORS {
        errors.add(
            "file",
            "more_errors",
            format!("{} more lines have errors; the first {MAX_ROW_ERRORS} are listed", bad_rows - MAX_ROW_ERRORS),
        );
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    if lines == 0 {
        return Err(file_error("empty_file", "the file has a header but no lines".to_owned()));
    }
    let sha256 = format!("{:x}", hasher.finalize());
    Ok(Scan { sha256, header, lines, chunks, window })
}

fn file_error(code: impl Into<std::borrow::Cow<'static, str>>, message: String) -> ServiceError {
    ServiceError::Validation(ValidationErrors::single("file", code, message))
}

/// The lines of a stored chunk.
fn read_chunk(layout: &Layout, first_line: i64, body: &[u8]) -> ServiceResult<Vec<Line>> {
    let mut csv = reader(body, false);
    let mut lines = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut errors = ValidationErrors::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = first_line + record.position().map_or(1, csv::Position::line) as i64 - 1;
                let fields: Vec<&str> = record.iter().collect();
                match layout.line(line, &fields) {
                    Ok(l) => lines.push(l),
                    Err(row) => row.into_iter().for_each(|e: FieldError| errors.add(e.field, e.code, e.message)),
                }
            }
            Err(e) => {
                errors.add("chunk", "invalid_csv", e.to_string());
                break;
            }
        }
    }
    Ok(errors.into_result(|| lines)?)
}

/// Reconciles a settlement run, chunk by chunk (see the module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReconcileSettlement {
    pub run_id: Uuid,
}

#[async_trait]
impl Job for ReconcileSettlement {
    const NAME: &'static str = "settlement.reconcile";
    const QUEUE: &'static str = "maintenance";
    const MAX_ATTEMPTS: i32 = 10;
    /// A chunk commits at a time, so an attempt cut short resumes after
    /// its last chunk; a million lines take minutes.
    const MAX_RUN_TIME: std::time::Duration = std::time::Duration::from_secs(3600);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(format!("settlement:{}", self.run_id))
    }

    async fn run(&self, services: &Services, run: &JobRun) -> Result<(), JobError> {
        services.settlements.reconcile(self.run_id, Some(run)).await.map_err(job_error)?;
        Ok(())
    }

    /// The run ends failed with the job, rather than say "running" for work
    /// no job will do.
    async fn ended(&self, tx: &mut dyn ordo_store::Transaction, reason: &str) -> Result<(), ordo_store::StoreError> {
        let counts = tx.settlement_counts(self.run_id).await?;
        let error = format!("reconciling stopped: {reason}");
        tx.finish_settlement_run(self.run_id, RunStatus::Failed, &counts, Some(&error), time::now()).await
    }
}
