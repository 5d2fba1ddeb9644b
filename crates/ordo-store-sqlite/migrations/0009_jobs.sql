-- The job queue. Finished jobs are deleted, so the table holds only what is
-- waiting, running or dead: claims and depth figures never scan history.
CREATE TABLE jobs (
    id                 BLOB PRIMARY KEY NOT NULL,
    queue              TEXT NOT NULL,
    name               TEXT NOT NULL,
    payload            TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('available', 'running', 'dead')),
    attempt            INTEGER NOT NULL,
    max_attempts       INTEGER NOT NULL CHECK (max_attempts > 0),
    run_at             INTEGER NOT NULL,
    attempt_id         BLOB,
    locked_by          TEXT,
    lease_expires_at   INTEGER,
    attempt_started_at INTEGER,
    unique_key         TEXT,
    progress_percent   INTEGER,
    progress_message   TEXT,
    last_error         TEXT,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;

CREATE INDEX jobs_claim_idx ON jobs (queue, priority DESC, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_state_idx ON jobs (state, queue, id);
CREATE UNIQUE INDEX jobs_unique_idx ON jobs (name, unique_key) WHERE unique_key IS NOT NULL AND state <> 'dead';

CREATE TABLE job_attempts (
    attempt_id  BLOB PRIMARY KEY NOT NULL,
    job_id      BLOB NOT NULL,
    attempt     INTEGER NOT NULL,
    worker      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT
) STRICT;

CREATE INDEX job_attempts_job_idx ON job_attempts (job_id, attempt);

CREATE TABLE cron_ticks (
    name    TEXT NOT NULL,
    tick_at INTEGER NOT NULL,
    PRIMARY KEY (name, tick_at)
) STRICT;
