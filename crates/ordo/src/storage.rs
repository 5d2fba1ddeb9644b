//! Picks the storage backend from the database URL's scheme. This is the
//! only place that names a concrete backend.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use ordo_store::Database;
use ordo_store_postgres::{PgOptions, PgStore};
use ordo_store_sqlite::{Durability, SqliteOptions, SqliteStore};

use crate::config::{DatabaseConfig, FilesBackend, FilesConfig, SqliteSynchronous};

/// The SQLite backend's options for the file at `path`.
pub fn sqlite_options(config: &DatabaseConfig, path: PathBuf) -> SqliteOptions {
    let ms = Duration::from_millis;
    SqliteOptions {
        path,
        max_readers: config.max_connections,
        acquire_timeout: ms(config.acquire_timeout_ms),
        busy_timeout: ms(config.sqlite_busy_timeout_ms),
        statement_cache_capacity: config.statement_cache_capacity,
        slow_statement: ms(config.slow_statement_ms),
        durability: match config.sqlite_synchronous {
            SqliteSynchronous::Full => Durability::Full,
            SqliteSynchronous::Normal => Durability::Normal,
        },
    }
}

/// Opens the configured database. SQLite files (and their folder) are
/// created on first use; PostgreSQL connections are opened lazily.
pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Arc<dyn Database>> {
    let url = config.url.expose();
    let ms = Duration::from_millis;
    if let Some(path) = sqlite_path(url) {
        let options = sqlite_options(config, path);
        let store = SqliteStore::open(&options)
            .await
            .with_context(|| format!("cannot open SQLite database {}", options.path.display()))?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgOptions {
            url: url.to_owned(),
            max_connections: config.max_connections,
            min_connections: config.min_connections,
            acquire_timeout: ms(config.acquire_timeout_ms),
            idle_timeout: Some(ms(config.idle_timeout_ms)).filter(|d| !d.is_zero()),
            statement_cache_capacity: config.statement_cache_capacity,
            statement_timeout: Some(ms(config.statement_timeout_ms)).filter(|d| !d.is_zero()),
            pgbouncer: config.pgbouncer,
            slow_statement: ms(config.slow_statement_ms),
        };
        // The error could quote the URL, password included; say only what is wrong.
        let store =
            PgStore::connect_lazy(&options).map_err(|_| anyhow::anyhow!("invalid PostgreSQL URL {}", config.url))?;
        return Ok(Arc::new(store));
    }
    bail!("unsupported database URL {}: use sqlite://PATH or postgres://...", config.url)
}

/// The file path of a `sqlite://path` or `sqlite:path` URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// Builds the configured file store: a folder (created if missing) with
/// links signed by Ordo, or an S3-compatible bucket with presigned links.
pub fn files(config: &FilesConfig) -> anyhow::Result<ordo_service::files::Files> {
    use ordo_service::files::{Files, Links};
    let ttl = Duration::from_millis(config.link_ttl_ms.max(1000));
    match config.backend {
        FilesBackend::Local => {
            std::fs::create_dir_all(&config.path)
                .with_context(|| format!("cannot create the files folder {}", config.path))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&config.path)
                .with_context(|| format!("cannot open the files folder {}", config.path))?;
            let secret: Arc<[u8]> = if config.signing_secret.is_set() {
                Arc::from(config.signing_secret.expose().as_bytes())
            } else {
                let mut random = [0u8; 32];
                getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness for the link key: {e}"))?;
                Arc::from(&random[..])
            };
            let base_url = Some(config.public_url.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
            Ok(Files::new(Arc::new(store), Links::Local { secret, base_url }, ttl))
        }
        FilesBackend::S3 => {
            if config.s3_bucket.is_empty() {
                bail!("files.backend = \"s3\" needs files.s3_bucket (or ORDO_FILES_S3_BUCKET)");
            }
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&config.s3_bucket)
                .with_region(&config.s3_region)
                .with_allow_http(config.s3_allow_http);
            if !config.s3_endpoint.is_empty() {
                builder = builder.with_endpoint(&config.s3_endpoint);
            }
            if !config.s3_access_key_id.is_empty() {
                builder = builder.with_access_key_id(&config.s3_access_key_id);
            }
            if config.s3_secret_access_key.is_set() {
                builder = builder.with_secret_access_key(config.s3_secret_access_key.expose());
            }
            let store = Arc::new(builder.build().context("invalid S3 settings for files")?);
            Ok(Files::new(store.clone(), Links::Presigned(store), ttl))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(sqlite_path("sqlite://ordo-data/ordo.db"), Some(PathBuf::from("ordo-data/ordo.db")));
        assert_eq!(sqlite_path("sqlite:///var/lib/ordo/ordo.db"), Some(PathBuf::from("/var/lib/ordo/ordo.db")));
        assert_eq!(sqlite_path("sqlite:ordo.db?mode=rwc"), Some(PathBuf::from("ordo.db")));
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("postgres://localhost/ordo"), None);
    }
}
