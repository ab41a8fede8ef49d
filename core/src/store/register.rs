//! The store's side of layout 2's records ([`crate::register`]): each edit
//! one transaction like the others, and the lead's and grid worker's day
//! lists read from the cells' documents.

use super::Store;
use crate::cell::{CellDoc, Touched};
use crate::error::Result;
use crate::model::*;
use crate::register::*;
use chrono::NaiveDate;

impl Store {
    /// Records an arrival at the door in one step (a new person is added
    /// to the household). Returns the member's id.
    pub fn record_arrival(&self, a: NewArrival) -> Result<String> {
        let cell_id = self.cell_of_household(&a.household_id)?;
        let (id, member) = (new_id(), new_id());
        let at = self.now_ts();
        self.edit(&cell_id, |d| d.record_arrival(&id, &member, a, at))
    }

    pub fn add_dose(&self, d: NewDose) -> Result<String> {
        let (cell_id, _) = self.cell_of_member(&d.member_id)?;
        let id = new_id();
        let now = self.clock().now();
        self.edit(&cell_id, |doc| Ok((id.clone(), doc.add_dose(&id, d, now)?)))
    }

    pub fn add_test(&self, t: NewTest) -> Result<String> {
        let (cell_id, _) = self.cell_of_member(&t.member_id)?;
        let id = new_id();
        let now = self.clock().now();
        self.edit(&cell_id, |doc| Ok((id.clone(), doc.add_test(&id, t, now)?)))
    }

    pub fn request_errand(&self, e: NewErrand) -> Result<String> {
        let cell_id = self.cell_of_household(&e.household_id)?;
        let id = new_id();
        self.edit(&cell_id, |d| Ok((id.clone(), d.request_errand(&id, e)?)))
    }

    /// Marks an errand done; returns the errand visit recorded with it.
    pub fn complete_errand(
        &self,
        cell_id: &str,
        errand_id: &str,
        by: &str,
        note: Option<String>,
    ) -> Result<String> {
        let visit = new_id();
        let now = self.clock().now();
        self.edit(cell_id, |d| {
            Ok((
                visit.clone(),
                d.complete_errand(errand_id, &visit, by, now, note)?,
            ))
        })
    }

    pub fn cancel_errand(&self, cell_id: &str, errand_id: &str) -> Result<()> {
        let at = self.now_ts();
        self.edit(cell_id, |d| Ok(((), d.cancel_errand(errand_id, at)?)))
    }

    /// Hands the cell to one of its members.
    pub fn hand_over(&self, cell_id: &str, member_id: &str, by: &str) -> Result<String> {
        let id = new_id();
        let now = self.clock().now();
        self.edit(cell_id, |d| {
            Ok((id.clone(), d.hand_over(&id, member_id, by, now)?))
        })
    }

    pub fn set_policy(&self, cell_id: &str, key: &str, value: i64) -> Result<()> {
        let at = self.now_ts();
        self.edit(cell_id, |d| Ok(((), d.set_policy(key, value, at)?)))
    }

    /// Raises the day's alerts and reminders for a cell (see
    /// [`crate::cell::CellDoc::raise_alerts`]); writes nothing when none
    /// is due. Returns the tasks raised.
    pub fn raise_alerts(&self, cell_id: &str) -> Result<Vec<String>> {
        let now = self.clock().now();
        self.edit(cell_id, |d| {
            let ids = d.raise_alerts(now, new_id)?;
            let touched = Touched::Parts(ids.iter().cloned().map(Touched::Task).collect());
            Ok((ids, touched))
        })
    }

