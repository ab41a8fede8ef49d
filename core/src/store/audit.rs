//! The device's own audit log in the store (`device_audit`, layout 9; see
//! [`crate::audit`]): appended in the write transaction of the action
//! where the action writes the store (an erasure followed), otherwise in
//! one of its own right after it (a bundle's or a cell's bytes handed
//! out); read, verified, handed to a session to send up, and marked sent
//! once the hub said it holds them.

use super::{Inner, Store};
use crate::audit::{entry_hash, CountKey, DeviceAction, DeviceEntry, GENESIS, MAX_ENTRIES};
use crate::error::{Error, Result};
use crate::identity::Certificate;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;

/// How a device's own entries are attributed in its chain: the store's
/// device, whoever it enrolled as (the hub names the device from the
/// session's certificate when they arrive).
const ACTOR: &str = "device";

/// What a hub does with the entries a device sent up in a session it
/// answers: appends them to its log, the device of `cert` as the actor,
/// and returns up to which of that device's sequence numbers it now holds
/// them (see [`Store::keep_device_audit`]).
pub type DeviceAuditKeeper = fn(&Store, &Certificate, &[DeviceEntry]) -> Result<Option<u64>>;

/// One of the device's own entries as its log holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OwnEntry {
    pub seq: i64,
    /// RFC 3339, on the device's clock.
    pub at: String,
    pub action: DeviceAction,
    /// `cell=ID`, or `bundle`.
    pub target: String,
    pub detail: BTreeMap<String, i64>,
    /// The hub said it holds the entry.
    pub sent: bool,
    pub prev_hash: String,
    pub hash: String,
}

/// What a walk of an intact device log found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OwnVerified {
    pub entries: i64,
    /// The last entry's hash (`None` for an empty log).
    pub head: Option<String>,
    /// Entries the hub has not acknowledged yet.
    pub unsent: i64,
}

struct Row {
    seq: i64,
    at: String,
    action: String,
    target: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl Row {
    fn broken(&self, problem: impl Into<String>) -> Error {
        Error::AuditBroken {
            seq: self.seq,
            problem: problem.into(),
        }
    }

    fn action(&self) -> Result<DeviceAction> {
        DeviceAction::parse(&self.action)
            .ok_or_else(|| self.broken(format!("unreadable: action {:?}", self.action)))
    }

    fn detail(&self) -> Result<BTreeMap<String, i64>> {
        serde_json::from_str(&self.detail)
            .map_err(|_| self.broken("unreadable: its detail is not a JSON object of counts"))
    }

    fn entry(&self, sent_upto: i64) -> Result<OwnEntry> {
        Ok(OwnEntry {
            seq: self.seq,
            at: self.at.clone(),
            action: self.action()?,
            target: self.target.clone(),
            detail: self.detail()?,
            sent: self.seq <= sent_upto,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }

    /// As it travels to the hub.
    fn device_entry(&self) -> Result<DeviceEntry> {
        let at = chrono::DateTime::parse_from_rfc3339(&self.at)
            .map_err(|_| self.broken(format!("unreadable: time {:?}", self.at)))?
            .timestamp();
        let cell = match self.target.strip_prefix("cell=") {
            Some(id) => Some(id.to_string()),
            None if self.target == "bundle" => None,
            None => return Err(self.broken(format!("unreadable: target {:?}", self.target))),
        };
        let mut counts = Vec::new();
        for (k, v) in self.detail()? {
            let key = CountKey::parse(&k)
                .ok_or_else(|| self.broken(format!("unreadable: detail key {k:?}")))?;
            counts.push((key, v.max(0)));
        }
        counts.sort();
        Ok(DeviceEntry {
            seq: u64::try_from(self.seq).map_err(|_| self.broken("unreadable: sequence"))?,
            at,
            action: self.action()?,
            cell,
            counts,
        })
    }
}

/// Appends an entry on `conn`, inside the caller's write transaction.
fn append(
    conn: &Connection,
    at: &chrono::DateTime<chrono::FixedOffset>,
    action: DeviceAction,
    cell: Option<&str>,
    counts: &[(CountKey, i64)],
) -> Result<()> {
    let last: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM device_audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_string()),
    };
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let target = match cell {
        Some(c) => format!("cell={c}"),
        None => "bundle".to_string(),
    };
    let detail: BTreeMap<&str, i64> = counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    // A map of strings to integers always serialises; the fallback is
    // never taken.
    let detail = serde_json::to_string(&detail).unwrap_or_else(|_| "{}".into());
    let hash = entry_hash(
        &prev_hash,
        seq,
        &at,
        ACTOR,
        action.as_str(),
        &target,
        &detail,
    );
    conn.prepare_cached(
        "INSERT INTO device_audit (seq, at, action, target, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        seq,
        at,
        action.as_str(),
        target,
        detail,
        prev_hash,
        hash
    ])?;
    Ok(())
}

