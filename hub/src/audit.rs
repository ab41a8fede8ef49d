//! The office audit log: who exported, imported, viewed personal data in
//! full, was refused a dashboard page, added a dashboard login, issued an
//! enrolment token or revoked a device on this hub, and when — append-only and hash-chained, in the
//! hub's SQLite store (`hub/sql/sqlite/002_audit.sql`), read and checked
//! with `silin audit`.
//!
//! Each [`Entry`] carries its sequence number, the time on the hub's
//! injected clock, the [`Actor`], a closed [`Action`], a target (what was
//! touched: an export's sheet, day and level, a list id, a region, a login
//! name, a device id) and a [`Detail`] of counts only — its keys are
//! compile-time names and its values integers, so no name, phone or ID
//! number can reach it. `hash` is SHA-256 over the previous entry's hash
//! and a canonical encoding of the entry ([`entry_hash`]); the latest
//! (seq, hash) is kept as the log's head, signed with the office key when
//! the hub has one. [`verify`] walks the chain and names the first entry
//! whose sequence, link or hash is wrong, and checks the head: a modified,
//! removed or reordered entry is found, and so is a cut-off tail unless
//! whoever cut it also holds the office key.
//!
//! Devices' own entries (a bundle exported, a cell saved out, an erasure
//! followed on the phone: [`silin_core::audit`]) come up in sync sessions;
//! [`keep_device_entries`] appends each with the device of the session's
//! verified certificate as the actor, its own sequence number and time in
//! the detail (`device_seq`, `device_at`), once per (device, sequence).
//!
//! Entries are appended in the same transaction as the action where the
//! action writes the hub's store through a connection that can hold one
//! (a login, the list register), otherwise right after it. What the log
//! does not prove is in doc/SECURITY.md, "Audit log".

use chrono::{DateTime, FixedOffset, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;
use silin_core::audit::{DeviceAction, DeviceEntry};
use silin_core::identity::{self, Certificate, Office, Role};
use silin_core::Store;
use std::collections::BTreeMap;
use std::path::Path;

/// The audit tables; creating them is a no-op where they are.
const SQLITE_LAYOUT: &str = include_str!("../sql/sqlite/002_audit.sql");
/// Which devices' entries the log holds.
const SQLITE_DEVICE_LAYOUT: &str = include_str!("../sql/sqlite/003_device_audit.sql");

/// The chain's rule and its first link, shared with the devices' own logs.
pub use silin_core::audit::{entry_hash, GENESIS};

/// What was done. Closed: an entry whose action this build does not know
/// does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// `silin office export`: a sheet written to a file.
    Export,
    /// `silin office import-list`: a feedback list imported as tasks.
    ImportList,
    /// A view that shows personal data unmasked (names, phones): the
    /// dashboard's overview, a drill-down to cells, a list's tasks.
    ViewFull,
    /// `silin hub user add`: a dashboard login.
    UserAdd,
    /// `silin hub token`: a one-time enrolment token.
    TokenIssue,
    /// `silin hub revoke`: a device refused from then on.
    Revoke,
    /// `silin hub erase`: an erasure order issued (see silin_core::erasure).
    Erase,
    /// `silin hub retain --daily` / `--stop-daily`: the standing retention
    /// policy set or ended (each day's run is an [`Action::Erase`]).
    RetentionPolicy,
    /// A dashboard page refused to a login whose role may not see it (an
    /// analyst asking for a drill-down to cells, a list's tasks or a
    /// notice's cells): nothing was shown.
    ViewRefused,
    /// On a device: a bundle exported (its entry came up with sync).
    BundleExport,
    /// On a device: a cell's document saved out of its store.
    CellSave,
    /// On a device: an erasure order followed, its copy erased.
    ErasureFollowed,
}

