//! [`PgSessions`]: sync sessions waiting between rounds in the
//! `hub_sessions` table, so a device's next round may reach any hub
//! process behind the proxy.
//!
//! A held session is its [`Session::suspend`] bytes with a `version`: the
//! id of the transaction that held it, so a session held again (after a
//! take deleted its row) never repeats a version an earlier reader saw.
//! Taking it is a delete of exactly the version read: of two processes
//! taking one session at once, one deletes the row and carries on, the
//! other deletes nothing — even if the first has held the session again
//! meanwhile — and answers as if it held no such session.

use super::PgStorage;
use crate::sessions::{Dropped, Ended, Limits, SessionHold};
use silin_core::sync::{Session, SyncError, SyncResult, SyncStats};
use silin_core::Replica;
use std::time::Duration;

/// The advisory lock class of a device's held sessions (the first of the
/// two keys; the second is a hash of the device id). Any fixed number no
/// other program on the database uses will do.
const DEVICE_LOCK: i32 = 0x736c_6e53;

/// Sync sessions held in the hub's PostgreSQL database.
pub struct PgSessions {
    storage: PgStorage,
}

impl PgSessions {
    /// Sessions held in `storage`'s database, through its pool and with its
    /// clock (which stamps when a session was last held).
    pub fn new(storage: &PgStorage) -> PgSessions {
        PgSessions {
            storage: storage.clone(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.storage.local.clock.now().timestamp_millis()
    }

    fn failed(&self, doing: &str, e: postgres::Error) -> SyncError {
        SyncError::Store(self.storage.failed(doing, e))
    }
}

/// Whole milliseconds (the unit of `updated_at`), rounded up: a session is
/// never swept before it has been idle for all of `idle`.
fn whole_millis(idle: Duration) -> i64 {
    let ms = idle.as_nanos().div_ceil(1_000_000);
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn device(stored: String) -> Option<String> {
    (!stored.is_empty()).then_some(stored)
}

impl SessionHold for PgSessions {
    fn hold(&self, id: [u8; 16], session: Session, limits: Limits) -> SyncResult<Dropped> {
        let doing = "holding a sync session";
        let fail = |e| self.failed(doing, e);
        let state = session.suspend();
        let device_id = session.peer_id().unwrap_or_default().to_string();
        let now = self.now_ms();
        let mut c = self.storage.client(doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        let mut dropped = Dropped::default();
        if !device_id.is_empty() {
            // One device's holds one at a time, whichever process makes
            // them, so its quota is counted exactly.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&DEVICE_LOCK, &device_id],
            )
            .map_err(fail)?;
        }
        tx.execute(
            "INSERT INTO hub_sessions (session_id, device_id, state, version, updated_at)
             VALUES ($1, $2, $3, txid_current(), $4)
             ON CONFLICT (session_id) DO UPDATE SET device_id = EXCLUDED.device_id,
                 state = EXCLUDED.state, version = EXCLUDED.version,
                 updated_at = EXCLUDED.updated_at",
            &[&&id[..], &device_id, &state, &now],
        )
        .map_err(fail)?;
        if !device_id.is_empty() {
            let others = i64::try_from(limits.per_device.max(1) - 1).unwrap_or(i64::MAX);
            let n = tx
                .execute(
                    "DELETE FROM hub_sessions WHERE session_id IN (
                         SELECT session_id FROM hub_sessions
                         WHERE device_id = $1 AND session_id <> $2
                         ORDER BY updated_at DESC, session_id DESC OFFSET $3)",
                    &[&device_id, &&id[..], &others],
                )
                .map_err(fail)?;
            dropped.own = usize::try_from(n).unwrap_or(usize::MAX);
        }
        let held: i64 = tx
            .query_one("SELECT count(*) FROM hub_sessions", &[])
            .and_then(|r| r.try_get(0))
            .map_err(fail)?;
        let max = i64::try_from(limits.max_sessions.max(1)).unwrap_or(i64::MAX);
        if held > max {
            // SKIP LOCKED: two processes over the limit at once drop two
            // different sessions rather than both the same one.
            let rows = tx
                .query(
                    "DELETE FROM hub_sessions WHERE session_id IN (
                         SELECT session_id FROM hub_sessions WHERE session_id <> $1
                         ORDER BY updated_at, session_id LIMIT $2
                         FOR UPDATE SKIP LOCKED)
                     RETURNING device_id",
                    &[&&id[..], &(held - max)],
                )
                .map_err(fail)?;
            if let Some(r) = rows.first() {
                dropped.idle = Some(device(r.try_get(0).map_err(fail)?));
            }
        }
        tx.commit().map_err(fail)?;
        Ok(dropped)
    }

    fn holds(&self, id: &[u8; 16]) -> SyncResult<bool> {
        let doing = "looking up a sync session";
        let mut c = self.storage.client(doing)?;
        Ok(c.query_opt(
            "SELECT 1 FROM hub_sessions WHERE session_id = $1",
            &[&&id[..]],
        )
        .map_err(|e| self.failed(doing, e))?
        .is_some())
    }

    fn take_for(
        &self,
        replica: &dyn Replica,
        id: &[u8; 16],
        message: &[u8],
    ) -> SyncResult<Option<Session>> {
        let doing = "taking a held sync session";
        let fail = |e| self.failed(doing, e);
        let mut c = self.storage.client(doing)?;
        let Some(row) = c
            .query_opt(
                "SELECT state, version FROM hub_sessions WHERE session_id = $1",
                &[&&id[..]],
            )
            .map_err(fail)?
        else {
            return Ok(None);
        };
        let state: Vec<u8> = row.try_get(0).map_err(fail)?;
        let version: i64 = row.try_get(1).map_err(fail)?;
        let take = |c: &mut postgres::Client| -> SyncResult<bool> {
            let n = c
                .execute(
                    "DELETE FROM hub_sessions WHERE session_id = $1 AND version = $2",
                    &[&&id[..], &version],
                )
                .map_err(fail)?;
            Ok(n == 1)
        };
        // The connection goes back to the pool while the session is read:
        // resuming it asks the replica for the hub's key and certificate.
        drop(c);
        let session = match Session::resume(replica, &state) {
            Ok(s) => s,
            Err(SyncError::Suspended(reason)) => {
                // Bytes no build can read back: no message will ever
                // continue them.
                take(&mut *self.storage.client(doing)?)?;
                return Err(SyncError::Suspended(reason));
            }
            Err(e) => return Err(e),
        };
        if !session.is_from_peer(message) {
            return Ok(None);
        }
        // Another process that took it first has deleted this version, and
        // if it has held the session again, that is another version.
        let taken = take(&mut *self.storage.client(doing)?)?;
        Ok(taken.then_some(session))
    }

    fn sweep(&self, _replica: &dyn Replica, idle: Duration) -> SyncResult<Vec<Ended>> {
        let doing = "dropping idle sync sessions";
        let fail = |e| self.failed(doing, e);
        let before = self.now_ms().saturating_sub(whole_millis(idle));
        let mut c = self.storage.client(doing)?;
        let rows = c
            .query(
                "DELETE FROM hub_sessions WHERE updated_at <= $1 RETURNING device_id",
                &[&before],
            )
            .map_err(fail)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(Ended {
                device: device(r.try_get(0).map_err(fail)?),
                // The figures are in the held bytes, which nobody reads
                // back just to log them.
                stats: SyncStats::default(),
            });
        }
        Ok(out)
    }

    fn count(&self) -> SyncResult<usize> {
        let doing = "counting held sync sessions";
        let mut c = self.storage.client(doing)?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM hub_sessions", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.failed(doing, e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
