-- One row the SQLite backend rewrites to learn whether it can write again
-- after a write failed for lack of disk space (readiness). Kept in both
-- backends so their schemas stay alike; PostgreSQL does not use it.
CREATE TABLE writer_probe (
    id integer PRIMARY KEY CHECK (id = 1),
    at timestamptz NOT NULL
);
