-- Orders, their lines (prices frozen at placement) and their timeline.
CREATE TABLE orders (
    id               BLOB PRIMARY KEY NOT NULL,
    customer_id      BLOB NOT NULL,
    market           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    tax_rate_bp      INTEGER NOT NULL,
    status           TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    subtotal         INTEGER NOT NULL,
    tax              INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    version          INTEGER NOT NULL CHECK (version > 0),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- The Idempotency-Key the order was placed with, per API key: even if
    -- the stored answer is lost (a crash between commit and recording it),
    -- a retry finds this order instead of placing another.
    idempotency_principal BLOB,
    idempotency_key  TEXT
) STRICT;

CREATE INDEX orders_customer_idx ON orders (customer_id, id);
CREATE INDEX orders_status_idx ON orders (status, id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_idempotency_created_idx ON orders (created_at) WHERE idempotency_key IS NOT NULL;

CREATE TABLE order_lines (
    order_id         BLOB NOT NULL REFERENCES orders (id),
    line             INTEGER NOT NULL,
    sku              TEXT NOT NULL,
    product_id       BLOB NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    shipped_quantity INTEGER NOT NULL CHECK (shipped_quantity BETWEEN 0 AND quantity),
    unit_price       INTEGER NOT NULL,
    subtotal         INTEGER NOT NULL,
    tax              INTEGER NOT NULL,
    total            INTEGER NOT NULL,
    allocations      TEXT NOT NULL,
    PRIMARY KEY (order_id, line)
) STRICT;

CREATE TABLE order_events (
    id          BLOB PRIMARY KEY NOT NULL,
    order_id    BLOB NOT NULL REFERENCES orders (id),
    occurred_at INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    actor_name  TEXT NOT NULL,
    detail      TEXT
) STRICT;

CREATE INDEX order_events_order_idx ON order_events (order_id, id);
