-- Corrective writes after a read-back that disagreed: each goes under a key derived from the
-- delivery's idempotency key and this generation, so it is never a different write under a
-- key the target has already seen.
ALTER TABLE deliveries ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0;

-- A write of several dependent requests: the tracked job is one step, and once it succeeds
-- the write is applied again for the next step instead of being confirmed.
ALTER TABLE deliveries ADD COLUMN job_continues INTEGER NOT NULL DEFAULT 0;

-- Steps of such a write that succeeded: recorded as attempts, but not failures, so they do not
-- use up the retry budget.
ALTER TABLE deliveries ADD COLUMN steps INTEGER NOT NULL DEFAULT 0;

-- When the change happened at the source, passed to the target with every write (null for
-- deliveries planned before this column: their creation time stands in).
ALTER TABLE deliveries ADD COLUMN occurred_at_ms INTEGER;
