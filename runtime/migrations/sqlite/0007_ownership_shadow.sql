-- Field ownership: the planner looks up the newest change each system of record reported
-- about an entity, to hold a non-owner's values against it.
CREATE INDEX changes_entity_source ON changes (pipeline, object, entity_key, source, source_version);

-- A delivery on a shadow route: when its turn comes the target is read and compared with the
-- intended write, and nothing is written.
ALTER TABLE deliveries ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;

-- What each shadow delivery found: the intended document and the target's, both masked, and
-- the fields that differ. `junction shadow report ROUTE` reads it.
CREATE TABLE shadow_results (
    delivery_id     INTEGER PRIMARY KEY REFERENCES deliveries (id),
    pipeline        TEXT    NOT NULL,
    route           TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    object          TEXT    NOT NULL,
    entity_key      TEXT    NOT NULL,
    intended        TEXT    NOT NULL,
    current_doc     TEXT,
    differing       TEXT    NOT NULL,
    error           TEXT,
    compared_at_ms  INTEGER NOT NULL
);
CREATE INDEX shadow_results_route ON shadow_results (pipeline, route, delivery_id);
