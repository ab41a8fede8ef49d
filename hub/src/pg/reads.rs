//! [`PgStorage`] as the office's [`OfficeReads`]: the dashboard and the
//! exports on a PostgreSQL hub. The queries read the projection tables
//! laid out like the SQLite store's (`hub/sql/pg/001_layout.sql`) and
//! order text byte-wise (`COLLATE "C"`, or in Rust), as SQLite does, so
//! both hubs list the same rows in the same order; what is read from a
//! cell's document goes through [`PgStorage::read_cell`] and silin-core's
//! own rules, as on SQLite.

use super::PgStorage;
use crate::audit::{AuditError, NewEntry};
use crate::reads::{notices_in, ListTasks, OfficeReads};
use crate::storage::HubStorage;
use crate::users::{UserError, UserRole};
use chrono::NaiveDate;
use silin_core::model::{CellInfo, Level};
use silin_core::region::Hierarchy;
use silin_core::register::{Notice, NoticeCoverage};
use silin_core::rollup::RollupRow;
use silin_core::store::{
    cells_in_scope, CellRow, MissingReport, Monitored, PeerSeen, TaskProgress,
};
use silin_core::{Clock, Replica, Result};
use std::collections::{HashMap, HashSet};

/// (own phone, household phone) of the members named as a cell's lead.
type Phones = Vec<(Option<String>, Option<String>)>;

