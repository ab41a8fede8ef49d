-- Layout 3: sync and identity.
--
-- The device key, certificate, pinned office key and (on a hub) the office
-- signing key live in `meta`. These tables hold what sync needs to remember
-- between sessions.

-- Peers this device has synced with, by device id, with the certificate
-- they last showed and its 16-byte reference; `ours_sent` is the reference
-- of our own certificate once the peer is known to hold it, so later
-- sessions send the reference instead of the certificate.
CREATE TABLE peers (
    device_id   TEXT PRIMARY KEY,
    certificate BLOB NOT NULL,
    cert_ref    BLOB NOT NULL,
    ours_sent   BLOB,
    last_seen   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX peers_by_cert ON peers (cert_ref);

-- automerge sync state per (peer, document): what both sides are known to
-- share, so the next session sends only what is new.
CREATE TABLE sync_states (
    peer   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    state  BLOB NOT NULL,
    PRIMARY KEY (peer, doc_id)
) WITHOUT ROWID;

-- Session ids (and bundle ids) already seen, so a recorded session opening
-- cannot be replayed. Pruned past the clock-skew window.
CREATE TABLE seen_sessions (
    session BLOB PRIMARY KEY,
    seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_sessions_at ON seen_sessions (seen_at);

-- Hub: one-time enrolment tokens issued by the office (only a hash is kept).
CREATE TABLE enrol_tokens (
    token_hash BLOB PRIMARY KEY,
    role       TEXT NOT NULL,
    scope      TEXT NOT NULL,
    valid_days INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    used_by    TEXT
) WITHOUT ROWID;

-- Devices the office has revoked.
CREATE TABLE revoked (
    device_id  TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
) WITHOUT ROWID;