    /// The lead's day for one cell: checks due and missed, open tasks,
    /// residents away not called for `not_called_days`, errands waiting,
    /// the report's draft and the report as filed, each member's health.
    /// The cell's visits, arrivals and register are read once for all of
    /// these (each list alone reads them again: see
    /// [`crate::cell::CellDoc::check_days`] and its neighbours).
    pub fn lead_day(&self, cell_id: &str, day: NaiveDate, not_called_days: i64) -> Result<LeadDay> {
        self.with_doc(cell_id, |d| {
            let log = d.day_log()?;
            let checks = log.check_days(day);
            let draft = log.draft(day);
            Ok(LeadDay {
                cell_id: cell_id.to_string(),
                date: day,
                lead: d.current_lead(),
                due: checks.iter().filter(|c| c.due_on(day)).cloned().collect(),
                missed: checks.into_iter().filter(|c| c.missed_by(day)).collect(),
                open_tasks: d
                    .tasks()?
                    .into_iter()
                    .filter(|t| t.status == TaskStatus::Open)
                    .collect(),
                away: log.away_residents(day, not_called_days),
                errands: d
                    .errands()
                    .into_iter()
                    .filter(|e| e.status == ErrandStatus::Requested)
                    .collect(),
                // Flagged as `CellDoc::flag_reports` does, against the
                // draft of the same day.
                report: d.report(day)?.map(|mut r| {
                    r.flag = draft.disagreement(&r);
                    r
                }),
                draft,
                members: log.health_statuses(day),
            })
        })
    }

    /// Sends a notice to every cell in `region` (a region path prefix, as in
    /// a certificate's scope) held here: one id for all of them. Returns the
    /// notice id and the cells it went to; each receives it on its next sync.
    pub fn post_notice(
        &self,
        region: &str,
        title: &str,
        text: &str,
        from: &str,
    ) -> Result<(String, Vec<String>)> {
        let cells = self.cells(&[region.to_string()])?;
        if cells.is_empty() {
            return Err(
                ValidationError::new("region", "no cell held here is in this region").into(),
            );
        }
        let id = new_id();
        let now = self.clock().now();
        let mut sent = Vec::new();
        for c in cells {
            self.edit(&c.id, |d| {
                Ok(((), d.post_notice(&id, title, text, region, from, now)?))
            })?;
            sent.push(c.id);
        }
        Ok((id, sent))
    }

    pub fn mark_notice(
        &self,
        cell_id: &str,
        notice_id: &str,
        household_id: &str,
        status: NoticeStatus,
    ) -> Result<()> {
        let at = self.now_ts();
        self.edit(cell_id, |d| {
            Ok(((), d.mark_notice(notice_id, household_id, status, at)?))
        })
    }

    /// How far each notice has reached, cell by cell, across `scope`.
    pub fn notice_coverage(&self, scope: &[String]) -> Result<Vec<NoticeCoverage>> {
        let mut out = Vec::new();
        for cell in self.cells(scope)? {
            let rows = self.with_doc(&cell.id, |d| NoticeCoverage::in_cell(&cell.id, d))?;
            out.extend(rows.into_iter().map(|(_, row)| row));
        }
        Ok(out)
    }

    /// The health checks due on `day` across the cells in `scope` (a grid
    /// worker's round).
    pub fn due_checks(&self, scope: &[String], day: NaiveDate) -> Result<Vec<(String, CheckDay)>> {
        let mut out = Vec::new();
        for cell in self.cells(scope)? {
            for c in self.with_doc(&cell.id, |d| d.due_checks(day))? {
                out.push((cell.id.clone(), c));
            }
        }
        Ok(out)
    }

    /// Residents away not called for `days` across the cells in `scope`.
    pub fn away_not_called(
        &self,
        scope: &[String],
        today: NaiveDate,
        days: i64,
    ) -> Result<Vec<(String, AwayResident)>> {
        let mut out = Vec::new();
        for cell in self.cells(scope)? {
            for a in self.with_doc(&cell.id, |d| d.away_residents(today, days))? {
                out.push((cell.id.clone(), a));
            }
        }
        Ok(out)
    }
}

impl NoticeCoverage {
    /// The notices cell `cell_id`'s document holds, each with how far it
    /// has reached there (households marked read or relayed, of all): what
    /// [`Store::notice_coverage`] counts, and every hub storage with it.
    pub fn in_cell(cell_id: &str, d: &CellDoc) -> Result<Vec<(Notice, NoticeCoverage)>> {
        let households = d.household_ids()?.len() as i64;
        Ok(d.notices()
            .into_iter()
            .map(|n| {
                let count = |s: NoticeStatus| n.households.values().filter(|v| **v == s).count();
                let row = NoticeCoverage {
                    notice_id: n.id.clone(),
                    cell_id: cell_id.to_string(),
                    households,
                    read: count(NoticeStatus::Read) as i64,
                    relayed: count(NoticeStatus::Relayed) as i64,
                };
                (n, row)
            })
            .collect())
    }
}
