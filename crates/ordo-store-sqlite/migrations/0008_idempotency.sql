-- Idempotency keys, per API key. A row is in flight until response_status
-- is set; expired rows are swept.
CREATE TABLE idempotency_keys (
    principal        BLOB NOT NULL,
    key              TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    response_status  INTEGER,
    response_type    TEXT,
    response_location TEXT,
    response_body    BLOB,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    locked_until     INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
