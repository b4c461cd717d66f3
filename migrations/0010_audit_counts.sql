-- Counters behind the Prometheus `/metrics` listener: how many audit events
-- of each action and outcome were ever written (uploads, provisioning steps,
-- logins, ...).
--
-- Why a table kept by a trigger, and not counters in memory:
-- * every audited event passes through the INSERT below, whoever writes it
--   (the server, `egx-portal` commands beside it, the sweeper), so nothing in
--   the application has to remember to count;
-- * the count commits or rolls back with the change it describes: a
--   rolled-back provisioning step counts nothing;
-- * counts survive restarts, and pruning old audit rows (retention) does not
--   lower them: Prometheus counters only ever grow.
-- Reading them is one small SELECT per scrape, whatever the log's size.
--
-- Numbered 0010, leaving 0006-0009 to work in flight on other branches.

CREATE TABLE audit_counts (
    action  TEXT    NOT NULL,
    outcome TEXT    NOT NULL,
    n       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (action, outcome)
) WITHOUT ROWID;

-- Events written before this migration count too.
INSERT INTO audit_counts (action, outcome, n)
SELECT action, outcome, COUNT(*) FROM audit_events GROUP BY action, outcome;

CREATE TRIGGER audit_events_count AFTER INSERT ON audit_events
BEGIN
    INSERT INTO audit_counts (action, outcome, n) VALUES (NEW.action, NEW.outcome, 1)
    ON CONFLICT (action, outcome) DO UPDATE SET n = n + 1;
END;
