-- Layout 2: the hierarchy's level names per branch, as the SQLite store
-- keeps them (core/sql/006_region_levels.sql, core/src/region.rs).
CREATE TABLE region_levels (
    prefix TEXT PRIMARY KEY,
    names TEXT NOT NULL
);
