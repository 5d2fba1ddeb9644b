-- Web admin sessions, opened by signing in with an API key. Only the
-- SHA-256 of the cookie's secret is stored. Expired sessions are removed
-- by the periodic cleanup.
CREATE TABLE admin_sessions (
    id_hash    BLOB PRIMARY KEY NOT NULL CHECK (length(id_hash) = 32),
    key_id     BLOB NOT NULL REFERENCES api_keys (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);
