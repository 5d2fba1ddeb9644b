//! The `ordo` binary's library half: configuration, backend selection and
//! application assembly, shared by `main.rs` and the integration tests.
//!
//! - [`config`]: the layered configuration tree.
//! - [`storage`]: picks SQLite or PostgreSQL from the database URL.
//! - [`app`]: builds and runs the HTTP application.
//! - [`cli`]: the subcommands.
//! - [`loadgen`]: the load generator behind `ordo loadgen`.

pub mod app;
pub mod cli;
pub mod config;
pub mod loadgen;
pub mod storage;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
