//! The office's register of imported feedback lists: each list's id, kind,
//! title and file, and the task every matched row became (cell id, task id),
//! in the hub's own tables `office_lists` and `office_list_tasks` inside the
//! hub database, laid out like the dashboard logins ([`crate::users`]):
//! numbered migrations (`hub/sql/lists_*.sql`, recorded in `hub_layout`)
//! on the store's own connection, never a second one.
//!
//! A task's own state lives in its cell's document; how far a list got is
//! read from there ([`silin_core::Store::task_progress`]).

use crate::users::{migrate_part, on_connection, Result};
use rusqlite::{params, Connection};
use serde::Serialize;
use silin_core::Store;

const MIGRATIONS: &[&str] = &[include_str!("../sql/lists_001.sql")];
const LAYOUT_PART: &str = "lists";

/// One imported list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListInfo {
    pub list_id: String,
    /// vaccination, test or notice
    pub kind: String,
    pub title: String,
    /// The file's name as imported.
    pub file: String,
    /// Data rows in the list.
    pub rows: i64,
    /// When it was (first) imported, RFC 3339.
    pub imported: String,
}

/// The imported lists of one hub database, read and written through the
/// store's own connection.
pub struct Lists<'a> {
    store: &'a Store,
}

impl std::fmt::Debug for Lists<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lists").finish_non_exhaustive()
    }
}

impl<'a> Lists<'a> {
    /// The lists of the hub whose store this is. Lays out the tables if
    /// missing.
    pub fn open(store: &'a Store) -> Result<Lists<'a>> {
        on_connection(store, |conn| migrate_part(conn, LAYOUT_PART, MIGRATIONS))?;
        Ok(Lists { store })
    }

    /// The lists of a store that may never have held any (a phone's, or a
    /// hub before its first import): `None` there, and nothing is laid out.
    pub fn open_if_any(store: &'a Store) -> Result<Option<Lists<'a>>> {
        let laid_out: bool = on_connection(store, |conn| {
            Ok(conn.query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'office_list_tasks'",
                [],
                |r| r.get(0),
            )?)
        })?;
        Ok(laid_out.then_some(Lists { store }))
    }

    /// Records a list and its tasks (row number, cell id, task id), in one
    /// transaction; recording the same list again adds only tasks not yet
    /// named and keeps the first import's details. The import is logged
    /// in the audit log in the same transaction, by the office (lists are
    /// imported on the hub machine, `silin office import-list`), at
    /// `list.imported`, with counts only: the list's rows, the matched
    /// ones, the rejected ones, and the tasks new to the register.
    pub fn record(&mut self, list: &ListInfo, tasks: &[(usize, String, String)]) -> Result<()> {
        let path = self.store.path().to_path_buf();
        on_connection(self.store, |conn| {
            let tx = crate::audit::write_tx(conn)?;
            record_in(&tx, &path, list, tasks)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Every list, oldest import first.
    pub fn lists(&self) -> Result<Vec<ListInfo>> {
        on_connection(self.store, |conn| {
            let mut s = conn.prepare(
                "SELECT list_id, kind, title, file, rows, imported FROM office_lists
                 ORDER BY imported, list_id",
            )?;
            let rows = s.query_map([], |r| {
                Ok(ListInfo {
                    list_id: r.get(0)?,
                    kind: r.get(1)?,
                    title: r.get(2)?,
                    file: r.get(3)?,
                    rows: r.get(4)?,
                    imported: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The tasks of a list as (cell id, task id), in the list's row order.
    pub fn tasks(&self, list_id: &str) -> Result<Vec<(String, String)>> {
        on_connection(self.store, |conn| {
            let mut s = conn.prepare(
                "SELECT cell_id, task_id FROM office_list_tasks WHERE list_id = ?1 ORDER BY row, task_id",
            )?;
            let rows = s.query_map([list_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

/// What [`Lists::record`] writes, inside a transaction the caller holds on
/// the store's connection — the one that also adds the list's tasks to the
/// cells ([`silin_core::Store::edit_cells_then`]), so a list is imported
/// whole or not at all. `db` is the store's file (the office key file
/// beside it signs the audit log's head). The tables must be laid out
/// ([`Lists::open`]) before the transaction begins.
pub fn record_in(
    conn: &Connection,
    db: &std::path::Path,
    list: &ListInfo,
    tasks: &[(usize, String, String)],
) -> Result<()> {
    use crate::audit::{self, Action, Actor, NewEntry};
    use crate::users::{audit_error, UserError};
    let at = chrono::DateTime::parse_from_rfc3339(&list.imported)
        .map_err(|e| UserError::BadInput(format!("imported {:?}: {e}", list.imported)))?;
    let signer = audit::signer(db).map_err(audit_error)?;
    let mut new_tasks = 0;
    conn.execute(
        "INSERT INTO office_lists (list_id, kind, title, file, rows, imported)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (list_id) DO NOTHING",
        params![
            list.list_id,
            list.kind,
            list.title,
            list.file,
            list.rows,
            list.imported
        ],
    )?;
    {
        let mut s = conn.prepare_cached(
            "INSERT INTO office_list_tasks (list_id, row, cell_id, task_id)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (list_id, task_id) DO NOTHING",
        )?;
        for (row, cell, task) in tasks {
            new_tasks += s.execute(params![list.list_id, *row as i64, cell, task])?;
        }
    }
    audit::append(
        conn,
        &at,
        &NewEntry::new(
            Actor::Office,
            Action::ImportList,
            format!("list={} kind={}", list.list_id, list.kind),
        )
        .count("rows", list.rows)
        .count("matched", tasks.len())
        .count("rejected", (list.rows - tasks.len() as i64).max(0))
        .count("new_tasks", new_tasks),
        signer.as_ref(),
    )
    .map_err(audit_error)?;
    Ok(())
}
