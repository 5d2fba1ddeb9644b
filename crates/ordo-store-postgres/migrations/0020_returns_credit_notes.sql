-- Returns (RMA): the document is the whole return; status and order are
-- columns to filter on. Updated only at the version it was read at.
CREATE TABLE returns (
    id         uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id),
    status     text NOT NULL CHECK (status IN ('requested', 'approved', 'rejected', 'received')),
    version    bigint NOT NULL,
    document   jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX returns_order ON returns (order_id, id);
CREATE INDEX returns_status ON returns (status, id);

-- Credit notes, numbered without gaps per market and year in their own
-- sequence, each correcting one invoice.
CREATE TABLE credit_note_counters (
    market      text NOT NULL,
    year        integer NOT NULL,
    last_number bigint NOT NULL,
    PRIMARY KEY (market, year)
);

CREATE TABLE credit_notes (
    id         uuid PRIMARY KEY,
    number     text NOT NULL CONSTRAINT credit_notes_number_key UNIQUE,
    order_id   uuid NOT NULL REFERENCES orders (id),
    invoice_id uuid NOT NULL REFERENCES invoices (id),
    market     text NOT NULL,
    issued_at  timestamptz NOT NULL,
    document   jsonb NOT NULL,
    html       text NOT NULL
);

CREATE INDEX credit_notes_order ON credit_notes (order_id, id);

-- Units at a location that are not sellable (returned damaged): never
-- reserved by orders, so kept apart from stock_levels.
CREATE TABLE damaged_stock (
    sku         text NOT NULL,
    location_id uuid NOT NULL REFERENCES locations (id),
    quantity    bigint NOT NULL CHECK (quantity >= 0),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (sku, location_id)
);
