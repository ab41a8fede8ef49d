-- The hub's enrolment tables in a SQLite hub's store file (the PostgreSQL
-- hub has the same in hub/sql/pg/). The phone's store has neither: silin
-- core laid them out in every store up to its layout 4, and its layout 5
-- drops them where they were never used; a hub's file keeps them as they
-- are, which is exactly this shape.

-- One-time enrolment tokens issued by the office: only a hash of the
-- secret is kept. A token is spent by the first (device, key) that redeems
-- it; a retry of that same enrolment (its answer was lost) may redeem it
-- again, nobody else.
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_hash BLOB PRIMARY KEY,
    role       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    valid_days INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    used_by    TEXT,
    used_key   BLOB
) WITHOUT ROWID;

-- Every device id this hub has enrolled, with its key: a later enrolment
-- that claims the id with another key is refused.
CREATE TABLE IF NOT EXISTS enrolled (
    device_id   TEXT PRIMARY KEY,
    public_key  BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL
) WITHOUT ROWID;
