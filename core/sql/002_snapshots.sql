-- Layout 2: snapshots move out of `docs` into a table of their own.
--
-- Every user action updates its document's heads and chunk counters. With
-- the snapshot in the same row, SQLite read, copied and rewrote the whole
-- record (tens of kB for a cell with a year of history) on each write, so a
-- write cost grew with the history. Now the per-write row stays small.
CREATE TABLE snapshots (
    id       TEXT PRIMARY KEY,
    snapshot BLOB NOT NULL
);
INSERT INTO snapshots (id, snapshot) SELECT id, snapshot FROM docs;
ALTER TABLE docs DROP COLUMN snapshot;
