-- Tax classes and shipping charges. A product's tax class picks one of its
-- market's rates; a market's shipping rate prices each order's shipping.
-- Orders and their lines freeze the rates they were taxed at. The new
-- order columns are NULL on rows placed before (read as the order's rate),
-- so that adding them rewrites none of the biggest tables.
ALTER TABLE products ADD COLUMN tax_class text NOT NULL DEFAULT 'standard'
    CHECK (tax_class IN ('standard', 'reduced', 'zero'));
ALTER TABLE markets ADD COLUMN reduced_tax_rate_bp bigint CHECK (reduced_tax_rate_bp BETWEEN 0 AND 10000);
UPDATE markets SET reduced_tax_rate_bp = tax_rate_bp;
ALTER TABLE markets ALTER COLUMN reduced_tax_rate_bp SET NOT NULL;
ALTER TABLE markets ADD COLUMN shipping jsonb;
ALTER TABLE orders ADD COLUMN shipping_net bigint NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_tax_rate_bp bigint;
ALTER TABLE orders ADD COLUMN shipping_tax bigint NOT NULL DEFAULT 0;
ALTER TABLE order_lines ADD COLUMN tax_rate_bp bigint;
