-- Events a payment provider sent to Ordo (Stripe's webhooks), kept as
-- received once their signature was verified. The provider's event id is
-- unique, so a redelivered event is recorded once.
CREATE TABLE provider_events (
    id          BLOB PRIMARY KEY NOT NULL,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    order_id    BLOB REFERENCES orders (id),
    payload     TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    CONSTRAINT provider_events_event UNIQUE (provider, event_id)
) STRICT;

-- An event names a payment by the provider's reference.
CREATE INDEX payments_reference ON payments (provider, provider_reference);
