//! Integration tests: each starts the real server on port 0 over a fresh
//! database and talks HTTP to it, once on SQLite and once on PostgreSQL.

mod admin;
mod audit;
mod bad_input;
mod cli;
mod costs;
mod customers;
mod deploy;
mod files;
mod idempotency;
mod imports;
mod jobs;
mod ledger;
mod metrics;
mod openapi;
mod orders;
mod payments;
mod pgbouncer;
mod products;
mod reports;
mod returns;
mod security;
mod seed;
mod server;
mod settlements;
mod stripe;
mod tax;
mod traces;
mod webhooks;
mod workflow;
