-- Replacing an object is the uploader's own decision, never someone else's.
--
-- * `replaced_by` points from a completed upload to the later upload that
--   overwrote its object, so the owner's list shows which row is what the
--   bucket holds now (rows are never deleted: the history stays).
-- * The index finds the current upload at a key: a teammate may replace an
--   object only if the newest completed upload there is theirs and S3 still
--   holds exactly what it recorded (same ETag).
ALTER TABLE uploads ADD COLUMN replaced_by INTEGER REFERENCES uploads(id);
CREATE INDEX uploads_by_key ON uploads(object_key, id);

-- The ETag of the object an upload replaces (NULL: the key must be free).
-- Signed into the PUT / CompleteMultipartUpload as `If-Match`, so S3 itself
-- refuses the write if the object changed after the portal checked it.
ALTER TABLE uploads ADD COLUMN replaces_etag TEXT;
