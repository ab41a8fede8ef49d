-- The office's standing retention policy (silin hub retain --daily): the
-- hub applies it once a day while it serves. One row, or none. The hub
-- owns it; silin-core's store never reads it.
CREATE TABLE hub_retention (
    one             INTEGER PRIMARY KEY CHECK (one = 1),
    checks_days     INTEGER NOT NULL CHECK (checks_days >= 0),
    monitoring_days INTEGER NOT NULL CHECK (monitoring_days >= 0),
    reason          TEXT NOT NULL,
    set_at          TEXT NOT NULL,
    last_run        TEXT
);
