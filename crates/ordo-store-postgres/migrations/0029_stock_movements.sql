-- Every change of on-hand stock, written by a trigger whatever the path
-- (receipts, adjustments, imports, shipments, restocked returns, bulk
-- loads), for the stock report: on hand at any instant is today's less the
-- movements since. A shipment lowers on hand and reserved together (a
-- release may also free reserved units unshipped in the same update); no
-- other change does. Reservations move no stock and are not recorded (the
-- trigger fires only on updates that set on_hand).
CREATE TABLE stock_movements (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text COLLATE "C" NOT NULL,
    location_id uuid NOT NULL,
    delta       bigint NOT NULL,
    shipped     boolean NOT NULL,
    at          timestamptz NOT NULL
);

CREATE INDEX stock_movements_by_level ON stock_movements (sku, location_id, at);
CREATE INDEX stock_movements_by_time ON stock_movements (at);

CREATE FUNCTION stock_movement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.on_hand <> 0 THEN
            INSERT INTO stock_movements (sku, location_id, delta, shipped, at)
            VALUES (NEW.sku, NEW.location_id, NEW.on_hand, false, NEW.updated_at);
        END IF;
    ELSIF NEW.on_hand <> OLD.on_hand THEN
        INSERT INTO stock_movements (sku, location_id, delta, shipped, at)
        VALUES (NEW.sku, NEW.location_id, NEW.on_hand - OLD.on_hand,
                NEW.on_hand < OLD.on_hand AND NEW.reserved < OLD.reserved,
                NEW.updated_at);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER stock_movement AFTER INSERT OR UPDATE OF on_hand ON stock_levels
    FOR EACH ROW EXECUTE FUNCTION stock_movement();
