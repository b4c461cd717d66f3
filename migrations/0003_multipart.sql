-- Multipart uploads, resume and replace (issue 4).
--
-- A file a teammate uploads is still one row in `uploads`. A large file, sent
-- in parts, also gets one row here naming S3's UploadId. The browser only ever
-- names the portal's own `uploads.id`; every request about an upload (sign a
-- part, list parts, complete, abort) is looked up by that id *and* the
-- teammate's account, so nobody can act on someone else's upload, and S3's
-- UploadId is never taken from the browser.
--
-- `uploads.status` keeps its three values: an upload in progress is 'signed',
-- an aborted one 'failed' (with `multipart_uploads.state = 'aborted'` telling
-- why). Rebuilding `uploads` to widen its CHECK was not worth the risk.

-- Whether the teammate explicitly asked to replace an existing object.
-- 0 = refuse to overwrite (the portal's check + S3's If-None-Match: *).
ALTER TABLE uploads ADD COLUMN replace_existing INTEGER NOT NULL DEFAULT 0;

CREATE TABLE multipart_uploads (
    upload_id         INTEGER PRIMARY KEY REFERENCES uploads(id),
    s3_upload_id      TEXT NOT NULL,
    -- The plan the browser cuts the file by; each part's Content-Length is signed.
    part_size         INTEGER NOT NULL CHECK (part_size >= 5242880),
    part_count        INTEGER NOT NULL CHECK (part_count BETWEEN 1 AND 10000),
    state             TEXT NOT NULL CHECK (state IN ('open', 'completed', 'aborted')),
    -- Moves each time a part is signed or parts are listed: the sweeper aborts
    -- uploads idle for EGX_STALE_UPLOAD_HOURS, not long ones still moving.
    last_activity_at  INTEGER NOT NULL,
    finished_at       INTEGER
);
CREATE INDEX multipart_uploads_by_state ON multipart_uploads(state, last_activity_at);
