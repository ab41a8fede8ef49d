-- Layout 1 of a silin store. Documents are the truth; every other table is a
-- projection rebuildable from them (see core/doc/store.md).

-- Device facts: device id, automerge actor, display name.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- One row per cell document: its last compacted snapshot and current heads.
CREATE TABLE docs (
    id             TEXT PRIMARY KEY,
    snapshot       BLOB NOT NULL,
    heads          BLOB NOT NULL,
    snapshot_bytes INTEGER NOT NULL,
    chunk_count    INTEGER NOT NULL DEFAULT 0,
    chunk_bytes    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Changes written since the snapshot, one row per committed user action.
CREATE TABLE chunks (
    doc_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    bytes  BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;

-- Projections.
CREATE TABLE cells (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    lead TEXT
) WITHOUT ROWID;
CREATE INDEX cells_path ON cells (path);

CREATE TABLE households (
    id      TEXT PRIMARY KEY,
    cell_id TEXT NOT NULL,
    address TEXT,
    phone   TEXT
) WITHOUT ROWID;
CREATE INDEX households_cell ON households (cell_id);

CREATE TABLE members (
    id               TEXT PRIMARY KEY,
    cell_id          TEXT NOT NULL,
    household_id     TEXT NOT NULL,
    name             TEXT NOT NULL,
    phone            TEXT,
    residence        TEXT NOT NULL,
    monitoring_since TEXT,
    monitoring_until TEXT,
    vulnerable       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX members_cell ON members (cell_id);
CREATE INDEX members_monitoring ON members (monitoring_until) WHERE monitoring_until IS NOT NULL;

-- Lean on purpose: the document holds the full visit; this answers
-- "what happened on a day" without loading documents.
CREATE TABLE visits (
    cell_id   TEXT NOT NULL,
    day       TEXT NOT NULL,
    id        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    member_id TEXT,
    abnormal  INTEGER NOT NULL,
    PRIMARY KEY (cell_id, day, id)
) WITHOUT ROWID;
CREATE INDEX visits_day ON visits (day);

CREATE TABLE reports (
    cell_id          TEXT NOT NULL,
    date             TEXT NOT NULL,
    arrivals         INTEGER NOT NULL,
    under_monitoring INTEGER NOT NULL,
    abnormal         INTEGER NOT NULL,
    errands          INTEGER NOT NULL,
    PRIMARY KEY (cell_id, date)
) WITHOUT ROWID;
CREATE INDEX reports_date ON reports (date);

CREATE TABLE tasks (
    id        TEXT PRIMARY KEY,
    cell_id   TEXT NOT NULL,
    title     TEXT NOT NULL,
    status    TEXT NOT NULL,
    due       TEXT,
    member_id TEXT
) WITHOUT ROWID;
CREATE INDEX tasks_cell ON tasks (cell_id);
