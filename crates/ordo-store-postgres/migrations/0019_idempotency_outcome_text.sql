-- The outcome is stored as JSON text: PostgreSQL never looks inside it, and
-- parsing it into jsonb on every placement with a key cost database CPU
-- for nothing.
ALTER TABLE idempotency_keys ALTER COLUMN outcome TYPE text USING outcome::text;
