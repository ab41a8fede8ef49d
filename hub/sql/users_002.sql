-- A third dashboard role, `analyst`: counts only, small counts suppressed
-- (hub/src/dashboard). SQLite cannot change a CHECK constraint in place,
-- so the table is made anew and its rows copied over.
CREATE TABLE hub_users_new (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('office', 'county', 'analyst')),
    password_hash TEXT NOT NULL,
    created       TEXT NOT NULL
);
INSERT INTO hub_users_new (name, role, password_hash, created)
    SELECT name, role, password_hash, created FROM hub_users;
DROP TABLE hub_users;
ALTER TABLE hub_users_new RENAME TO hub_users;
