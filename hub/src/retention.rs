//! The office's standing retention policy: set once with `silin hub retain
//! --daily`, kept in the hub's own table `hub_retention` (laid out like the
//! logins and lists, [`crate::users`]), and applied by the serving hub once
//! a day ([`run_if_due`]) through the same orders as a retention run by
//! hand ([`crate::office::retain`]).
//!
//! A day is the hub's clock's local day. The day a run is recorded only
//! after its orders are written: a hub stopped in between runs it again,
//! which finds nothing more (records already erased are gone), so a day is
//! never skipped and never erased twice.

use crate::audit::{self, Action, Actor, NewEntry};
use crate::users::{audit_error, migrate_part, on_connection, Result, UserError};
use chrono::{DateTime, FixedOffset, NaiveDate};
use rusqlite::{params, OptionalExtension};
use silin_core::erasure::{ErasureOrder, Retention};
use silin_core::Store;

const MIGRATIONS: &[&str] = &[include_str!("../sql/retention_001.sql")];
const LAYOUT_PART: &str = "retention";

/// The standing policy and when it last ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub policy: Retention,
    /// Kept with each day's orders (no names).
    pub reason: String,
    /// When the office set it, RFC 3339.
    pub set_at: String,
    /// The last day it was applied on.
    pub last_run: Option<NaiveDate>,
}

impl Schedule {
    /// The policy's row as either storage keeps it (`last_run` as
    /// `YYYY-MM-DD`); the error names the bad value, for the storage's own
    /// error type.
    pub(crate) fn from_row(
        checks_days: i64,
        monitoring_days: i64,
        reason: String,
        set_at: String,
        last_run: Option<String>,
    ) -> std::result::Result<Schedule, String> {
        let last_run = last_run
            .map(|d| {
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|e| format!("hub_retention.last_run {d:?}: {e}"))
            })
            .transpose()?;
        Ok(Schedule {
            policy: Retention {
                checks_days,
                monitoring_days,
            },
            reason,
            set_at,
            last_run,
        })
    }
}

fn laid_out(store: &Store) -> Result<bool> {
    on_connection(store, |conn| {
        Ok(conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'hub_retention'",
            [],
            |r| r.get(0),
        )?)
    })
}

/// Makes `policy` the hub's standing one (replacing any), to be applied
/// daily from today on: the day it is set counts as not yet run. Audited
/// in the same transaction.
pub fn set(store: &Store, policy: &Retention, reason: &str) -> Result<()> {
    policy
        .check()
        .map_err(|e| UserError::BadInput(e.to_string()))?;
    let entry = NewEntry::new(Actor::Office, Action::RetentionPolicy, "daily")
        .count("checks_days", policy.checks_days)
        .count("monitoring_days", policy.monitoring_days);
    with_audit(store, &entry, |conn, now| {
        conn.execute(
            "INSERT OR REPLACE INTO hub_retention
                 (one, checks_days, monitoring_days, reason, set_at, last_run)
             VALUES (1, ?1, ?2, ?3, ?4, NULL)",
            params![
                policy.checks_days,
                policy.monitoring_days,
                reason,
                now.to_rfc3339()
            ],
        )?;
        Ok(())
    })
}

/// Ends the standing policy; true when there was one (then audited in the
/// same transaction).
pub fn clear(store: &Store) -> Result<bool> {
    if get(store)?.is_none() {
        return Ok(false);
    }
    let entry = NewEntry::new(Actor::Office, Action::RetentionPolicy, "ended");
    with_audit(store, &entry, |conn, _| {
        conn.execute("DELETE FROM hub_retention", [])?;
        Ok(())
    })?;
    Ok(true)
}

/// Runs `f` and appends `entry` to the audit log in one transaction on the
/// store's connection, at the store's clock's now.
fn with_audit(
    store: &Store,
    entry: &NewEntry,
    f: impl FnOnce(&rusqlite::Connection, &DateTime<FixedOffset>) -> Result<()>,
) -> Result<()> {
    let signer = audit::signer(store.path()).map_err(audit_error)?;
    let now = store.clock().now();
    on_connection(store, |conn| {
        // Laid out before the transaction: a migration takes its own.
        migrate_part(conn, LAYOUT_PART, MIGRATIONS)?;
        let tx = audit::write_tx(conn)?;
        f(&tx, &now)?;
        audit::append(&tx, &now, entry, signer.as_ref()).map_err(audit_error)?;
        tx.commit()?;
        Ok(())
    })
}

