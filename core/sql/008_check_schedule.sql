-- Layout 8: each member's health-check schedule (core/src/cell/register.rs,
-- CheckSchedule) beside the member, so a phone with many cells counts the
-- checks due and missed on its first screen without reading a document.
-- The rows of an older file are filled in by a rebuild of the query tables
-- at the next open (the mark below; core/src/store/integrity.rs).
ALTER TABLE members ADD COLUMN check_since TEXT;
ALTER TABLE members ADD COLUMN check_until TEXT;
ALTER TABLE members ADD COLUMN checks_per_day INTEGER NOT NULL DEFAULT 0;
CREATE INDEX members_checks ON members (check_until) WHERE check_until IS NOT NULL;
INSERT OR REPLACE INTO meta (key, value) VALUES ('projections_stale', 'layout 8');
