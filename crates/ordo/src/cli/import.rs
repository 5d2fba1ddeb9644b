//! `ordo import`: a bulk import applied here and now.

use std::io::Write;

use anyhow::{Context, bail};
use futures::TryStreamExt;
use ordo_domain::import::{BadRows, ImportFormat, ImportKind, ImportStatus};
use ordo_service::imports::ImportRequest;

use crate::app::open_services;
use crate::config::Config;

/// `ordo import FILE --kind products`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The file: CSV with a header row, or JSON Lines (`.jsonl`, `.ndjson`).
    file: std::path::PathBuf,
    /// `products`, `customers` or `stock`.
    #[arg(long)]
    kind: String,
    /// `csv` or `jsonl`; from the file's extension if absent.
    #[arg(long)]
    format: Option<String>,
    /// Check every row against the data, changing nothing.
    #[arg(long)]
    dry_run: bool,
    /// A file with bad rows: `refuse` (check every row first, import none
    /// if any is bad) or `skip` (import the good rows).
    #[arg(long, default_value = "refuse")]
    bad_rows: String,
    /// Rows per transaction (the configured `imports.chunk_rows` if absent).
    #[arg(long)]
    chunk_rows: Option<i32>,
    /// Where to write the error report (standard error if absent).
    #[arg(long)]
    errors: Option<std::path::PathBuf>,
}

/// Imports the file in this process (what a worker does for
/// `POST /v1/imports`), recorded like any other import; fails if any row
/// was refused, after writing the error report.
#[allow(clippy::print_stderr)] // the CLI's own summary
pub(super) async fn run(config: &Config, args: ImportArgs) -> anyhow::Result<()> {
    let kind = ImportKind::parse(&args.kind).context("--kind is one of products, customers, stock")?;
    let format = match args.format.as_deref() {
        Some(f) => ImportFormat::parse(f).context("--format is csv or jsonl")?,
        None => match args.file.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => ImportFormat::Jsonl,
            _ => ImportFormat::Csv,
        },
    };
    let bad_rows = BadRows::parse(&args.bad_rows).context("--bad-rows is refuse or skip")?;
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {}", args.file.display()))?;
    let services = open_services(config).await?;
    let started = std::time::Instant::now();
    let result = async {
        let actor = ordo_domain::audit::Actor::system("cli");
        let request = ImportRequest { kind, format, dry_run: args.dry_run, bad_rows, chunk_rows: args.chunk_rows };
        let (import, created) = match services.imports.create(&actor, request, file).await {
            Err(ordo_service::ServiceError::Validation(errors)) => bail!("{errors}"),
            other => other?,
        };
        let import = services.imports.apply(import.id, None).await?;
        let c = import.counts;
        eprintln!(
            "import {}{}: {} {} rows{}: {} created, {} updated, {} unchanged, {} rejected; {} in {:.1} s; peak memory {} MiB",
            import.id,
            if created { "" } else { " (this file was imported before)" },
            import.status.as_str(),
            import.rows,
            if import.dry_run { " (dry run: nothing changed)" } else { "" },
            c.created,
            c.updated,
            c.unchanged,
            c.rejected,
            import.sha256,
            started.elapsed().as_secs_f64(),
            super::ledger::peak_rss_mib().map_or_else(|| "?".to_owned(), |m| m.to_string())
        );
        if c.rejected > 0 {
            let mut body = services.imports.error_report(import.id).await?;
            // A CLI's own output: plain blocking writes are fine here.
            let mut sink: Box<dyn Write + Send> = match &args.errors {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stderr())),
            };
            while let Some(chunk) = body.try_next().await? {
                sink.write_all(&chunk)?;
            }
            sink.flush()?;
            if import.status == ImportStatus::Failed {
                bail!("{} rows were refused, so none was imported (--bad-rows skip imports the good ones); the error report lists why", c.rejected);
            }
            bail!("{} rows were refused and skipped; the error report lists why", c.rejected);
        }
        if let Some(error) = &import.error {
            bail!("the import {}: {error}", import.status.as_str());
        }
        Ok(())
    }
    .await;
    services.db.close().await;
    result
}
