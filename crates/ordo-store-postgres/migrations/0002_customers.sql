-- The customers module's tables.
CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    -- Stored normalised (trimmed, lower-cased) by the domain.
    email       text COLLATE "C" NOT NULL CONSTRAINT customers_email_key UNIQUE,
    name        text NOT NULL,
    -- [{"line1": ..., "city": ..., "country": "DE", ...}, ...]
    addresses   jsonb NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    archived_at timestamptz
);

CREATE INDEX customers_updated_at_idx ON customers (updated_at);
