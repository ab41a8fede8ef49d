//! What the township office reads from its hub, whatever keeps it:
//! [`OfficeReads`] is the read side the dashboard ([`crate::dashboard`]) and
//! the office's exports (`silin office export`) are written against — the
//! clock, the rollup and the level names, the cells with their leads'
//! phones and the ones missing a report, the people under monitoring, the
//! tasks of the imported lists and where they stand, the notices and their
//! reach, the devices seen — plus the two writes those views make: checking
//! a dashboard login, and appending to the office audit log.
//!
//! The SQLite hub's [`Store`] implements it here; the PostgreSQL hub's
//! [`crate::pg::PgStorage`] in `pg/reads.rs`. Rules that read a cell's
//! document (where a task stands, a notice's reach, a lead's phone) are
//! silin-core's, called by both on the decoded document or the rows they
//! read ([`TaskProgress::of_tasks`], [`NoticeCoverage::in_cell`],
//! [`MissingReport::with_lead_phones`]); only the queries differ.

use crate::audit::{self, NewEntry};
use crate::lists::{ListInfo, Lists};
use crate::users::{UserRole, Users};
use chrono::NaiveDate;
use silin_core::cell::CellDoc;
use silin_core::model::Level;
use silin_core::region::Hierarchy;
use silin_core::register::{Notice, NoticeCoverage};
use silin_core::rollup::RollupRow;
use silin_core::store::{MissingReport, Monitored, PeerSeen, TaskProgress};
use silin_core::{Clock, Result, Store};

/// Each imported list with its tasks as (cell id, task id), in the list's
/// row order; lists oldest import first.
pub type ListTasks = Vec<(ListInfo, Vec<(String, String)>)>;

/// The office's reads of one hub (and the audit entries they make).
/// Blocking: call it off the async threads (`spawn_blocking`).
pub trait OfficeReads: Send + Sync {
    /// The hub's clock: "today" for a page or sheet without a day, and the
    /// time of a device's last sync.
    fn clock(&self) -> &Clock;
    /// The day's zero reports rolled up to `level`.
    fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>>;
    /// The level names, to read `--level building` with.
    fn hierarchy(&self) -> Result<Hierarchy>;
    /// The cells of `scope` (region path prefixes, cell ids or `*`; every
    /// cell when empty) with their leads' phones, by path, name and id.
    fn cells_with_leads(&self, scope: &[String]) -> Result<Vec<MissingReport>>;
    /// The cells without a report for `day`, with their leads' phones, by
    /// path, name and id.
    fn missing_reports(&self, day: NaiveDate) -> Result<Vec<MissingReport>>;
    /// Where each of `tasks` (cell id, task id) stands, in the order given;
    /// tasks of cells not held are left out.
    fn task_progress(&self, tasks: &[(String, String)]) -> Result<Vec<TaskProgress>>;
    /// Every task held, as (cell id, task id), by cell and id.
    fn all_tasks(&self) -> Result<Vec<(String, String)>>;
    /// The members under home monitoring on `day`, soonest released first,
    /// then by name.
    fn monitored_on(&self, day: NaiveDate) -> Result<Vec<Monitored>>;
    /// Every notice held, with its reach cell by cell (cells by path, name
    /// and id), oldest first (by time posted, then id).
    fn notices(&self) -> Result<Vec<(Notice, Vec<NoticeCoverage>)>>;
    /// Every device that has synced with the hub, by device id.
    fn peers_seen(&self) -> Result<Vec<PeerSeen>>;
    /// The imported lists, each with its tasks (none on a hub that never
    /// imported one).
    fn lists(&self) -> crate::users::Result<ListTasks>;
    /// The role of the dashboard login `name` if `password` is theirs;
    /// `None` for a wrong password or an unknown name.
    fn verify_login(&self, name: &str, password: &str) -> crate::users::Result<Option<UserRole>>;
    /// Appends `entry` to the hub's audit log in a transaction of its own,
    /// timed on the hub's clock.
    fn record(&self, entry: &NewEntry) -> audit::Result<()>;
}

/// The notices of `cells` (ids, in the order their reach is listed) and
/// their reach cell by cell, oldest first: `read` gives a cell's notices
/// with their reach there ([`NoticeCoverage::in_cell`] on its document).
/// A notice's title and text are the same in every cell it went to; they
/// are taken from the first.
pub fn notices_in(
    cells: impl IntoIterator<Item = String>,
    mut read: impl FnMut(&str) -> Result<Vec<(Notice, NoticeCoverage)>>,
) -> Result<Vec<(Notice, Vec<NoticeCoverage>)>> {
    let mut by_id: std::collections::BTreeMap<String, (Notice, Vec<NoticeCoverage>)> =
        Default::default();
    for cell in cells {
        for (notice, row) in read(&cell)? {
            by_id
                .entry(notice.id.clone())
                .or_insert_with(|| (notice, Vec::new()))
                .1
                .push(row);
        }
    }
    let mut out: Vec<_> = by_id.into_values().collect();
    out.sort_by(|(a, _), (b, _)| (&a.at, &a.id).cmp(&(&b.at, &b.id)));
    Ok(out)
}

/// The SQLite hub: the office reads its own store (the logins, the list
/// register and the audit log through the store's connection; the audit
/// log's head signed with the office key file beside the store).
impl OfficeReads for Store {
    fn clock(&self) -> &Clock {
        Store::clock(self)
    }

    fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>> {
        Store::rollup(self, day, level)
    }

    fn hierarchy(&self) -> Result<Hierarchy> {
        Store::hierarchy(self)
    }

    fn cells_with_leads(&self, scope: &[String]) -> Result<Vec<MissingReport>> {
        Store::cells_with_leads(self, scope)
    }

    fn missing_reports(&self, day: NaiveDate) -> Result<Vec<MissingReport>> {
        Store::missing_reports(self, day)
    }

    fn task_progress(&self, tasks: &[(String, String)]) -> Result<Vec<TaskProgress>> {
        Store::task_progress(self, tasks)
    }

    fn all_tasks(&self) -> Result<Vec<(String, String)>> {
        Store::all_tasks(self)
    }

    fn monitored_on(&self, day: NaiveDate) -> Result<Vec<Monitored>> {
        Store::monitored_on(self, day)
    }

    fn notices(&self) -> Result<Vec<(Notice, Vec<NoticeCoverage>)>> {
        let cells = self.cells(&[])?.into_iter().map(|c| c.id);
        notices_in(cells, |cell| {
            self.with_doc(cell, |d: &mut CellDoc| NoticeCoverage::in_cell(cell, d))
        })
    }

    fn peers_seen(&self) -> Result<Vec<PeerSeen>> {
        Store::peers_seen(self)
    }

    fn lists(&self) -> crate::users::Result<ListTasks> {
        let Some(lists) = Lists::open_if_any(self)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for l in lists.lists()? {
            let tasks = lists.tasks(&l.list_id)?;
            out.push((l, tasks));
        }
        Ok(out)
    }

    fn verify_login(&self, name: &str, password: &str) -> crate::users::Result<Option<UserRole>> {
        Users::open(self)?.verify(name, password)
    }

    fn record(&self, entry: &NewEntry) -> audit::Result<()> {
        audit::record(self, entry).map(|_| ())
    }
}
