-- Reports compiled in the background into a file on object storage. A
-- report with the parameters (cache_key) and data watermark of a succeeded
-- one is served that one's file.
CREATE TABLE reports (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL,
    day_from    date NOT NULL,
    day_to      date NOT NULL,
    market      text,
    format      text NOT NULL,
    cache_key   text NOT NULL,
    watermark   text NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    progress    smallint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    sha256      text,
    size        bigint,
    file_key    text,
    cached      boolean NOT NULL DEFAULT false,
    error       text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz
);

CREATE INDEX reports_cache ON reports (cache_key, watermark) WHERE status = 'succeeded';
-- Payments by when they were made, for the payments report.
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX invoices_issued ON invoices (issued_at, id);
CREATE INDEX credit_notes_issued ON credit_notes (issued_at, id);
