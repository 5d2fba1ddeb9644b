-- The ledger: an append-only journal of balanced transactions, one per
-- business record (invoice, credit note, capture, refund), and daily
-- balances per account kept by upsert beside it.
--
-- A transaction's postings are inserted first and its header last: the
-- header's trigger refuses it unless its postings add up to zero, so an
-- unbalanced transaction cannot be written, and postings cannot be added
-- to a posted one. Nothing is ever updated or deleted.
CREATE TABLE ledger_transactions (
    id          uuid PRIMARY KEY,
    market      text NOT NULL,
    currency    text NOT NULL,
    source_kind text NOT NULL,
    source_id   uuid NOT NULL,
    order_id    uuid NOT NULL,
    -- When it counts in the books: when the event occurred, or the start of
    -- the first open period after it if its own period was closed.
    posted_at   timestamptz NOT NULL,
    occurred_at timestamptz NOT NULL,
    CONSTRAINT ledger_transactions_source UNIQUE (source_kind, source_id)
);
CREATE INDEX ledger_transactions_order ON ledger_transactions (order_id);

CREATE TABLE ledger_postings (
    transaction_id uuid NOT NULL,
    line           smallint NOT NULL,
    account        text COLLATE "C" NOT NULL,
    market         text NOT NULL,
    currency       text NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    posted_at      timestamptz NOT NULL,
    PRIMARY KEY (transaction_id, line)
);
CREATE INDEX ledger_postings_posted_at ON ledger_postings (posted_at);

-- Daily balance movements per account, spread over buckets (chosen by the
-- order's id) so that concurrent postings to one account on one day
-- do not queue on one row.
CREATE TABLE ledger_daily (
    day      date NOT NULL,
    account  text COLLATE "C" NOT NULL,
    market   text NOT NULL,
    currency text NOT NULL,
    bucket   smallint NOT NULL,
    amount   bigint NOT NULL,
    PRIMARY KEY (day, account, market, currency, bucket)
);

-- Closed periods (months, `2026-11`): nothing is posted dated in them.
CREATE TABLE ledger_periods (
    period    text PRIMARY KEY CHECK (period ~ '^[0-9]{4}-[0-9]{2}$'),
    closed_at timestamptz NOT NULL,
    closed_by text NOT NULL
);

CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    lines bigint;
BEGIN
    SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, lines FROM ledger_postings WHERE transaction_id = NEW.id;
    IF lines < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % over % postings', NEW.id, total, lines
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_transactions_balanced BEFORE INSERT ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_postings_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM ledger_transactions WHERE id = NEW.transaction_id) THEN
        RAISE EXCEPTION 'ledger transaction % is posted already', NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER ledger_postings_open BEFORE INSERT ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_postings_open();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: post a reversing transaction' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
