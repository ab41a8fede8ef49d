//! A grid worker's first screen: one row per cell held, each with what
//! needs doing in it today ([`CellSummary`]), from the query tables alone.
//! A phone with 120 cells answers it with a handful of statements and no
//! document read, where reading each cell's document took seconds.
//!
//! The health checks due and missed come from each member's schedule,
//! which the query tables keep beside the member (layout 8), and the
//! health-check visits of the days it covers.

use super::Store;
use crate::error::{Error, Result};
use crate::model::{Residence, TaskStatus, VisitKind};
use crate::register::CellSummary;
use chrono::{Datelike, NaiveDate, TimeDelta};
use rusqlite::OptionalExtension;
use std::collections::{HashMap, HashSet};

/// The day after which a call keeps a resident away off the list of those
/// not called for `days` days: a call made on a later day is fewer than
/// `days` days before `today` (or after it). As the text the query tables
/// compare days by, which orders like the dates for the four-digit years
/// visits are written with; beyond those, the bounds of that range.
fn called_after(today: NaiveDate, days: i64) -> String {
    // Every visit's day is later than this, and none is later than the last.
    let (earliest, latest) = (String::new(), "9999-12-31".to_string());
    match TimeDelta::try_days(days).and_then(|d| today.checked_sub_signed(d)) {
        Some(d) if d.year() < 0 => earliest,
        Some(d) if d.year() > 9999 => latest,
        Some(d) => d.to_string(),
        None if days > 0 => earliest,
        None => latest,
    }
}

/// A monitoring date of the members table, read back as a date; anything
/// else is a damaged projection (rebuilt from the documents by `silin check`).
fn stored_day(cell_id: &str, text: Option<String>) -> Result<Option<NaiveDate>> {
    text.map(|t| {
        t.parse().map_err(|_| Error::Damaged {
            doc: cell_id.to_string(),
            reason: format!(
                "the query tables hold an unknown monitoring date {t:?}; run `silin check`"
            ),
        })
    })
    .transpose()
}

/// A member of the lead's name, for the lead's phone: (member id, own
/// phone, household).
type LeadCandidate = (String, Option<String>, String);

