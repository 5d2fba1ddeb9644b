-- The customers module's tables.
CREATE TABLE customers (
    id          BLOB PRIMARY KEY NOT NULL,
    -- Stored normalised (trimmed, lower-cased) by the domain.
    email       TEXT NOT NULL CONSTRAINT customers_email_key UNIQUE,
    name        TEXT NOT NULL,
    -- [{"line1": ..., "city": ..., "country": "DE", ...}, ...]
    addresses   TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX customers_updated_at_idx ON customers (updated_at);
