-- The audit log becomes append-only and tamper-evident.
--
-- * Each row carries the hash of the row before it (`prev_hash`) and its own
--   `hash` = SHA-256 over prev_hash and every field of the row. Editing,
--   removing or reordering a row breaks the chain at that row, and
--   `egx-portal audit verify` names it.
-- * Triggers refuse UPDATE and DELETE. The one sanctioned DELETE is retention
--   pruning, which opens the gate in `audit_chain` for its own transaction
--   and moves the chain's anchor past the rows it removed.
-- * `audit_chain` also remembers the newest row (head), so cutting rows off
--   the end is noticed too.
-- Rows written before this migration have no hash: they are sealed here, in
-- id order, by the portal on its first start (see db::audit::seal_legacy).

ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;

CREATE TABLE audit_chain (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    -- Rows with id <= pruned_through were removed by retention; the chain
    -- restarts from anchor_hash (the hash of row pruned_through).
    pruned_through INTEGER NOT NULL DEFAULT 0,
    anchor_hash    TEXT NOT NULL,
    head_id        INTEGER NOT NULL DEFAULT 0,
    head_hash      TEXT NOT NULL,
    -- 1 only inside a retention transaction.
    delete_allowed INTEGER NOT NULL DEFAULT 0
);
INSERT INTO audit_chain (id, anchor_hash, head_hash)
VALUES (1, '0000000000000000000000000000000000000000000000000000000000000000',
           '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN OLD.hash IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN (SELECT delete_allowed FROM audit_chain WHERE id = 1) = 0
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE INDEX audit_events_by_time ON audit_events(at, id);
CREATE INDEX audit_events_by_target ON audit_events(target, id);
