-- The job queue. Finished jobs are deleted, so the table holds only what is
-- waiting, running or dead: claims and depth figures never scan history.
CREATE TABLE jobs (
    id                 uuid PRIMARY KEY,
    queue              text NOT NULL,
    name               text NOT NULL,
    payload            jsonb NOT NULL,
    priority           smallint NOT NULL,
    state              text NOT NULL CHECK (state IN ('available', 'running', 'dead')),
    attempt            integer NOT NULL,
    max_attempts       integer NOT NULL CHECK (max_attempts > 0),
    run_at             timestamptz NOT NULL,
    attempt_id         uuid,
    locked_by          text,
    lease_expires_at   timestamptz,
    attempt_started_at timestamptz,
    unique_key         text,
    progress_percent   smallint,
    progress_message   text,
    last_error         text,
    cancel_requested   boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01);

CREATE INDEX jobs_claim_idx ON jobs (queue, priority DESC, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_state_idx ON jobs (state, queue, id);
CREATE UNIQUE INDEX jobs_unique_idx ON jobs (name, unique_key) WHERE unique_key IS NOT NULL AND state <> 'dead';

CREATE TABLE job_attempts (
    attempt_id  uuid PRIMARY KEY,
    job_id      uuid NOT NULL,
    attempt     integer NOT NULL,
    worker      text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text NOT NULL,
    error       text
);

CREATE INDEX job_attempts_job_idx ON job_attempts (job_id, attempt);

CREATE TABLE cron_ticks (
    name    text NOT NULL,
    tick_at timestamptz NOT NULL,
    PRIMARY KEY (name, tick_at)
);
