-- Layout 5: each member's health-check schedule beside the member, as the
-- SQLite store keeps it (core/sql/008_check_schedule.sql). Rows of cells
-- written before this layout are filled in when the cell is next written
-- (a process that reloads a document replaces all its rows); the hub reads
-- none of these three columns itself.
ALTER TABLE members ADD COLUMN check_since text COLLATE "C";
ALTER TABLE members ADD COLUMN check_until text COLLATE "C";
ALTER TABLE members ADD COLUMN checks_per_day bigint NOT NULL DEFAULT 0;
