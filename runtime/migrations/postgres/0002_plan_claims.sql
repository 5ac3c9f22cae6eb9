-- Several workers' planners take different changes: a planner claims the unplanned changes it
-- is about to plan until plan_until_ms (FOR UPDATE SKIP LOCKED), and the others pass over
-- them. Planning stays idempotent without this (a change is planned once, whoever commits
-- first); the claim only saves the others the work.
ALTER TABLE changes ADD COLUMN plan_owner TEXT;
ALTER TABLE changes ADD COLUMN plan_until_ms BIGINT;
