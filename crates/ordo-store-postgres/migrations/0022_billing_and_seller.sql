-- An order's billing details (address, VAT id) where they differ from its
-- shipping (NULL when none: most orders); a market's seller as its
-- invoices name it.
ALTER TABLE orders ADD COLUMN billing jsonb;
ALTER TABLE markets ADD COLUMN seller jsonb;
