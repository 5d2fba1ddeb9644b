//! Files on object storage: rendered documents, and later report outputs
//! and imported files. One interface over the `object_store` crate's
//! stores; the binary picks the store (the local filesystem under
//! `ordo-data/files` by default, any S3-compatible service by
//! configuration) and how download links are made:
//!
//! - on S3, the store's own presigned URLs;
//! - on the local filesystem, links to Ordo's `GET /files/{key}`, signed
//!   with HMAC-SHA256 over the key and the expiry, which [`Files::open_link`]
//!   checks in constant time before the file is served.
//!
//! Uploads stream in parts ([`Files::put_stream`]): a multipart upload on
//! S3, so a file is never whole in memory.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use hmac::{Hmac, Mac};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use ordo_domain::Timestamp;
use sha2::Sha256;

/// The size of an upload's parts: S3's smallest part but the last is 5 MiB.
const PART_SIZE: usize = 5 * 1024 * 1024;

/// How download links are made.
#[derive(Clone)]
pub enum Links {
    /// Links to Ordo's own `/files/{key}` route under `base_url` (`None`:
    /// the origin the request for the link came to), signed with `secret`.
    Local { secret: Arc<[u8]>, base_url: Option<String> },
    /// The store's presigned URLs.
    Presigned(Arc<dyn Signer>),
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { base_url, .. } => f.debug_struct("Local").field("base_url", base_url).finish_non_exhaustive(),
            Self::Presigned(signer) => f.debug_tuple("Presigned").field(signer).finish(),
        }
    }
}

/// A short-lived download link.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Link {
    /// Where to download the file; needs no API key until it expires.
    pub url: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
}

/// What went wrong with a file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file {0} not found")]
    NotFound(String),
    /// A link that is malformed, tampered with or expired.
    #[error("{0}")]
    LinkRefused(&'static str),
    #[error("file storage failed")]
    Storage(#[source] object_store::Error),
}

impl From<object_store::Error> for FileError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => Self::NotFound(path),
            e => Self::Storage(e),
        }
    }
}

pub type FileResult<T> = Result<T, FileError>;

/// A file read back: its size and its bytes as they stream in.
pub struct FileBody {
    pub size: u64,
    pub bytes: BoxStream<'static, FileResult<Bytes>>,
}

impl std::fmt::Debug for FileBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileBody").field("size", &self.size).finish_non_exhaustive()
    }
}

/// The object store, its links and how long they live.
#[derive(Clone)]
pub struct Files {
    store: Arc<dyn ObjectStore>,
    links: Links,
    link_ttl: Duration,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("store", &self.store.to_string())
            .field("links", &self.links)
            .field("link_ttl", &self.link_ttl)
            .finish()
    }
}

impl Files {
    pub fn new(store: Arc<dyn ObjectStore>, links: Links, link_ttl: Duration) -> Self {
        Self { store, links, link_ttl }
    }

    /// Files kept in this process's memory, with local links: for services
    /// built without a configured store.
    pub fn in_memory() -> Self {
        let mut secret = [0u8; 32];
        let _ = getrandom::fill(&mut secret);
        let links = Links::Local { secret: Arc::from(&secret[..]), base_url: None };
        Self::new(Arc::new(object_store::memory::InMemory::new()), links, Duration::from_secs(15 * 60))
    }

    /// Stores `bytes` at `key` in one request.
    pub async fn put(&self, key: &str, bytes: Bytes) -> FileResult<()> {
        self.store.put(&path(key)?, PutPayload::from_bytes(bytes)).await?;
        Ok(())
    }

