-- Bulk imports: the uploaded file on object storage, applied in chunks of
-- rows, one transaction each; rows_done says where a resumed import goes
-- on. One running or succeeded import per kind, file and mode: the same
-- file imported again is that import.
CREATE TABLE imports (
    id          BLOB PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('products', 'customers', 'stock')),
    format      TEXT NOT NULL CHECK (format IN ('csv', 'jsonl')),
    dry_run     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    rows_total  INTEGER NOT NULL,
    chunk_rows  INTEGER NOT NULL CHECK (chunk_rows > 0),
    rows_done   INTEGER NOT NULL DEFAULT 0,
    created     INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0,
    progress    INTEGER NOT NULL DEFAULT 0,
    file_key    TEXT NOT NULL,
    error       TEXT,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);

CREATE UNIQUE INDEX imports_file ON imports (kind, sha256, dry_run) WHERE status IN ('running', 'succeeded');

-- The rows an import refused, with why: its downloadable error report.
CREATE TABLE import_errors (
    import_id  BLOB NOT NULL REFERENCES imports (id),
    row_number INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    field      TEXT NOT NULL,
    code       TEXT NOT NULL,
    message    TEXT NOT NULL,
    PRIMARY KEY (import_id, row_number, position)
);