impl Store {
    /// The first screen of a phone holding many cells: for each cell of
    /// `scope` (as [`Store::cells`]: region path prefixes, cell ids or `*`;
    /// empty: every cell held here), in the same order, its name, region
    /// and lead with the lead's phone, and on `day` its open tasks, whether
    /// its report is filed, its members under monitoring, its health checks
    /// due and missed, and its residents away not called for
    /// `not_called_days` or more (or never; not counted when None). Each count is the one [`Store::lead_day`] gives for the
    /// cell and day (for visits whose time is well-formed, as every visit
    /// silin writes is).
    ///
    /// Read from the query tables only: no document is loaded. Counting the
    /// residents away not called reads each cell's last `not_called_days`
    /// days of visits, which costs most when the file is not in the page
    /// cache yet: an app may ask for the screen without them first.
    pub fn cell_summaries(
        &self,
        scope: &[String],
        day: NaiveDate,
        not_called_days: Option<i64>,
    ) -> Result<Vec<CellSummary>> {
        let mut rows: Vec<CellSummary> = self
            .cells(scope)?
            .into_iter()
            .map(|c| CellSummary {
                cell_id: c.id,
                name: c.name,
                path: c.path,
                lead: c.lead,
                lead_phone: None,
                open_tasks: 0,
                reported: false,
                under_monitoring: 0,
                checks_due: 0,
                checks_missed: 0,
                away_not_called: not_called_days.map(|_| 0),
            })
            .collect();
        if rows.is_empty() {
            return Ok(rows);
        }
        let held: HashMap<String, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.cell_id.clone(), i))
            .collect();
        let inner = self.lock();
        let conn = &inner.conn;
        let day_s = day.to_string();

        // One pass over the members: under monitoring on the day (as
        // `Monitoring::active_on`), living away, named as the lead.
        let mut away: Vec<Vec<String>> = vec![Vec::new(); rows.len()];
        // Members with health checks on the day or before: (id, first day,
        // last day counted, checks a day).
        let mut checks: Vec<Vec<(String, NaiveDate, NaiveDate, i64)>> =
            vec![Vec::new(); rows.len()];
        let mut leads: Vec<Vec<LeadCandidate>> = vec![Vec::new(); rows.len()];
        {
            let mut s = conn.prepare_cached(
                "SELECT cell_id, id, household_id, name, phone, residence,
                        monitoring_since, monitoring_until,
                        check_since, check_until, checks_per_day
                 FROM members",
            )?;
            let mut q = s.query([])?;
            while let Some(r) = q.next()? {
                let cell_id: String = r.get(0)?;
                let Some(&i) = held.get(&cell_id) else {
                    continue;
                };
                let until = stored_day(&cell_id, r.get(7)?)?;
                let since = stored_day(&cell_id, r.get(6)?)?;
                if until.is_some_and(|u| day <= u && since.is_none_or(|s| s <= day)) {
                    rows[i].under_monitoring += 1;
                }
                let (id, name, residence): (String, String, String) =
                    (r.get(1)?, r.get(3)?, r.get(5)?);
                let check_since = stored_day(&cell_id, r.get(8)?)?;
                let check_until = stored_day(&cell_id, r.get(9)?)?;
                if let (Some(since), Some(until)) = (check_since, check_until) {
                    if since <= day {
                        checks[i].push((id.clone(), since, until.min(day), r.get(10)?));
                    }
                }
                if residence == Residence::Away.as_str() {
                    away[i].push(id.clone());
                }
                if rows[i].lead.as_deref().map(str::trim) == Some(name.as_str()) {
                    leads[i].push((id, r.get(4)?, r.get(2)?));
                }
            }
        }
        // The lead's phone: the first member of that name (by id) with a
        // phone of their own or a household's (as `Store::cells_with_leads`).
        {
            let mut s = conn.prepare_cached("SELECT phone FROM households WHERE id = ?1")?;
            for (row, mut named) in rows.iter_mut().zip(leads) {
                named.sort();
                for (_, own, household) in named {
                    row.lead_phone = match own {
                        Some(p) => Some(p),
                        None => s
                            .query_row([&household], |r| r.get::<_, Option<String>>(0))
                            .optional()?
                            .flatten(),
                    };
                    if row.lead_phone.is_some() {
                        break;
                    }
                }
            }
        }
        {
            let mut s = conn.prepare_cached(
                "SELECT cell_id, count(*) FROM tasks WHERE status = ?1 GROUP BY cell_id",
            )?;
            let mut q = s.query([TaskStatus::Open.as_str()])?;
            while let Some(r) = q.next()? {
                if let Some(&i) = held.get(&r.get::<_, String>(0)?) {
                    rows[i].open_tasks = r.get(1)?;
                }
            }
        }
        {
            let mut s = conn.prepare_cached("SELECT cell_id FROM reports WHERE date = ?1")?;
            let mut q = s.query([&day_s])?;
            while let Some(r) = q.next()? {
                if let Some(&i) = held.get(&r.get::<_, String>(0)?) {
                    rows[i].reported = true;
                }
            }
        }
        // Checks due and missed, as the lead's day counts them: each
        // scheduled day up to `day` whose health checks fall short of the
        // schedule; short today is due, short before is missed.
        {
            let mut s = conn.prepare_cached(
                "SELECT day, count(*) FROM visits
                 WHERE cell_id = ?1 AND day >= ?2 AND day <= ?3 AND kind = ?4 AND member_id = ?5
                 GROUP BY day",
            )?;
            for (row, members) in rows.iter_mut().zip(checks) {
                let (mut due, mut missed) = (0, 0);
                for (member, since, last, per_day) in members {
                    let done: HashMap<String, i64> = s
                        .query_map(
                            rusqlite::params![
                                row.cell_id,
                                since.to_string(),
                                last.to_string(),
                                VisitKind::HealthCheck.as_str(),
                                member
                            ],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )?
                        .collect::<rusqlite::Result<_>>()?;
                    for d in since.iter_days().take_while(|d| *d <= last) {
                        if done.get(&d.to_string()).copied().unwrap_or(0) < per_day {
                            if d == day {
                                due += 1;
                            } else {
                                missed += 1;
                            }
                        }
                    }
                }
                row.checks_due = due;
                row.checks_missed = missed;
            }
        }
        // Residents away called after the threshold: in each cell with
        // someone away, one range of the visits' key (cell, day).
        let Some(not_called_days) = not_called_days else {
            return Ok(rows);
        };
        let after = called_after(day, not_called_days);
        let mut s = conn.prepare_cached(
            "SELECT member_id FROM visits
             WHERE cell_id = ?1 AND day > ?2 AND kind = ?3 AND member_id IS NOT NULL",
        )?;
        for (row, away) in rows.iter_mut().zip(away) {
            if away.is_empty() {
                continue;
            }
            let called: HashSet<String> = s
                .query_map(
                    rusqlite::params![row.cell_id, after, VisitKind::Call.as_str()],
                    |r| r.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            row.away_not_called = Some(away.iter().filter(|m| !called.contains(*m)).count() as i64);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_call_counts_when_it_is_fewer_days_ago_than_asked() {
        let today = d("2026-12-05");
        assert_eq!(called_after(today, 7), "2026-11-28");
        // A call on 11-28 is 7 days ago: not fewer than 7.
        assert!("2026-11-28" <= called_after(today, 7).as_str());
        assert!("2026-11-29" > called_after(today, 7).as_str());
        // 0 days: only a call dated after today keeps one off the list.
        assert_eq!(called_after(today, 0), "2026-12-05");
        assert_eq!(called_after(today, -3), "2026-12-08");
        // Beyond any date: every call counts, or none does.
        assert_eq!(called_after(today, i64::MAX), "");
        assert_eq!(called_after(today, 10_000_000), "");
        assert_eq!(called_after(today, i64::MIN), "9999-12-31");
        assert_eq!(called_after(today, -10_000_000), "9999-12-31");
    }
}
