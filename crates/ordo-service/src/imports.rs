//! Bulk imports ([`ImportService::create`]) applied in the background,
//! chunk by chunk ([`ApplyImport`]).
//!
//! An upload is read once, streaming, for its SHA-256 and its shape: UTF-8
//! throughout, a header of known columns (CSV) or a first row that is a
//! JSON object (JSON Lines), and at least one row. A file that fails is
//! refused whole and nothing is stored. The same file imported again (same
//! kind, content hash and mode) is the earlier import, and changes nothing.
//! A good file is streamed to the file store and a job applies it: each
//! chunk of rows in one transaction that writes its records with their
//! audit events, records the rows it refused, and moves the import's
//! `rows_done` on, so a crash resumes after the last chunk committed.
//! Memory holds one chunk, whatever the file's size.
//!
//! An import that refuses bad rows (the default) reads the file twice: a
//! checking pass, chunk by chunk as a dry run, records every bad row; it
//! ends the import failed, having changed nothing, if there was one, and
//! otherwise the applying pass starts over from the first row. A row that
//! turns bad between the passes (the data changed meanwhile) stops the
//! import failed at its chunk, which is not applied; the chunks before it
//! stand, and the import says so.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use ordo_domain::audit::{Actor, AuditEvent};
use ordo_domain::catalog::Product;
use ordo_domain::customer::Customer;
use ordo_domain::import::{
    self, BadRows, CsvLayout, Import, ImportCounts, ImportFormat, ImportKind, ImportStage, ImportStatus,
    MAX_CHUNK_ROWS, Row, RowError, StockEntry,
};
use ordo_domain::inventory::{LocationId, ReasonCode};
use ordo_domain::page::{Page, PageRequest};
use ordo_domain::validation::FieldError;
use ordo_domain::{CustomerId, Email, ProductId, Sku, ValidationErrors, time};
use ordo_jobs::{EnqueueOptions, Job, JobError, JobRun};
use ordo_store::{Database, Transaction};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::CatalogService;
use crate::error::{internal, job_error};
use crate::files::Files;
use crate::versioned::Versioned;
use crate::{ServiceError, ServiceResult, Services, audit};

/// Names the import list in its cursors.
pub const CURSOR_SCOPE: &str = "imports";

/// Rows applied per transaction unless configured otherwise.
pub const DEFAULT_CHUNK_ROWS: i32 = 1_000;

/// Row errors read from storage at a time for the error report.
const ERRORS_PAGE: i64 = 2_000;

#[derive(Debug, Clone)]
pub struct ImportService {
    db: Arc<dyn Database>,
    queue: ordo_jobs::Queue,
    files: Files,
    catalog: CatalogService,
    chunk_rows: i32,
}

/// What a new import asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportRequest {
    pub kind: ImportKind,
    pub format: ImportFormat,
    pub dry_run: bool,
    pub bad_rows: BadRows,
    /// Rows per transaction; the configured size if absent.
    pub chunk_rows: Option<i32>,
}

/// What the upload check found in a good file.
#[derive(Debug)]
struct Scan {
    sha256: String,
    size: u64,
    rows: i64,
}

impl ImportService {
    pub fn new(
        db: Arc<dyn Database>,
        queue: ordo_jobs::Queue,
        files: Files,
        catalog: CatalogService,
        chunk_rows: i32,
    ) -> Self {
        Self { db, queue, files, catalog, chunk_rows: chunk_rows.clamp(1, MAX_CHUNK_ROWS) }
    }

