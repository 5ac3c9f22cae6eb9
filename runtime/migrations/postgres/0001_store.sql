-- Junction's durable store on PostgreSQL, for several workers on one database.
--
-- The same tables as the SQLite migrations, one for one, as they stand after SQLite's 0003:
-- INTEGER -> BIGINT (INTEGER where the runtime reads an i32), AUTOINCREMENT -> identity,
-- 0/1 -> BOOLEAN. Times are UTC milliseconds since the epoch; documents and details are JSON
-- text written by the runtime (already masked where the column says so). Concurrency is row
-- locks: deliveries are claimed with FOR UPDATE SKIP LOCKED, and each audit chain's head row
-- is locked by the transaction appending to it.

-- Inbox: every change a source reported, deduplicated by the source's event id.
CREATE TABLE changes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline        TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    source_event_id TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    entity_key      TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    before_doc      TEXT,
    after_doc       TEXT,
    occurred_at_ms  BIGINT  NOT NULL,
    effective_at_ms BIGINT,
    source_version  BIGINT  NOT NULL,
    metadata        TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    received_at_ms  BIGINT  NOT NULL,
    planned_at_ms   BIGINT,
    -- The dedupe record: a second arrival of the same event for the same entity is a
    -- duplicate, whichever worker it reaches.
    UNIQUE (pipeline, source, source_event_id, object, entity_key)
);
CREATE INDEX changes_unplanned ON changes (id) WHERE planned_at_ms IS NULL;

-- Outbox: one planned write per (change, route), unique by its idempotency key. A delivery's
-- lane is (target, object, entity_key); see deliveries_lane.
CREATE TABLE deliveries (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline            TEXT    NOT NULL,
    route               TEXT    NOT NULL,
    change_id           BIGINT  NOT NULL REFERENCES changes (id),
    source              TEXT    NOT NULL,
    source_event_id     TEXT    NOT NULL,
    target              TEXT    NOT NULL,
    object              TEXT    NOT NULL,
    entity_key          TEXT    NOT NULL,
    operation           TEXT    NOT NULL,
    document            TEXT    NOT NULL,
    effective_at_ms     BIGINT,
    source_version      BIGINT  NOT NULL,
    idempotency_key     TEXT    NOT NULL UNIQUE,
    priority            INTEGER NOT NULL,
    correlation_id      TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'held', 'in_flight',
                            'awaiting_job', 'confirming', 'confirmed', 'suppressed', 'dead')),
    state_reason        TEXT,
    not_before_ms       BIGINT,
    -- When the delivery is next due: its durable timer, retry time or next job/read-back check.
    next_at_ms          BIGINT  NOT NULL,
    lease_owner         TEXT,
    -- Bumped on every claim, so a worker whose lease was taken over cannot write.
    lease_token         BIGINT  NOT NULL DEFAULT 0,
    lease_until_ms      BIGINT,
    attempts            INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL,
    first_attempt_ms    BIGINT,
    last_error          TEXT,
    job_ref             TEXT,
    target_ref          TEXT,
    confirm_fields      TEXT,
    confirm_within_ms   BIGINT,
    confirm_deadline_ms BIGINT,
    redrives            INTEGER NOT NULL DEFAULT 0,
    created_at_ms       BIGINT  NOT NULL,
    updated_at_ms       BIGINT  NOT NULL,
    -- Corrective writes after a read-back that disagreed (see SQLite's 0002).
    repairs             INTEGER NOT NULL DEFAULT 0,
    -- The tracked job is one step of a write of several.
    job_continues       BOOLEAN NOT NULL DEFAULT FALSE,
    -- Steps of such a write that succeeded.
    steps               INTEGER NOT NULL DEFAULT 0,
    -- When the change happened at the source, passed to the target with every write.
    occurred_at_ms      BIGINT
);
CREATE INDEX deliveries_claim ON deliveries (priority, id)
    WHERE state IN ('pending', 'in_flight', 'awaiting_job', 'confirming');
CREATE INDEX deliveries_lane ON deliveries (target, object, entity_key, source_version, id)
    WHERE state IN ('pending', 'held', 'in_flight', 'awaiting_job', 'confirming');
CREATE INDEX deliveries_change ON deliveries (change_id);
CREATE INDEX deliveries_held ON deliveries (id) WHERE state = 'held';

-- Per-entity lanes: the newest source version confirmed in each target, for stale suppression.
CREATE TABLE lanes (
    target                 TEXT    NOT NULL,
    object                 TEXT    NOT NULL,
    entity_key             TEXT    NOT NULL,
    last_confirmed_version BIGINT  NOT NULL,
    last_delivery_id       BIGINT  NOT NULL REFERENCES deliveries (id),
    updated_at_ms          BIGINT  NOT NULL,
    PRIMARY KEY (target, object, entity_key)
);

-- Every attempt of every delivery (messages already masked by the caller).
CREATE TABLE attempts (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id BIGINT  NOT NULL REFERENCES deliveries (id),
    n           INTEGER NOT NULL,
    started_ms  BIGINT  NOT NULL,
    latency_ms  BIGINT  NOT NULL,
    outcome     TEXT    NOT NULL,
    error_class TEXT,
    status_code INTEGER,
    message     TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, id);

-- Dead letters: one per time a delivery died; redriving marks the letter, never deletes it.
CREATE TABLE dead_letters (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id    BIGINT  NOT NULL REFERENCES deliveries (id),
    reason         TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    attempts       INTEGER NOT NULL,
    created_at_ms  BIGINT  NOT NULL,
    redriven_at_ms BIGINT
);
CREATE INDEX dead_letters_open ON dead_letters (id) WHERE redriven_at_ms IS NULL;
CREATE INDEX dead_letters_delivery ON dead_letters (delivery_id);

-- Cross-system id map, both directions: (object, system, key) -> (other system, its key).
CREATE TABLE xref (
    object        TEXT   NOT NULL,
    system        TEXT   NOT NULL,
    entity_key    TEXT   NOT NULL,
    other_system  TEXT   NOT NULL,
    other_key     TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (object, system, entity_key, other_system)
);

-- Durable poll cursors.
CREATE TABLE cursors (
    pipeline      TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    object        TEXT   NOT NULL,
    position      TEXT   NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (pipeline, source, object)
);

-- The audit log: one hash chain per entity (store/audit.rs explains the layout). `seq` orders
-- all entries for reading; `chain_seq` is the position in the entity's chain, without gaps.
-- No foreign keys: the record of what happened outlives the rows it names.
CREATE TABLE audit (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain           TEXT    NOT NULL,
    chain_seq       BIGINT  NOT NULL,
    at_ms           BIGINT  NOT NULL,
    pipeline        TEXT    NOT NULL,
    correlation_id  TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    entity_key      TEXT    NOT NULL,
    event_id        TEXT,
    change_id       BIGINT,
    delivery_id     BIGINT,
    idempotency_key TEXT,
    kind            TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    prev_hash       TEXT    NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (chain, chain_seq)
);
CREATE INDEX audit_entity ON audit (entity_key);
CREATE INDEX audit_event ON audit (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX audit_correlation ON audit (correlation_id);
CREATE INDEX audit_idempotency ON audit (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX audit_change ON audit (change_id) WHERE change_id IS NOT NULL;

-- Each chain's head: its last entry. Appenders lock their chain's head row, so writers of
-- different entities never wait for each other; verify uses the heads to notice entries cut
-- off the end of a chain.
CREATE TABLE audit_chains (
    chain     TEXT   PRIMARY KEY,
    chain_seq BIGINT NOT NULL,
    seq       BIGINT NOT NULL,
    hash      TEXT   NOT NULL
);