impl PgStorage {
    /// Appends `entry` to the audit log in a transaction of its own, timed
    /// on this process's clock: for what is logged right after it is done
    /// (a dashboard view, an export), not in the transaction of a write.
    pub fn record_audit(&self, entry: &NewEntry) -> std::result::Result<(), AuditError> {
        let doing = "writing to the audit log";
        let fail = |e: postgres::Error| AuditError::Store(self.failed(doing, e));
        let mut c = self
            .conn()
            .map_err(|e| AuditError::Store(self.failed(doing, e)))?;
        let mut tx = c.transaction().map_err(fail)?;
        super::audit::append(&mut tx, &self.local.clock.now(), entry).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// The cells of `scope` as [`silin_core::Store::cells`] reads them
    /// (region path prefixes, cell ids or `*`; every cell when empty), by
    /// path, name and id: silin-core's rule on this hub's rows.
    pub(super) fn cells_in(&self, scope: &[String]) -> Result<Vec<CellInfo>> {
        cells_in_scope(scope, || {
            self.run("reading the cells", |c| {
                c.query("SELECT id, name, path, lead FROM cells", &[])?
                    .iter()
                    .map(|r| {
                        Ok(CellRow {
                            id: r.try_get(0)?,
                            name: r.try_get(1)?,
                            path: r.try_get(2)?,
                            lead: r.try_get(3)?,
                        })
                    })
                    .collect()
            })
        })
    }

    /// `cells` with their leads' phones, in one query for all of them.
    fn with_lead_phones(&self, cells: Vec<CellInfo>) -> Result<Vec<MissingReport>> {
        let (ids, leads): (Vec<&str>, Vec<&str>) = cells
            .iter()
            .filter_map(|c| Some((c.id.as_str(), c.lead.as_deref()?.trim())))
            .unzip();
        let doing = "reading the leads' phones";
        let rows = self.run(doing, |c| {
            c.query(
                "SELECT u.cell, m.phone, h.phone
                 FROM unnest($1::TEXT[], $2::TEXT[]) AS u (cell, lead)
                 JOIN members m ON m.cell_id = u.cell AND m.name = u.lead
                 LEFT JOIN households h ON h.id = m.household_id
                 ORDER BY u.cell COLLATE \"C\", m.id COLLATE \"C\"",
                &[&ids, &leads],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<std::result::Result<Vec<(String, Option<String>, Option<String>)>, _>>()
        })?;
        let mut phones: HashMap<String, Phones> = HashMap::new();
        for (cell, own, home) in rows {
            phones.entry(cell).or_default().push((own, home));
        }
        MissingReport::with_lead_phones(cells, |id, _lead| {
            Ok(phones.remove(id).unwrap_or_default())
        })
    }
}

impl OfficeReads for PgStorage {
    fn clock(&self) -> &Clock {
        Replica::clock(self)
    }

    fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>> {
        HubStorage::rollup(self, day, level)
    }

    fn hierarchy(&self) -> Result<Hierarchy> {
        HubStorage::hierarchy(self)
    }

    fn cells_with_leads(&self, scope: &[String]) -> Result<Vec<MissingReport>> {
        let cells = self.cells_in(scope)?;
        self.with_lead_phones(cells)
    }

    fn missing_reports(&self, day: NaiveDate) -> Result<Vec<MissingReport>> {
        let reported: HashSet<String> = self.run("reading the day's reports", |c| {
            c.query(
                "SELECT cell_id FROM reports WHERE date = $1",
                &[&day.to_string()],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })?;
        let cells = self
            .cells_in(&[])?
            .into_iter()
            .filter(|c| !reported.contains(&c.id))
            .collect();
        self.with_lead_phones(cells)
    }

    fn task_progress(&self, tasks: &[(String, String)]) -> Result<Vec<TaskProgress>> {
        let mut wanted: Vec<&str> = tasks.iter().map(|(c, _)| c.as_str()).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let held: HashSet<String> = self.run("reading which cells are held", |c| {
            c.query("SELECT id FROM docs WHERE id = ANY($1)", &[&wanted])?
                .iter()
                .map(|r| r.try_get(0))
                .collect()
        })?;
        TaskProgress::of_tasks(tasks, |cell| {
            if !held.contains(cell) {
                return Ok(None);
            }
            self.read_cell(cell, |d| d.view()).map(Some)
        })
    }

    fn all_tasks(&self) -> Result<Vec<(String, String)>> {
        self.run("reading the tasks", |c| {
            c.query(
                "SELECT cell_id, id FROM tasks ORDER BY cell_id COLLATE \"C\", id COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }

    fn monitored_on(&self, day: NaiveDate) -> Result<Vec<Monitored>> {
        let rows = self.run("reading the members under monitoring", |c| {
            c.query(
                "SELECT m.cell_id, c.name, c.path, m.name, m.phone, m.monitoring_until
                 FROM members m JOIN cells c ON c.id = m.cell_id
                 WHERE m.monitoring_until IS NOT NULL AND m.monitoring_until >= $1
                   AND (m.monitoring_since IS NULL OR m.monitoring_since <= $1)
                 ORDER BY m.monitoring_until, m.name COLLATE \"C\", m.id COLLATE \"C\"",
                &[&day.to_string()],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                    r.try_get(4)?,
                    r.try_get(5)?,
                ))
            })
            .collect::<std::result::Result<
                Vec<(String, String, String, String, Option<String>, String)>,
                _,
            >>()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(cell_id, cell_name, path, name, phone, until)| {
                Monitored::from_stored(cell_id, cell_name, path, name, phone, &until, day)
            })
            .collect())
    }

    fn notices(&self) -> Result<Vec<(Notice, Vec<NoticeCoverage>)>> {
        let cells = self.cells_in(&[])?.into_iter().map(|c| c.id);
        notices_in(cells, |cell| {
            self.read_cell(cell, |d| NoticeCoverage::in_cell(cell, d))
        })
    }

    fn peers_seen(&self) -> Result<Vec<PeerSeen>> {
        let rows = self.run("reading the devices seen", |c| {
            c.query(
                "SELECT device_id, certificate, last_seen FROM peers ORDER BY device_id COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<std::result::Result<Vec<(String, Vec<u8>, i64)>, _>>()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(device, cert, last_seen)| PeerSeen::from_stored(device, &cert, last_seen))
            .collect())
    }

    fn lists(&self) -> crate::users::Result<ListTasks> {
        let mut out = Vec::new();
        for l in self.office_lists().map_err(UserError::Store)? {
            let tasks = self
                .office_list_tasks(&l.list_id)
                .map_err(UserError::Store)?;
            out.push((l, tasks));
        }
        Ok(out)
    }

    fn verify_login(&self, name: &str, password: &str) -> crate::users::Result<Option<UserRole>> {
        self.users().verify(name, password)
    }

    fn record(&self, entry: &NewEntry) -> crate::audit::Result<()> {
        self.record_audit(entry)
    }
}
