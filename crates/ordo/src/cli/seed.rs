//! `ordo seed`: fill a fresh database with production-realistic data.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ordo_service::seed::{self, SeedPhase, SeedPlan};

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

/// Shows each phase's progress and rate: a bar on a terminal, a line every
/// few seconds otherwise (logs, CI).
struct Display {
    current: Mutex<Option<(SeedPhase, ProgressBar, Instant)>>,
    terminal: bool,
}

impl Display {
    #[allow(clippy::print_stderr)] // progress goes to stderr
    fn update(&self, phase: SeedPhase, done: u64, total: u64) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_none_or(|(p, _, _)| *p != phase) {
            if let Some((_, bar, _)) = current.take() {
                bar.finish();
            }
            let bar = if self.terminal { ProgressBar::new(total) } else { ProgressBar::hidden() };
            bar.set_style(
                ProgressStyle::with_template("{prefix:>9} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(phase.as_str());
            *current = Some((phase, bar, Instant::now() - Duration::from_secs(60)));
        }
        let Some((_, bar, last_line)) = current.as_mut() else { return };
        bar.set_position(done);
        if !self.terminal && (last_line.elapsed() >= Duration::from_secs(5) || done == total) {
            let rate = done as f64 / bar.elapsed().as_secs_f64().max(1e-3);
            eprintln!("seed: {} {done}/{total} ({rate:.0}/s)", phase.as_str());
            *last_line = Instant::now();
        }
    }

    fn finish(&self) {
        if let Some((_, bar, _)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish();
        }
    }
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
    let display = Display { current: Mutex::new(None), terminal: std::io::stderr().is_terminal() };
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
