-- Settlement reconciliation: a provider's settlement report (its balance
-- transactions) imported as a run, its file kept in chunks of whole
-- records, and one item per line (and per capture or refund the report
-- should have listed but did not) with what reconciling found.
CREATE TABLE settlement_runs (
    id            BLOB PRIMARY KEY,
    provider      TEXT NOT NULL,
    format        TEXT NOT NULL,
    -- SHA-256 of the file: the same file imported again is the same run.
    sha256        TEXT NOT NULL,
    status        TEXT NOT NULL,
    header        TEXT NOT NULL,
    lines         INTEGER NOT NULL,
    chunks        INTEGER NOT NULL,
    chunks_done   INTEGER NOT NULL DEFAULT 0,
    -- The span of the report's captures and refunds.
    window_from   INTEGER,
    window_to     INTEGER,
    counts        TEXT NOT NULL DEFAULT '{}',
    error         TEXT,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    CONSTRAINT settlement_runs_file UNIQUE (provider, sha256)
);

CREATE TABLE settlement_chunks (
    run_id     BLOB NOT NULL REFERENCES settlement_runs (id),
    seq        INTEGER NOT NULL,
    first_line INTEGER NOT NULL,
    body       BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE settlement_items (
    run_id      BLOB NOT NULL,
    line        INTEGER NOT NULL,
    provider    TEXT NOT NULL,
    -- The provider's id of the line (`txn_...`); NULL for a record missing
    -- from the report.
    line_id     TEXT,
    kind        TEXT NOT NULL,
    reference   TEXT,
    status      TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    fee         INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    payment_id  BLOB,
    -- What Ordo recorded for the matched payment (signed as the report).
    expected    INTEGER,
    -- What the line moved on the provider's clearing account.
    clearing    INTEGER NOT NULL,
    PRIMARY KEY (run_id, line)
);
-- Every line id a provider's reports listed: a line seen again is a
-- duplicate. Written with the chunk's items; checked by its primary key.
CREATE TABLE settlement_line_ids (
    provider TEXT NOT NULL,
    line_id  TEXT NOT NULL,
    PRIMARY KEY (provider, line_id)
);
CREATE INDEX settlement_items_payment ON settlement_items (payment_id);
CREATE INDEX settlement_items_status ON settlement_items (run_id, status, line);

-- Why a manual entry, a reversal or a write-off was posted.
ALTER TABLE ledger_transactions ADD COLUMN memo TEXT;
