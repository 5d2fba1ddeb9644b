//! Ordo's fault-injection suite: the real `ordo` binary, run as child
//! processes on SQLite and on a PostgreSQL cluster of the suite's own,
//! under concurrent load, while something goes wrong:
//!
//! - [`kill9`]: `kill -9` of `ordo serve` (and of `ordo worker` processes on
//!   PostgreSQL) at random moments, restarted at once, several rounds.
//! - [`pg_outage`]: PostgreSQL stopped hard (`pg_ctl stop -m immediate`) for
//!   a few seconds, and `ordo serve` started while it is down.
//! - [`sigterm`]: `kill -TERM` mid-load: a clean, prompt exit that finishes
//!   requests in flight.
//! - [`disk_full`]: SQLite on a small tmpfs that a ballast file fills.
//! - [`provider`]: `kill -9` of the process running payment jobs while a
//!   capture, then a refund, is at the (local stand-in) provider.
//!
//! After each scenario everything is left to settle (a bounded wait) and
//! [`harness::invariants`] checks what the design promises: no acknowledged
//! order lost or duplicated, stock that adds up, gap-free invoices, one
//! webhook delivery row per (webhook, event), nothing stuck, an intact audit
//! trail. Every test prints its figures to stderr (`--nocapture` shows
//! them) before it asserts, and fails listing every violation it found.
//!
//! Short mode (the default, part of `cargo test --workspace`) runs a few
//! rounds of each; `scripts/faults` runs the same tests longer, in release
//! mode (see [`harness::Settings`] for the knobs). The tests run one at a
//! time, whatever `--test-threads` says: they measure latencies, and the
//! machine they run on may have two cores.

mod harness;

mod disk_full;
mod kill9;
mod pg_outage;
mod provider;
mod sigterm;
