-- Layout 7: the office's erasure orders, as a SQLite store keeps them
-- (core/sql, erasure_orders): signed, without the erased values, one per
-- epoch of a cell, passed on in every session so that a device offline for
-- months still learns of them. And the office's standing retention policy
-- (hub/sql/retention_001.sql on a SQLite hub): one row, or none.
CREATE TABLE erasure_orders (
    cell_id text NOT NULL,
    epoch   bigint NOT NULL,
    body    bytea NOT NULL,
    PRIMARY KEY (cell_id, epoch)
);

CREATE TABLE hub_retention (
    one             integer PRIMARY KEY CHECK (one = 1),
    checks_days     bigint NOT NULL CHECK (checks_days >= 0),
    monitoring_days bigint NOT NULL CHECK (monitoring_days >= 0),
    reason          text NOT NULL,
    set_at          text NOT NULL,
    last_run        text COLLATE "C"
);
