//! The office's standing retention policy on a PostgreSQL hub: the same
//! policy and daily run as on a SQLite hub ([`crate::retention`]), kept in
//! the database's `hub_retention` row that every hub process reads.
//!
//! Every serving process asks once in a while whether the day's run is due
//! ([`crate::retention::Standing`]); the one that finds it due runs it
//! while it holds an advisory lock; the others, finding it taken, leave it
//! and find the day done at their next check. The day is recorded after the orders are written: a
//! process stopped in between leaves the day to run again, which finds
//! nothing more.

use super::PgStorage;
use crate::audit::{Action, Actor, NewEntry};
use crate::retention::Schedule;
use chrono::NaiveDate;
use postgres::Transaction;
use silin_core::erasure::{ErasureOrder, Retention};
use silin_core::{Error, Result};

/// The advisory lock a run of the standing policy takes ("silinR" in
/// ASCII; migrations take "silin", audit appends "silinA").
const LOCK: i64 = 0x73_69_6c_69_6e_52;

impl PgStorage {
    /// Makes `policy` the hub's standing one (replacing any), to be applied
    /// daily from today on: the day it is set counts as not yet run.
    /// Audited in the same transaction.
    pub fn set_retention(&self, policy: &Retention, reason: &str) -> Result<()> {
        policy.check()?;
        let entry = NewEntry::new(Actor::Office, Action::RetentionPolicy, "daily")
            .count("checks_days", policy.checks_days)
            .count("monitoring_days", policy.monitoring_days);
        let set_at = self.local.clock.now().to_rfc3339();
        self.with_audit(&entry, |tx| {
            tx.execute(
                "INSERT INTO hub_retention (one, checks_days, monitoring_days, reason, set_at, last_run)
                 VALUES (1, $1, $2, $3, $4, NULL)
                 ON CONFLICT (one) DO UPDATE SET checks_days = EXCLUDED.checks_days,
                     monitoring_days = EXCLUDED.monitoring_days, reason = EXCLUDED.reason,
                     set_at = EXCLUDED.set_at, last_run = NULL",
                &[&policy.checks_days, &policy.monitoring_days, &reason, &set_at],
            )
            .map(|_| true)
        })
    }

    /// Ends the standing policy; true when there was one (then audited in
    /// the same transaction).
    pub fn clear_retention(&self) -> Result<bool> {
        let entry = NewEntry::new(Actor::Office, Action::RetentionPolicy, "ended");
        let mut had = false;
        self.with_audit(&entry, |tx| {
            had = tx.execute("DELETE FROM hub_retention", &[])? > 0;
            Ok(had)
        })?;
        Ok(had)
    }

    /// The standing policy, if the office set one.
    pub fn retention(&self) -> Result<Option<Schedule>> {
        let row = self.run("reading the retention policy", |c| {
            c.query_opt(
                "SELECT checks_days, monitoring_days, reason, set_at, last_run FROM hub_retention",
                &[],
            )
        })?;
        row.map(|r| self.schedule(&r)).transpose()
    }

    fn schedule(&self, r: &postgres::Row) -> Result<Schedule> {
        let doing = "reading the retention policy";
        let get = || -> std::result::Result<_, postgres::Error> {
            Ok((
                r.try_get::<_, i64>(0)?,
                r.try_get::<_, i64>(1)?,
                r.try_get::<_, String>(2)?,
                r.try_get::<_, String>(3)?,
                r.try_get::<_, Option<String>>(4)?,
            ))
        };
        let (checks_days, monitoring_days, reason, set_at, last) =
            get().map_err(|e| self.failed(doing, e))?;
        Schedule::from_row(checks_days, monitoring_days, reason, set_at, last)
            .map_err(Error::Incompatible)
    }

    /// Applies the standing policy for `today` unless it already ran on
    /// that day or later (see the module's note on several processes):
    /// `None` when there is no policy, nothing was due or another process
    /// is applying it now, else the day's orders.
    pub fn run_retention_if_due(&self, today: NaiveDate) -> Result<Option<Vec<ErasureOrder>>> {
        let doing = "applying the standing retention policy";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let mut c = self.client(doing)?;
        // A session's lock, not a transaction's: a transaction held open
        // while the cells are erased would hold back the rewrite that
        // clears the erased rows out of the tables (see `purge`).
        // Tried, not waited for: a session waiting for the lock would hold
        // a snapshot older than the erasures, which the rewrite waits out.
        let locked: bool = c
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK])
            .and_then(|r| r.try_get(0))
            .map_err(fail)?;
        if !locked {
            return Ok(None);
        }
        let ran = self.run_locked(&mut c, today);
        // Let go whatever happened, before the connection goes back to the
        // pool (a lost connection lets go by itself).
        let unlocked = c.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]);
        let ran = ran?;
        unlocked.map_err(fail)?;
        Ok(ran)
    }

    /// [`PgStorage::run_retention_if_due`], holding the lock on `c`.
    fn run_locked(
        &self,
        c: &mut postgres::Client,
        today: NaiveDate,
    ) -> Result<Option<Vec<ErasureOrder>>> {
        let fail = |e: postgres::Error| self.failed("applying the standing retention policy", e);
        let row = c
            .query_opt(
                "SELECT checks_days, monitoring_days, reason, set_at, last_run FROM hub_retention",
                &[],
            )
            .map_err(fail)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let schedule = self.schedule(&row)?;
        if schedule.last_run.is_some_and(|d| d >= today) {
            return Ok(None);
        }
        let orders = self.apply_retention(&schedule.policy, today, &schedule.reason)?;
        c.execute(
            "UPDATE hub_retention SET last_run = $1",
            &[&today.format("%Y-%m-%d").to_string()],
        )
        .map_err(fail)?;
        Ok(Some(orders))
    }

    /// Runs `f` and, when it says it did something, appends `entry` to the
    /// audit log, in one transaction.
    fn with_audit(
        &self,
        entry: &NewEntry,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<bool, postgres::Error>,
    ) -> Result<()> {
        let doing = "changing the retention policy";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let mut c = self.client(doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        if f(&mut tx).map_err(fail)? {
            super::audit::append(&mut tx, &self.local.clock.now(), entry).map_err(fail)?;
        }
        tx.commit().map_err(fail)
    }
}

impl crate::retention::Standing for PgStorage {
    fn today(&self) -> NaiveDate {
        self.local.clock.today()
    }

    fn run_if_due(
        &self,
        today: NaiveDate,
    ) -> std::result::Result<Option<Vec<ErasureOrder>>, String> {
        // A rewrite an old reader held back is finished at the next check.
        self.finish_erasures().map_err(|e| e.to_string())?;
        self.run_retention_if_due(today).map_err(|e| e.to_string())
    }
}
