-- Domain events (the outbox webhooks are fed from), subscriptions, and one
-- delivery row per event and subscription.
CREATE TABLE domain_events (
    id          BLOB PRIMARY KEY NOT NULL,
    type        TEXT NOT NULL,
    order_id    BLOB NOT NULL,
    occurred_at INTEGER NOT NULL,
    data        TEXT NOT NULL
) STRICT;

CREATE TABLE webhooks (
    id          BLOB PRIMARY KEY NOT NULL,
    url         TEXT NOT NULL,
    event_types TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY NOT NULL,
    webhook_id       BLOB NOT NULL,
    event_id         BLOB NOT NULL,
    event_type       TEXT NOT NULL,
    order_id         BLOB NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
) STRICT;

CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, order_id, event_id);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
