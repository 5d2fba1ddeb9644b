-- Markets: configuration data, one row per market.
CREATE TABLE markets (
    code        text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL,
    currency    text NOT NULL,
    tax_rate_bp bigint NOT NULL CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    locale      text NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    archived_at timestamptz
);
