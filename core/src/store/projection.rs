//! Query tables derived from cell documents. Rows are computed from a
//! [`CellDoc`] only, so the tables can be rebuilt at any time and checked
//! against a rebuild (see `Store::check`).

use crate::cell::{CellDoc, CheckSchedule, Touched};
use crate::error::Result;
use crate::model::{CellInfo, Household, Member, Report, Task, Visit};
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellRow {
    pub id: String,
    pub name: String,
    pub path: String,
    pub lead: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HouseholdRow {
    pub id: String,
    pub address: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberRow {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub residence: String,
    pub monitoring_since: Option<String>,
    pub monitoring_until: Option<String>,
    pub vulnerable: String,
    /// The member's health checks ([`CheckSchedule`]): first and last day
    /// and checks a day; None and 0 when not monitored (layout 8).
    pub check_since: Option<String>,
    pub check_until: Option<String>,
    pub checks_per_day: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct VisitRow {
    pub day: String,
    pub id: String,
    pub kind: String,
    pub member_id: Option<String>,
    pub abnormal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReportRow {
    pub date: String,
    pub arrivals: i64,
    pub under_monitoring: i64,
    pub abnormal: i64,
    pub errands: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub status: String,
    pub due: Option<String>,
    pub member_id: Option<String>,
}

/// Every projection row of one cell, sorted, so two sets compare equal
/// exactly when the tables agree with the document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CellRows {
    pub cell: Option<CellRow>,
    pub households: Vec<HouseholdRow>,
    pub members: Vec<MemberRow>,
    pub visits: Vec<VisitRow>,
    pub reports: Vec<ReportRow>,
    pub tasks: Vec<TaskRow>,
}

fn member_row(m: &Member, checks: Option<CheckSchedule>) -> MemberRow {
    MemberRow {
        check_since: checks.map(|c| c.since.to_string()),
        check_until: checks.map(|c| c.until.to_string()),
        checks_per_day: checks.map_or(0, |c| c.per_day),
        id: m.id.clone(),
        household_id: m.household_id.clone(),
        name: m.name.clone(),
        phone: m.phone.clone(),
        residence: m.residence.as_str().to_string(),
        monitoring_since: m.monitoring.since.map(|d| d.to_string()),
        monitoring_until: m.monitoring.until.map(|d| d.to_string()),
        vulnerable: m
            .vulnerable
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Member `id`'s row, with the schedule its arrivals set.
fn member_of(doc: &CellDoc, id: &str) -> Result<MemberRow> {
    let m = doc.member(id)?;
    let checks = CheckSchedule::of(&m, &doc.arrivals());
    Ok(member_row(&m, checks))
}

fn visit_row(v: &Visit) -> VisitRow {
    VisitRow {
        day: v.day().to_string(),
        id: v.id.clone(),
        kind: v.kind.as_str().to_string(),
        member_id: v.member_id.clone(),
        abnormal: v.is_abnormal(),
    }
}

fn cell_row(info: CellInfo) -> CellRow {
    CellRow {
        id: info.id,
        name: info.name,
        path: info.path.to_string(),
        lead: info.lead,
    }
}

fn household_row(h: &Household) -> HouseholdRow {
    HouseholdRow {
        id: h.id.clone(),
        address: h.address.clone(),
        phone: h.phone.clone(),
    }
}

fn report_row(r: &Report) -> ReportRow {
    ReportRow {
        date: r.date.to_string(),
        arrivals: r.arrivals,
        under_monitoring: r.under_monitoring,
        abnormal: r.abnormal,
        errands: r.errands,
    }
}

fn task_row(t: &Task) -> TaskRow {
    TaskRow {
        id: t.id.clone(),
        title: t.title.clone(),
        status: t.status.as_str().to_string(),
        due: t.due.map(|d| d.to_string()),
        member_id: t.member_id.clone(),
    }
}

impl CellRows {
    pub fn from_doc(doc: &CellDoc) -> Result<CellRows> {
        let info = doc.info()?;
        let hhs = doc.households()?;
        let arrivals = doc.arrivals();
        let mut rows = CellRows {
            cell: Some(cell_row(info)),
            households: hhs.iter().map(household_row).collect(),
            members: hhs
                .iter()
                .flat_map(|h| &h.members)
                .map(|m| member_row(m, CheckSchedule::of(m, &arrivals)))
                .collect(),
            visits: doc.visits()?.iter().map(visit_row).collect(),
            reports: doc.reports()?.iter().map(report_row).collect(),
            tasks: doc.tasks()?.iter().map(task_row).collect(),
        };
        rows.sort();
        Ok(rows)
    }

    /// These rows after an edit that touched `touched` of `doc`: only the
    /// touched rows are read from the document, the others kept (a merge of
    /// one day's edits reads a few rows, not the cell's year of visits).
    /// For a storage that keeps the rows it last wrote and compares.
    pub fn refreshed(&self, doc: &CellDoc, touched: &Touched) -> Result<CellRows> {
        let mut rows = self.clone();
        rows.refresh(doc, touched)?;
        rows.sort();
        Ok(rows)
    }

    fn refresh(&mut self, doc: &CellDoc, touched: &Touched) -> Result<()> {
        fn put<T>(rows: &mut Vec<T>, row: T, same: impl Fn(&T) -> bool) {
            match rows.iter_mut().find(|r| same(r)) {
                Some(old) => *old = row,
                None => rows.push(row),
            }
        }
        match touched {
            Touched::All => *self = CellRows::from_doc(doc)?,
            Touched::Parts(parts) => {
                for part in parts {
                    self.refresh(doc, part)?;
                }
            }
            Touched::Cell => self.cell = Some(cell_row(doc.info()?)),
            Touched::Household(id) => {
                let row = household_row(&doc.household(id)?);
                put(&mut self.households, row, |r| r.id == *id);
            }
            Touched::Member(id) => {
                let row = member_of(doc, id)?;
                put(&mut self.members, row, |r| r.id == *id);
            }
            Touched::Visit(id) => {
                let row = visit_row(&doc.visit(id)?);
                put(&mut self.visits, row, |r| r.id == *id);
            }
            Touched::Visits(ids) => {
                for id in ids {
                    let row = visit_row(&doc.visit(id)?);
                    put(&mut self.visits, row, |r| r.id == *id);
                }
            }
            Touched::Report(date) => {
                let key = date.to_string();
                match doc.report(*date)? {
                    Some(r) => put(&mut self.reports, report_row(&r), |r| r.date == key),
                    None => self.reports.retain(|r| r.date != key),
                }
            }
            Touched::Task(id) => {
                put(&mut self.tasks, task_row(&doc.task(id)?), |r| r.id == *id);
            }
        }
        Ok(())
    }

    fn sort(&mut self) {
        self.households.sort();
        self.members.sort();
        self.visits.sort();
        self.reports.sort();
        self.tasks.sort();
    }

    /// What the tables hold now for `cell_id`.
    pub(crate) fn read(conn: &Connection, cell_id: &str) -> Result<CellRows> {
        let cell = conn
            .query_row(
                "SELECT id, name, path, lead FROM cells WHERE id = ?1",
                [cell_id],
                |r| {
                    Ok(CellRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        path: r.get(2)?,
                        lead: r.get(3)?,
                    })
                },
            )
            .optional()?;
        let mut s =
            conn.prepare_cached("SELECT id, address, phone FROM households WHERE cell_id = ?1")?;
        let households = s
            .query_map([cell_id], |r| {
                Ok(HouseholdRow {
                    id: r.get(0)?,
                    address: r.get(1)?,
                    phone: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut s = conn.prepare_cached(
            "SELECT id, household_id, name, phone, residence, monitoring_since, monitoring_until, vulnerable,
                    check_since, check_until, checks_per_day
             FROM members WHERE cell_id = ?1",
        )?;
        let members = s
            .query_map([cell_id], |r| {
                Ok(MemberRow {
                    id: r.get(0)?,
                    household_id: r.get(1)?,
                    name: r.get(2)?,
                    phone: r.get(3)?,
                    residence: r.get(4)?,
                    monitoring_since: r.get(5)?,
                    monitoring_until: r.get(6)?,
                    vulnerable: r.get(7)?,
                    check_since: r.get(8)?,
                    check_until: r.get(9)?,
                    checks_per_day: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut s = conn.prepare_cached(
            "SELECT day, id, kind, member_id, abnormal FROM visits WHERE cell_id = ?1",
        )?;
        let visits = s
            .query_map([cell_id], |r| {
                Ok(VisitRow {
                    day: r.get(0)?,
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    member_id: r.get(3)?,
                    abnormal: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut s = conn.prepare_cached(
            "SELECT date, arrivals, under_monitoring, abnormal, errands FROM reports WHERE cell_id = ?1",
        )?;
        let reports = s
            .query_map([cell_id], |r| {
                Ok(ReportRow {
                    date: r.get(0)?,
                    arrivals: r.get(1)?,
                    under_monitoring: r.get(2)?,
                    abnormal: r.get(3)?,
                    errands: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut s = conn.prepare_cached(
            "SELECT id, title, status, due, member_id FROM tasks WHERE cell_id = ?1",
        )?;
        let tasks = s
            .query_map([cell_id], |r| {
                Ok(TaskRow {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    status: r.get(2)?,
                    due: r.get(3)?,
                    member_id: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut rows = CellRows {
            cell,
            households,
            members,
            visits,
            reports,
            tasks,
        };
        rows.sort();
        Ok(rows)
    }
}

/// Every projection table: one place, so a new one is cleared and rebuilt
/// with the rest.
pub(crate) const TABLES: [&str; 6] = [
    "cells",
    "households",
    "members",
    "visits",
    "reports",
    "tasks",
];

pub(crate) fn delete_cell(conn: &Connection, cell_id: &str) -> Result<()> {
    for table in TABLES {
        let col = if table == "cells" { "id" } else { "cell_id" };
        conn.execute(&format!("DELETE FROM {table} WHERE {col} = ?1"), [cell_id])?;
    }
    Ok(())
}

/// Replaces every projection row of the cell with rows computed from `doc`.
pub(crate) fn write_cell(conn: &Connection, cell_id: &str, doc: &CellDoc) -> Result<()> {
    write_rows(conn, cell_id, &CellRows::from_doc(doc)?)
}

pub(crate) fn write_rows(conn: &Connection, cell_id: &str, rows: &CellRows) -> Result<()> {
    delete_cell(conn, cell_id)?;
    if let Some(c) = &rows.cell {
        upsert_cell(conn, cell_id, c)?;
    }
    for h in &rows.households {
        upsert_household(conn, cell_id, h)?;
    }
    for m in &rows.members {
        upsert_member(conn, cell_id, m)?;
    }
    for v in &rows.visits {
        upsert_visit(conn, cell_id, v)?;
    }
    for r in &rows.reports {
        upsert_report(conn, cell_id, r)?;
    }
    for t in &rows.tasks {
        upsert_task(conn, cell_id, t)?;
    }
    Ok(())
}

/// Updates only the rows an edit touched: one row for most edits, so a
/// write costs the same in a cell with a year of history as in a new one.
pub(crate) fn apply(
    conn: &Connection,
    cell_id: &str,
    doc: &CellDoc,
    touched: &Touched,
) -> Result<()> {
    match touched {
        Touched::All => write_cell(conn, cell_id, doc),
        Touched::Parts(parts) => parts
            .iter()
            .try_for_each(|part| apply(conn, cell_id, doc, part)),
        Touched::Cell => upsert_cell(conn, cell_id, &cell_row(doc.info()?)),
        Touched::Household(id) => {
            upsert_household(conn, cell_id, &household_row(&doc.household(id)?))
        }
        Touched::Member(id) => upsert_member(conn, cell_id, &member_of(doc, id)?),
        Touched::Visit(id) => upsert_visit(conn, cell_id, &visit_row(&doc.visit(id)?)),
        Touched::Visits(ids) => ids
            .iter()
            .try_for_each(|id| upsert_visit(conn, cell_id, &visit_row(&doc.visit(id)?))),
        Touched::Report(date) => match doc.report(*date)? {
            Some(r) => upsert_report(conn, cell_id, &report_row(&r)),
            None => Ok(()),
        },
        Touched::Task(id) => upsert_task(conn, cell_id, &task_row(&doc.task(id)?)),
    }
}

/// Rows are keyed by the storage id the store filed the document under,
/// never by the id the document states about itself: a peer's bytes cannot
/// aim a projection row at another cell.
fn upsert_cell(conn: &Connection, cell_id: &str, c: &CellRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO cells (id, name, path, lead) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![cell_id, c.name, c.path, c.lead])?;
    Ok(())
}

fn upsert_household(conn: &Connection, cell_id: &str, h: &HouseholdRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO households (id, cell_id, address, phone) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![h.id, cell_id, h.address, h.phone])?;
    Ok(())
}

fn upsert_member(conn: &Connection, cell_id: &str, m: &MemberRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO members
         (id, cell_id, household_id, name, phone, residence, monitoring_since, monitoring_until, vulnerable,
          check_since, check_until, checks_per_day)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        m.id,
        cell_id,
        m.household_id,
        m.name,
        m.phone,
        m.residence,
        m.monitoring_since,
        m.monitoring_until,
        m.vulnerable,
        m.check_since,
        m.check_until,
        m.checks_per_day
    ])?;
    Ok(())
}

fn upsert_visit(conn: &Connection, cell_id: &str, v: &VisitRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO visits (cell_id, day, id, kind, member_id, abnormal) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![cell_id, v.day, v.id, v.kind, v.member_id, v.abnormal])?;
    Ok(())
}

fn upsert_report(conn: &Connection, cell_id: &str, r: &ReportRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO reports (cell_id, date, arrivals, under_monitoring, abnormal, errands)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![cell_id, r.date, r.arrivals, r.under_monitoring, r.abnormal, r.errands])?;
    Ok(())
}

fn upsert_task(conn: &Connection, cell_id: &str, t: &TaskRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO tasks (id, cell_id, title, status, due, member_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![t.id, cell_id, t.title, t.status, t.due, t.member_id])?;
    Ok(())
}