    /// Stores what `body` yields at `key`, in parts of 5 MiB uploaded as
    /// they fill: memory stays at a few parts whatever the size. A failed
    /// upload is aborted and leaves nothing at `key`. Returns the size.
    pub async fn put_stream<E>(&self, key: &str, body: impl Stream<Item = Result<Bytes, E>>) -> FileResult<u64>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let upload = self.store.put_multipart(&path(key)?).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut body = std::pin::pin!(body);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(FileError::Storage(object_store::Error::Generic {
                        store: "upload",
                        source: Box::new(e),
                    }));
                }
            };
            if let Err(e) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(e.into());
            }
            size += chunk.len() as u64;
            writer.put(chunk);
        }
        writer.finish().await?;
        Ok(size)
    }

    /// Stores a local file (an upload spooled to disk) at `key`, from its
    /// start, streamed as [`Files::put_stream`] does. Returns the size.
    pub async fn put_file(&self, key: &str, file: std::fs::File) -> FileResult<u64> {
        let mut file = tokio::fs::File::from_std(file);
        if let Err(e) = tokio::io::AsyncSeekExt::rewind(&mut file).await {
            return Err(FileError::Storage(object_store::Error::Generic { store: "upload", source: Box::new(e) }));
        }
        self.put_stream(key, tokio_util::io::ReaderStream::new(file)).await
    }

    /// The file at `key`, streamed.
    pub async fn get(&self, key: &str) -> FileResult<FileBody> {
        let result = self.store.get(&path(key)?).await?;
        let size = result.meta.size;
        Ok(FileBody { size, bytes: result.into_stream().map_err(FileError::from).boxed() })
    }

    /// Bytes `start..end` of the file at `key`, in one request.
    pub async fn get_range(&self, key: &str, start: u64, end: u64) -> FileResult<Bytes> {
        Ok(self.store.get_range(&path(key)?, start..end).await?)
    }

    /// Whether a file is stored at `key`.
    pub async fn exists(&self, key: &str) -> FileResult<bool> {
        match self.store.head(&path(key)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// A download link to `key` that expires after the configured time.
    /// `origin` (`http://host:port`) is where a local link points when no
    /// public URL is configured.
    pub async fn link(&self, key: &str, origin: &str, now: Timestamp) -> FileResult<Link> {
        let ttl = chrono::Duration::from_std(self.link_ttl).unwrap_or(chrono::Duration::minutes(15));
        // Whole seconds: the local link carries its expiry as a Unix time.
        let expires_at = chrono::DateTime::from_timestamp((now + ttl).timestamp(), 0).unwrap_or(now + ttl);
        let url = match &self.links {
            Links::Local { secret, base_url } => {
                let expires = expires_at.timestamp();
                let signature = sign(secret, key, expires);
                let base = base_url.as_deref().unwrap_or(origin).trim_end_matches('/');
                format!("{base}/files/{}?expires={expires}&signature={signature}", encode(key))
            }
            Links::Presigned(signer) => {
                signer.signed_url(reqwest::Method::GET, &path(key)?, self.link_ttl).await?.to_string()
            }
        };
        Ok(Link { url, expires_at })
    }

    /// Checks a local link to `key` and opens the file. Refused: links on
    /// a store that presigns its own, an expired link, or a signature that
    /// does not match.
    pub async fn open_link(&self, key: &str, expires: i64, signature: &str, now: Timestamp) -> FileResult<FileBody> {
        let Links::Local { secret, .. } = &self.links else {
            return Err(FileError::LinkRefused("files are served by the object store's own links"));
        };
        let Ok(given) = hex::decode(signature) else {
            return Err(FileError::LinkRefused("the link's signature is malformed"));
        };
        if mac(secret, key, expires).verify_slice(&given).is_err() {
            return Err(FileError::LinkRefused("the link's signature does not match"));
        }
        if now.timestamp() >= expires {
            return Err(FileError::LinkRefused("the link has expired"));
        }
        self.get(key).await
    }
}

/// The store's path for `key`; a key that would leave the store's root
/// (`..`, empty segments) is refused.
fn path(key: &str) -> FileResult<Path> {
    Path::parse(key).map_err(|_| FileError::NotFound(key.to_owned())).and_then(|p| {
        if key.is_empty() || p.as_ref() != key { Err(FileError::NotFound(key.to_owned())) } else { Ok(p) }
    })
}

fn mac(secret: &[u8], key: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(b"GET\n");
    mac.update(key.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

fn sign(secret: &[u8], key: &str, expires: i64) -> String {
    hex::encode(mac(secret, key, expires).finalize().into_bytes())
}

/// What a key keeps unencoded in a link: RFC 3986's unreserved characters.
/// Its `/` separators are encoded too, so `/files/{key}` names it in one
/// path parameter.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a key as one URL path segment.
fn encode(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> (tempfile::TempDir, Files) {
        let dir = tempfile::tempdir().unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let links = Links::Local { secret: Arc::from(&b"test secret"[..]), base_url: None };
        (dir, Files::new(Arc::new(store), links, Duration::from_secs(60)))
    }

    async fn read(body: FileBody) -> Vec<u8> {
        body.bytes
            .try_fold(Vec::new(), |mut all, b| async move {
                all.extend_from_slice(&b);
                Ok(all)
            })
            .await
            .unwrap()
    }

    fn query(url: &str) -> (i64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => signature = v.to_owned(),
                _ => {}
            }
        }
        (expires, signature)
    }

    #[tokio::test]
    async fn a_streamed_upload_reads_back_whole_and_a_local_link_opens_it_until_it_expires() {
        let (_dir, files) = local();
        // 12 MiB in 64 KiB pieces: three parts.
        let piece = Bytes::from(vec![7u8; 64 * 1024]);
        let body = futures::stream::iter((0..192).map(|_| Ok::<_, std::io::Error>(piece.clone())));
        assert_eq!(files.put_stream("reports/big.csv", body).await.unwrap(), 12 * 1024 * 1024);
        let now = chrono::Utc::now();
        let link = files.link("reports/big.csv", "http://ordo.test/", now).await.unwrap();
        assert!(link.url.starts_with("http://ordo.test/files/reports%2Fbig.csv?expires="), "{}", link.url);
        let (expires, signature) = query(&link.url);
        let body = files.open_link("reports/big.csv", expires, &signature, now).await.unwrap();
        assert_eq!(body.size, 12 * 1024 * 1024);
        assert_eq!(read(body).await, vec![7u8; 12 * 1024 * 1024]);

        let refused = |r: FileResult<FileBody>| match r {
            Err(FileError::LinkRefused(reason)) => reason,
            Err(e) => panic!("not refused but {e}"),
            Ok(_) => panic!("opened"),
        };
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(
            refused(files.open_link("reports/big.csv", expires, &signature, later).await),
            "the link has expired"
        );
        assert_eq!(
            refused(files.open_link("reports/big.csv", expires + 3600, &signature, now).await),
            "the link's signature does not match",
            "a later expiry is a different link"
        );
        assert_eq!(
            refused(files.open_link("reports/other.csv", expires, &signature, now).await),
            "the link's signature does not match"
        );
        assert_eq!(
            refused(files.open_link("reports/big.csv", expires, "zz", now).await),
            "the link's signature is malformed"
        );
    }

    #[tokio::test]
    async fn keys_outside_the_store_and_missing_files_are_not_found() {
        let (_dir, files) = local();
        files.put("a/b.pdf", Bytes::from_static(b"%PDF")).await.unwrap();
        assert!(files.exists("a/b.pdf").await.unwrap());
        assert!(!files.exists("a/c.pdf").await.unwrap());
        for key in ["", "../etc/passwd", "a/../b.pdf", "a//b.pdf", "a/c.pdf"] {
            assert!(matches!(files.get(key).await, Err(FileError::NotFound(_))), "{key:?}");
        }
    }

    #[test]
    fn keys_are_percent_encoded_in_links() {
        assert_eq!(encode("invoices/DE 2026/€.pdf"), "invoices%2FDE%202026%2F%E2%82%AC.pdf");
    }
}
