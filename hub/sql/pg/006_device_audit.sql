-- PostgreSQL layout 6: which of a device's own audit entries (sent up in
-- a sync session, hub/src/pg/audit.rs) the hub's log holds, so an entry
-- sent again is not appended twice. The entries are rows of audit_log
-- (laid out by audit.sql), the device as their actor.
CREATE TABLE audit_device (
    device     text NOT NULL,
    device_seq bigint NOT NULL,
    seq        bigint NOT NULL,
    PRIMARY KEY (device, device_seq)
);
