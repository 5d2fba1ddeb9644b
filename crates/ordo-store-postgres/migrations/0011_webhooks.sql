-- Domain events (the outbox webhooks are fed from), subscriptions, and one
-- delivery row per event and subscription.
CREATE TABLE domain_events (
    id          uuid PRIMARY KEY,
    type        text NOT NULL,
    order_id    uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb NOT NULL
);

CREATE TABLE webhooks (
    id          uuid PRIMARY KEY,
    url         text NOT NULL,
    event_types jsonb NOT NULL,
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    order_id         uuid NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);

CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, order_id, event_id);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
