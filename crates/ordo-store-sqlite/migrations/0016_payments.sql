-- Payment records: every provider call that moves money. The idempotency
-- key sent to the provider is unique, so a retried call records nothing
-- twice. Amounts are positive minor units.
CREATE TABLE payments (
    id                 BLOB PRIMARY KEY NOT NULL,
    order_id           BLOB NOT NULL REFERENCES orders (id),
    kind               TEXT NOT NULL CHECK (kind IN ('authorization', 'capture', 'void', 'refund')),
    provider           TEXT NOT NULL,
    provider_reference TEXT,
    amount             INTEGER NOT NULL CHECK (amount > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    idempotency_key    TEXT NOT NULL CONSTRAINT payments_idempotency_key UNIQUE,
    failure_reason     TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

CREATE INDEX payments_order ON payments (order_id, id);
