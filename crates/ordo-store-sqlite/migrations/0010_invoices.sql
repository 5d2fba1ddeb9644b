-- Invoices, numbered without gaps per market and year: the counter row is
-- updated in the transaction that inserts the invoice.
CREATE TABLE invoice_counters (
    market      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (market, year)
) STRICT;

CREATE TABLE invoices (
    id        BLOB PRIMARY KEY NOT NULL,
    number    TEXT NOT NULL CONSTRAINT invoices_number_key UNIQUE,
    order_id  BLOB NOT NULL CONSTRAINT invoices_order_key UNIQUE,
    market    TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    document  TEXT NOT NULL,
    html      TEXT NOT NULL
) STRICT;
