//! The store contract: every method of the `ordo-store` traits, run against
//! both backends (SQLite on a temporary file, PostgreSQL on a fresh
//! database), each opened and migrated as the server does
//! (`ordo::storage::open`).
//!
//! Each case is an `async fn name(t: &StoreCtx)` listed in its module's
//! `store_tests!` (from `ordo-testkit`), which generates `sqlite::name`,
//! `postgres::name` and `same_answers::name`. The last runs the case on both
//! backends and asserts that every value the case passed to
//! [`StoreCtx::record`] is identical; so that it can be, cases take ids from
//! `t.id()` and times from `t.at(seconds)` (the same sequence on every run),
//! never from the clock or `Uuid::now_v7()`, and record only what the
//! contract fixes (not database-made timestamps or random fencing tokens).
//! PostgreSQL cases are skipped without `ORDO_TEST_POSTGRES_URL`, and fail
//! instead with `ORDO_TEST_REQUIRE_POSTGRES=1`.
//!
//! Adding a module's cases: add `mod name;` below and a `name.rs` with
//! `async fn` cases and one `ordo_testkit::store_tests!(case, ...)` at its
//! end; build entities with [`fixtures`] (add a builder there for a new
//! entity); assert the behaviour (round trip of every field, stale
//! versions, filters, order, errors), and `t.record` the answers. A case
//! that could not fail is a defect. A backend bug or difference found here
//! and not fixed yet stays as a case, marked `#[ignore = "why"]` before its
//! name in the `store_tests!` list, so that the branch stays green and the
//! case is one `--ignored` away.
//!
//! Run: `ORDO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres
//! ORDO_TEST_REQUIRE_POSTGRES=1 cargo test -p ordo-store --test contract`.

/// Writes go through transactions (an SQLite session is read-only, and a
/// PostgreSQL transaction is unusable after an error). A case works in one
/// transaction `s`; `alone!(t, s, r = d => call)` commits `s`, runs `call`
/// in its own transaction `d` that is then rolled back (for calls meant to
/// fail, e.g. with a duplicate key), binds its result to `r` and opens a
/// new `s`. Commit `s` before opening another transaction or spawning
/// tasks that write: SQLite has one writer.
macro_rules! alone {
    ($t:ident, $s:ident, $r:ident = $d:ident => $call:expr) => {
        $s.commit().await.unwrap();
        let $r = {
            let mut $d = $t.begin().await;
            $call
        };
        #[allow(unused_mut)]
        let mut $s = $t.begin().await;
    };
}

mod fixtures;

mod audit;
mod catalog;
mod customers;
mod idempotency;
mod imports;
mod inventory;
mod invoices;
mod jobs;
mod keys;
mod markets;
mod orders;
mod payments;
mod reports;
mod returns;
mod transactions;
mod webhooks;
