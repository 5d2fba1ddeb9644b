//! Ordo's developer tooling, kept out of the product crates: what fills a
//! database, loads a server and measures the machine, behind the `ordo`
//! binary's `seed`, `loadgen` and `bench` subcommands (which only parse
//! their arguments and print). Nothing here runs in `ordo serve`.
//!
//! - [`seed`]: production-realistic data at a chosen scale, written through
//!   the storage traits' bulk methods (`ordo seed`).
//! - [`progress`]: how `ordo seed` shows its progress on stderr.
//! - [`loadgen`]: a weighted mix of scenarios against a running server,
//!   closed or open loop, with latency percentiles and a correctness check
//!   afterwards (`ordo loadgen`).
//! - [`bench`](mod@bench): the machine's limits the benchmark suite compares Ordo
//!   against: a bare hello-world server and SQLite's single-row commit rate
//!   (`ordo bench`).

pub mod bench;
pub mod loadgen;
pub mod progress;
pub mod seed;
