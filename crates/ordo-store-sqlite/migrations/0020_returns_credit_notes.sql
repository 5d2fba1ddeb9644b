-- Returns (RMA): the document is the whole return; status and order are
-- columns to filter on. Updated only at the version it was read at.
CREATE TABLE returns (
    id         BLOB PRIMARY KEY NOT NULL,
    order_id   BLOB NOT NULL REFERENCES orders (id),
    status     TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'rejected', 'received')),
    version    INTEGER NOT NULL,
    document   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE INDEX returns_order ON returns (order_id, id);
CREATE INDEX returns_status ON returns (status, id);

-- Credit notes, numbered without gaps per market and year in their own
-- sequence, each correcting one invoice.
CREATE TABLE credit_note_counters (
    market      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (market, year)
) STRICT;

CREATE TABLE credit_notes (
    id         BLOB PRIMARY KEY NOT NULL,
    number     TEXT NOT NULL CONSTRAINT credit_notes_number_key UNIQUE,
    order_id   BLOB NOT NULL REFERENCES orders (id),
    invoice_id BLOB NOT NULL REFERENCES invoices (id),
    market     TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    document   TEXT NOT NULL,
    html       TEXT NOT NULL
) STRICT;

CREATE INDEX credit_notes_order ON credit_notes (order_id, id);

-- Units at a location that are not sellable (returned damaged): never
-- reserved by orders, so kept apart from stock_levels.
CREATE TABLE damaged_stock (
    sku         TEXT NOT NULL,
    location_id BLOB NOT NULL REFERENCES locations (id),
    quantity    INTEGER NOT NULL CHECK (quantity >= 0),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (sku, location_id)
) STRICT;
