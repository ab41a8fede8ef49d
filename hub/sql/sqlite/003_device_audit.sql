-- Devices' own audit entries in a SQLite hub's store (hub/src/audit.rs,
-- keep_device_entries): which entry of which device the hub's log holds,
-- so an entry sent again (its reply lost) is not appended twice. The
-- entries themselves are rows of audit_log, the device as their actor.
-- Laid out with IF NOT EXISTS before every use, like 002_audit.sql.
CREATE TABLE IF NOT EXISTS audit_device (
    device     TEXT NOT NULL,
    device_seq INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (device, device_seq)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS audit_device_no_update BEFORE UPDATE ON audit_device
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_device_no_delete BEFORE DELETE ON audit_device
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
