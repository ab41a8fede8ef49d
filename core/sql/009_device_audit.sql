-- Layout 9: the device's own audit log (core/src/audit.rs,
-- core/src/store/audit.rs): bundles exported, cells saved out whole,
-- erasure orders followed — ids and counts only. Chained like the hub's
-- log: `hash` is SHA-256 over `prev_hash` and the row's other columns
-- (silin_core::audit::entry_hash, actor 'device'); the first row's
-- prev_hash is 64 zeros. `detail` is a JSON object of counts.
CREATE TABLE device_audit (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- Up to which sequence number the hub said it holds the entries (they
-- went up with a sync session): one row, only ever moved forward. The
-- entries themselves are never deleted or changed.
CREATE TABLE device_audit_sent (
    one  INTEGER PRIMARY KEY CHECK (one = 1),
    upto INTEGER NOT NULL
);

-- Append-only for everyday SQL (whoever holds the store key can drop
-- these; the chain still shows an edit, a removed or reordered entry).
CREATE TRIGGER device_audit_no_update BEFORE UPDATE ON device_audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER device_audit_no_delete BEFORE DELETE ON device_audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER device_audit_sent_forward BEFORE UPDATE ON device_audit_sent
WHEN NEW.upto < OLD.upto
BEGIN
    SELECT RAISE(ABORT, 'audit entries marked sent stay sent');
END;
