-- The catalog module's tables. Ids are UUIDv7 as 16-byte BLOBs (byte order
-- is creation order); timestamps are microseconds since the Unix epoch.
CREATE TABLE products (
    id          BLOB PRIMARY KEY NOT NULL,
    sku         TEXT NOT NULL CONSTRAINT products_sku_key UNIQUE,
    name        TEXT NOT NULL,
    description TEXT,
    -- [{"amount": 1999, "currency": "EUR"}, ...], validated by the domain.
    prices      TEXT NOT NULL,
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    version     INTEGER NOT NULL CHECK (version > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX products_updated_at_idx ON products (updated_at);
