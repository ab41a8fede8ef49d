//! What the township office reads from a store: the day's work counted for
//! the rollup, the cells still missing their report with the lead to call,
//! how far the tasks of a feedback list got, and when each device last
//! synced. Reads only; the office's exports and the hub's dashboard show
//! them (masking resident IDs by [`crate::privacy`]).

use super::Store;
use crate::error::Result;
use crate::identity::{Certificate, Role};
use crate::model::{CellInfo, RegionPath, TaskStatus, VisitKind};
use crate::rollup::{CellDay, VisitCounts};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A cell that has not filed the day's report, and whom to call about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingReport {
    pub cell_id: String,
    pub name: String,
    pub path: RegionPath,
    /// The lead householder's name, as the cell records it.
    pub lead: Option<String>,
    /// The lead's phone: the member of that name's own, else their
    /// household's.
    pub lead_phone: Option<String>,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Open,
    Done,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Open => "open",
            TaskState::Done => "done",
            TaskState::Cancelled => "cancelled",
        }
    }
}

/// One task as the office follows it. `resident_id` is the member's ID
/// number in full: whoever shows it masks it by the viewer's role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskProgress {
    pub cell_id: String,
    pub cell_name: String,
    pub path: RegionPath,
    pub task_id: String,
    pub title: String,
    pub member_id: Option<String>,
    pub member_name: Option<String>,
    #[serde(skip_serializing)]
    pub resident_id: Option<String>,
    pub due: Option<NaiveDate>,
    pub state: TaskState,
    /// The visit that closed the task (`notify`, `call` or `door_knock`
    /// naming it), if one did: its kind and time.
    pub closed_by: Option<(String, String)>,
}

/// A member under home monitoring, and how many days of it are left after
/// the day asked about (0 on its last day).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitored {
    pub cell_id: String,
    pub cell_name: String,
    pub path: String,
    pub name: String,
    pub phone: Option<String>,
    pub until: NaiveDate,
    pub days_left: i64,
}

/// A device that synced with this store, and when it last did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerSeen {
    pub device_id: String,
    pub role: Role,
    pub scope: Vec<String>,
    /// Unix seconds of its last session.
    pub last_seen: i64,
}

/// Whether a visit of `kind` closes the task it names: reaching the person
/// (a notice given, a call, a knock on the door) does; a health check or an
/// errand is other work.
pub fn closes_task(kind: VisitKind) -> bool {
    matches!(
        kind,
        VisitKind::Notify | VisitKind::Call | VisitKind::DoorKnock
    )
}

impl MissingReport {
    /// `cells` (in any order) with their leads' phones, by region path,
    /// name and id: the rule every hub storage shares. `phones(cell id,
    /// lead)` gives (own phone, household phone) of each member of the cell
    /// named as the lead (trimmed), by member id; the lead's phone is the
    /// first of them that has either, their own before their household's.
    pub fn with_lead_phones(
        cells: Vec<CellInfo>,
        mut phones: impl FnMut(&str, &str) -> Result<Vec<(Option<String>, Option<String>)>>,
    ) -> Result<Vec<MissingReport>> {
        let mut out = Vec::with_capacity(cells.len());
        for CellInfo {
            id,
            name,
            path,
            lead,
        } in cells
        {
            let mut lead_phone = None;
            if let Some(lead) = &lead {
                lead_phone = phones(&id, lead.trim())?
                    .into_iter()
                    .find_map(|(own, home)| own.or(home));
            }
            out.push(MissingReport {
                cell_id: id,
                name,
                path,
                lead,
                lead_phone,
            });
        }
        out.sort_by(|a, b| {
            (a.path.to_string(), &a.name, &a.cell_id).cmp(&(
                b.path.to_string(),
                &b.name,
                &b.cell_id,
            ))
        });
        Ok(out)
    }
}

impl TaskProgress {
    /// Where each of `tasks` (cell id, task id) stands, read from the
    /// cells' documents, in the order given: the rule every hub storage
    /// shares. `view(cell id)` reads a cell (`None` when it is not held:
    /// its tasks are left out), once per cell. A task is done when its
    /// status says so or a visit that reaches the person ([`closes_task`])
    /// names it.
    pub fn of_tasks(
        tasks: &[(String, String)],
        mut view: impl FnMut(&str) -> Result<Option<crate::model::CellView>>,
    ) -> Result<Vec<TaskProgress>> {
        let mut by_cell: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (cell, task) in tasks {
            by_cell.entry(cell).or_default().push(task);
        }
        let mut found: HashMap<(String, String), TaskProgress> = HashMap::new();
        for (cell, ids) in by_cell {
            let Some(view) = view(cell)? else {
                continue;
            };
            let members: HashMap<&str, &crate::model::Member> = view
                .households
                .iter()
                .flat_map(|h| &h.members)
                .map(|m| (m.id.as_str(), m))
                .collect();
            for id in ids {
                let Some(t) = view.tasks.iter().find(|t| t.id == id) else {
                    continue;
                };
                let closing = view
                    .visits
                    .iter()
                    .filter(|v| v.task_id.as_deref() == Some(id) && closes_task(v.kind))
                    .min_by(|a, b| a.at.cmp(&b.at));
                let state = match t.status {
                    TaskStatus::Cancelled => TaskState::Cancelled,
                    TaskStatus::Done => TaskState::Done,
                    TaskStatus::Open if closing.is_some() => TaskState::Done,
                    TaskStatus::Open => TaskState::Open,
                };
                let member = t.member_id.as_deref().and_then(|m| members.get(m));
                found.insert(
                    (cell.to_string(), id.to_string()),
                    TaskProgress {
                        cell_id: cell.to_string(),
                        cell_name: view.cell.name.clone(),
                        path: view.cell.path.clone(),
                        task_id: id.to_string(),
                        title: t.title.clone(),
                        member_id: t.member_id.clone(),
                        member_name: member.map(|m| m.name.clone()),
                        resident_id: member.and_then(|m| m.id_number.clone()),
                        due: t.due,
                        state,
                        closed_by: closing.map(|v| (v.kind.as_str().to_string(), v.at.clone())),
                    },
                );
            }
        }
        Ok(tasks
            .iter()
            .filter_map(|k| found.remove(k))
            .collect::<Vec<_>>())
    }
}

