-- Holds, manual review and route kill switches (see SQLite's 0005): the state 'review', which
-- blocks its lane like 'held'; the count of idempotency-key conflicts; paused routes.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN ('pending',
    'held', 'review', 'in_flight', 'awaiting_job', 'confirming', 'confirmed', 'suppressed',
    'dead'));
ALTER TABLE deliveries ADD COLUMN key_conflicts INTEGER NOT NULL DEFAULT 0;

DROP INDEX deliveries_lane;
CREATE INDEX deliveries_lane ON deliveries (target, object, entity_key, source_version, id)
    WHERE state IN ('pending', 'held', 'review', 'in_flight', 'awaiting_job', 'confirming');
CREATE INDEX deliveries_review ON deliveries (id) WHERE state = 'review';
CREATE INDEX changes_entity ON changes (pipeline, object, entity_key, source_version);

CREATE TABLE paused_routes (
    pipeline     TEXT   NOT NULL,
    route        TEXT   NOT NULL,
    reason       TEXT   NOT NULL,
    paused_by    TEXT   NOT NULL,
    paused_at_ms BIGINT NOT NULL,
    PRIMARY KEY (pipeline, route)
);
