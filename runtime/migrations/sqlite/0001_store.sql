-- Junction's durable store on SQLite.
--
-- Portable by design: the PostgreSQL migrations mirror these tables one for one (INTEGER ->
-- BIGINT, AUTOINCREMENT -> GENERATED ALWAYS AS IDENTITY). Times are UTC milliseconds since the
-- epoch; documents and details are JSON text written by the runtime (already masked where the
-- column says so).

-- Inbox: every change a source reported, deduplicated by the source's event id.
CREATE TABLE changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline        TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    source_event_id TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    entity_key      TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    before_doc      TEXT,
    after_doc       TEXT,
    occurred_at_ms  INTEGER NOT NULL,
    effective_at_ms INTEGER,
    source_version  INTEGER NOT NULL,
    metadata        TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    planned_at_ms   INTEGER,
    -- The dedupe record: a second arrival of the same event for the same entity is a duplicate.
    UNIQUE (pipeline, source, source_event_id, object, entity_key)
);
CREATE INDEX changes_unplanned ON changes (id) WHERE planned_at_ms IS NULL;

-- Outbox: one planned write per (change, route), unique by its idempotency key. A delivery's
-- lane is (target, object, entity_key); see deliveries_lane.
CREATE TABLE deliveries (
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
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'held', 'in_flight',
                            'awaiting_job', 'confirming', 'confirmed', 'suppressed', 'dead')),
    state_reason        TEXT,
    not_before_ms       INTEGER,
    -- When the delivery is next due: its durable timer, retry time or next job/read-back check.
    next_at_ms          INTEGER NOT NULL,
    lease_owner         TEXT,
    -- Bumped on every claim, so a worker whose lease was taken over cannot write.
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
    updated_at_ms       INTEGER NOT NULL
);
-- The claim query walks claimable deliveries in priority order and stops at its limit.
CREATE INDEX deliveries_claim ON deliveries (priority, id)
    WHERE state IN ('pending', 'in_flight', 'awaiting_job', 'confirming');
-- The lane-head check: is anything in this lane ahead of me in source order?
CREATE INDEX deliveries_lane ON deliveries (target, object, entity_key, source_version, id)
    WHERE state IN ('pending', 'held', 'in_flight', 'awaiting_job', 'confirming');
CREATE INDEX deliveries_change ON deliveries (change_id);
CREATE INDEX deliveries_held ON deliveries (id) WHERE state = 'held';

-- Per-entity lanes: the newest source version confirmed in each target, for stale suppression.
CREATE TABLE lanes (
    target                 TEXT    NOT NULL,
    object                 TEXT    NOT NULL,
    entity_key             TEXT    NOT NULL,
    last_confirmed_version INTEGER NOT NULL,
    last_delivery_id       INTEGER NOT NULL REFERENCES deliveries (id),
    updated_at_ms          INTEGER NOT NULL,
    PRIMARY KEY (target, object, entity_key)
);

-- Every attempt of every delivery (messages already masked by the caller).
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    n           INTEGER NOT NULL,
    started_ms  INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    outcome     TEXT    NOT NULL,
    error_class TEXT,
    status_code INTEGER,
    message     TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

-- Dead letters: one per time a delivery died; redriving marks the letter, never deletes it.
CREATE TABLE dead_letters (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id    INTEGER NOT NULL REFERENCES deliveries (id),
    reason         TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    attempts       INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    redriven_at_ms INTEGER
);
CREATE INDEX dead_letters_open ON dead_letters (id) WHERE redriven_at_ms IS NULL;
CREATE INDEX dead_letters_delivery ON dead_letters (delivery_id);

-- Cross-system id map, both directions: (object, system, key) -> (other system, its key).
CREATE TABLE xref (
    object        TEXT    NOT NULL,
    system        TEXT    NOT NULL,
    entity_key    TEXT    NOT NULL,
    other_system  TEXT    NOT NULL,
    other_key     TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (object, system, entity_key, other_system)
);

-- Durable poll cursors.
CREATE TABLE cursors (
    pipeline      TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    object        TEXT    NOT NULL,
    position      TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, source, object)
);

-- The audit chain. No foreign keys: the record of what happened outlives the rows it names.
CREATE TABLE audit (
    seq             INTEGER PRIMARY KEY,
    at_ms           INTEGER NOT NULL,
    pipeline        TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    entity_key      TEXT    NOT NULL,
    event_id        TEXT,
    change_id       INTEGER,
    delivery_id     INTEGER,
    idempotency_key TEXT,
    kind            TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL
);
CREATE INDEX audit_entity ON audit (entity_key);
CREATE INDEX audit_event ON audit (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX audit_correlation ON audit (correlation_id);
CREATE INDEX audit_idempotency ON audit (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX audit_change ON audit (change_id) WHERE change_id IS NOT NULL;

-- The chain's head, one row. Appenders read and update it in their transaction, which
-- serializes appends (on PostgreSQL: SELECT ... FOR UPDATE) so the chain never forks; verify
-- also uses it to notice entries cut off the end.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
