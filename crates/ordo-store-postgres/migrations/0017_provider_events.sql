-- Events a payment provider sent to Ordo (Stripe's webhooks), kept as
-- received once their signature was verified. The provider's event id is
-- unique, so a redelivered event is recorded once.
CREATE TABLE provider_events (
    id          uuid PRIMARY KEY,
    provider    text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    order_id    uuid REFERENCES orders (id),
    payload     text NOT NULL,
    received_at timestamptz NOT NULL,
    CONSTRAINT provider_events_event UNIQUE (provider, event_id)
);

-- An event names a payment by the provider's reference.
CREATE INDEX payments_reference ON payments (provider, provider_reference);