impl Monitored {
    /// A member's row as the query tables keep it, on `day`; `None` when
    /// `until` is no day (the projection holds what the document
    /// validated; a value that is no day is skipped rather than guessed).
    pub fn from_stored(
        cell_id: String,
        cell_name: String,
        path: String,
        name: String,
        phone: Option<String>,
        until: &str,
        day: NaiveDate,
    ) -> Option<Monitored> {
        let until = NaiveDate::parse_from_str(until, "%Y-%m-%d").ok()?;
        Some(Monitored {
            cell_id,
            cell_name,
            path,
            name,
            phone,
            until,
            days_left: (until - day).num_days(),
        })
    }
}

impl PeerSeen {
    /// A peer's row as stored; `None` for a certificate that no longer
    /// decodes (it is refused at the next session anyway).
    pub fn from_stored(device_id: String, certificate: &[u8], last_seen: i64) -> Option<PeerSeen> {
        let cert = Certificate::decode(certificate).ok()?;
        Some(PeerSeen {
            device_id,
            role: cert.role,
            scope: cert.scope.0,
            last_seen,
        })
    }
}

impl Store {
    /// Report status and counted visits of every cell for `day`: what a
    /// rollup adds up.
    pub fn cell_days_counted(&self, day: NaiveDate) -> Result<Vec<CellDay>> {
        let mut days = self.cell_days(day)?;
        let counts = self.visit_counts(day)?;
        for d in &mut days {
            if let Some(c) = counts.get(&d.cell_id) {
                d.visits = *c;
            }
        }
        Ok(days)
    }

    /// Door-knock rounds, calls and errands recorded on `day`, per cell.
    pub fn visit_counts(&self, day: NaiveDate) -> Result<HashMap<String, VisitCounts>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT cell_id, kind, count(*) FROM visits WHERE day = ?1 GROUP BY cell_id, kind",
        )?;
        let rows = s.query_map([day.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out: HashMap<String, VisitCounts> = HashMap::new();
        for row in rows {
            let (cell, kind, n) = row?;
            out.entry(cell).or_default().add(&kind, n);
        }
        Ok(out)
    }

    /// Cells without a report for `day`, by region path, each with its
    /// lead's name and phone (from the query tables; no document loads).
    pub fn missing_reports(&self, day: NaiveDate) -> Result<Vec<MissingReport>> {
        self.with_lead_phones(self.cells_missing_report(day)?)
    }

    /// The cells of `scope` (as [`Store::cells`]) with their leads' phones.
    pub fn cells_with_leads(&self, scope: &[String]) -> Result<Vec<MissingReport>> {
        self.with_lead_phones(self.cells(scope)?)
    }

    fn with_lead_phones(&self, cells: Vec<CellInfo>) -> Result<Vec<MissingReport>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT m.phone, h.phone FROM members m LEFT JOIN households h ON h.id = m.household_id
             WHERE m.cell_id = ?1 AND m.name = ?2 ORDER BY m.id",
        )?;
        MissingReport::with_lead_phones(cells, |id, lead| {
            Ok(s.query_map([id, lead], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Where each of `tasks` (cell id, task id) stands, read from the cells'
    /// documents, in the order given. A task is done when its status says
    /// so or a visit that reaches the person ([`closes_task`]) names it;
    /// tasks this store does not hold are left out.
    pub fn task_progress(&self, tasks: &[(String, String)]) -> Result<Vec<TaskProgress>> {
        TaskProgress::of_tasks(tasks, |cell| {
            if !self.has_cell(cell)? {
                return Ok(None);
            }
            self.cell(cell).map(Some)
        })
    }

    /// Members under home monitoring on `day` with the last day of it, by
    /// that day (soonest released first), then name.
    pub fn monitored_on(&self, day: NaiveDate) -> Result<Vec<Monitored>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT m.cell_id, c.name, c.path, m.name, m.phone, m.monitoring_until
             FROM members m JOIN cells c ON c.id = m.cell_id
             WHERE m.monitoring_until IS NOT NULL AND m.monitoring_until >= ?1
               AND (m.monitoring_since IS NULL OR m.monitoring_since <= ?1)
             ORDER BY m.monitoring_until, m.name, m.id",
        )?;
        let rows = s.query_map([day.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (cell_id, cell_name, path, name, phone, until) = row?;
            out.extend(Monitored::from_stored(
                cell_id, cell_name, path, name, phone, &until, day,
            ));
        }
        Ok(out)
    }

    /// Every task this store holds, as (cell id, task id), by cell and id.
    pub fn all_tasks(&self) -> Result<Vec<(String, String)>> {
        let inner = self.lock();
        let mut s = inner
            .conn
            .prepare_cached("SELECT cell_id, id FROM tasks ORDER BY cell_id, id")?;
        let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every device that has synced with this store, with its certificate's
    /// role and scope, by device id. A certificate that no longer decodes is
    /// skipped (it is refused at the next session anyway).
    pub fn peers_seen(&self) -> Result<Vec<PeerSeen>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT device_id, certificate, last_seen FROM peers ORDER BY device_id",
        )?;
        let rows = s.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (device_id, cert, last_seen) = row?;
            out.extend(PeerSeen::from_stored(device_id, &cert, last_seen));
        }
        Ok(out)
    }
}
