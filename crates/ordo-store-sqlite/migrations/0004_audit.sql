-- The audit trail. Events are appended unsealed (segment NULL); the sealing
-- step numbers them into segments and chains the segments' hashes.
CREATE TABLE audit_events (
    id           BLOB PRIMARY KEY NOT NULL,
    occurred_at  INTEGER NOT NULL,
    actor_key_id BLOB,
    actor_name   TEXT NOT NULL,
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    request_id   TEXT,
    before       TEXT,
    after        TEXT,
    hash         TEXT NOT NULL,
    segment      INTEGER,
    seq          INTEGER
) STRICT, WITHOUT ROWID;

CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_key_id, id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_segment_idx ON audit_events (segment, seq);
CREATE INDEX audit_events_unsealed_idx ON audit_events (id) WHERE segment IS NULL;

CREATE TABLE audit_seals (
    segment        INTEGER PRIMARY KEY NOT NULL CHECK (segment > 0),
    sealed_at      INTEGER NOT NULL,
    event_count    INTEGER NOT NULL,
    first_event_id BLOB NOT NULL,
    last_event_id  BLOB NOT NULL,
    previous_hash  TEXT NOT NULL,
    hash           TEXT NOT NULL
) STRICT;