fn rows(conn: &Connection, after: i64, limit: i64) -> Result<Vec<Row>> {
    let mut s = conn.prepare_cached(
        "SELECT seq, at, action, target, detail, prev_hash, hash FROM device_audit
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = s.query_map(params![after, limit], |r| {
        Ok(Row {
            seq: r.get(0)?,
            at: r.get(1)?,
            action: r.get(2)?,
            target: r.get(3)?,
            detail: r.get(4)?,
            prev_hash: r.get(5)?,
            hash: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn sent_upto(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT upto FROM device_audit_sent WHERE one = 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

impl Inner {
    /// Inside [`Inner::write`]: logs a device action with the write that
    /// did it.
    pub(super) fn audit(
        &self,
        action: DeviceAction,
        cell: Option<&str>,
        counts: &[(CountKey, i64)],
    ) -> Result<()> {
        append(&self.conn, &self.clock.now(), action, cell, counts)
    }
}

impl Store {
    /// Logs a device action in a transaction of its own, right after an
    /// action that wrote nothing to the store (bytes handed out).
    pub fn record_audit(
        &self,
        action: DeviceAction,
        cell: Option<&str>,
        counts: &[(CountKey, i64)],
    ) -> Result<()> {
        self.lock().write(|inner| inner.audit(action, cell, counts))
    }

    /// The whole document of `cell_id` in automerge's binary format, to be
    /// written out of the store (`silin cell save`): logged as a
    /// [`DeviceAction::CellSave`]. (Sync's own reads use
    /// [`Store::save_doc`], which logs nothing: a peer's copy is not an
    /// export.)
    pub fn export_doc(&self, cell_id: &str) -> Result<Vec<u8>> {
        let bytes = self.save_doc(cell_id)?;
        self.record_audit(
            DeviceAction::CellSave,
            Some(cell_id),
            &[(
                CountKey::Bytes,
                i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            )],
        )?;
        Ok(bytes)
    }

    /// The device's own entries, oldest first, each with whether the hub
    /// holds it.
    pub fn audit_entries(&self) -> Result<Vec<OwnEntry>> {
        let inner = self.lock();
        let upto = sent_upto(&inner.conn)?;
        rows(&inner.conn, 0, i64::MAX)?
            .iter()
            .map(|r| r.entry(upto))
            .collect()
    }

    /// Walks the device's log: every entry's sequence number, its link to
    /// the one before and its hash. The first thing wrong is
    /// [`Error::AuditBroken`].
    pub fn verify_audit(&self) -> Result<OwnVerified> {
        let inner = self.lock();
        let upto = sent_upto(&inner.conn)?;
        let rows = rows(&inner.conn, 0, i64::MAX)?;
        let mut prev = GENESIS.to_string();
        for (i, r) in rows.iter().enumerate() {
            let expected = i as i64 + 1;
            if r.seq != expected {
                return Err(r.broken(format!(
                    "wrong sequence number, entry {expected} was expected here (entries were removed or renumbered)"
                )));
            }
            if r.prev_hash != prev {
                return Err(r.broken(
                    "broken link, its prev_hash is not the hash of the entry before it (entries were removed, reordered or replaced)",
                ));
            }
            let hash = entry_hash(
                &r.prev_hash,
                r.seq,
                &r.at,
                ACTOR,
                &r.action,
                &r.target,
                &r.detail,
            );
            if hash != r.hash {
                return Err(r.broken(
                    "wrong hash, it does not match the entry's contents (the row was modified)",
                ));
            }
            r.entry(upto)?;
            prev = hash;
        }
        let entries = rows.len() as i64;
        Ok(OwnVerified {
            entries,
            head: rows.last().map(|r| r.hash.clone()),
            unsent: (entries - upto).max(0),
        })
    }

    /// The oldest entries the hub has not acknowledged, at most
    /// [`MAX_ENTRIES`], to send up in a session's opening message.
    pub fn audit_to_send(&self) -> Result<Vec<DeviceEntry>> {
        let inner = self.lock();
        let upto = sent_upto(&inner.conn)?;
        rows(&inner.conn, upto, MAX_ENTRIES as i64)?
            .iter()
            .map(Row::device_entry)
            .collect()
    }

    /// The hub holds the entries up to `upto`: marks them sent (never
    /// back, never past the last entry). The entries stay in the log.
    pub fn mark_audit_sent(&self, upto: u64) -> Result<()> {
        let upto = i64::try_from(upto).unwrap_or(i64::MAX);
        self.lock().write(|inner| {
            let last: i64 = inner.conn.query_row(
                "SELECT coalesce(max(seq), 0) FROM device_audit",
                [],
                |r| r.get(0),
            )?;
            let upto = upto.min(last);
            if upto > sent_upto(&inner.conn)? {
                inner.conn.execute(
                    "INSERT INTO device_audit_sent (one, upto) VALUES (1, ?1)
                     ON CONFLICT (one) DO UPDATE SET upto = excluded.upto",
                    [upto],
                )?;
            }
            Ok(())
        })
    }

    /// Makes this store keep the audit entries devices send up in the
    /// sessions it answers, with `keeper` (silin-hub's, which appends them
    /// to the hub's log). A store without one (a phone) keeps none and
    /// acknowledges none, so the sender keeps them for the hub. Set once;
    /// a second call changes nothing.
    pub fn keep_device_audit(&self, keeper: DeviceAuditKeeper) {
        let _ = self.audit_keeper.set(keeper);
    }

    /// See [`crate::Replica::take_device_audit`].
    pub(super) fn take_device_audit(
        &self,
        cert: &Certificate,
        entries: &[DeviceEntry],
    ) -> Result<Option<u64>> {
        match self.audit_keeper.get() {
            Some(keep) => keep(self, cert, entries),
            None => Ok(None),
        }
    }
}
