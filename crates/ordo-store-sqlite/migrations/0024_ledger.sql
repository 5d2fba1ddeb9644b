-- The ledger: an append-only journal of balanced transactions, one per
-- business record (invoice, credit note, capture, refund), and daily
-- balances per account kept by upsert beside it.
--
-- A transaction's postings are inserted first and its header last: the
-- header's trigger refuses it unless its postings add up to zero, so an
-- unbalanced transaction cannot be written, and postings cannot be added
-- to a posted one. Nothing is ever updated or deleted.
CREATE TABLE ledger_transactions (
    id          BLOB PRIMARY KEY,
    market      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source_id   BLOB NOT NULL,
    order_id    BLOB NOT NULL,
    -- When it counts in the books: when the event occurred, or the start of
    -- the first open period after it if its own period was closed.
    posted_at   INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    CONSTRAINT ledger_transactions_source UNIQUE (source_kind, source_id)
);
CREATE INDEX ledger_transactions_order ON ledger_transactions (order_id);

CREATE TABLE ledger_postings (
    transaction_id BLOB NOT NULL,
    line           INTEGER NOT NULL,
    account        TEXT NOT NULL,
    market         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount <> 0),
    posted_at      INTEGER NOT NULL,
    PRIMARY KEY (transaction_id, line)
);
CREATE INDEX ledger_postings_posted_at ON ledger_postings (posted_at);

CREATE TABLE ledger_daily (
    day      TEXT NOT NULL,
    account  TEXT NOT NULL,
    market   TEXT NOT NULL,
    currency TEXT NOT NULL,
    bucket   INTEGER NOT NULL,
    amount   INTEGER NOT NULL,
    PRIMARY KEY (day, account, market, currency, bucket)
);

-- Closed periods (months, `2026-11`): nothing is posted dated in them.
CREATE TABLE ledger_periods (
    period    TEXT PRIMARY KEY CHECK (period GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]'),
    closed_at INTEGER NOT NULL,
    closed_by TEXT NOT NULL
);

CREATE TRIGGER ledger_transactions_balanced BEFORE INSERT ON ledger_transactions
WHEN (SELECT COUNT(*) < 2 OR COALESCE(SUM(amount), 0) <> 0 FROM ledger_postings WHERE transaction_id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'ledger transaction is unbalanced');
END;

CREATE TRIGGER ledger_postings_open BEFORE INSERT ON ledger_postings
WHEN EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id)
BEGIN
    SELECT RAISE(ABORT, 'ledger transaction is posted already');
END;

CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversing transaction'); END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversing transaction'); END;
CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversing transaction'); END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversing transaction'); END;
