//! The office audit log of a PostgreSQL hub: the same entries, chain and
//! checks as a SQLite hub's ([`crate::audit`]), in the database's tables
//! `audit_log` and `audit_head` (`audit.sql` beside this file, laid out
//! before each append). Appends take a transaction-scoped advisory lock, so
//! hub processes sharing the database append one at a time and the chain
//! never forks; each is written in the transaction of its action (a token,
//! a revocation, a login).
//!
//! The head is not signed here: the commands that append (`hub revoke`,
//! `hub user add` with `--postgres`) are not given the office key. A
//! verify therefore finds edited, removed and reordered entries, and a tail
//! cut off without rewriting the head, but not a tail cut off with the
//! head rewritten to match (doc/SECURITY.md, "Audit log").

use super::PgStorage;
use crate::audit::{self, AuditError, Entry, NewEntry, Row, Verified};
use chrono::{DateTime, FixedOffset, NaiveDate};
use postgres::Transaction;

const LAYOUT: &str = include_str!("audit.sql");

/// The advisory lock appends take ("silinA" in ASCII; the migrations take
/// "silin").
const LOCK: i64 = 0x73_69_6c_69_6e_41;

/// Appends `entry` inside `tx`, the action's own transaction, at `at`
/// (the storage's clock, or the caller's where it times the action
/// itself).
pub(crate) fn append(
    tx: &mut Transaction<'_>,
    at: &DateTime<FixedOffset>,
    entry: &NewEntry,
) -> Result<(), postgres::Error> {
    append_numbered(tx, at, entry).map(|_| ())
}

/// [`append`], returning the entry's sequence number.
fn append_numbered(
    tx: &mut Transaction<'_>,
    at: &DateTime<FixedOffset>,
    entry: &NewEntry,
) -> Result<i64, postgres::Error> {
    tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOCK})"))?;
    tx.batch_execute(LAYOUT)?;
    let last = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )?
        .map(|r| Ok::<_, postgres::Error>((r.try_get(0)?, r.try_get(1)?)))
        .transpose()?;
    let r = Row::next(last, at, entry);
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &r.seq,
            &r.at,
            &r.actor,
            &r.action,
            &r.target,
            &r.detail,
            &r.prev_hash,
            &r.hash,
        ],
    )?;
    tx.execute(
        "INSERT INTO audit_head (one, seq, hash) VALUES (1, $1, $2)
         ON CONFLICT (one) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash,
             signer = NULL, signature = NULL",
        &[&r.seq, &r.hash],
    )?;
    Ok(r.seq)
}

impl PgStorage {
    fn audit_failed(&self, doing: &str, e: impl Into<super::PgError>) -> AuditError {
        AuditError::Store(self.failed(doing, e))
    }

    /// The rows from `since` on; none where nothing was ever logged.
    fn audit_rows(&self, since: Option<NaiveDate>) -> Result<Vec<Row>, AuditError> {
        let doing = "reading the audit log";
        let mut c = self.conn().map_err(|e| self.audit_failed(doing, e))?;
        let since = since.map(|d| d.to_string()).unwrap_or_default();
        let laid_out: bool = c
            .query_one("SELECT to_regclass('audit_log') IS NOT NULL", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.audit_failed(doing, e))?;
        if !laid_out {
            return Ok(Vec::new());
        }
        let rows = c
            .query(
                "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log
                 WHERE substr(at, 1, 10) >= $1 ORDER BY seq",
                &[&since],
            )
            .map_err(|e| self.audit_failed(doing, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let get = |i: usize| r.try_get::<_, String>(i);
            let row = (|| {
                Ok::<_, postgres::Error>(Row {
                    seq: r.try_get(0)?,
                    at: get(1)?,
                    actor: get(2)?,
                    action: get(3)?,
                    target: get(4)?,
                    detail: get(5)?,
                    prev_hash: get(6)?,
                    hash: get(7)?,
                })
            })()
            .map_err(|e| self.audit_failed(doing, e))?;
            out.push(row);
        }
        Ok(out)
    }

    /// The entries from `since` on (all without it), oldest first.
    pub fn audit_entries(&self, since: Option<NaiveDate>) -> Result<Vec<Entry>, AuditError> {
        self.audit_rows(since)?.iter().map(Row::entry).collect()
    }

    /// Walks the whole chain and checks the (unsigned) head.
    pub fn audit_verify(&self) -> Result<Verified, AuditError> {
        let rows = self.audit_rows(None)?;
        audit::check_chain(&rows)?;
        let doing = "reading the audit log's head";
        let mut c = self.conn().map_err(|e| self.audit_failed(doing, e))?;
        let head = c
            .query_one("SELECT to_regclass('audit_head') IS NOT NULL", &[])
            .and_then(|r| r.try_get::<_, bool>(0))
            .and_then(|laid_out| {
                if !laid_out {
                    return Ok(None);
                }
                c.query_opt(
                    "SELECT seq, hash, signer, signature FROM audit_head WHERE one = 1",
                    &[],
                )?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
                .transpose()
            })
            .map_err(|e| self.audit_failed(doing, e))?;
        let last = rows.last().map(|r| (r.seq, r.hash.clone()));
        let signed = audit::check_head(last.as_ref(), head.as_ref(), None)?;
        Ok(Verified {
            entries: rows.len() as i64,
            head: last.map(|(_, h)| h),
            signed,
        })
    }
}

impl PgStorage {
    /// Appends the entries a device sent up in a session this hub answers
    /// (see [`crate::audit::keep_device_entries`], the SQLite hub's): those
    /// the log does not hold yet, the device of the session's certificate
    /// as the actor, in one transaction under the audit's lock; returns the
    /// device's highest sequence number the log holds.
    pub(crate) fn keep_device_entries(
        &self,
        cert: &silin_core::identity::Certificate,
        entries: &[silin_core::audit::DeviceEntry],
    ) -> silin_core::Result<Option<u64>> {
        let at = self.local.clock.now();
        self.run("recording a device's audit entries", |c| {
            let mut tx = c.transaction()?;
            // The lock first: two processes taking the same device's
            // resent entries at once must not both find them new.
            tx.batch_execute(&format!("SELECT pg_advisory_xact_lock({LOCK})"))?;
            for e in entries {
                let seq = e.seq as i64;
                let held = tx
                    .query_opt(
                        "SELECT 1 FROM audit_device WHERE device = $1 AND device_seq = $2",
                        &[&cert.device_id, &seq],
                    )?
                    .is_some();
                if held {
                    continue;
                }
                let logged = append_numbered(&mut tx, &at, &audit::device_entry(cert, e))?;
                tx.execute(
                    "INSERT INTO audit_device (device, device_seq, seq) VALUES ($1, $2, $3)",
                    &[&cert.device_id, &seq, &logged],
                )?;
            }
            let upto: Option<i64> = tx
                .query_one(
                    "SELECT max(device_seq) FROM audit_device WHERE device = $1",
                    &[&cert.device_id],
                )?
                .try_get(0)?;
            tx.commit()?;
            Ok(upto.and_then(|n| u64::try_from(n).ok()))
        })
    }
}
