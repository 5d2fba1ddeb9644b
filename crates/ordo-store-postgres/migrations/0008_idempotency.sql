-- Idempotency keys, per API key. A row is in flight until response_status
-- is set; expired rows are swept.
CREATE TABLE idempotency_keys (
    principal        uuid NOT NULL,
    key              text NOT NULL,
    request_hash     text NOT NULL,
    response_status  integer,
    response_type    text,
    response_location text,
    response_body    bytea,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    locked_until     timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