    /// Checks `file`, stores it and starts applying it; the import, and
    /// whether it is new (the same file imported before is its import).
    pub async fn create(
        &self,
        actor: &Actor,
        request: ImportRequest,
        file: std::fs::File,
    ) -> ServiceResult<(Import, bool)> {
        let chunk_rows = match request.chunk_rows {
            None => self.chunk_rows,
            Some(n) if (1..=MAX_CHUNK_ROWS).contains(&n) => n,
            Some(_) => {
                return Err(ServiceError::Validation(ValidationErrors::single(
                    "chunk_rows",
                    "out_of_range",
                    format!("chunk_rows is 1 to {MAX_CHUNK_ROWS}"),
                )));
            }
        };
        let (file, scan) = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let scan = scan(&mut file, request.kind, request.format);
            (file, scan)
        })
        .await
        .map_err(|e| internal(e.to_string()))?;
        let scan = scan?;
        if let Some(earlier) = self.existing(request, &scan.sha256).await? {
            return Ok((earlier, false));
        }
        let id = Uuid::now_v7();
        let file_key = format!("imports/{id}/source.{}", request.format.as_str());
        self.files.put_file(&file_key, file).await?;
        let import = Import {
            id,
            kind: request.kind,
            format: request.format,
            dry_run: request.dry_run,
            bad_rows: request.bad_rows,
            status: ImportStatus::Running,
            stage: ImportStage::first(request.dry_run, request.bad_rows),
            sha256: scan.sha256.clone(),
            size: scan.size as i64,
            rows: scan.rows,
            chunk_rows,
            counts: ImportCounts::default(),
            progress: 0,
            file_key,
            error: None,
            created_by: actor.name.clone(),
            created_at: time::now(),
            finished_at: None,
        };
        let mut tx = self.db.begin().await?;
        if !tx.insert_import(&import).await? {
            drop(tx);
            // Imported meanwhile by another request.
            return self
                .existing(request, &scan.sha256)
                .await?
                .map(|i| (i, false))
                .ok_or(internal("an import vanished"));
        }
        audit::record(tx.as_mut(), actor, "import.created", "import", import.id, None, &import).await?;
        ordo_jobs::enqueue(tx.as_mut(), &ApplyImport { import_id: import.id }, EnqueueOptions::default()).await?;
        tx.commit().await?;
        self.queue.wake();
        Ok((import, true))
    }

    async fn existing(&self, request: ImportRequest, sha256: &str) -> ServiceResult<Option<Import>> {
        Ok(self.db.session().await?.import_by_file(request.kind, sha256, request.dry_run).await?)
    }

    pub async fn find(&self, id: Uuid) -> ServiceResult<Import> {
        self.db.session().await?.import(id).await?.ok_or_else(|| ServiceError::not_found("import", id))
    }

    /// Imports, newest first.
    pub async fn list(&self, page: &PageRequest) -> ServiceResult<Page<Import>> {
        let rows = self.db.session().await?.imports(page.after, page.fetch_limit()).await?;
        Ok(Page::from_rows(CURSOR_SCOPE, page, rows, |i| i.id))
    }

    /// Stops a running import after the chunk being applied; the chunks
    /// committed stand. Audited as `import.cancelled`.
    pub async fn cancel(&self, actor: &Actor, id: Uuid) -> ServiceResult<Import> {
        let import = self.find(id).await?;
        let mut tx = self.db.begin().await?;
        if !tx.finish_import(id, ImportStatus::Cancelled, None, time::now()).await? {
            return Err(ServiceError::ImportFinished { status: import.status.as_str() });
        }
        let cancelled = tx.import(id).await?.ok_or_else(|| ServiceError::not_found("import", id))?;
        audit::record(tx.as_mut(), actor, "import.cancelled", "import", id, Some(audit::snapshot(&import)), &cancelled)
            .await?;
        tx.commit().await?;
        Ok(cancelled)
    }

    /// The import's error report as RFC 4180 CSV (`row,field,code,message`),
    /// streamed from storage a page at a time.
    pub async fn error_report(&self, id: Uuid) -> ServiceResult<BoxStream<'static, ServiceResult<Bytes>>> {
        self.find(id).await?;
        let db = self.db.clone();
        let header = futures::stream::once(async { Ok(Bytes::from_static(b"row,field,code,message\r\n")) });
        let pages = futures::stream::try_unfold(Some((0_i64, -1_i32)), move |after| {
            let db = db.clone();
            async move {
                let Some(after) = after else { return Ok(None) };
                let rows = db.session().await?.import_errors(id, after, ERRORS_PAGE).await?;
                let next = (rows.len() as i64 == ERRORS_PAGE).then(|| rows.last().map(|(p, e)| (e.row, *p))).flatten();
                if rows.is_empty() {
                    return Ok(None);
                }
                let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
                for (_, e) in &rows {
                    csv.write_record([e.row.to_string().as_str(), &e.field, &e.code, &e.message])
                        .map_err(|e| internal(e.to_string()))?;
                }
                let bytes = csv.into_inner().map_err(|e| internal(e.to_string()))?;
                Ok::<_, ServiceError>(Some((Bytes::from(bytes), next)))
            }
        });
        Ok(header.chain(pages).boxed())
    }

    /// Applies the import's rows not applied yet, a chunk per transaction,
    /// then ends it. Resumable at any point.
    pub async fn apply(&self, id: Uuid, progress: Option<&JobRun>) -> ServiceResult<Import> {
        let import = self.find(id).await?;
        if import.status.is_final() {
            return Ok(import);
        }
        let mut reader = self.reader(&import, import.counts.rows_done).await?;
        let actor = Actor {
            key_id: None,
            name: import.created_by.clone(),
            role: None,
            request_id: Some(format!("import:{id}")),
        };
        let mut import = import;
        loop {
            let rows = usize::try_from(import.chunk_rows).unwrap_or(1);
            let (back, chunk) = tokio::task::spawn_blocking(move || {
                let chunk = reader.next_chunk(rows);
                (reader, chunk)
            })
            .await
            .map_err(|e| internal(e.to_string()))?;
            reader = back;
            let chunk = chunk.map_err(internal)?;
            let read = chunk.len() as u64;
            if chunk.is_empty() {
                if import.checks_first() && import.stage == ImportStage::Checking {
                    if !self.end_check(&import).await? {
                        return self.find(id).await;
                    }
                    // Applying, from the first row.
                    import = self.find(id).await?;
                    reader = self.reader(&import, 0).await?;
                    continue;
                }
                let mut tx = self.db.begin().await?;
                tx.finish_import(id, ImportStatus::Succeeded, None, time::now()).await?;
                tx.commit().await?;
                return self.find(id).await;
            }
            if !self.apply_chunk(&actor, &import, chunk).await? {
                // Cancelled, or this chunk was done by another worker.
                return self.find(id).await;
            }
            import = self.find(id).await?;
            metrics::counter!("ordo_import_rows_total", "kind" => import.kind.as_str()).increment(read);
            if let Some(job) = progress {
                let note = format!("{}: {} of {} rows", import.stage.as_str(), import.counts.rows_done, import.rows);
                job.progress(import.progress.min(99), Some(&note)).await.map_err(|e| internal(e.to_string()))?;
            }
            if import.status.is_final() {
                return Ok(import);
            }
        }
    }

    /// Reads the import's stored file from row `skip + 1` on.
    async fn reader(&self, import: &Import, skip: i64) -> ServiceResult<RowReader> {
        let body = self.files.get(&import.file_key).await?;
        let stream = body.bytes.map_err(std::io::Error::other);
        let source = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
        let (kind, format) = (import.kind, import.format);
        let reader = tokio::task::spawn_blocking(move || RowReader::open(Box::new(source), kind, format, skip))
            .await
            .map_err(|e| internal(e.to_string()))?;
        // A file that no longer reads is most likely the store failing for a
        // while: the job tries again, and ends the import failed when it
        // runs out of attempts.
        reader.map_err(internal)
    }

    /// Ends the checking pass of an import that refuses bad rows: failed,
    /// having changed nothing, if it found any; else it applies next.
    /// Whether it goes on to apply.
    async fn end_check(&self, import: &Import) -> ServiceResult<bool> {
        let mut tx = self.db.begin().await?;
        let rejected = import.counts.rejected;
        let applies = if rejected > 0 {
            let error = format!(
                "{rejected} of {} rows were refused, so none was imported (bad_rows=refuse): the error report \
                 lists why; import the mended file, or this one with bad_rows=skip to import the good rows",
                import.rows
            );
            tx.finish_import(import.id, ImportStatus::Failed, Some(&error), time::now()).await?;
            false
        } else {
            tx.start_applying_import(import.id).await?
        };
        tx.commit().await?;
        Ok(applies)
    }

    /// Ends an import that refuses bad rows, failed, at a chunk of its
    /// applying pass with rows the check passed but that are bad now (the
    /// data changed between the passes). The chunk was rolled back; its
    /// errors are recorded and the import says what stands.
    async fn stop_at_turned_bad(&self, import: &Import, errors: &[RowError]) -> ServiceResult<()> {
        let first = errors.first().map_or(0, |e| e.row);
        let error = format!(
            "row {first} was refused while applying, though the check had passed it: the data changed meanwhile \
             (the error report lists why). Rows 1 to {} were applied and stand; the rest were not",
            import.counts.rows_done
        );
        let mut tx = self.db.begin().await?;
        if tx.finish_import(import.id, ImportStatus::Failed, Some(&error), time::now()).await? {
            tx.insert_import_errors(import.id, errors).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies one chunk in one transaction; whether it committed.
    async fn apply_chunk(&self, actor: &Actor, import: &Import, chunk: Vec<ReadRow>) -> ServiceResult<bool> {
        let mut counts = import.counts;
        counts.rows_done += chunk.len() as i64;
        let mut errors = Vec::new();
        let mut rows = Vec::with_capacity(chunk.len());
        for (row, parsed) in chunk {
            match parsed {
                Ok(parsed) => rows.push((row, parsed)),
                Err(found) => {
                    counts.rejected += 1;
                    errors.extend(found.into_iter().map(|e| RowError::new(row, e)));
                }
            }
        }
        let mut tx = self.db.begin().await?;
        let mut apply = Apply {
            tx: tx.as_mut(),
            actor,
            dry_run: import.dry_run || import.stage == ImportStage::Checking,
            counts,
            errors,
            forget: Vec::new(),
            events: Vec::new(),
        };
        match import.kind {
            ImportKind::Products => apply.products(rows).await?,
            ImportKind::Customers => apply.customers(rows).await?,
            ImportKind::Stock => apply.stock(rows).await?,
        }
        let Apply { counts, errors, forget, events, .. } = apply;
        if import.checks_first() && import.stage == ImportStage::Applying && !errors.is_empty() {
            drop(tx);
            return self.stop_at_turned_bad(import, &errors).await.map(|()| false);
        }
        tx.insert_audit_events(&events).await?;
        tx.insert_import_errors(import.id, &errors).await?;
        let progress = import.progress_at(counts.rows_done);
        if !tx.advance_import(import.id, import.counts.rows_done, &counts, progress).await? {
            return Ok(false);
        }
        tx.commit().await?;
        for id in forget {
            self.catalog.forget(id).await;
        }
        Ok(true)
    }
}

/// One chunk's work inside its transaction.
struct Apply<'a> {
    tx: &'a mut dyn Transaction,
    actor: &'a Actor,
    dry_run: bool,
    counts: ImportCounts,
    errors: Vec<RowError>,
    /// Products changed, to drop from this process's cache.
    forget: Vec<ProductId>,
    /// The audit events of the chunk's changes, written together.
    events: Vec<AuditEvent>,
}

