-- The office audit log in a SQLite hub's store file (hub/src/audit.rs):
-- who exported, imported, viewed personal data in full, added a login,
-- issued a token or revoked a device, and when. Laid out with IF NOT
-- EXISTS before every use, like 001_enrolment.sql. silin-core's store
-- never reads these tables; a phone's store has none.

-- One row per audited action, chained: `hash` is SHA-256 over `prev_hash`
-- and a canonical encoding of the row's other columns (the first row's
-- prev_hash is 64 zeros). `detail` is a JSON object of counts only.
CREATE TABLE IF NOT EXISTS audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The latest entry (seq, hash), rewritten with every append in the same
-- transaction, signed with the office key when the hub has one: removing
-- entries from the end then needs the office key too.
CREATE TABLE IF NOT EXISTS audit_head (
    one       INTEGER PRIMARY KEY CHECK (one = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    signer    TEXT,
    signature TEXT
);

-- Append-only for everyday SQL: an edit or delete of an entry is refused.
-- (Whoever holds the store key can drop these; the chain still shows it.)
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
