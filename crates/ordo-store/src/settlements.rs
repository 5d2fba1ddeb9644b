//! Storage of settlement reconciliation: `settlement_runs`, the chunks of
//! the imported file (on the file store) in `settlement_chunks`, and
//! `settlement_items`.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::settlement::{Candidate, ItemStatus, RunStatus, SettlementItem, SettlementRun};
use uuid::Uuid;

use crate::StoreResult;

/// Where a chunk of a run's file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkBody {
    /// Bytes `start..end` of the run's file on the file store.
    Range { start: u64, end: u64 },
    /// The chunk's bytes, kept in the database: runs imported before their
    /// files moved to the file store.
    Inline(Vec<u8>),
}

#[async_trait]
pub trait SettlementRepo: Send {
    /// Inserts a run with its file's header; false (and nothing written)
    /// if the provider's file of that hash was imported already.
    async fn insert_settlement_run(&mut self, run: &SettlementRun, header: &str) -> StoreResult<bool>;

    /// Records chunk `seq` of a run's file: whole records in bytes
    /// `start..end` of the file, the first on line `first_line`.
    async fn insert_settlement_chunk(
        &mut self,
        run_id: Uuid,
        seq: i32,
        first_line: i64,
        start: u64,
        end: u64,
    ) -> StoreResult<()>;

    /// Whether any payment was made through `provider`.
    async fn provider_has_payments(&mut self, provider: &str) -> StoreResult<bool>;

    async fn settlement_run(&mut self, id: Uuid) -> StoreResult<Option<SettlementRun>>;

    /// The run of a provider's file, by its hash.
    async fn settlement_run_by_file(&mut self, provider: &str, sha256: &str) -> StoreResult<Option<SettlementRun>>;

    /// Runs newest first, after `before` (a run id) if given.
    async fn settlement_runs(&mut self, before: Option<Uuid>, limit: i64) -> StoreResult<Vec<SettlementRun>>;

    /// A run's file header.
    async fn settlement_header(&mut self, run_id: Uuid) -> StoreResult<String>;

    /// Chunk `seq` of a run's file: its first line and where its records are.
    async fn settlement_chunk(&mut self, run_id: Uuid, seq: i32) -> StoreResult<Option<(i64, ChunkBody)>>;

    /// The provider's succeeded captures and refunds with one of
    /// `references`, each marked settled if an item matched it already.
    async fn settlement_candidates(&mut self, provider: &str, references: &[&str]) -> StoreResult<Vec<Candidate>>;

    /// Records `line_ids` as seen for the provider; returns those seen
    /// before this call (in an earlier chunk or report).
    async fn see_line_ids(&mut self, provider: &str, line_ids: &[&str]) -> StoreResult<HashSet<String>>;

    async fn insert_settlement_items(&mut self, provider: &str, items: &[SettlementItem]) -> StoreResult<()>;

    /// Counts chunk `seq` of a run done; false if it was not the next one.
    async fn advance_settlement_run(&mut self, run_id: Uuid, seq: i32) -> StoreResult<bool>;

    /// Adds an item for each of the provider's succeeded captures and
    /// refunds in the run's window that no item matched; how many.
    async fn insert_missing_in_report(&mut self, run: &SettlementRun) -> StoreResult<u64>;

    /// Items per status.
    async fn settlement_counts(&mut self, run_id: Uuid) -> StoreResult<BTreeMap<String, i64>>;

    /// Ends a run.
    async fn finish_settlement_run(
        &mut self,
        run_id: Uuid,
        status: RunStatus,
        counts: &BTreeMap<String, i64>,
        error: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// A run's items in line order, after line `after`, of one status if given.
    async fn settlement_items(
        &mut self,
        run_id: Uuid,
        status: Option<ItemStatus>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<SettlementItem>>;

    /// What each provider's reports moved on its clearing account, per
    /// currency: `(provider, currency, amount)`.
    async fn settlement_clearing(&mut self) -> StoreResult<Vec<(String, String, i64)>>;
}
