-- Every change of on-hand stock, written by triggers whatever the path
-- (receipts, adjustments, imports, shipments, restocked returns, bulk
-- loads), for the stock report: on hand at any instant is today's less the
-- movements since. A shipment lowers on hand and reserved together (a
-- release may also free reserved units unshipped in the same update); no
-- other change does. Reservations move no stock and are not recorded.
CREATE TABLE stock_movements (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL,
    location_id BLOB NOT NULL,
    delta       INTEGER NOT NULL,
    shipped     INTEGER NOT NULL,
    at          INTEGER NOT NULL
) STRICT;

CREATE INDEX stock_movements_by_level ON stock_movements (sku, location_id, at);
CREATE INDEX stock_movements_by_time ON stock_movements (at);

CREATE TRIGGER stock_movement_on_insert AFTER INSERT ON stock_levels
WHEN NEW.on_hand <> 0
BEGIN
    INSERT INTO stock_movements (sku, location_id, delta, shipped, at)
    VALUES (NEW.sku, NEW.location_id, NEW.on_hand, 0, NEW.updated_at);
END;

CREATE TRIGGER stock_movement_on_update AFTER UPDATE OF on_hand ON stock_levels
WHEN NEW.on_hand <> OLD.on_hand
BEGIN
    INSERT INTO stock_movements (sku, location_id, delta, shipped, at)
    VALUES (NEW.sku, NEW.location_id, NEW.on_hand - OLD.on_hand,
            NEW.on_hand < OLD.on_hand AND NEW.reserved < OLD.reserved,
            NEW.updated_at);
END;
