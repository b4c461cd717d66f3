-- Owner two-factor authentication (TOTP, RFC 6238) with recovery codes.
--
-- * The TOTP shared secret must be readable by the server to check codes, so
--   it is stored encrypted (AES-256-GCM) under the master key, which lives
--   outside the database (EGX_MASTER_KEY_FILE): a copy of the database alone
--   does not yield it.
-- * `totp_last_step` refuses a code that was already used (replay).
-- * Recovery codes are random (80 bits) and stored only as SHA-256 digests.
-- * A password that checked out on an account with TOTP opens a short-lived
--   login challenge (digest-keyed, attempt-limited), not a session.

ALTER TABLE accounts ADD COLUMN totp_secret BLOB;
ALTER TABLE accounts ADD COLUMN totp_pending BLOB;
ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER;

CREATE TABLE recovery_codes (
    account_id  INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code_digest TEXT NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (account_id, code_digest)
);

CREATE TABLE login_challenges (
    token_digest TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    expires_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
