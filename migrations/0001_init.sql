-- egx-portal schema, version 1.
--
-- Conventions (decided once, kept everywhere):
-- * Every timestamp is `*_at INTEGER`: Unix seconds, UTC. Integers compare and
--   index cheaply and never need a timezone parse; the portal formats them.
-- * Secrets are never stored. Tokens (session ids, setup tokens, enrolment
--   tokens) are stored as SHA-256 digests; one-time link payloads are stored
--   only as AES-GCM ciphertext whose key lives in the link's #fragment.
-- * Rows are not deleted when a person leaves: their status changes, so the
--   audit log keeps pointing at something real.

-- People who can sign in to the portal. `role` is 'owner' or 'teammate'.
-- A teammate's account is linked to the IAM user it belongs to.
CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'teammate')),
    -- NULL until the person chooses a password (a teammate enrols after Reveal).
    password_hash TEXT,
    teammate_id   INTEGER REFERENCES teammates(id),
    disabled_at   INTEGER,
    created_at    INTEGER NOT NULL,
    CHECK ((role = 'teammate') = (teammate_id IS NOT NULL))
);

-- IAM users the portal manages. `status` follows provisioning:
--   'incomplete' until every step (policy, user, attach, key, link) succeeded,
--   'active' afterwards, 'removed' once the IAM user is gone.
-- `last_step` names the last provisioning step that succeeded, so a retry
-- resumes from the next one instead of dead-ending on "already exists".
CREATE TABLE teammates (
    id             INTEGER PRIMARY KEY,
    iam_user_name  TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL CHECK (status IN ('incomplete', 'active', 'disabled', 'removed')),
    last_step      TEXT,
    last_error     TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Access keys the portal created. IAM stays the source of truth for status and
-- last use; this table remembers which keys we issued and when.
CREATE TABLE access_keys (
    access_key_id  TEXT PRIMARY KEY,
    teammate_id    INTEGER NOT NULL REFERENCES teammates(id),
    created_at     INTEGER NOT NULL
);

-- Server-side sessions. Only the SHA-256 digest of the cookie value is kept,
-- so a copy of the database cannot be used to sign in.
CREATE TABLE sessions (
    id_digest     TEXT PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions(account_id);

-- One-time owner setup tokens (printed in the log on first start).
CREATE TABLE setup_tokens (
    token_digest  TEXT PRIMARY KEY,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);

-- One-time secret links. `payload` is nonce || AES-256-GCM ciphertext; the key
-- is only in the link's fragment. Reveal is a single conditional UPDATE that
-- nulls the payload, so exactly one request can ever receive it.
CREATE TABLE secret_links (
    id                 TEXT PRIMARY KEY,
    teammate_id        INTEGER NOT NULL REFERENCES teammates(id),
    access_key_id      TEXT,
    payload            BLOB,
    enrol_token_digest TEXT,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    opened_at          INTEGER,
    revealed_at        INTEGER,
    enrolled_at        INTEGER,
    revoked_at         INTEGER
);
CREATE INDEX secret_links_by_teammate ON secret_links(teammate_id);

-- Browser uploads. A row is written when a URL is signed ('signed') and
-- completed once HeadObject confirmed the object ('completed').
CREATE TABLE uploads (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    object_key    TEXT NOT NULL,
    declared_size INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('signed', 'completed', 'failed')),
    size          INTEGER,
    etag          TEXT,
    created_at    INTEGER NOT NULL,
    completed_at  INTEGER
);
CREATE INDEX uploads_by_account ON uploads(account_id, id);

-- Everything that happens, one row per event. Never a secret: `detail` holds
-- names, ids and error kinds only.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    ip          TEXT,
    user_agent  TEXT,
    detail      TEXT
);
CREATE INDEX audit_events_by_action ON audit_events(action, id);
CREATE INDEX audit_events_by_actor ON audit_events(actor, id);
