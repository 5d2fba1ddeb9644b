-- Inventory: locations and stock per SKU and location. The CHECK is the
-- last line of defence against overselling: no reservation can ever take
-- more than is on hand, whatever the application does.
CREATE TABLE locations (
    id          uuid PRIMARY KEY,
    code        text COLLATE "C" NOT NULL CONSTRAINT locations_code_key UNIQUE,
    name        text NOT NULL,
    priority    integer NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    archived_at timestamptz
);

CREATE TABLE stock_levels (
    sku         text COLLATE "C" NOT NULL,
    location_id uuid NOT NULL REFERENCES locations (id),
    on_hand     bigint NOT NULL,
    reserved    bigint NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (sku, location_id),
    CONSTRAINT stock_levels_never_oversold CHECK (reserved >= 0 AND reserved <= on_hand)
);