impl From<DeviceAction> for Action {
    fn from(a: DeviceAction) -> Action {
        match a {
            DeviceAction::BundleExport => Action::BundleExport,
            DeviceAction::CellSave => Action::CellSave,
            DeviceAction::ErasureFollowed => Action::ErasureFollowed,
        }
    }
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Export => "export",
            Action::ImportList => "import_list",
            Action::ViewFull => "view_full",
            Action::UserAdd => "user_add",
            Action::TokenIssue => "token_issue",
            Action::Revoke => "revoke",
            Action::Erase => "erase",
            Action::RetentionPolicy => "retention_policy",
            Action::ViewRefused => "view_refused",
            Action::BundleExport => DeviceAction::BundleExport.as_str(),
            Action::CellSave => DeviceAction::CellSave.as_str(),
            Action::ErasureFollowed => DeviceAction::ErasureFollowed.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "export" => Action::Export,
            "import_list" => Action::ImportList,
            "view_full" => Action::ViewFull,
            "user_add" => Action::UserAdd,
            "token_issue" => Action::TokenIssue,
            "revoke" => Action::Revoke,
            "erase" => Action::Erase,
            "retention_policy" => Action::RetentionPolicy,
            "view_refused" => Action::ViewRefused,
            s => return DeviceAction::parse(s).map(Action::from),
        })
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The `silin` command on the hub machine (whoever can open the store).
    Office,
    /// A dashboard login.
    User { name: String },
    /// An enrolled device, by its certificate.
    Device { device_id: String, role: String },
}

impl Actor {
    pub fn device(device_id: &str, role: Role) -> Actor {
        Actor::Device {
            device_id: device_id.to_string(),
            role: role.as_str().to_string(),
        }
    }

    /// As stored (and hashed): `office`, `user:NAME`, `device:ROLE:ID`.
    fn encode(&self) -> String {
        match self {
            Actor::Office => "office".into(),
            Actor::User { name } => format!("user:{name}"),
            Actor::Device { device_id, role } => format!("device:{role}:{device_id}"),
        }
    }

    fn decode(s: &str) -> Option<Actor> {
        if s == "office" {
            return Some(Actor::Office);
        }
        if let Some(name) = s.strip_prefix("user:") {
            return Some(Actor::User { name: name.into() });
        }
        let (role, id) = s.strip_prefix("device:")?.split_once(':')?;
        Some(Actor::Device {
            device_id: id.into(),
            role: role.into(),
        })
    }
}

/// Counts only: keys are names fixed in the code, values integers.
pub type Detail = BTreeMap<&'static str, i64>;

/// An entry about to be appended.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub actor: Actor,
    pub action: Action,
    pub target: String,
    pub detail: Detail,
}

impl NewEntry {
    pub fn new(actor: Actor, action: Action, target: impl Into<String>) -> NewEntry {
        NewEntry {
            actor,
            action,
            target: target.into(),
            detail: Detail::new(),
        }
    }

    /// Adds a count to the detail (a count past `i64::MAX`, which no
    /// register reaches, is kept as `i64::MAX`).
    pub fn count(mut self, key: &'static str, n: impl TryInto<i64>) -> NewEntry {
        self.detail.insert(key, n.try_into().unwrap_or(i64::MAX));
        self
    }
}

/// An entry as the log holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub seq: i64,
    /// RFC 3339, on the hub's clock.
    pub at: String,
    pub actor: Actor,
    pub action: Action,
    pub target: String,
    pub detail: BTreeMap<String, i64>,
    pub prev_hash: String,
    pub hash: String,
}

/// What a walk of an intact log found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: i64,
    /// The last entry's hash (`None` for an empty log).
    pub head: Option<String>,
    /// Whether the head carries this hub's office signature (so the tail
    /// cannot be cut off without the office key).
    pub signed: bool,
}

