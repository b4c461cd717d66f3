-- One operation at a time per teammate name.
--
-- Adding, resuming, rotating, removing, adopting or changing the keys of a
-- teammate are several IAM calls each. Two of them at once on the same name
-- (a double click, two tabs, the CLI beside the pages) could each create a
-- key, or delete what the other just made. Each such operation first takes
-- this lease (an insert that only one writer can win), and gives it back when
-- it ends. A lease that a crashed process never gave back runs out at
-- `until_at`. The name is the key (not the teammate's id) so that adding a
-- teammate who does not exist yet is covered too; NOCASE because IAM user
-- names are case-insensitive.
CREATE TABLE teammate_locks (
    name      TEXT PRIMARY KEY COLLATE NOCASE,
    operation TEXT NOT NULL,
    taken_at  INTEGER NOT NULL,
    until_at  INTEGER NOT NULL
);
