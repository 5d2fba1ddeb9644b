-- Payment records: every provider call that moves money. The idempotency
-- key sent to the provider is unique, so a retried call records nothing
-- twice. Amounts are positive minor units.
CREATE TABLE payments (
    id                 uuid PRIMARY KEY,
    order_id           uuid NOT NULL REFERENCES orders (id),
    kind               text NOT NULL CHECK (kind IN ('authorization', 'capture', 'void', 'refund')),
    provider           text NOT NULL,
    provider_reference text,
    amount             bigint NOT NULL CHECK (amount > 0),
    currency           text NOT NULL,
    status             text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    idempotency_key    text NOT NULL CONSTRAINT payments_idempotency_key UNIQUE,
    failure_reason     text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

CREATE INDEX payments_order ON payments (order_id, id);
