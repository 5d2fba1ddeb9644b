//! `ordo config`: print the effective configuration, secrets redacted.

use crate::config::Config;

#[allow(clippy::print_stdout)] // the configuration is the command's output
pub(super) fn run(config: &Config) -> anyhow::Result<()> {
    print!("{}", config.to_redacted_toml()?);
    Ok(())
}
