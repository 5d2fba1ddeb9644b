-- One row the SQLite backend rewrites to learn whether it can write again
-- after a write failed for lack of disk space (readiness). Kept in both
-- backends so their schemas stay alike.
CREATE TABLE writer_probe (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    at INTEGER NOT NULL
) STRICT;
