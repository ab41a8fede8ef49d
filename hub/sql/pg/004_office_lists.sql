-- Layout 4: the feedback lists the office imported and the task each
-- matched row became, as a SQLite hub keeps them (hub/sql/lists_001.sql).
-- The tasks themselves live in the cells' documents; these rows name them.
CREATE TABLE office_lists (
    list_id  TEXT PRIMARY KEY,
    kind     TEXT NOT NULL,
    title    TEXT NOT NULL,
    file     TEXT NOT NULL,
    rows     BIGINT NOT NULL,
    imported TEXT NOT NULL
);
CREATE TABLE office_list_tasks (
    list_id TEXT NOT NULL REFERENCES office_lists (list_id),
    row     BIGINT NOT NULL,
    cell_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    PRIMARY KEY (list_id, task_id)
);
