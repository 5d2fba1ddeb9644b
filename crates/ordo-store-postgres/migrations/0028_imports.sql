-- Bulk imports: the uploaded file on object storage, applied in chunks of
-- rows, one transaction each; rows_done says where a resumed import goes
-- on. One running or succeeded import per kind, file and mode: the same
-- file imported again is that import.
CREATE TABLE imports (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('products', 'customers', 'stock')),
    format      text NOT NULL CHECK (format IN ('csv', 'jsonl')),
    dry_run     boolean NOT NULL,
    status      text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    sha256      text NOT NULL,
    size        bigint NOT NULL,
    rows_total  bigint NOT NULL,
    chunk_rows  integer NOT NULL CHECK (chunk_rows > 0),
    rows_done   bigint NOT NULL DEFAULT 0,
    created     bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    progress    smallint NOT NULL DEFAULT 0,
    file_key    text NOT NULL,
    error       text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz
);

CREATE UNIQUE INDEX imports_file ON imports (kind, sha256, dry_run) WHERE status IN ('running', 'succeeded');

-- The rows an import refused, with why: its downloadable error report.
CREATE TABLE import_errors (
    import_id  uuid NOT NULL REFERENCES imports (id),
    row_number bigint NOT NULL,
    position   integer NOT NULL,
    field      text NOT NULL,
    code       text NOT NULL,
    message    text NOT NULL,
    PRIMARY KEY (import_id, row_number, position)
);