impl Apply<'_> {
    fn reject(&mut self, row: i64, field: &str, code: impl Into<String>, message: String) {
        self.counts.rejected += 1;
        self.errors.push(RowError { row, field: field.to_owned(), code: code.into(), message });
    }

    /// Creates each new SKU and changes each known one; a SKU twice in the
    /// chunk is created, then changed.
    async fn products(&mut self, rows: Vec<(i64, Row)>) -> ServiceResult<()> {
        let skus = distinct(&rows, |r| if let Row::Product(p) = r { Some(&p.sku) } else { None });
        // Each known product with the version it was read at (none: new).
        let mut known: HashMap<Sku, (Product, Option<i64>)> = HashMap::new();
        for product in self.tx.products_by_sku(&skus).await? {
            let version = product.meta.version;
            known.insert(product.sku.clone(), (product, Some(version)));
        }
        let now = time::now();
        for (row, parsed) in rows {
            let Row::Product(p) = parsed else { continue };
            match known.get_mut(&p.sku) {
                Some((product, _)) if product.meta.is_archived() => {
                    let message = format!("product {} is archived; its SKU cannot be reused", p.sku);
                    self.reject(row, "sku", "archived", message);
                }
                Some((product, _)) => {
                    let before = audit::snapshot(product);
                    let changed =
                        product.apply(p.changes(), now).map_err(|e| ServiceError::from_record(Product::ENTITY, e))?;
                    if changed {
                        self.counts.updated += 1;
                        self.audit("product.updated", product.id, Some(before), audit::snapshot(product));
                    } else {
                        self.counts.unchanged += 1;
                    }
                }
                None => {
                    let product = Product::create(ProductId::generate(), p.new_product(), now);
                    self.counts.created += 1;
                    self.audit("product.created", product.id, None, audit::snapshot(&product));
                    known.insert(p.sku.clone(), (product, None));
                }
            }
        }
        if self.dry_run {
            return Ok(());
        }
        let mut new = Vec::new();
        for (product, read_at) in known.into_values() {
            match read_at {
                None => new.push(product),
                Some(version) if version != product.meta.version => {
                    if !self.tx.update_product(&product, version).await? {
                        // Changed meanwhile: this attempt stops and retries.
                        return Err(ServiceError::VersionMismatch {
                            entity: Product::ENTITY,
                            expected: version,
                            current: version + 1,
                        });
                    }
                    self.forget.push(product.id);
                }
                Some(_) => {}
            }
        }
        self.tx.insert_products(&new).await?;
        Ok(())
    }

    /// Creates each new e-mail address's customer and changes each known
    /// one.
    async fn customers(&mut self, rows: Vec<(i64, Row)>) -> ServiceResult<()> {
        let emails = distinct(&rows, |r| if let Row::Customer(c) = r { Some(&c.email) } else { None });
        let mut known: HashMap<Email, (Customer, Option<i64>)> = HashMap::new();
        for customer in self.tx.customers_by_email(&emails).await? {
            let version = customer.meta.version;
            known.insert(customer.email.clone(), (customer, Some(version)));
        }
        let now = time::now();
        for (row, parsed) in rows {
            let Row::Customer(c) = parsed else { continue };
            match known.get_mut(&c.email) {
                Some((customer, _)) if customer.meta.is_archived() => {
                    let message = format!("customer {} with this e-mail address is archived", customer.id);
                    self.reject(row, "email", "archived", message);
                }
                Some((customer, _)) => {
                    let before = audit::snapshot(customer);
                    let changed =
                        customer.apply(c.changes(), now).map_err(|e| ServiceError::from_record(Customer::ENTITY, e))?;
                    if changed {
                        self.counts.updated += 1;
                        self.audit("customer.updated", customer.id, Some(before), audit::snapshot(customer));
                    } else {
                        self.counts.unchanged += 1;
                    }
                }
                None => {
                    let customer = Customer::create(CustomerId::generate(), c.new_customer(), now);
                    self.counts.created += 1;
                    self.audit("customer.created", customer.id, None, audit::snapshot(&customer));
                    known.insert(c.email.clone(), (customer, None));
                }
            }
        }
        if self.dry_run {
            return Ok(());
        }
        let mut new = Vec::new();
        for (customer, read_at) in known.into_values() {
            match read_at {
                None => new.push(customer),
                Some(version) if version != customer.meta.version => {
                    if !self.tx.update_customer(&customer, version).await? {
                        return Err(ServiceError::VersionMismatch {
                            entity: Customer::ENTITY,
                            expected: version,
                            current: version + 1,
                        });
                    }
                }
                Some(_) => {}
            }
        }
        self.tx.insert_customers(&new).await?;
        Ok(())
    }

    /// Sets counted stock and adds receipts, at active locations named by
    /// code, with the API's rules: on hand stays within its bounds and
    /// never below what is reserved.
    async fn stock(&mut self, rows: Vec<(i64, Row)>) -> ServiceResult<()> {
        let locations: HashMap<String, LocationId> = self
            .tx
            .list_locations()
            .await?
            .into_iter()
            .filter(|l| !l.meta.is_archived())
            .map(|l| (l.code.to_ascii_lowercase(), l.id))
            .collect();
        // On hand and reserved per SKU and location, as this chunk leaves them.
        let skus = distinct(&rows, |r| if let Row::Stock(s) = r { Some(&s.sku) } else { None });
        let mut levels: HashMap<(Sku, LocationId), (i64, i64)> = HashMap::new();
        for level in self.tx.stock_of_skus(&skus).await? {
            levels.insert((level.sku.clone(), level.location_id), (level.on_hand, level.reserved));
        }
        for (row, parsed) in rows {
            let Row::Stock(s) = parsed else { continue };
            let Some(&location) = locations.get(&s.location.to_ascii_lowercase()) else {
                let message = format!("no active location has the code `{}`", s.location);
                self.reject(row, "location", "unknown_location", message);
                continue;
            };
            let existed = levels.contains_key(&(s.sku.clone(), location));
            let (on_hand, reserved) = levels.get(&(s.sku.clone(), location)).copied().unwrap_or((0, 0));
            let (delta, field, action, reason) = match s.entry {
                StockEntry::OnHand(n) => (n - on_hand, "on_hand", "adjusted", ReasonCode::CountCorrection),
                StockEntry::Received(n) => (n, "received", "received", ReasonCode::Received),
            };
            if let Err(e) = ordo_domain::inventory::on_hand_after(on_hand, delta) {
                self.reject(row, field, e.code.into_owned(), e.message);
                continue;
            }
            if on_hand + delta < reserved {
                let message = format!("{reserved} units are reserved at this location; on hand cannot go below");
                self.reject(row, field, "insufficient_stock", message);
                continue;
            }
            if delta == 0 {
                self.counts.unchanged += 1;
                continue;
            }
            if existed {
                self.counts.updated += 1;
            } else {
                self.counts.created += 1;
            }
            levels.insert((s.sku.clone(), location), (on_hand + delta, reserved));
            if self.dry_run {
                continue;
            }
            let Some(after) = self.tx.change_on_hand(&s.sku, location, delta).await? else {
                // Reserved meanwhile by an order: this attempt stops and retries.
                return Err(ServiceError::InsufficientStock { skus: vec![s.sku.to_string()] });
            };
            let movement = json!({ "level": after, "delta": delta, "reason": reason, "note": s.note });
            let before = existed.then(|| json!({ "sku": s.sku, "location_id": location, "on_hand": on_hand }));
            self.audit(&format!("stock.{action}"), format!("{}@{location}", s.sku), before, movement);
        }
        Ok(())
    }

    /// Records a change's audit event, written with the chunk; the entity
    /// type is the action's first word.
    fn audit(&mut self, action: &str, id: impl std::fmt::Display, before: Option<Value>, after: Value) {
        if self.dry_run {
            return;
        }
        let entity = action.split('.').next().unwrap_or(action);
        self.events.push(AuditEvent::record(self.actor, action, entity, id, before, Some(after), time::now()));
    }
}

