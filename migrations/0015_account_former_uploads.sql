-- A removed teammate's name added again is a new person to the portal.
-- Uploads with an id up to this value were made by the name's earlier
-- holder: they stay in the owner's history but are not the new holder's to
-- list, resume, complete or replace. NULL: the account never changed hands.
ALTER TABLE accounts ADD COLUMN former_uploads_through INTEGER;
