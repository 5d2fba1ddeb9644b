//! `ordo seed`: fill a fresh database with production-realistic data
//! ([`ordo_tools::seed`]).

use std::io::IsTerminal;

use clap::Args;
use ordo_tools::progress::SeedDisplay;
use ordo_tools::seed::{self, SeedPlan};

use crate::app::open_services;
use crate::config::Config;
use crate::telemetry;

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Customers to create.
    #[arg(long, default_value_t = 10_000)]
    customers: u64,
    /// Products to create (at most 999 999), most popular first.
    #[arg(long, default_value_t = 1_000)]
    products: u64,
    /// Orders to create over the history (at most 100 million).
    #[arg(long, default_value_t = 100_000)]
    orders: u64,
    /// Orders still to come that stock must cover, beyond what open orders
    /// reserve: the load the database is seeded for.
    #[arg(long, default_value_t = 1_000_000)]
    stock_for_orders: u64,
    /// Days of history the orders spread over, ending now.
    #[arg(long, default_value_t = 365)]
    history_days: u32,
    /// Rows per transaction.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Seeds the random choices, so a run can be repeated.
    #[arg(long, default_value_t = 1)]
    random_seed: u64,
}

#[allow(clippy::print_stdout)] // the summary is the command's output
pub(super) async fn run(config: &Config, args: SeedArgs) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(&config.log)?;
    let services = open_services(config).await?;
    let plan = SeedPlan {
        customers: args.customers,
        products: args.products,
        orders: args.orders,
        stock_for_orders: args.stock_for_orders,
        history_days: args.history_days,
        batch: args.batch,
        random_seed: args.random_seed,
    };
    let display = SeedDisplay::new(std::io::stderr().is_terminal());
    let outcome =
        seed::seed(services.db.clone(), &plan, &|phase, done, total| display.update(phase, done, total)).await;
    display.finish();
    services.db.close().await;
    let summary = outcome.map_err(|e| anyhow::anyhow!("seeding failed: {e}"))?;
    println!(
        "Seeded {} database {} in {:.1} s ({:.0} orders/s):",
        services.db.backend(),
        config.database.url,
        summary.seconds,
        summary.orders as f64 / summary.seconds.max(1e-3)
    );
    println!("  markets        {:>12}", summary.markets);
    println!("  locations      {:>12}", summary.locations);
    println!("  products       {:>12}", summary.products);
    println!("  customers      {:>12}", summary.customers);
    println!("  orders         {:>12}  ({} open, holding reservations)", summary.orders, summary.open_orders);
    println!("  order lines    {:>12}", summary.order_lines);
    println!("  order events   {:>12}", summary.order_events);
    println!("  stock levels   {:>12}", summary.stock_levels);
    println!("  audit events   {:>12}  (sealed in {} segments)", summary.audit_events, summary.audit_segments);
    Ok(())
}