/// The distinct keys (SKUs, e-mail addresses) of a chunk's rows, for one
/// lookup of their records.
fn distinct<K: Eq + std::hash::Hash + Clone>(rows: &[(i64, Row)], key: impl Fn(&Row) -> Option<&K>) -> Vec<K> {
    let set: HashSet<&K> = rows.iter().filter_map(|(_, r)| key(r)).collect();
    set.into_iter().cloned().collect()
}

/// A row as read: its number, and the checked row or its errors.
type ReadRow = (i64, Result<Row, Vec<FieldError>>);

/// Reads an import's rows, in chunks, from the stored file.
enum RowReader {
    Csv { csv: csv::Reader<Box<dyn Read + Send>>, layout: CsvLayout, row: i64, record: csv::StringRecord },
    Jsonl { lines: std::io::BufReader<Box<dyn Read + Send>>, kind: ImportKind, row: i64, line: String },
}

impl RowReader {
    /// Opens `source` and skips the first `skip` rows (settled before).
    fn open(source: Box<dyn Read + Send>, kind: ImportKind, format: ImportFormat, skip: i64) -> Result<Self, String> {
        let mut reader = match format {
            ImportFormat::Csv => {
                let mut csv = csv_reader(source);
                let header = csv.headers().map_err(|e| format!("the stored file's header no longer reads: {e}"))?;
                let fields: Vec<&str> = header.iter().collect();
                let layout = CsvLayout::new(kind, &fields).map_err(|e| format!("the stored file's header: {e}"))?;
                Self::Csv { csv, layout, row: 0, record: csv::StringRecord::new() }
            }
            ImportFormat::Jsonl => {
                Self::Jsonl { lines: std::io::BufReader::new(source), kind, row: 0, line: String::new() }
            }
        };
        let mut skipped = 0;
        while skipped < skip {
            if !reader.advance()? {
                break;
            }
            skipped += 1;
        }
        Ok(reader)
    }

