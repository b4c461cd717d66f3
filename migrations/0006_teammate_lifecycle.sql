-- Teammate lifecycle (issue 3): activation, adoption, removal, key rotation,
-- revocable links.
--
-- Why new columns instead of rebuilding `teammates` with a wider CHECK:
-- `teammates.status` allows 'incomplete', 'active', 'disabled', 'removed' but
-- not 'activating'. Rebuilding a table that `accounts`, `access_keys` and
-- `secret_links` reference by foreign key needs `PRAGMA foreign_keys=OFF`,
-- which SQLite silently ignores inside a transaction, and sqlx runs each
-- migration inside one. So the stored `status` keeps its values (the portal
-- writes 'incomplete', 'active' and 'removed'; 'disabled' is never written)
-- and the status the owner sees is derived (see domain::TeammateStatus):
--
--   removed     status = 'removed'
--   removing    removal_started_at is set and the removal has not finished
--   incomplete  status = 'incomplete' (provisioning stopped after `last_step`)
--   disabled    the teammate's portal account has `disabled_at` (IAM untouched)
--   activating  provisioned, but no link carrying a key was revealed yet
--   active      otherwise
--
-- tests/api/migrations.rs migrates a version-5 database holding data.

-- When the teammate first had a working key in hand: a key link was revealed,
-- or the teammate was adopted with keys made outside the portal.
ALTER TABLE teammates ADD COLUMN activated_at INTEGER;
-- Set when an IAM user made outside the portal (e.g. by the runbook script) was adopted.
ALTER TABLE teammates ADD COLUMN adopted_at INTEGER;
-- Removal is a sequence of IAM steps, each recorded like provisioning's, so a
-- removal that stopped (crash, AWS error) is visible and re-running it finishes.
ALTER TABLE teammates ADD COLUMN removal_started_at INTEGER;
ALTER TABLE teammates ADD COLUMN removal_step TEXT;
ALTER TABLE teammates ADD COLUMN removal_error TEXT;
ALTER TABLE teammates ADD COLUMN removed_at INTEGER;

-- Existing data: a teammate whose key link was revealed has been activated.
UPDATE teammates SET activated_at = (
    SELECT MIN(l.revealed_at) FROM secret_links l
    WHERE l.teammate_id = teammates.id AND l.access_key_id IS NOT NULL AND l.revealed_at IS NOT NULL
);
UPDATE teammates SET removed_at = updated_at WHERE status = 'removed';

-- Keys the portal knows of. IAM stays the source of truth for status and last
-- use; these columns record what the portal itself did or saw.
--   origin       'portal' (created here) or 'adopted' (found on an adopted user)
--   verified_at  when STS first accepted the key (the portal's own check: IAM's
--                last-used record then shows service "sts"; that use is not
--                the teammate's, see lifecycle::overview)
--   deleted_at   when the portal deleted the key
ALTER TABLE access_keys ADD COLUMN origin TEXT NOT NULL DEFAULT 'portal' CHECK (origin IN ('portal', 'adopted'));
ALTER TABLE access_keys ADD COLUMN verified_at INTEGER;
ALTER TABLE access_keys ADD COLUMN deleted_at INTEGER;

-- Existing data: the verification time is in the audit log.
UPDATE access_keys SET verified_at = (
    SELECT MIN(e.at) FROM audit_events e
    WHERE e.action = 'iam.access_key_verified' AND e.outcome = 'success'
      AND json_extract(e.detail, '$.access_key_id') = access_keys.access_key_id
);

-- Why a link was revoked ('owner', 'removal', 'key_deleted', 'key_deactivated',
-- 'rotation_cancelled', 'superseded'), shown on the teammate's page.
ALTER TABLE secret_links ADD COLUMN revoke_reason TEXT;
CREATE INDEX secret_links_by_key ON secret_links(access_key_id);

-- Key rotations. A rotation replaces the teammate's active key:
--   1. started_at: the row exists (at most one open rotation per teammate,
--      enforced by the unique index below, so two rotations cannot race);
--   2. made_room_key_id: an inactive key deleted first, because IAM allows two keys;
--   3. new_access_key_id: CreateAccessKey succeeded;
--   4. link_id: the new key is on its way in a one-time link;
--   5. new_key_seen_at (IAM shows the new key used by the teammate) or
--      confirmed_at (the owner says so): then the old key is deactivated,
--   6. old_deactivated_at; after EGX_ROTATION_GRACE_DAYS it is deleted,
--   7. old_deleted_at, finished_at, outcome 'completed'.
-- Cancelling (before step 6) deletes the new key: outcome 'cancelled'.
-- `old_access_key_id` is NULL when the teammate had no active key: the
-- rotation then completes as soon as the new key's link is issued.
CREATE TABLE key_rotations (
    id                 INTEGER PRIMARY KEY,
    teammate_id        INTEGER NOT NULL REFERENCES teammates(id),
    old_access_key_id  TEXT,
    made_room_key_id   TEXT,
    new_access_key_id  TEXT,
    link_id            TEXT REFERENCES secret_links(id),
    started_at         INTEGER NOT NULL,
    new_key_seen_at    INTEGER,
    confirmed_at       INTEGER,
    old_deactivated_at INTEGER,
    old_deleted_at     INTEGER,
    finished_at        INTEGER,
    outcome            TEXT CHECK (outcome IN ('completed', 'cancelled')),
    -- The error kind of the last step that failed (cleared when a step succeeds).
    last_error         TEXT,
    CHECK ((finished_at IS NULL) = (outcome IS NULL))
);
CREATE UNIQUE INDEX key_rotations_one_open ON key_rotations(teammate_id) WHERE finished_at IS NULL;
