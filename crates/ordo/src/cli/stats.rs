//! `ordo stats`: per-route latency percentiles, error rates, queue depth and
//! the database pool of a running server, from its `/v1/admin/stats`.

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::config::Config;

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The server, e.g. http://127.0.0.1:8080 (default: from `server.listen`).
    #[arg(long)]
    url: Option<String>,
    /// An API key with `ops:read` (default: ORDO_API_KEY, else ordo-data/admin-key).
    #[arg(long, env = "ORDO_API_KEY", hide_env_values = true)]
    key: Option<String>,
    /// The window, in seconds.
    #[arg(long, default_value_t = 300)]
    window: u64,
}

#[allow(clippy::print_stdout)] // the figures are the command's output
pub(super) async fn run(config: &Config, args: StatsArgs) -> anyhow::Result<()> {
    let url = args.url.unwrap_or_else(|| format!("http://{}", config.server.listen));
    let key = match args.key {
        Some(key) => key,
        None => std::fs::read_to_string("ordo-data/admin-key")
            .map(|k| k.trim().to_owned())
            .context("no API key: pass --key or ORDO_API_KEY (ordo-data/admin-key was not found)")?,
    };
    let response = reqwest::Client::new()
        .get(format!("{}/v1/admin/stats?window_seconds={}", url.trim_end_matches('/'), args.window))
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.context("the server's answer is not JSON")?;
    anyhow::ensure!(status.is_success(), "{status}: {}", body["detail"].as_str().unwrap_or("request failed"));

    println!("Requests over the last {} s (this server process):", body["window_seconds"]);
    println!(
        "{:<40} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "ROUTE", "COUNT", "5XX %", "4XX %", "P50 ms", "P95 ms", "P99 ms", "MAX ms"
    );
    for route in body["routes"].as_array().into_iter().flatten() {
        println!(
            "{:<40} {:>7} {:>7.2} {:>7.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            route["route"].as_str().unwrap_or("?"),
            route["count"].as_u64().unwrap_or(0),
            route["error_rate"].as_f64().unwrap_or(0.0) * 100.0,
            route["client_error_rate"].as_f64().unwrap_or(0.0) * 100.0,
            route["p50_ms"].as_f64().unwrap_or(0.0),
            route["p95_ms"].as_f64().unwrap_or(0.0),
            route["p99_ms"].as_f64().unwrap_or(0.0),
            route["max_ms"].as_f64().unwrap_or(0.0),
        );
    }
    println!();
    println!("{:<20} {:<10} {:>8} {:>16}", "QUEUE", "STATE", "JOBS", "OLDEST WAIT s");
    for queue in body["queues"].as_array().into_iter().flatten() {
        let age = queue["oldest_age_seconds"].as_f64().map_or_else(|| "-".to_owned(), |a| format!("{a:.1}"));
        println!(
            "{:<20} {:<10} {:>8} {:>16}",
            queue["queue"].as_str().unwrap_or("?"),
            queue["state"].as_str().unwrap_or("?"),
            queue["count"].as_u64().unwrap_or(0),
            age
        );
    }
    println!();
    let pool = &body["pool"];
    println!("Database pool: {} in use, {} idle, {} at most", pool["in_use"], pool["idle"], pool["max"]);
    Ok(())
}
