-- Reconciliation: every run of a `[reconcile.NAME]` job (on demand or scheduled) and its
-- result, and when each scheduled job is next due, so a restart neither reruns one at once
-- nor skips one. The drift summary is masked JSON (counts and the first differences).
CREATE TABLE reconcile_runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline       TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    -- 'manual' (junction reconcile) or 'scheduled' (junction run).
    trigger        TEXT    NOT NULL,
    repair         INTEGER NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    -- 'running', 'ok' (compared both sides), 'failed' (a side could not be listed).
    status         TEXT    NOT NULL,
    owner_listed   INTEGER NOT NULL DEFAULT 0,
    target_listed  INTEGER NOT NULL DEFAULT 0,
    in_sync        INTEGER NOT NULL DEFAULT 0,
    missing        INTEGER NOT NULL DEFAULT 0,
    extra          INTEGER NOT NULL DEFAULT 0,
    differing      INTEGER NOT NULL DEFAULT 0,
    repaired       INTEGER NOT NULL DEFAULT 0,
    summary        TEXT,
    error          TEXT
);
CREATE INDEX reconcile_runs_job ON reconcile_runs (pipeline, job, id);

CREATE TABLE reconcile_schedule (
    pipeline    TEXT    NOT NULL,
    job         TEXT    NOT NULL,
    next_due_ms INTEGER NOT NULL,
    PRIMARY KEY (pipeline, job)
);
