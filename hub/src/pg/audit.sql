-- The office audit log of a PostgreSQL hub (hub/src/pg/audit.rs): the
-- same rows and chain as a SQLite hub's (hub/sql/sqlite/002_audit.sql),
-- laid out with IF NOT EXISTS before every append, under the audit's
-- advisory lock, so processes appending at once take turns.
CREATE TABLE IF NOT EXISTS audit_log (
    seq       bigint PRIMARY KEY,
    at        text NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    target    text NOT NULL,
    detail    text NOT NULL,
    prev_hash text NOT NULL,
    hash      text NOT NULL
);
-- The latest entry; never signed on PostgreSQL (see audit.rs).
CREATE TABLE IF NOT EXISTS audit_head (
    one       integer PRIMARY KEY CHECK (one = 1),
    seq       bigint NOT NULL,
    hash      text NOT NULL,
    signer    text,
    signature text
);