/// What is wrong with the entry an [`AuditError::Broken`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Its sequence number is not the one after the entry before it.
    Sequence { expected: i64 },
    /// Its prev_hash is not the hash of the entry before it.
    Link,
    /// Its hash is not the hash of its contents.
    Hash,
    /// A column does not read (an unknown action or actor, a detail that
    /// is not counts).
    Unreadable(String),
    /// The head names this entry, but the log ends before it.
    Truncated { last: i64 },
    /// The head does not name this last entry.
    HeadMismatch,
    /// The log holds entries but no head.
    HeadMissing,
    /// The head is not signed by this hub's office key.
    HeadSignature,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Sequence { expected } => write!(
                f,
                "wrong sequence number, entry {expected} was expected here (entries were removed or renumbered)"
            ),
            Problem::Link => f.write_str(
                "broken link, its prev_hash is not the hash of the entry before it (entries were removed, reordered or replaced)",
            ),
            Problem::Hash => f.write_str(
                "wrong hash, it does not match the entry's contents (the row was modified)",
            ),
            Problem::Unreadable(what) => write!(f, "unreadable: {what}"),
            Problem::Truncated { last } => write!(
                f,
                "missing, the log's head names it but the log ends at entry {last} (entries were cut off the end)"
            ),
            Problem::HeadMismatch => f.write_str(
                "not the log's head, which names another entry (the head or the end of the log was rewritten)",
            ),
            Problem::HeadMissing => f.write_str(
                "it is the last entry but the log has no head (the head row was removed)",
            ),
            Problem::HeadSignature => f.write_str(
                "it is the head, but the head is not signed by this hub's office key (the head was rewritten)",
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The chain is broken at entry `seq`.
    #[error("audit entry {seq}: {problem}; the audit log was altered after it was written: keep this copy of the store for investigation")]
    Broken { seq: i64, problem: Problem },
    #[error(transparent)]
    Store(#[from] silin_core::Error),
    #[error("the hub database: {0}")]
    Database(#[from] rusqlite::Error),
}

impl AuditError {
    /// The caller named something wrong (exit 2), not a fault here and
    /// not a broken log.
    pub fn is_user_error(&self) -> bool {
        match self {
            AuditError::Store(e) => e.is_user_error(),
            _ => false,
        }
    }
}

pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// What the office signs of the head.
fn head_message(seq: i64, hash: &str) -> Vec<u8> {
    let mut m = b"silin-audit-head-v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m
}

/// Appends `entry` at `at` on `conn`, which must be inside a write
/// transaction (`BEGIN IMMEDIATE`) that the caller commits with its own
/// writes; the head is rewritten, signed by `signer` when given.
pub fn append(
    conn: &Connection,
    at: &DateTime<FixedOffset>,
    entry: &NewEntry,
    signer: Option<&Office>,
) -> Result<Entry> {
    conn.execute_batch(SQLITE_LAYOUT)?;
    let last: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let r = Row::next(last, at, entry);
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            r.seq,
            r.at,
            r.actor,
            r.action,
            r.target,
            r.detail,
            r.prev_hash,
            r.hash
        ],
    )?;
    write_head(conn, r.seq, &r.hash, signer)?;
    r.entry()
}

fn write_head(conn: &Connection, seq: i64, hash: &str, signer: Option<&Office>) -> Result<()> {
    let (key, sig) = match signer {
        Some(o) => (
            Some(hex::encode(o.public_key())),
            Some(hex::encode(o.key.sign(&head_message(seq, hash)))),
        ),
        None => (None, None),
    };
    conn.execute(
        "INSERT OR REPLACE INTO audit_head (one, seq, hash, signer, signature) VALUES (1, ?1, ?2, ?3, ?4)",
        params![seq, hash, key, sig],
    )?;
    Ok(())
}

/// A write transaction that takes the file's write lock first, so two
/// appenders wait for each other instead of both reading the same last
/// entry.
pub fn write_tx(conn: &Connection) -> rusqlite::Result<Transaction<'_>> {
    Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
}

