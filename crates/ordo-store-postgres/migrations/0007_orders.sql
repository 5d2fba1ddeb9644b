-- Orders, their lines (prices frozen at placement) and their timeline.
CREATE TABLE orders (
    id               uuid PRIMARY KEY,
    customer_id      uuid NOT NULL,
    market           text NOT NULL,
    currency         text NOT NULL,
    tax_rate_bp      bigint NOT NULL,
    status           text NOT NULL,
    shipping_address jsonb NOT NULL,
    subtotal         bigint NOT NULL,
    tax              bigint NOT NULL,
    total            bigint NOT NULL,
    version          bigint NOT NULL CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- The Idempotency-Key the order was placed with, per API key: even if
    -- the stored answer is lost (a crash between commit and recording it),
    -- a retry finds this order instead of placing another.
    idempotency_principal uuid,
    idempotency_key  text
);

CREATE INDEX orders_customer_idx ON orders (customer_id, id);
CREATE INDEX orders_status_idx ON orders (status, id);
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_principal, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_idempotency_created_idx ON orders (created_at) WHERE idempotency_key IS NOT NULL;

CREATE TABLE order_lines (
    order_id         uuid NOT NULL REFERENCES orders (id),
    line             integer NOT NULL,
    sku              text NOT NULL,
    product_id       uuid NOT NULL,
    name             text NOT NULL,
    quantity         bigint NOT NULL CHECK (quantity > 0),
    shipped_quantity bigint NOT NULL CHECK (shipped_quantity BETWEEN 0 AND quantity),
    unit_price       bigint NOT NULL,
    subtotal         bigint NOT NULL,
    tax              bigint NOT NULL,
    total            bigint NOT NULL,
    allocations      jsonb NOT NULL,
    PRIMARY KEY (order_id, line)
);

CREATE TABLE order_events (
    id          uuid PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id),
    occurred_at timestamptz NOT NULL,
    kind        text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    actor_name  text NOT NULL,
    detail      jsonb
);

CREATE INDEX order_events_order_idx ON order_events (order_id, id);
