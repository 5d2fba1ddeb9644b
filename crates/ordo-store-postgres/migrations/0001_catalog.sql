-- The catalog module's tables.
CREATE TABLE products (
    id          uuid PRIMARY KEY,
    -- "C" collation: byte order, so SKU-prefix filters are index range scans.
    sku         text COLLATE "C" NOT NULL CONSTRAINT products_sku_key UNIQUE,
    name        text NOT NULL,
    description text,
    -- [{"amount": 1999, "currency": "EUR"}, ...], validated by the domain.
    prices      jsonb NOT NULL,
    active      boolean NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    archived_at timestamptz
);

CREATE INDEX products_updated_at_idx ON products (updated_at);
