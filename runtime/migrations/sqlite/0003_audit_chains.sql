-- The audit log becomes one hash chain per entity instead of one chain that every writer
-- extends through a single head row (store/audit.rs explains the layout). The entries written
-- before this migration stay one chain, named '' (the empty string), exactly as they were
-- hashed: their position in that chain is their seq.
ALTER TABLE audit ADD COLUMN chain TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0;
UPDATE audit SET chain_seq = seq;
CREATE UNIQUE INDEX audit_chain ON audit (chain, chain_seq);

CREATE TABLE audit_chains (
    chain     TEXT    PRIMARY KEY,
    chain_seq INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL
);
INSERT INTO audit_chains (chain, chain_seq, seq, hash)
SELECT '', seq, seq, hash FROM audit_head WHERE seq > 0;
DROP TABLE audit_head;