    /// Moves to the next row; whether there is one.
    fn advance(&mut self) -> Result<bool, String> {
        match self {
            Self::Csv { csv, row, record, .. } => {
                let more = csv.read_record(record).map_err(|e| format!("row {} no longer reads: {e}", *row + 1))?;
                *row += i64::from(more);
                Ok(more)
            }
            Self::Jsonl { lines, row, line, .. } => loop {
                line.clear();
                let read = lines.read_line(line).map_err(|e| format!("line {} no longer reads: {e}", *row + 1))?;
                if read == 0 {
                    return Ok(false);
                }
                *row += 1;
                if !line.trim().is_empty() {
                    return Ok(true);
                }
            },
        }
    }

    /// Up to `rows` rows, checked.
    fn next_chunk(&mut self, rows: usize) -> Result<Vec<ReadRow>, String> {
        let mut chunk = Vec::with_capacity(rows);
        while chunk.len() < rows && self.advance()? {
            chunk.push(match self {
                Self::Csv { layout, row, record, .. } => {
                    let fields: Vec<&str> = record.iter().collect();
                    (*row, layout.row(&fields))
                }
                Self::Jsonl { kind, row, line, .. } => (*row, import::json_row(*kind, line.trim())),
            });
        }
        Ok(chunk)
    }
}

