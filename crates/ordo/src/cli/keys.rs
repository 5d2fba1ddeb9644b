//! `ordo keys`: create, list and revoke API keys.

use anyhow::Context;
use clap::{Args, Subcommand};
use ordo_domain::audit::Actor;
use ordo_domain::auth::Role;

use crate::app::open_services;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it. The key is shown only this once.
    Create(CreateArgs),
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id. Servers stop accepting it within `auth.key_cache_ttl_ms`.
    Revoke {
        /// The key's id, as `ordo keys list` shows it.
        id: uuid::Uuid,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Who or what the key is for, e.g. "storefront" or "Ann Lee".
    #[arg(long)]
    name: String,
    /// admin, manager, clerk, finance or viewer.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// Make the key expire after this many days.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    expires_in_days: Option<u32>,
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse()
}

#[allow(clippy::print_stdout)] // keys are the command's output
pub(super) async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let services = open_services(config).await?;
    let actor = Actor::system("cli");
    match command {
        KeysCommand::Create(args) => {
            let expires_at =
                args.expires_in_days.map(|days| ordo_domain::time::now() + chrono::Duration::days(days.into()));
            let (key, token) = services
                .keys
                .create_key(&actor, &args.name, args.role, expires_at)
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the key: {e}"))?;
            println!("id:      {}", key.id);
            println!("name:    {}", key.name);
            println!("role:    {}", key.role);
            if let Some(expires_at) = key.expires_at {
                println!("expires: {}", expires_at.to_rfc3339());
            }
            println!("key:     {}", token.expose());
            println!("Store the key now: it is not shown again.");
        }
        KeysCommand::List => {
            let keys = services.keys.list_keys().await.context("listing keys")?;
            println!("{:<36}  {:<8}  {:<20}  {:<20}  {:<20}  NAME", "ID", "ROLE", "CREATED", "LAST USED", "STATUS");
            let now = ordo_domain::time::now();
            for key in keys {
                let status = match (key.revoked_at, key.expires_at) {
                    (Some(at), _) => format!("revoked {}", at.format("%Y-%m-%d")),
                    (None, Some(at)) if at <= now => format!("expired {}", at.format("%Y-%m-%d")),
                    (None, Some(at)) => format!("until {}", at.format("%Y-%m-%d")),
                    (None, None) => "active".to_owned(),
                };
                let last_used =
                    key.last_used_at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string());
                println!(
                    "{:<36}  {:<8}  {:<20}  {:<20}  {:<20}  {}",
                    key.id,
                    key.role,
                    key.created_at.format("%Y-%m-%d %H:%M"),
                    last_used,
                    status,
                    key.name
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let key = services.keys.revoke_key(&actor, id).await.map_err(|e| anyhow::anyhow!("cannot revoke: {e}"))?;
            println!("revoked {} ({}, {})", key.id, key.name, key.role);
        }
    }
    services.db.close().await;
    Ok(())
}
