-- Inventory: locations and stock per SKU and location. The CHECK is the
-- last line of defence against overselling: no reservation can ever take
-- more than is on hand, whatever the application does.
CREATE TABLE locations (
    id          BLOB PRIMARY KEY NOT NULL,
    code        TEXT NOT NULL CONSTRAINT locations_code_key UNIQUE,
    name        TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    version     INTEGER NOT NULL CHECK (version > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER
) STRICT;

CREATE TABLE stock_levels (
    sku         TEXT NOT NULL,
    location_id BLOB NOT NULL REFERENCES locations (id),
    on_hand     INTEGER NOT NULL,
    reserved    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (sku, location_id),
    CONSTRAINT stock_levels_never_oversold CHECK (reserved >= 0 AND reserved <= on_hand)
) STRICT;
