//! `ordo loadgen`: load a running server and measure it (see
//! [`ordo_tools::loadgen`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ordo_tools::loadgen::{self, Options, Scenario};

use crate::config::Config;

#[derive(Debug, Args)]
pub struct LoadgenArgs {
    /// The server's base URL (default: this configuration's listen address).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// An API key with the scenarios' permissions (default: ORDO_API_KEY,
    /// else ordo-data/admin-key).
    #[arg(long, env = "ORDO_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Weighted scenarios: hello, place, get_product, list_orders,
    /// get_order, fulfil, cancel.
    #[arg(long, default_value = "place=50,get_product=25,list_orders=5,get_order=10,fulfil=7,cancel=3", value_parser = parse_mix)]
    mix: Mix,
    /// Concurrent clients (closed loop), or the most requests in flight
    /// with --rate.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Send this many requests per second whatever the answers (open
    /// loop; latency counts from each request's intended send time).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// How long to measure, e.g. 30s or 2m.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How long to run first without counting, e.g. 5s.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// The market to place orders in (default: DE if there is one, else the first).
    #[arg(long)]
    market: Option<String>,
    /// Send no Idempotency-Key with orders.
    #[arg(long)]
    no_idempotency_keys: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Skip the correctness check after the run.
    #[arg(long)]
    no_verify: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// No live progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Seeds the random choices.
    #[arg(long, default_value_t = 1)]
    random_seed: u64,
    /// Places every order with this payment token (`tok_approve` on the
    /// test provider), so each is authorised and captured in the background.
    #[arg(long)]
    payment_token: Option<String>,
}

/// A parsed `--mix`.
#[derive(Debug, Clone)]
struct Mix(Vec<(Scenario, u32)>);

fn parse_mix(text: &str) -> Result<Mix, String> {
    loadgen::parse_mix(text).map(Mix)
}

#[allow(clippy::print_stdout)] // the report is the command's output
pub(super) async fn run(config: &Config, args: LoadgenArgs) -> anyhow::Result<()> {
    let key = match args.key {
        Some(key) => Some(key),
        None => std::fs::read_to_string("ordo-data/admin-key").ok().map(|k| k.trim().to_owned()),
    };
    let options = Options {
        url: args.url.unwrap_or_else(|| format!("http://{}", config.server.listen)),
        key: key.filter(|k| !k.is_empty() && k != "none"),
        mix: args.mix.0,
        concurrency: args.concurrency,
        rate: args.rate,
        warmup: args.warmup,
        duration: args.duration,
        market: args.market,
        idempotency_keys: !args.no_idempotency_keys,
        timeout: args.timeout,
        progress: !args.quiet,
        verify: !args.no_verify,
        random_seed: args.random_seed,
        payment_token: args.payment_token,
    };
    let report = loadgen::run(&options).await?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(verify) = &report.verify {
        anyhow::ensure!(verify.ok, "the correctness check failed");
    }
    Ok(())
}
