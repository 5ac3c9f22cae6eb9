-- Reconciliation runs and schedules; see the SQLite migration 0006 for what each column holds.
CREATE TABLE reconcile_runs (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline       TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    trigger        TEXT    NOT NULL,
    repair         BOOLEAN NOT NULL,
    started_at_ms  BIGINT  NOT NULL,
    finished_at_ms BIGINT,
    status         TEXT    NOT NULL,
    owner_listed   BIGINT  NOT NULL DEFAULT 0,
    target_listed  BIGINT  NOT NULL DEFAULT 0,
    in_sync        BIGINT  NOT NULL DEFAULT 0,
    missing        BIGINT  NOT NULL DEFAULT 0,
    extra          BIGINT  NOT NULL DEFAULT 0,
    differing      BIGINT  NOT NULL DEFAULT 0,
    repaired       BIGINT  NOT NULL DEFAULT 0,
    summary        TEXT,
    error          TEXT
);
CREATE INDEX reconcile_runs_job ON reconcile_runs (pipeline, job, id);

CREATE TABLE reconcile_schedule (
    pipeline    TEXT    NOT NULL,
    job         TEXT    NOT NULL,
    next_due_ms BIGINT  NOT NULL,
    PRIMARY KEY (pipeline, job)
);
