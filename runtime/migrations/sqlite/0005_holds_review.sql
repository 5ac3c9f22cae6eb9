-- Holds, manual review and route kill switches.
--
-- A delivery with a red flag (a refund or credit that does not fit the totals, repeated
-- idempotency conflicts, a write without a source event) waits in the new state 'review' for
-- an operator, blocking its lane like 'held'. SQLite cannot change a CHECK constraint, so the
-- deliveries table is rebuilt (SQLite's documented procedure; the store runs its migrations
-- with foreign keys off and checks them afterwards, see store/mod.rs). Every column keeps its
-- name and value; the indexes are recreated with 'review' among the lane's states.
CREATE TABLE deliveries_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline            TEXT    NOT NULL,
    route               TEXT    NOT NULL,
    change_id           INTEGER NOT NULL REFERENCES changes (id),
    source              TEXT    NOT NULL,
    source_event_id     TEXT    NOT NULL,
    target              TEXT    NOT NULL,
    object              TEXT    NOT NULL,
    entity_key          TEXT    NOT NULL,
    operation           TEXT    NOT NULL,
    document            TEXT    NOT NULL,
    effective_at_ms     INTEGER,
    source_version      INTEGER NOT NULL,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    priority            INTEGER NOT NULL,
    correlation_id      TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'held', 'review',
                            'in_flight', 'awaiting_job', 'confirming', 'confirmed',
                            'suppressed', 'dead')),
    state_reason        TEXT,
    not_before_ms       INTEGER,
    next_at_ms          INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_token         INTEGER NOT NULL DEFAULT 0,
    lease_until_ms      INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL,
    first_attempt_ms    INTEGER,
    last_error          TEXT,
    job_ref             TEXT,
    target_ref          TEXT,
    confirm_fields      TEXT,
    confirm_within_ms   INTEGER,
    confirm_deadline_ms INTEGER,
    redrives            INTEGER NOT NULL DEFAULT 0,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL,
    repairs             INTEGER NOT NULL DEFAULT 0,
    job_continues       INTEGER NOT NULL DEFAULT 0,
    steps               INTEGER NOT NULL DEFAULT 0,
    occurred_at_ms      INTEGER,
    -- Attempts the target answered "idempotency key reused for a different request" since the
    -- delivery was planned or last approved in review: the second sends it to review.
    key_conflicts       INTEGER NOT NULL DEFAULT 0
);
INSERT INTO deliveries_new (
    id, pipeline, route, change_id, source, source_event_id, target, object, entity_key,
    operation, document, effective_at_ms, source_version, idempotency_key, priority,
    correlation_id, state, state_reason, not_before_ms, next_at_ms, lease_owner, lease_token,
    lease_until_ms, attempts, max_attempts, first_attempt_ms, last_error, job_ref, target_ref,
    confirm_fields, confirm_within_ms, confirm_deadline_ms, redrives, created_at_ms,
    updated_at_ms, repairs, job_continues, steps, occurred_at_ms)
SELECT
    id, pipeline, route, change_id, source, source_event_id, target, object, entity_key,
    operation, document, effective_at_ms, source_version, idempotency_key, priority,
    correlation_id, state, state_reason, not_before_ms, next_at_ms, lease_owner, lease_token,
    lease_until_ms, attempts, max_attempts, first_attempt_ms, last_error, job_ref, target_ref,
    confirm_fields, confirm_within_ms, confirm_deadline_ms, redrives, created_at_ms,
    updated_at_ms, repairs, job_continues, steps, occurred_at_ms
FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

CREATE INDEX deliveries_claim ON deliveries (priority, id)
    WHERE state IN ('pending', 'in_flight', 'awaiting_job', 'confirming');
CREATE INDEX deliveries_lane ON deliveries (target, object, entity_key, source_version, id)
    WHERE state IN ('pending', 'held', 'review', 'in_flight', 'awaiting_job', 'confirming');
CREATE INDEX deliveries_change ON deliveries (change_id);
CREATE INDEX deliveries_held ON deliveries (id) WHERE state = 'held';
CREATE INDEX deliveries_review ON deliveries (id) WHERE state = 'review';
-- Gates are re-checked with the newest change of the held write's entity.
CREATE INDEX changes_entity ON changes (pipeline, object, entity_key, source_version);

-- Route kill switches: a paused route's writes are not claimed (they stay pending, in order)
-- while intake and planning go on; resuming deletes the row.
CREATE TABLE paused_routes (
    pipeline     TEXT    NOT NULL,
    route        TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    paused_by    TEXT    NOT NULL,
    paused_at_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, route)
);
