-- The audit trail. Events are appended unsealed (segment NULL); the sealing
-- step numbers them into segments and chains the segments' hashes.
CREATE TABLE audit_events (
    id           uuid PRIMARY KEY,
    occurred_at  timestamptz NOT NULL,
    actor_key_id uuid,
    actor_name   text NOT NULL,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    text NOT NULL,
    request_id   text,
    before       jsonb,
    after        jsonb,
    hash         text NOT NULL,
    segment      bigint,
    seq          bigint
);

CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_key_id, id);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_segment_idx ON audit_events (segment, seq);
CREATE INDEX audit_events_unsealed_idx ON audit_events (id) WHERE segment IS NULL;

CREATE TABLE audit_seals (
    segment        bigint PRIMARY KEY CONSTRAINT audit_seals_segment_positive CHECK (segment > 0),
    sealed_at      timestamptz NOT NULL,
    event_count    bigint NOT NULL,
    first_event_id uuid NOT NULL,
    last_event_id  uuid NOT NULL,
    previous_hash  text NOT NULL,
    hash           text NOT NULL
);
