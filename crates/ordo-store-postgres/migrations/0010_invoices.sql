-- Invoices, numbered without gaps per market and year: the counter row is
-- updated in the transaction that inserts the invoice.
CREATE TABLE invoice_counters (
    market      text NOT NULL,
    year        integer NOT NULL,
    last_number bigint NOT NULL,
    PRIMARY KEY (market, year)
);

CREATE TABLE invoices (
    id        uuid PRIMARY KEY,
    number    text NOT NULL CONSTRAINT invoices_number_key UNIQUE,
    order_id  uuid NOT NULL CONSTRAINT invoices_order_key UNIQUE,
    market    text NOT NULL,
    issued_at timestamptz NOT NULL,
    document  jsonb NOT NULL,
    html      text NOT NULL
);
