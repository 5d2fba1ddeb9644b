-- What a use case decided for a request with a key (an order placed, a
-- placement refused), which the HTTP layer renders on replay. A row is in
-- flight until response_status or outcome is set; rows answered before
-- this column existed keep their stored response.
ALTER TABLE idempotency_keys ADD COLUMN outcome jsonb;
