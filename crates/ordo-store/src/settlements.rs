//! Storage of settlement reconciliation: `settlement_runs`, the imported
//! file in `settlement_chunks`, and `settlement_items`.

use std::collections::{BTreeMap, HashSet};

use async_trait::async_trait;
use ordo_domain::Timestamp;
use ordo_domain::settlement::{Candidate, ItemStatus, RunStatus, SettlementItem, SettlementRun};
use uuid::Uuid;

use crate::StoreResult;

#[async_trait]
pub trait SettlementRepo: Send {
    /// Inserts a run with its file's header; false (and nothing written)
    /// if the provider's file of that hash was imported already.
    async fn insert_settlement_run(&mut self, run: &SettlementRun, header: &str) -> StoreResult<bool>;

    /// Stores chunk `seq` of a run's file: whole records, the first on
    /// line `first_line`.
    async fn insert_settlement_chunk(
        &mut self,
        run_id: Uuid,
        seq: i32,
        first_line: i64,
        body: &[u8],
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

    /// Chunk `seq` of a run's file: its first line and its records.
    async fn settlement_chunk(&mut self, run_id: Uuid, seq: i32) -> StoreResult<Option<(i64, Vec<u8>)>>;

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
