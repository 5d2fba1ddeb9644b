-- Markets: configuration data, one row per market.
CREATE TABLE markets (
    code        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    tax_rate_bp INTEGER NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    locale      TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER
) STRICT;
