-- Dashboard logins of the township office (silin hub user add). The hub
-- owns these rows; silin-core's store never reads them. Passwords are kept
-- only as Argon2id PHC strings.
CREATE TABLE hub_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('office', 'county')),
    password_hash TEXT NOT NULL,
    created       TEXT NOT NULL
);
