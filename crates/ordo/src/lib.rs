//! The `ordo` binary's library half: configuration, backend selection and
//! application assembly, shared by `main.rs` and the integration tests.
//!
//! - [`app`]: builds and runs the HTTP application and its workers.
//! - [`cli`]: the subcommands, one file each; `seed`, `loadgen` and `bench`
//!   only parse arguments and print, the work is in `ordo-tools`.
//! - [`config`]: the layered configuration tree.
//! - [`storage`]: picks SQLite or PostgreSQL from the database URL.
//! - [`telemetry`]: logging, tracing and the OpenTelemetry exporter set-up.

pub mod app;
pub mod cli;
pub mod config;
pub mod storage;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
