//! Who may do what: roles, permissions, the permission matrix, and API keys.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::time::Timestamp;

/// The roles of the people and systems that use an order system.
///
/// - `admin`: everything, including reading the audit trail; manages keys
///   (through the CLI).
/// - `manager`: runs the business: changes the catalog, markets, customers,
///   stock and orders, reads the audit trail, runs reports and exports.
/// - `clerk`: day-to-day order desk and warehouse: maintains customers,
///   places and moves orders along, books stock; reads the catalog and
///   markets.
/// - `finance`: reads everything, the audit trail and the ledger, closes and
///   reopens the ledger's periods, runs reports; changes nothing in the catalog or
///   customers.
/// - `viewer`: reads business data only; dashboards and read-only
///   integrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Manager,
    Clerk,
    Finance,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Manager, Role::Clerk, Role::Finance, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Clerk => "clerk",
            Role::Finance => "finance",
            Role::Viewer => "viewer",
        }
    }

    /// Whether this role holds `permission`, per [`MATRIX`].
    pub fn allows(self, permission: Permission) -> bool {
        MATRIX.iter().any(|(p, roles)| *p == permission && roles.contains(&self))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`; expected one of admin, manager, clerk, finance, viewer"))
    }
}

/// An operation a route performs, named as an OAuth-style scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    CatalogRead,
    CatalogWrite,
    CustomersRead,
    CustomersWrite,
    MarketsRead,
    MarketsWrite,
    InventoryRead,
    InventoryWrite,
    OrdersRead,
    OrdersWrite,
    InvoicesRead,
    WebhooksManage,
    JobsRead,
    JobsManage,
    OpsRead,
    AuditRead,
    LedgerRead,
    LedgerManage,
    ReportsRun,
    ExportsRun,
    ImportsRun,
    /// Create and revoke API keys (the web admin; the CLI needs no key).
    KeysManage,
}

impl Permission {
    pub const ALL: [Permission; 22] = [
        Permission::CatalogRead,
        Permission::CatalogWrite,
        Permission::CustomersRead,
        Permission::CustomersWrite,
        Permission::MarketsRead,
        Permission::MarketsWrite,
        Permission::InventoryRead,
        Permission::InventoryWrite,
        Permission::OrdersRead,
        Permission::OrdersWrite,
        Permission::InvoicesRead,
        Permission::WebhooksManage,
        Permission::JobsRead,
        Permission::JobsManage,
        Permission::OpsRead,
        Permission::AuditRead,
        Permission::LedgerRead,
        Permission::LedgerManage,
        Permission::ReportsRun,
        Permission::ExportsRun,
        Permission::ImportsRun,
        Permission::KeysManage,
    ];

    /// The scope string used in the OpenAPI document, e.g. `catalog:write`.
    pub fn scope(self) -> &'static str {
        match self {
            Permission::CatalogRead => "catalog:read",
            Permission::CatalogWrite => "catalog:write",
            Permission::CustomersRead => "customers:read",
            Permission::CustomersWrite => "customers:write",
            Permission::MarketsRead => "markets:read",
            Permission::MarketsWrite => "markets:write",
            Permission::InventoryRead => "inventory:read",
            Permission::InventoryWrite => "inventory:write",
            Permission::OrdersRead => "orders:read",
            Permission::OrdersWrite => "orders:write",
            Permission::InvoicesRead => "invoices:read",
            Permission::WebhooksManage => "webhooks:manage",
            Permission::JobsRead => "jobs:read",
            Permission::JobsManage => "jobs:manage",
            Permission::OpsRead => "ops:read",
            Permission::AuditRead => "audit:read",
            Permission::LedgerRead => "ledger:read",
            Permission::LedgerManage => "ledger:manage",
            Permission::ReportsRun => "reports:run",
            Permission::ExportsRun => "exports:run",
            Permission::ImportsRun => "imports:run",
            Permission::KeysManage => "keys:manage",
        }
    }

    pub fn from_scope(scope: &str) -> Option<Self> {
        Permission::ALL.into_iter().find(|p| p.scope() == scope)
    }
}

use Role::{Admin, Clerk, Finance, Manager, Viewer};

/// The permission matrix: the one place that says which role may perform
/// which operation. The README's table and the OpenAPI security scheme are
/// generated from (and tested against) it.
pub const MATRIX: [(Permission, &[Role]); 22] = [
    (Permission::CatalogRead, &[Admin, Manager, Clerk, Finance, Viewer]),
    (Permission::CatalogWrite, &[Admin, Manager]),
    (Permission::CustomersRead, &[Admin, Manager, Clerk, Finance, Viewer]),
    (Permission::CustomersWrite, &[Admin, Manager, Clerk]),
    (Permission::MarketsRead, &[Admin, Manager, Clerk, Finance, Viewer]),
    (Permission::MarketsWrite, &[Admin, Manager]),
    (Permission::InventoryRead, &[Admin, Manager, Clerk, Finance, Viewer]),
    (Permission::InventoryWrite, &[Admin, Manager, Clerk]),
    (Permission::OrdersRead, &[Admin, Manager, Clerk, Finance, Viewer]),
    (Permission::OrdersWrite, &[Admin, Manager, Clerk]),
    (Permission::InvoicesRead, &[Admin, Manager, Clerk, Finance, Viewer]),
    (Permission::WebhooksManage, &[Admin, Manager]),
    (Permission::JobsRead, &[Admin, Manager]),
    (Permission::JobsManage, &[Admin, Manager]),
    (Permission::OpsRead, &[Admin, Manager]),
    (Permission::AuditRead, &[Admin, Manager, Finance]),
    (Permission::LedgerRead, &[Admin, Manager, Finance]),
    (Permission::LedgerManage, &[Admin, Finance]),
    (Permission::ReportsRun, &[Admin, Manager, Finance]),
    (Permission::ExportsRun, &[Admin, Manager]),
    (Permission::ImportsRun, &[Admin, Manager]),
    (Permission::KeysManage, &[Admin]),
];

/// The matrix as a Markdown table, for the README and the API description.
pub fn matrix_markdown() -> String {
    let mut table = String::from("| operation |");
    for role in Role::ALL {
        table.push_str(&format!(" {role} |"));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(Role::ALL.len()));
    for permission in Permission::ALL {
        table.push_str(&format!("\n| `{}` |", permission.scope()));
        for role in Role::ALL {
            table.push_str(if role.allows(permission) { " yes |" } else { " no |" });
        }
    }
    table.push('\n');
    table
}

/// Identifies an API key; the public half of a key's token.
pub type ApiKeyId = Uuid;

/// An API key as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    #[schema(ignore)]
    pub secret_hash: [u8; 32],
}

const TOKEN_PREFIX: &str = "ordo_";

/// A key's bearer token: `ordo_<id as 32 hex digits>_<secret>`. The secret
/// is 32 random bytes (256 bits), base64url. Only its SHA-256 is stored: a
/// fast hash is right for a secret this random (no dictionary to try).
pub struct Token(String);

impl Token {
    /// Builds the token for `id` from 32 random bytes.
    pub fn new(id: ApiKeyId, random: &[u8; 32]) -> Self {
        Self(format!("{TOKEN_PREFIX}{}_{}", id.simple(), URL_SAFE_NO_PAD.encode(random)))
    }

    /// The token, to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Splits a presented token into the key id and the secret's hash.
    pub fn parse(presented: &str) -> Option<(ApiKeyId, [u8; 32])> {
        let rest = presented.strip_prefix(TOKEN_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 32 || secret.len() != 43 {
            return None;
        }
        let id = Uuid::try_parse(id).ok()?;
        Some((id, hash_secret(secret)))
    }

    /// The SHA-256 of this token's secret, as stored.
    pub fn secret_hash(&self) -> [u8; 32] {
        Self::parse(&self.0).map(|(_, hash)| hash).unwrap_or_default()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A web admin session, opened by signing in with an API key: the browser
/// holds its secret in a cookie, the store only the secret's SHA-256. It
/// acts with the key's role and ends at `expires_at`, at sign-out, or when
/// the key is revoked or expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSession {
    /// SHA-256 of the cookie's secret.
    pub id_hash: [u8; 32],
    pub key_id: ApiKeyId,
    /// The token every form of the session carries (`csrf`): a request
    /// without it, or with another session's, is refused.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl AdminSession {
    /// Opens a session for `key_id` from 64 random bytes (the cookie's
    /// secret, then the CSRF token); returns it with the cookie's value.
    pub fn open(key_id: ApiKeyId, random: &[u8; 64], now: Timestamp, lifetime: chrono::Duration) -> (Self, String) {
        let secret = URL_SAFE_NO_PAD.encode(&random[..32]);
        let session = Self {
            id_hash: hash_secret(&secret),
            key_id,
            csrf_token: URL_SAFE_NO_PAD.encode(&random[32..]),
            created_at: now,
            expires_at: now + lifetime,
        };
        (session, secret)
    }

    /// The stored id of a presented cookie value, if it has the shape of one.
    pub fn id_of(cookie: &str) -> Option<[u8; 32]> {
        (cookie.len() == 43 && cookie.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| hash_secret(cookie))
    }

    /// Whether a form's token is this session's (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf_token.as_bytes().ct_eq(presented.as_bytes()))
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// Why a presented key was refused. Clients are told only that it was
/// refused, never which of these applied (that would reveal that it exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    Malformed,
    Unknown,
    WrongSecret,
    Expired,
    Revoked,
}

impl ApiKey {
    /// Checks a presented secret hash (in constant time) and the key's
    /// validity at `now`.
    pub fn verify(&self, presented_hash: &[u8; 32], now: Timestamp) -> Result<(), KeyRejection> {
        if !bool::from(self.secret_hash.ct_eq(presented_hash)) {
            return Err(KeyRejection::WrongSecret);
        }
        self.usable(now)
    }

    /// Whether the key is neither revoked nor expired at `now`.
    pub fn usable(&self, now: Timestamp) -> Result<(), KeyRejection> {
        if self.revoked_at.is_some_and(|t| t <= now) {
            return Err(KeyRejection::Revoked);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(KeyRejection::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now;

    #[test]
    fn an_admin_session_is_found_by_its_cookie_and_checks_its_csrf_token() {
        let at = now();
        let random: [u8; 64] = std::array::from_fn(|i| i as u8);
        let (session, cookie) = AdminSession::open(Uuid::nil(), &random, at, chrono::Duration::hours(1));
        assert_eq!(cookie.len(), 43);
        assert_eq!(AdminSession::id_of(&cookie), Some(session.id_hash));
        assert_ne!(session.csrf_token, cookie, "the token is not the cookie");
        assert!(session.csrf_matches(&session.csrf_token.clone()));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches(&cookie));
        for bad in ["", "short", &"a".repeat(44), &format!("{};x", &cookie[..41])] {
            assert_eq!(AdminSession::id_of(bad), None, "{bad}");
        }
        assert!(session.is_live(at) && !session.is_live(at + chrono::Duration::hours(1)));
    }

    fn key(token: &Token, id: ApiKeyId) -> ApiKey {
        ApiKey {
            id,
            name: "ci".into(),
            role: Role::Clerk,
            created_at: now(),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
            secret_hash: token.secret_hash(),
        }
    }

    #[test]
    fn tokens_round_trip_and_verify() {
        let id = Uuid::now_v7();
        let token = Token::new(id, &[7; 32]);
        assert!(token.expose().starts_with("ordo_"));
        assert!(!format!("{token:?}").contains(&token.expose()[5..]), "Debug hides the token");
        let (parsed_id, hash) = Token::parse(token.expose()).unwrap();
        assert_eq!(parsed_id, id);
        let stored = key(&token, id);
        assert_eq!(stored.verify(&hash, now()), Ok(()));
        let other = Token::new(id, &[8; 32]);
        assert_eq!(stored.verify(&other.secret_hash(), now()), Err(KeyRejection::WrongSecret));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let good = Token::new(Uuid::now_v7(), &[1; 32]);
        for bad in [
            "",
            "ordo_",
            "Bearer x",
            "ordo_abc_def",
            &good.expose()[..good.expose().len() - 1],
            &good.expose().replace("ordo_", "odro_"),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn expired_and_revoked_keys_are_refused() {
        let id = Uuid::now_v7();
        let token = Token::new(id, &[3; 32]);
        let mut stored = key(&token, id);
        let hash = token.secret_hash();
        stored.expires_at = Some(now() - chrono::Duration::seconds(1));
        assert_eq!(stored.verify(&hash, now()), Err(KeyRejection::Expired));
        stored.expires_at = None;
        stored.revoked_at = Some(now());
        assert_eq!(stored.verify(&hash, now()), Err(KeyRejection::Revoked));
    }

    #[test]
    fn matrix_is_total_and_admin_holds_everything() {
        for permission in Permission::ALL {
            assert!(MATRIX.iter().any(|(p, _)| *p == permission), "{permission:?} is in the matrix");
            assert!(Role::Admin.allows(permission));
            assert_eq!(Permission::from_scope(permission.scope()), Some(permission));
        }
        assert!(!Role::Viewer.allows(Permission::CatalogWrite));
        assert!(!Role::Clerk.allows(Permission::AuditRead));
        assert!(Role::Clerk.allows(Permission::CustomersWrite));
        assert_eq!("finance".parse::<Role>(), Ok(Role::Finance));
        assert!("root".parse::<Role>().is_err());
    }
}
