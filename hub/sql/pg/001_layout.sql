-- Layout 1 of a hub database on PostgreSQL: what the SQLite store keeps
-- (core/sql/001 to 004) and the hub's dashboard logins (hub/sql/users_001),
-- in one database that several hub processes serve at once, plus the sync
-- sessions those processes hand each other between rounds.
--
-- Types follow the SQLite layout: bytes are bytea, counters and timestamps
-- bigint (Unix seconds, as the store's clock gives them), day and date
-- values ISO text. Text that is compared by range or prefix (region paths,
-- days) is byte-ordered (COLLATE "C"), as SQLite compares it, so rollups
-- give the same answer whatever locale the database was made with.
--
-- Documents are the truth; every projection table is rebuildable from them.
-- Rows that belong to a document point at it and go with it. Those foreign
-- keys are checked at commit, so a writer may file a document's rows in any
-- order inside its transaction.

-- Device facts of the hub itself: device id, automerge actor, key,
-- certificate, pinned office public key.
CREATE TABLE meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- One row per cell document: its current heads and what is stored of it.
-- Small on purpose: it is rewritten on every write and locked
-- (SELECT ... FOR UPDATE) while a change is merged into the document.
CREATE TABLE docs (
    id             text PRIMARY KEY,
    heads          bytea NOT NULL,
    snapshot_bytes bigint NOT NULL,
    chunk_count    bigint NOT NULL DEFAULT 0,
    chunk_bytes    bigint NOT NULL DEFAULT 0,
    -- Raised by every write of the document, so a process holding the
    -- document in memory knows with one small read whether another process
    -- changed it since.
    version        bigint NOT NULL DEFAULT 1
);

-- The last compacted snapshot of each document.
CREATE TABLE snapshots (
    id       text PRIMARY KEY
             REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    snapshot bytea NOT NULL
);
-- automerge compresses its own columns: PostgreSQL's compression would
-- spend time on every write to gain nothing.
ALTER TABLE snapshots ALTER COLUMN snapshot SET STORAGE EXTERNAL;

-- Changes written since the snapshot, one row per committed write. The key
-- makes two processes that append to one document at once collide instead
-- of both taking the same sequence number.
CREATE TABLE chunks (
    doc_id text NOT NULL
           REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    seq    bigint NOT NULL,
    bytes  bytea NOT NULL,
    PRIMARY KEY (doc_id, seq)
);

-- Projections, keyed by the id the document is stored under.
CREATE TABLE cells (
    id   text PRIMARY KEY
         REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    name text NOT NULL,
    path text COLLATE "C" NOT NULL,
    lead text
);
CREATE INDEX cells_path ON cells (path);

CREATE TABLE households (
    id      text PRIMARY KEY,
    cell_id text NOT NULL
            REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    address text,
    phone   text
);
CREATE INDEX households_cell ON households (cell_id);

CREATE TABLE members (
    id               text PRIMARY KEY,
    cell_id          text NOT NULL
                     REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    household_id     text NOT NULL,
    name             text NOT NULL,
    phone            text,
    residence        text NOT NULL,
    monitoring_since text COLLATE "C",
    monitoring_until text COLLATE "C",
    vulnerable       text NOT NULL
);
CREATE INDEX members_cell ON members (cell_id);
CREATE INDEX members_monitoring ON members (monitoring_until) WHERE monitoring_until IS NOT NULL;

-- Lean on purpose: the document holds the full visit; this answers
-- "what happened on a day" without loading documents.
CREATE TABLE visits (
    cell_id   text NOT NULL
              REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    day       text COLLATE "C" NOT NULL,
    id        text NOT NULL,
    kind      text NOT NULL,
    member_id text,
    abnormal  boolean NOT NULL,
    PRIMARY KEY (cell_id, day, id)
);
CREATE INDEX visits_day ON visits (day);

CREATE TABLE reports (
    cell_id          text NOT NULL
                     REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    date             text COLLATE "C" NOT NULL,
    arrivals         bigint NOT NULL,
    under_monitoring bigint NOT NULL,
    abnormal         bigint NOT NULL,
    errands          bigint NOT NULL,
    PRIMARY KEY (cell_id, date)
);
CREATE INDEX reports_date ON reports (date);

CREATE TABLE tasks (
    id        text PRIMARY KEY,
    cell_id   text NOT NULL
              REFERENCES docs (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    title     text NOT NULL,
    status    text NOT NULL,
    due       text COLLATE "C",
    member_id text
);
CREATE INDEX tasks_cell ON tasks (cell_id);

-- Peers the hub has synced with, by device id, with the certificate they
-- last showed and its 16-byte reference; `ours_sent` is the reference of
-- the hub's own certificate once the peer is known to hold it.
CREATE TABLE peers (
    device_id   text PRIMARY KEY,
    certificate bytea NOT NULL,
    cert_ref    bytea NOT NULL,
    ours_sent   bytea,
    last_seen   bigint NOT NULL
);
CREATE INDEX peers_by_cert ON peers (cert_ref);

-- automerge sync state per (peer, document): what both sides are known to
-- share. No key to docs: a state may be kept for a document the hub
-- refused or has not stored yet.
CREATE TABLE sync_states (
    peer   text NOT NULL,
    doc_id text NOT NULL,
    state  bytea NOT NULL,
    PRIMARY KEY (peer, doc_id)
);

-- Session and bundle ids already seen, so a recorded opening cannot be
-- replayed to any of the processes. Pruned past the clock-skew window.
CREATE TABLE seen_sessions (
    session bytea PRIMARY KEY,
    seen_at bigint NOT NULL
);
CREATE INDEX seen_sessions_at ON seen_sessions (seen_at);

-- Sync sessions between rounds: a device's next round may reach any
-- process, which takes the session out by deleting the row at the
-- `version` it read (so of two processes only one gets it) and holds it
-- again after the round. `version` is the id of the transaction that held
-- it (txid_current()), so it never repeats for a session held again.
-- `device_id` is '' for a peer without one.
-- `updated_at` is in Unix milliseconds, not seconds: under load many
-- sessions are held within one second, and the longest idle is dropped
-- first.
CREATE TABLE hub_sessions (
    session_id bytea PRIMARY KEY,
    device_id  text NOT NULL,
    state      bytea NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    updated_at bigint NOT NULL
);
CREATE INDEX hub_sessions_updated ON hub_sessions (updated_at);

-- One-time enrolment tokens issued by the office (only a hash is kept). A
-- token is spent by the first (device, key) that redeems it; a retry of
-- that same enrolment may redeem it again, nobody else.
CREATE TABLE enrol_tokens (
    token_hash bytea PRIMARY KEY,
    role       text NOT NULL,
    scope      text NOT NULL,
    valid_days bigint NOT NULL,
    expires    bigint NOT NULL,
    used_by    text,
    used_key   bytea
);

-- Every device id this hub has enrolled, with its key: a later enrolment
-- that claims the id with another key is refused.
CREATE TABLE enrolled (
    device_id   text PRIMARY KEY,
    public_key  bytea NOT NULL,
    enrolled_at bigint NOT NULL
);

-- Devices the office has revoked.
CREATE TABLE revoked (
    device_id  text PRIMARY KEY,
    revoked_at bigint NOT NULL
);

-- Dashboard logins of the township office; passwords only as Argon2id PHC
-- strings. `created` is the text the SQLite layout keeps.
CREATE TABLE hub_users (
    name          text PRIMARY KEY,
    role          text NOT NULL CHECK (role IN ('office', 'county')),
    password_hash text NOT NULL,
    created       text NOT NULL
);