/// The office key of the hub whose store is at `db`, if its key file is
/// there (never created here): what signs the head.
pub fn signer(db: &Path) -> Result<Option<Office>> {
    Ok(crate::office::existing_office(db)?)
}

/// Appends `entry` to `store`'s log in a transaction of its own, right
/// after an action that wrote elsewhere (or nothing), timed on the
/// store's clock.
pub fn record(store: &Store, entry: &NewEntry) -> Result<Entry> {
    let signer = signer(store.path())?;
    let at = store.clock().now();
    store.with_connection(|conn| {
        Ok((|| {
            let tx = write_tx(conn)?;
            let e = append(&tx, &at, entry, signer.as_ref())?;
            tx.commit()?;
            Ok(e)
        })())
    })?
}

/// The hub's entry for a device's own: the device of the session's
/// verified certificate as the actor (never anything the entry says), the
/// cell as the target, its counts, and the device's own sequence number
/// and time (unix seconds on its clock) in the detail.
pub fn device_entry(cert: &Certificate, e: &DeviceEntry) -> NewEntry {
    let mut entry = NewEntry::new(
        Actor::device(&cert.device_id, cert.role),
        e.action.into(),
        e.target(),
    );
    for (k, v) in &e.counts {
        entry = entry.count(k.as_str(), *v);
    }
    entry.count("device_seq", e.seq).count("device_at", e.at)
}

/// What a SQLite hub does with the entries a device sent up in a session
/// it answers (installed with [`Store::keep_device_audit`] when it
/// serves): appends those its log does not hold yet, in one transaction,
/// the head signed as for every entry; returns the device's highest
/// sequence number the log holds.
pub fn keep_device_entries(
    store: &Store,
    cert: &Certificate,
    entries: &[DeviceEntry],
) -> silin_core::Result<Option<u64>> {
    let as_core = |e: AuditError| match e {
        AuditError::Store(e) => e,
        AuditError::Database(e) => e.into(),
        e => silin_core::Error::Io(std::io::Error::other(e.to_string())),
    };
    let signer = signer(store.path()).map_err(as_core)?;
    let at = store.clock().now();
    store
        .with_connection(|conn| {
            Ok((|| {
                let tx = write_tx(conn)?;
                tx.execute_batch(SQLITE_DEVICE_LAYOUT)?;
                for e in entries {
                    let held = tx
                        .query_row(
                            "SELECT 1 FROM audit_device WHERE device = ?1 AND device_seq = ?2",
                            params![cert.device_id, e.seq as i64],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some();
                    if held {
                        continue;
                    }
                    let logged = append(&tx, &at, &device_entry(cert, e), signer.as_ref())?;
                    tx.execute(
                        "INSERT INTO audit_device (device, device_seq, seq) VALUES (?1, ?2, ?3)",
                        params![cert.device_id, e.seq as i64, logged.seq],
                    )?;
                }
                let upto: Option<i64> = tx.query_row(
                    "SELECT max(device_seq) FROM audit_device WHERE device = ?1",
                    [&cert.device_id],
                    |r| r.get(0),
                )?;
                tx.commit()?;
                Ok(upto.and_then(|n| u64::try_from(n).ok()))
            })())
        })
        .and_then(|r: Result<Option<u64>>| r.map_err(as_core))
}

/// Signs the head as it stands, if it is not signed yet: for a hub
/// whose office key was just made (or moved out of the database), so that
/// entries written before the hub had a key are covered too. Never
/// re-signs a signed head: that would bless a rewritten one.
pub fn sign_unsigned_head(store: &Store, office: &Office) -> Result<()> {
    store.with_connection(|conn| {
        Ok((|| {
            if !has_tables(conn)? {
                return Ok(());
            }
            let tx = write_tx(conn)?;
            let head: Option<(i64, String, Option<String>)> = tx
                .query_row(
                    "SELECT seq, hash, signature FROM audit_head WHERE one = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            if let Some((seq, hash, None)) = head {
                write_head(&tx, seq, &hash, Some(office))?;
            }
            tx.commit()?;
            Ok(())
        })())
    })?
}

/// Whether `store` is a hub's (its log has been laid out, or the office
/// key is beside it), as opposed to a device's, whose own log
/// [`silin_core::Store::audit_entries`] reads.
pub fn is_hub(store: &Store) -> Result<bool> {
    if store.with_connection(|conn| Ok(has_tables(conn)?))? {
        return Ok(true);
    }
    Ok(signer(store.path())?.is_some())
}

fn has_tables(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('audit_log', 'audit_head')",
        [],
        |r| r.get(0),
    )
}