fn csv_reader<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(source)
}

fn file_error(code: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Validation(import::file_error(code, message))
}

/// Hashes `file` and checks its shape, streaming (see the module docs).
fn scan(file: &mut std::fs::File, kind: ImportKind, format: ImportFormat) -> ServiceResult<Scan> {
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
    if size == 0 {
        return Err(file_error("empty_file", "the file is empty"));
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let not_utf8 = |row: i64| {
        file_error(
            "invalid_encoding",
            format!("row {row} is not UTF-8; save the file as UTF-8 (CSV UTF-8 in spreadsheet programs)"),
        )
    };
    let rows = match format {
        ImportFormat::Csv => {
            let mut csv = csv_reader(std::io::BufReader::new(&mut *file));
            let header: Vec<String> = match csv.headers() {
                Ok(h) => h.iter().map(str::to_owned).collect(),
                Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                    return Err(file_error(
                        "invalid_encoding",
                        "the header is not UTF-8; save the file as UTF-8 (CSV UTF-8 in spreadsheet programs)",
                    ));
                }
                Err(e) => return Err(file_error("invalid_csv", format!("the header does not read as CSV: {e}"))),
            };
            let fields: Vec<&str> = header.iter().map(String::as_str).collect();
            CsvLayout::new(kind, &fields)?;
            let mut rows = 0_i64;
            let mut record = csv::ByteRecord::new();
            loop {
                match csv.read_byte_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        rows += 1;
                        if record.iter().any(|f| std::str::from_utf8(f).is_err()) {
                            return Err(not_utf8(rows));
                        }
                    }
                    Err(e) => return Err(file_error("invalid_csv", format!("row {} does not read: {e}", rows + 1))),
                }
            }
            rows
        }
        ImportFormat::Jsonl => {
            let mut lines = std::io::BufReader::new(&mut *file);
            let (mut rows, mut number, mut line) = (0_i64, 0_i64, Vec::new());
            loop {
                line.clear();
                if lines.read_until(b'\n', &mut line).map_err(io)? == 0 {
                    break;
                }
                number += 1;
                let Ok(text) = std::str::from_utf8(&line) else { return Err(not_utf8(number)) };
                if text.trim().is_empty() {
                    continue;
                }
                if rows == 0 {
                    let first: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
                        .map_err(|e| file_error("invalid_json", format!("line {number} is not a JSON object: {e}")))?;
                    let unknown: Vec<&str> =
                        first.keys().map(String::as_str).filter(|k| !import::json_fields(kind).contains(k)).collect();
                    if !unknown.is_empty() {
                        return Err(file_error(
                            "unknown_column",
                            format!(
                                "line {number} has fields a {} import does not know: {}; known: {}",
                                kind.as_str(),
                                unknown.join(", "),
                                import::json_fields(kind).join(", ")
                            ),
                        ));
                    }
                }
                rows += 1;
            }
            rows
        }
    };
    if rows == 0 {
        return Err(file_error("empty_file", "the file has no rows"));
    }
    Ok(Scan { sha256: format!("{:x}", hasher.finalize()), size, rows })
}

/// Applies an import, chunk by chunk (see the module docs).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ApplyImport {
    pub import_id: Uuid,
}

#[async_trait]
impl Job for ApplyImport {
    const NAME: &'static str = "import.apply";
    const QUEUE: &'static str = "imports";
    const MAX_ATTEMPTS: i32 = 10;
    /// A chunk commits at a time, so an attempt cut short resumes after
    /// its last chunk; a million rows take minutes.
    const MAX_RUN_TIME: std::time::Duration = std::time::Duration::from_secs(3600);
    type Context = Services;

    fn unique_key(&self) -> Option<String> {
        Some(format!("import:{}", self.import_id))
    }

    async fn run(&self, services: &Services, run: &JobRun) -> Result<(), JobError> {
        services.imports.apply(self.import_id, Some(run)).await.map_err(job_error)?;
        Ok(())
    }

    /// The import ends failed with the job, rather than say "running" for
    /// work no job will do; the chunks committed stand.
    async fn ended(&self, tx: &mut dyn ordo_store::Transaction, reason: &str) -> Result<(), ordo_store::StoreError> {
        let error = format!("applying stopped: {reason}");
        tx.finish_import(self.import_id, ImportStatus::Failed, Some(&error), time::now()).await.map(|_| ())
    }
}
