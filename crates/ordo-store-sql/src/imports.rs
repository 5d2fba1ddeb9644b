//! SQL of bulk imports: [`import_repo!`](crate::import_repo).

use ordo_domain::import::{
    BadRows, Import, ImportCounts, ImportFormat, ImportKind, ImportStage, ImportStatus, RowError,
};
use ordo_store::StoreResult;
use uuid::Uuid;

use crate::{Ts, corrupt};

pub const IMPORT_COLUMNS: &str = "id, kind, format, dry_run, status, sha256, size, rows_total, chunk_rows, rows_done, \
                                  created, updated, unchanged, rejected, progress, file_key, error, created_by, \
                                  created_at, finished_at, bad_rows, stage";

#[derive(Debug, sqlx::FromRow)]
pub struct ImportRow {
    pub id: Uuid,
    pub kind: String,
    pub format: String,
    pub dry_run: bool,
    pub status: String,
    pub sha256: String,
    pub size: i64,
    pub rows_total: i64,
    pub chunk_rows: i32,
    pub rows_done: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub progress: i16,
    pub file_key: String,
    pub error: Option<String>,
    pub created_by: String,
    pub created_at: Ts,
    pub finished_at: Option<Ts>,
    pub bad_rows: String,
    pub stage: String,
}

impl ImportRow {
    pub fn into_import(self) -> StoreResult<Import> {
        Ok(Import {
            id: self.id,
            kind: ImportKind::parse(&self.kind).ok_or_else(|| corrupt("imports.kind", &self.kind))?,
            format: ImportFormat::parse(&self.format).ok_or_else(|| corrupt("imports.format", &self.format))?,
            dry_run: self.dry_run,
            bad_rows: BadRows::parse(&self.bad_rows).ok_or_else(|| corrupt("imports.bad_rows", &self.bad_rows))?,
            status: ImportStatus::parse(&self.status).ok_or_else(|| corrupt("imports.status", &self.status))?,
            stage: ImportStage::parse(&self.stage).ok_or_else(|| corrupt("imports.stage", &self.stage))?,
            sha256: self.sha256,
            size: self.size,
            rows: self.rows_total,
            chunk_rows: self.chunk_rows,
            counts: ImportCounts {
                rows_done: self.rows_done,
                created: self.created,
                updated: self.updated,
                unchanged: self.unchanged,
                rejected: self.rejected,
            },
            progress: self.progress,
            file_key: self.file_key,
            error: self.error,
            created_by: self.created_by,
            created_at: self.created_at.0,
            finished_at: self.finished_at.map(|t| t.0),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct RowErrorRow {
    pub row_number: i64,
    pub position: i32,
    pub field: String,
    pub code: String,
    pub message: String,
}

impl From<RowErrorRow> for (i32, RowError) {
    fn from(r: RowErrorRow) -> Self {
        (r.position, RowError { row: r.row_number, field: r.field, code: r.code, message: r.message })
    }
}

/// Implements `ImportRepo` for `$session<C>` on `$db`.
#[macro_export]
macro_rules! import_repo {
    ($session:ident, $db:ident) => {
        #[allow(unused_imports)]
        const _: () = {
            use ::ordo_domain::Timestamp;
            use ::ordo_domain::import::{Import, ImportCounts, ImportKind, ImportStatus, RowError};
            use ::ordo_store::{ImportRepo, StoreResult};
            use ::uuid::Uuid;
            use $crate::imports::*;
            use $crate::{SqlSession, Ts};

            #[$crate::async_trait]
            impl<C: ::std::ops::DerefMut<Target = <::sqlx::$db as ::sqlx::Database>::Connection> + Send> ImportRepo
                for $session<C>
            {
                #[tracing::instrument(target = "ordo_db", name = "imports.insert", skip_all)]
                async fn insert_import(&mut self, i: &Import) -> StoreResult<bool> {
                    let done = ::sqlx::query(&format!(
                        "INSERT INTO imports ({IMPORT_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
                         ON CONFLICT DO NOTHING"
                    ))
                    .bind(i.id)
                    .bind(i.kind.as_str())
                    .bind(i.format.as_str())
                    .bind(i.dry_run)
                    .bind(i.status.as_str())
                    .bind(&i.sha256)
                    .bind(i.size)
                    .bind(i.rows)
                    .bind(i.chunk_rows)
                    .bind(i.counts.rows_done)
                    .bind(i.counts.created)
                    .bind(i.counts.updated)
                    .bind(i.counts.unchanged)
                    .bind(i.counts.rejected)
                    .bind(i.progress)
                    .bind(&i.file_key)
                    .bind(&i.error)
                    .bind(&i.created_by)
                    .bind(Ts(i.created_at))
                    .bind(i.finished_at.map(Ts))
                    .bind(i.bad_rows.as_str())
                    .bind(i.stage.as_str())
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.get", skip_all)]
                async fn import(&mut self, id: Uuid) -> StoreResult<Option<Import>> {
                    let row: Option<ImportRow> = ::sqlx::query_as(&format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1"))
                        .bind(id)
                        .persistent(self.persistent())
                        .fetch_optional(self.conn())
                        .await
                        .map_err(Self::map_err)?;
                    row.map(ImportRow::into_import).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.by_file", skip_all)]
                async fn import_by_file(&mut self, kind: ImportKind, sha256: &str, dry_run: bool) -> StoreResult<Option<Import>> {
                    let row: Option<ImportRow> = ::sqlx::query_as(&format!(
                        "SELECT {IMPORT_COLUMNS} FROM imports
                          WHERE kind = $1 AND sha256 = $2 AND dry_run = $3 AND status IN ('running', 'succeeded')"
                    ))
                    .bind(kind.as_str())
                    .bind(sha256)
                    .bind(dry_run)
                    .persistent(self.persistent())
                    .fetch_optional(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    row.map(ImportRow::into_import).transpose()
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.list", skip_all)]
                async fn imports(&mut self, before: Option<Uuid>, limit: i64) -> StoreResult<Vec<Import>> {
                    let mut query = ::sqlx::QueryBuilder::<::sqlx::$db>::new(format!("SELECT {IMPORT_COLUMNS} FROM imports"));
                    if let Some(before) = before {
                        query.push(" WHERE id < ").push_bind(before);
                    }
                    query.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
                    let rows: Vec<ImportRow> =
                        query.build_query_as().persistent(self.persistent()).fetch_all(self.conn()).await.map_err(Self::map_err)?;
                    rows.into_iter().map(ImportRow::into_import).collect()
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.advance", skip_all)]
                async fn advance_import(
                    &mut self,
                    id: Uuid,
                    rows_done: i64,
                    c: &ImportCounts,
                    progress: i16,
                ) -> StoreResult<bool> {
                    let done = ::sqlx::query(
                        "UPDATE imports SET rows_done = $3, created = $4, updated = $5, unchanged = $6, rejected = $7,
                                progress = $8
                          WHERE id = $1 AND rows_done = $2 AND status = 'running'",
                    )
                    .bind(id)
                    .bind(rows_done)
                    .bind(c.rows_done)
                    .bind(c.created)
                    .bind(c.updated)
                    .bind(c.unchanged)
                    .bind(c.rejected)
                    .bind(progress)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.start_applying", skip_all)]
                async fn start_applying_import(&mut self, id: Uuid) -> StoreResult<bool> {
                    let done = ::sqlx::query(
                        "UPDATE imports SET stage = 'applying', rows_done = 0, created = 0, updated = 0, unchanged = 0,
                                rejected = 0
                          WHERE id = $1 AND status = 'running' AND stage = 'checking' AND NOT dry_run",
                    )
                    .bind(id)
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.insert_errors", skip_all)]
                async fn insert_import_errors(&mut self, import_id: Uuid, errors: &[RowError]) -> StoreResult<()> {
                    // Positions number a row's errors in the order found.
                    let mut numbered = Vec::with_capacity(errors.len());
                    let mut last = (i64::MIN, 0_i32);
                    for e in errors {
                        last = if last.0 == e.row { (e.row, last.1 + 1) } else { (e.row, 0) };
                        numbered.push((last.1, e));
                    }
                    // Six binds a row: within both backends' bind limits.
                    for chunk in numbered.chunks(1_000) {
                        let mut insert = ::sqlx::QueryBuilder::<::sqlx::$db>::new(
                            "INSERT INTO import_errors (import_id, row_number, position, field, code, message) ",
                        );
                        insert.push_values(chunk, |mut row, (position, e)| {
                            row.push_bind(import_id)
                                .push_bind(e.row)
                                .push_bind(*position)
                                .push_bind(&e.field)
                                .push_bind(&e.code)
                                .push_bind(&e.message);
                        });
                        insert.build().execute(self.conn()).await.map_err(Self::map_err)?;
                    }
                    Ok(())
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.errors", skip_all)]
                async fn import_errors(&mut self, import_id: Uuid, after: (i64, i32), limit: i64) -> StoreResult<Vec<(i32, RowError)>> {
                    let rows: Vec<RowErrorRow> = ::sqlx::query_as(
                        "SELECT row_number, position, field, code, message FROM import_errors
                          WHERE import_id = $1 AND (row_number > $2 OR (row_number = $2 AND position > $3))
                          ORDER BY row_number, position LIMIT $4",
                    )
                    .bind(import_id)
                    .bind(after.0)
                    .bind(after.1)
                    .bind(limit)
                    .persistent(self.persistent())
                    .fetch_all(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                #[tracing::instrument(target = "ordo_db", name = "imports.finish", skip_all)]
                async fn finish_import(
                    &mut self,
                    id: Uuid,
                    status: ImportStatus,
                    error: Option<&str>,
                    at: Timestamp,
                ) -> StoreResult<bool> {
                    let done = ::sqlx::query(
                        "UPDATE imports SET status = $2, error = $3, finished_at = $4,
                                progress = CASE WHEN $2 = 'succeeded' THEN 100 ELSE progress END
                          WHERE id = $1 AND status = 'running'",
                    )
                    .bind(id)
                    .bind(status.as_str())
                    .bind(error)
                    .bind(Ts(at))
                    .persistent(self.persistent())
                    .execute(self.conn())
                    .await
                    .map_err(Self::map_err)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        };
    };
}