/// The standing policy, if the office set one.
pub fn get(store: &Store) -> Result<Option<Schedule>> {
    if !laid_out(store)? {
        return Ok(None);
    }
    on_connection(store, |conn| {
        let row = conn
            .query_row(
                "SELECT checks_days, monitoring_days, reason, set_at, last_run FROM hub_retention",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(checks_days, monitoring_days, reason, set_at, last)| {
            Schedule::from_row(checks_days, monitoring_days, reason, set_at, last)
                .map_err(UserError::Storage)
        })
        .transpose()
    })
}

/// Applies the standing policy for `today` unless it already ran on that
/// day or later: `None` when there is no policy or nothing was due, else
/// the day's orders (maybe none, when nothing had passed its keeping
/// time).
pub fn run_if_due(store: &Store, today: NaiveDate) -> Result<Option<Vec<ErasureOrder>>> {
    let Some(schedule) = get(store)? else {
        return Ok(None);
    };
    if schedule.last_run.is_some_and(|d| d >= today) {
        return Ok(None);
    }
    let orders = crate::office::retain(store, &schedule.policy, today, &schedule.reason)?;
    on_connection(store, |conn| {
        conn.execute(
            "UPDATE hub_retention SET last_run = ?1",
            [today.format("%Y-%m-%d").to_string()],
        )?;
        Ok(())
    })?;
    Ok(Some(orders))
}

/// What a serving hub applies the office's standing policy through: its
/// SQLite store, or the PostgreSQL database every process shares.
pub trait Standing: Send + Sync + std::fmt::Debug {
    /// The hub's clock's local day.
    fn today(&self) -> NaiveDate;
    /// [`run_if_due`] on this storage; its failure as text, for the log.
    fn run_if_due(
        &self,
        today: NaiveDate,
    ) -> std::result::Result<Option<Vec<ErasureOrder>>, String>;
}

impl Standing for Store {
    fn today(&self) -> NaiveDate {
        self.clock().today()
    }

    fn run_if_due(
        &self,
        today: NaiveDate,
    ) -> std::result::Result<Option<Vec<ErasureOrder>>, String> {
        run_if_due(self, today).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(dir.join("hub.db"), Default::default()).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_standing_policy_runs_once_a_day_and_ends_when_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        assert_eq!(run_if_due(&s, day("2026-12-01")).unwrap(), None);
        assert!(!clear(&s).unwrap());
        let policy = Retention {
            checks_days: 30,
            monitoring_days: 14,
        };
        set(&s, &policy, "每日").unwrap();
        let got = get(&s).unwrap().unwrap();
        assert_eq!((got.policy, got.last_run), (policy, None));
        // Due the first day, not again that day nor for an earlier one.
        assert_eq!(run_if_due(&s, day("2026-12-01")).unwrap(), Some(vec![]));
        assert_eq!(run_if_due(&s, day("2026-12-01")).unwrap(), None);
        assert_eq!(run_if_due(&s, day("2026-11-30")).unwrap(), None);
        assert_eq!(get(&s).unwrap().unwrap().last_run, Some(day("2026-12-01")));
        assert_eq!(run_if_due(&s, day("2026-12-02")).unwrap(), Some(vec![]));
        assert!(clear(&s).unwrap());
        assert_eq!(get(&s).unwrap(), None);
        assert_eq!(run_if_due(&s, day("2026-12-03")).unwrap(), None);
    }

    #[test]
    fn a_policy_of_negative_days_is_refused_and_nothing_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let bad = Retention {
            checks_days: -1,
            monitoring_days: 14,
        };
        assert!(matches!(set(&s, &bad, "x"), Err(UserError::BadInput(_))));
        assert_eq!(get(&s).unwrap(), None);
    }
}
