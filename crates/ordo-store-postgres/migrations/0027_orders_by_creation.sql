-- Orders by creation, with the id to break ties: exports page through a
-- period in this order (keyset on both), and date-range lists use it as
-- they used the index on created_at alone, which it replaces.
DROP INDEX orders_created_at_idx;
CREATE INDEX orders_created_idx ON orders (created_at, id);
