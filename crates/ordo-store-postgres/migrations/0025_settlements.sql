-- Settlement reconciliation: a provider's settlement report (its balance
-- transactions) imported as a run, its file kept in chunks of whole
-- records, and one item per line (and per capture or refund the report
-- should have listed but did not) with what reconciling found.
CREATE TABLE settlement_runs (
    id            uuid PRIMARY KEY,
    provider      text NOT NULL,
    format        text NOT NULL,
    -- SHA-256 of the file: the same file imported again is the same run.
    sha256        text NOT NULL,
    status        text NOT NULL,
    header        text NOT NULL,
    lines         bigint NOT NULL,
    chunks        integer NOT NULL,
    chunks_done   integer NOT NULL DEFAULT 0,
    -- The span of the report's captures and refunds.
    window_from   timestamptz,
    window_to     timestamptz,
    counts        text NOT NULL DEFAULT '{}',
    error         text,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    CONSTRAINT settlement_runs_file UNIQUE (provider, sha256)
);

CREATE TABLE settlement_chunks (
    run_id     uuid NOT NULL REFERENCES settlement_runs (id),
    seq        integer NOT NULL,
    first_line bigint NOT NULL,
    body       bytea NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE settlement_items (
    run_id      uuid NOT NULL,
    line        bigint NOT NULL,
    provider    text NOT NULL,
    -- The provider's id of the line (`txn_...`); NULL for a record missing
    -- from the report.
    line_id     text,
    kind        text NOT NULL,
    reference   text,
    status      text NOT NULL,
    amount      bigint NOT NULL,
    fee         bigint NOT NULL,
    currency    text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payment_id  uuid,
    -- What Ordo recorded for the matched payment (signed as the report).
    expected    bigint,
    -- What the line moved on the provider's clearing account.
    clearing    bigint NOT NULL,
    PRIMARY KEY (run_id, line)
);
-- Every line id a provider's reports listed: a line seen again is a
-- duplicate. Written with the chunk's items; checked by its primary key.
CREATE TABLE settlement_line_ids (
    provider text NOT NULL,
    line_id  text NOT NULL,
    PRIMARY KEY (provider, line_id)
);
CREATE INDEX settlement_items_payment ON settlement_items (payment_id);
CREATE INDEX settlement_items_status ON settlement_items (run_id, status, line);

-- Why a manual entry, a reversal or a write-off was posted.
ALTER TABLE ledger_transactions ADD COLUMN memo text;
