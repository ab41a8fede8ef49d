-- Layout 6: the hierarchy's level names per branch (core/src/region.rs).
-- prefix: a region path prefix, parts joined by '/';
-- names: a JSON array naming its own level and the levels below it.
CREATE TABLE region_levels (
    prefix TEXT PRIMARY KEY NOT NULL,
    names TEXT NOT NULL
);