/// A row as stored, by either storage (a PostgreSQL hub's in
/// `crate::pg::audit`).
pub(crate) struct Row {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Row {
    /// The row that follows `last` (its seq and hash; `None` for the
    /// first) for `entry` at `at`, hashed.
    pub(crate) fn next(
        last: Option<(i64, String)>,
        at: &DateTime<FixedOffset>,
        entry: &NewEntry,
    ) -> Row {
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS.to_string()),
        };
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let actor = entry.actor.encode();
        let action = entry.action.as_str().to_string();
        // A BTreeMap serialises its keys in order: one text per detail. (A
        // map of strings to integers always serialises; the fallback is
        // never taken.)
        let detail = serde_json::to_string(&entry.detail).unwrap_or_else(|_| "{}".into());
        let hash = entry_hash(
            &prev_hash,
            seq,
            &at,
            &actor,
            &action,
            &entry.target,
            &detail,
        );
        Row {
            seq,
            at,
            actor,
            action,
            target: entry.target.clone(),
            detail,
            prev_hash,
            hash,
        }
    }

    pub(crate) fn entry(&self) -> Result<Entry> {
        let broken = |what: String| AuditError::Broken {
            seq: self.seq,
            problem: Problem::Unreadable(what),
        };
        let actor =
            Actor::decode(&self.actor).ok_or_else(|| broken(format!("actor {:?}", self.actor)))?;
        let action = Action::parse(&self.action)
            .ok_or_else(|| broken(format!("action {:?}", self.action)))?;
        let detail: BTreeMap<String, i64> = serde_json::from_str(&self.detail)
            .map_err(|_| broken("its detail is not a JSON object of counts".into()))?;
        Ok(Entry {
            seq: self.seq,
            at: self.at.clone(),
            actor,
            action,
            target: self.target.clone(),
            detail,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }
}

/// The rows of the log in sequence order, from `since` (a day, on the
/// entries' own clock) on; none where the hub never logged anything.
fn rows(store: &Store, since: Option<NaiveDate>) -> Result<Vec<Row>> {
    let since = since.map(|d| d.to_string()).unwrap_or_default();
    store.with_connection(|conn| {
        Ok((|| {
            if !has_tables(conn)? {
                return Ok(Vec::new());
            }
            let mut s = conn.prepare(
                "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log
                 WHERE substr(at, 1, 10) >= ?1 ORDER BY seq",
            )?;
            let rows = s.query_map([&since], |r| {
                Ok(Row {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                    prev_hash: r.get(6)?,
                    hash: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })())
    })?
}

/// The entries from `since` on (all without it), oldest first.
pub fn entries(store: &Store, since: Option<NaiveDate>) -> Result<Vec<Entry>> {
    rows(store, since)?.iter().map(Row::entry).collect()
}

/// The head as stored: (seq, hash, signer, signature).
pub(crate) type Head = (i64, String, Option<String>, Option<String>);

fn head(store: &Store) -> Result<Option<Head>> {
    store.with_connection(|conn| {
        Ok((|| {
            if !has_tables(conn)? {
                return Ok(None);
            }
            Ok(conn
                .query_row(
                    "SELECT seq, hash, signer, signature FROM audit_head WHERE one = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?)
        })())
    })?
}

/// The office public key the head must be signed with: the issuer of the
/// hub's own office certificate, else the key file's; `None` for a store
/// that has never been a hub.
fn office_public_key(store: &Store) -> Result<Option<[u8; 32]>> {
    if let Some(c) = store.certificate()?.filter(|c| c.role == Role::Office) {
        return Ok(Some(c.issuer));
    }
    Ok(signer(store.path())?.map(|o| o.public_key()))
}

/// Walks the whole chain and checks the head; the first thing wrong is
/// the error.
pub fn verify(store: &Store) -> Result<Verified> {
    let rows = rows(store, None)?;
    check_chain(&rows)?;
    let last = rows.last().map(|r| (r.seq, r.hash.clone()));
    let head = head(store)?;
    let signed = check_head(last.as_ref(), head.as_ref(), office_public_key(store)?)?;
    Ok(Verified {
        entries: rows.len() as i64,
        head: last.map(|(_, h)| h),
        signed,
    })
}

/// Sequence, link and hash of every row, in order.
pub(crate) fn check_chain(rows: &[Row]) -> Result<()> {
    let mut prev = GENESIS.to_string();
    for (i, r) in rows.iter().enumerate() {
        let expected = i as i64 + 1;
        let broken = |problem| AuditError::Broken {
            seq: r.seq,
            problem,
        };
        if r.seq != expected {
            return Err(broken(Problem::Sequence { expected }));
        }
        if r.prev_hash != prev {
            return Err(broken(Problem::Link));
        }
        let hash = entry_hash(
            &r.prev_hash,
            r.seq,
            &r.at,
            &r.actor,
            &r.action,
            &r.target,
            &r.detail,
        );
        if hash != r.hash {
            return Err(broken(Problem::Hash));
        }
        r.entry()?;
        prev = hash;
    }
    Ok(())
}

/// The head against the last entry and the office key (`None`: no
/// signature is asked for); whether it is signed by that key.
pub(crate) fn check_head(
    last: Option<&(i64, String)>,
    head: Option<&Head>,
    office: Option<[u8; 32]>,
) -> Result<bool> {
    let (last_seq, last_hash) = match (last, head) {
        (None, None) => return Ok(false),
        (Some((seq, _)), None) => {
            return Err(AuditError::Broken {
                seq: *seq,
                problem: Problem::HeadMissing,
            })
        }
        (None, Some((seq, ..))) => {
            return Err(AuditError::Broken {
                seq: *seq,
                problem: Problem::Truncated { last: 0 },
            })
        }
        (Some((s, h)), Some(_)) => (*s, h),
    };
    let Some((head_seq, head_hash, _, signature)) = head else {
        return Ok(false);
    };
    if *head_seq > last_seq {
        return Err(AuditError::Broken {
            seq: *head_seq,
            problem: Problem::Truncated { last: last_seq },
        });
    }
    if *head_seq != last_seq || head_hash != last_hash {
        return Err(AuditError::Broken {
            seq: last_seq,
            problem: Problem::HeadMismatch,
        });
    }
    let Some(office) = office else {
        return Ok(false);
    };
    let good = signature
        .as_deref()
        .and_then(|s| hex::decode(s).ok())
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .is_some_and(|sig| {
            identity::verify_signature(&office, &head_message(*head_seq, head_hash), &sig)
        });
    if !good {
        return Err(AuditError::Broken {
            seq: last_seq,
            problem: Problem::HeadSignature,
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use silin_core::identity::KeyPair;
    use silin_core::store::StoreOptions;
    use silin_core::Clock;

    fn hub() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            clock: Clock::parse("2026-11-29T10:00:00+08:00").unwrap(),
            ..Default::default()
        };
        let store = Store::open(dir.path().join("hub.db"), options).unwrap();
        (dir, store)
    }

    /// Three entries: an export, a user add, a revoke.
    fn three(store: &Store) -> Vec<Entry> {
        vec![
            record(
                store,
                &NewEntry::new(
                    Actor::Office,
                    Action::Export,
                    "sheet=missing date=2026-11-29 level=village format=csv",
                )
                .count("rows", 3),
            )
            .unwrap(),
            record(
                store,
                &NewEntry::new(Actor::Office, Action::UserAdd, "user=zhang role=office"),
            )
            .unwrap(),
            record(
                store,
                &NewEntry::new(
                    Actor::User {
                        name: "zhang".into(),
                    },
                    Action::ViewFull,
                    "page=cells path=两当县/城关镇",
                )
                .count("cells", 2),
            )
            .unwrap(),
        ]
    }

    /// Runs raw SQL on the store file, as someone with the file (and its
    /// key) could, past the append-only triggers.
    fn tamper(store: &Store, sql: &str) {
        store
            .with_connection(|c| {
                c.execute_batch(&format!(
                    "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; {sql}"
                ))?;
                Ok(())
            })
            .unwrap();
    }

    fn broken_at(store: &Store) -> (i64, Problem) {
        match verify(store) {
            Err(AuditError::Broken { seq, problem }) => (seq, problem),
            other => panic!("expected a broken log, got {other:?}"),
        }
    }

    #[test]
    fn entries_chain_from_the_genesis_hash_in_sequence() {
        let (_dir, store) = hub();
        let e = three(&store);
        assert_eq!(e.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(e[0].prev_hash, GENESIS);
        assert_eq!(e[1].prev_hash, e[0].hash);
        assert_eq!(e[2].prev_hash, e[1].hash);
        assert!(e[0].at.starts_with("2026-11-29T10:00:0"), "{}", e[0].at);
        assert_eq!(entries(&store, None).unwrap(), e);
        let v = verify(&store).unwrap();
        assert_eq!(v.entries, 3);
        assert_eq!(v.head.as_deref(), Some(e[2].hash.as_str()));
        // No office key beside the store: the head is not signed.
        assert!(!v.signed);
    }

    #[test]
    fn an_empty_log_verifies_with_no_head() {
        let (_dir, store) = hub();
        let v = verify(&store).unwrap();
        assert_eq!((v.entries, v.head, v.signed), (0, None, false));
        assert!(entries(&store, None).unwrap().is_empty());
    }

    #[test]
    fn since_keeps_the_entries_of_that_day_on() {
        let (_dir, store) = hub();
        three(&store);
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(entries(&store, Some(day("2026-11-29"))).unwrap().len(), 3);
        assert!(entries(&store, Some(day("2026-11-30"))).unwrap().is_empty());
    }

    #[test]
    fn the_log_refuses_plain_updates_and_deletes() {
        let (_dir, store) = hub();
        three(&store);
        for sql in [
            "UPDATE audit_log SET target = 'x' WHERE seq = 2",
            "DELETE FROM audit_log WHERE seq = 3",
        ] {
            let e = store
                .with_connection(|c| Ok(c.execute(sql, []).map(|_| ())))
                .unwrap()
                .unwrap_err();
            assert!(e.to_string().contains("append-only"), "{e}");
        }
        verify(&store).unwrap();
    }

    #[test]
    fn a_modified_detail_is_found_at_its_entry() {
        let (_dir, store) = hub();
        three(&store);
        tamper(
            &store,
            "UPDATE audit_log SET detail = '{\"rows\":30}' WHERE seq = 1",
        );
        assert_eq!(broken_at(&store), (1, Problem::Hash));
    }

    #[test]
    fn a_deleted_middle_entry_is_found_at_the_next_one() {
        let (_dir, store) = hub();
        three(&store);
        tamper(&store, "DELETE FROM audit_log WHERE seq = 2");
        assert_eq!(broken_at(&store), (3, Problem::Sequence { expected: 2 }));
    }

    #[test]
    fn a_deleted_and_renumbered_entry_breaks_the_link() {
        let (_dir, store) = hub();
        three(&store);
        tamper(
            &store,
            "DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3",
        );
        assert_eq!(broken_at(&store), (2, Problem::Link));
    }

    #[test]
    fn swapped_entries_are_found_at_the_first_of_them() {
        let (_dir, store) = hub();
        three(&store);
        tamper(
            &store,
            "UPDATE audit_log SET seq = -2 WHERE seq = 2;
             UPDATE audit_log SET seq = 2 WHERE seq = 3;
             UPDATE audit_log SET seq = 3 WHERE seq = -2;",
        );
        assert_eq!(broken_at(&store), (2, Problem::Link));
    }

    #[test]
    fn a_rewritten_row_with_a_recomputed_hash_breaks_the_next_link() {
        let (_dir, store) = hub();
        let e = three(&store);
        let hash = entry_hash(
            &e[0].hash,
            2,
            &e[1].at,
            "office",
            "user_add",
            "user=nobody role=office",
            "{}",
        );
        tamper(
            &store,
            &format!(
                "UPDATE audit_log SET target = 'user=nobody role=office', hash = '{hash}' WHERE seq = 2"
            ),
        );
        assert_eq!(broken_at(&store), (3, Problem::Link));
    }

    #[test]
    fn a_cut_off_tail_is_found_by_the_head() {
        let (_dir, store) = hub();
        three(&store);
        tamper(&store, "DELETE FROM audit_log WHERE seq = 3");
        assert_eq!(broken_at(&store), (3, Problem::Truncated { last: 2 }));
    }

    #[test]
    fn a_signed_head_cannot_be_moved_back_without_the_office_key() {
        let (dir, store) = hub();
        // The hub's office key file beside the store signs the head.
        let office = crate::office::office(&store, None).unwrap();
        let e = three(&store);
        assert!(verify(&store).unwrap().signed);
        assert!(dir.path().join("hub.db.office-key").exists());
        // Cut the last entry and point the head at the one before.
        tamper(
            &store,
            &format!(
                "DELETE FROM audit_log WHERE seq = 3; UPDATE audit_head SET seq = 2, hash = '{}'",
                e[1].hash
            ),
        );
        assert_eq!(broken_at(&store), (2, Problem::HeadSignature));
        // Signed with another key: still refused.
        let other = Office {
            key: KeyPair::generate(),
        };
        store
            .with_connection(|c| {
                write_head(c, 2, &e[1].hash, Some(&other)).unwrap();
                Ok(())
            })
            .unwrap();
        assert_eq!(broken_at(&store), (2, Problem::HeadSignature));
        // Only the office key itself makes it whole again.
        store
            .with_connection(|c| {
                write_head(c, 2, &e[1].hash, Some(&office)).unwrap();
                Ok(())
            })
            .unwrap();
        assert!(verify(&store).unwrap().signed);
    }

    #[test]
    fn a_removed_head_is_found() {
        let (_dir, store) = hub();
        three(&store);
        tamper(&store, "DELETE FROM audit_head");
        assert_eq!(broken_at(&store), (3, Problem::HeadMissing));
    }

    #[test]
    fn entries_written_before_the_hub_had_its_key_are_signed_when_it_gets_one() {
        let (_dir, store) = hub();
        three(&store);
        assert!(!verify(&store).unwrap().signed);
        crate::office::office(&store, None).unwrap();
        assert!(verify(&store).unwrap().signed);
    }

    #[test]
    fn actors_read_back_as_written() {
        for a in [
            Actor::Office,
            Actor::User {
                name: "王:clerk".into(),
            },
            Actor::device("0123abcd", Role::County),
        ] {
            assert_eq!(Actor::decode(&a.encode()), Some(a));
        }
        assert_eq!(Actor::decode("nobody"), None);
    }
}
