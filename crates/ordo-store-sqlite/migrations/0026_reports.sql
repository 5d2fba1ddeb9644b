-- Reports compiled in the background into a file on object storage. A
-- report with the parameters (cache_key) and data watermark of a succeeded
-- one is served that one's file.
CREATE TABLE reports (
    id          BLOB PRIMARY KEY,
    kind        TEXT NOT NULL,
    day_from    TEXT NOT NULL,
    day_to      TEXT NOT NULL,
    market      TEXT,
    format      TEXT NOT NULL,
    cache_key   TEXT NOT NULL,
    watermark   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    progress    INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    sha256      TEXT,
    size        INTEGER,
    file_key    TEXT,
    cached      INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE INDEX reports_cache ON reports (cache_key, watermark) WHERE status = 'succeeded';
-- Payments by when they were made, for the payments report.
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX invoices_issued ON invoices (issued_at, id);
CREATE INDEX credit_notes_issued ON credit_notes (issued_at, id);
