-- Feedback lists the office imported (silin office import-list) and the
-- task each matched row became, so exports and the dashboard can follow a
-- list's completion. The tasks themselves live in the cells' documents;
-- these rows only name them. silin-core's store never reads these tables.
CREATE TABLE office_lists (
    list_id  TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    title    TEXT NOT NULL,
    file     TEXT NOT NULL,
    rows     INTEGER NOT NULL,
    imported TEXT NOT NULL
);
CREATE TABLE office_list_tasks (
    list_id TEXT NOT NULL,
    row     INTEGER NOT NULL,
    cell_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (list_id, task_id)
);
