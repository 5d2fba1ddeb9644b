//! A thin HTTP client for Ordo's API, as the load generator uses it.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::Value;

/// Why a request failed, in the terms the report counts errors by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// An answer that is not a success: the status and the problem's `code`.
    #[error("{status} {code}")]
    Status { status: u16, code: String },
    #[error("timeout")]
    Timeout,
    #[error("connection failed")]
    Connect,
    #[error("{0}")]
    Unexpected(String),
}

impl ApiError {
    /// The error's kind, as the report counts it.
    pub fn kind(&self) -> String {
        match self {
            Self::Unexpected(_) => "unexpected answer".to_owned(),
            other => other.to_string(),
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() {
            Self::Connect
        } else {
            Self::Unexpected(e.to_string())
        }
    }
}

/// Ordo's API at one base URL, with one API key.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// `connections`: how many to keep open (one per concurrent client).
    pub fn new(base: &str, key: Option<&str>, connections: usize, timeout: Duration) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(connections.max(1))
            .tcp_nodelay(true)
            .timeout(timeout)
            .build()?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned() })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<bytes::Bytes, ApiError> {
        let response = request.send().await.map_err(|e| ApiError::from_reqwest(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| ApiError::from_reqwest(&e))?;
        if status.is_success() {
            return Ok(body);
        }
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|problem| problem["code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase().replace(' ', "_"));
        Err(ApiError::Status { status: status.as_u16(), code })
    }

    fn parse(body: &[u8]) -> Result<Value, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::Unexpected(format!("the answer is not JSON: {e}")))
    }

    /// GETs `path` and reads the whole answer without parsing it.
    pub async fn get(&self, path: &str) -> Result<(), ApiError> {
        self.send(self.client.get(format!("{}{path}", self.base))).await.map(drop)
    }

    pub async fn get_json(&self, path: &str) -> Result<Value, ApiError> {
        Self::parse(&self.send(self.client.get(format!("{}{path}", self.base))).await?)
    }

    /// As [`Self::get_json`], but waits out rate limits (429) instead of
    /// failing: for reads that must complete, such as the check.
    pub async fn get_json_patiently(&self, path: &str) -> Result<Value, ApiError> {
        let mut waits = 0;
        loop {
            match self.get_json(path).await {
                Err(ApiError::Status { status: 429, .. }) if waits < 120 => {
                    waits += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value, idempotency_key: Option<&str>) -> Result<Value, ApiError> {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Self::parse(&self.send(request).await?)
    }

    /// Every item of a paged list, following `next_cursor`, 500 at a time.
    pub async fn all_pages(&self, path: &str) -> Result<Vec<Value>, ApiError> {
        self.pages(path, usize::MAX).await
    }

    /// Items of a paged list, up to about `most`.
    pub async fn pages(&self, path: &str, most: usize) -> Result<Vec<Value>, ApiError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}limit=500&cursor={cursor}"),
                None => format!("{path}{separator}limit=500"),
            };
            let page = self.get_json_patiently(&page_path).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) if items.len() < most => cursor = Some(next.to_owned()),
                _ => return Ok(items),
            }
        }
    }
}
