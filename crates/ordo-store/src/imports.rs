//! Storage of bulk imports: the `imports` table and each import's
//! `import_errors`, the rows it refused.

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::import::{Import, ImportCounts, ImportKind, ImportStatus, RowError};
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait ImportRepo: Send {
    /// Inserts a new import; `false` (and nothing written) if a running or
    /// succeeded import of the same kind, file and mode exists.
    async fn insert_import(&mut self, import: &Import) -> StoreResult<bool>;

    async fn import(&mut self, id: Uuid) -> StoreResult<Option<Import>>;

    /// The running or succeeded import of this kind, file and mode.
    async fn import_by_file(&mut self, kind: ImportKind, sha256: &str, dry_run: bool) -> StoreResult<Option<Import>>;

    /// Up to `limit` imports before `before`, newest first.
    async fn imports(&mut self, before: Option<Uuid>, limit: i64) -> StoreResult<Vec<Import>>;

    /// Records a chunk settled: the counts and progress, if the import is
    /// running and still at `rows_done` (another worker has not done this
    /// chunk). Returns whether it was.
    async fn advance_import(
        &mut self,
        id: Uuid,
        rows_done: i64,
        counts: &ImportCounts,
        progress: i16,
    ) -> StoreResult<bool>;

    /// Ends a running import's checking stage: it applies its rows next,
    /// from the first, with its counts reset (progress stays). Returns
    /// whether it was checking (never for a dry run, which only checks).
    async fn start_applying_import(&mut self, id: Uuid) -> StoreResult<bool>;

    async fn insert_import_errors(&mut self, import_id: Uuid, errors: &[RowError]) -> StoreResult<()>;

    /// Up to `limit` of an import's row errors after `(row, position)`, in
    /// row order.
    async fn import_errors(
        &mut self,
        import_id: Uuid,
        after: (i64, i32),
        limit: i64,
    ) -> StoreResult<Vec<(i32, RowError)>>;

    /// Ends a running import; returns whether it was running.
    async fn finish_import(
        &mut self,
        id: Uuid,
        status: ImportStatus,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<bool>;
}
