-- Layout 4: an enrolment binds a device id to one key.
-- A token is spent by the first (device, key) that redeems it; a retry of
-- that same enrolment (the answer was lost) may redeem it again, nobody else.
ALTER TABLE enrol_tokens ADD COLUMN used_key BLOB;

-- Every device id this hub has enrolled, with its key: a later enrolment
-- that claims the id with another key is refused.
CREATE TABLE enrolled (
    device_id   TEXT PRIMARY KEY,
    public_key  BLOB NOT NULL,
    enrolled_at INTEGER NOT NULL
) WITHOUT ROWID;
