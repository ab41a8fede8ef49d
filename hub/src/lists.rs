//! The office's register of imported feedback lists: each list's id, kind,
//! title and file, and the task every matched row became (cell id, task id),
//! in the hub's own tables `office_lists` and `office_list_tasks` inside the
//! hub database, laid out like the dashboard logins ([`crate::users`]):
//! through the hub's own connection and numbered migrations
//! (`hub/sql/lists_*.sql`, recorded in `hub_layout`).
//!
//! A task's own state lives in its cell's document; how far a list got is
//! read from there ([`silin_core::Store::task_progress`]).

use crate::users::{migrate_part, pragma_key, Result};
use rusqlite::{params, Connection, OpenFlags};
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

/// The imported lists of one hub database.
pub struct Lists {
    conn: Connection,
    /// The store file, whose office key (beside it) signs the audit head.
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Lists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lists").finish_non_exhaustive()
    }
}

impl Lists {
    /// The lists of the hub whose store this is (`key`: the store's
    /// SQLCipher secret when encrypted). Lays out the tables if missing.
    pub fn open(store: &Store, key: Option<&str>) -> Result<Lists> {
        let conn = Connection::open_with_flags(
            store.path(),
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        if let Some(key) = key {
            conn.execute_batch(&format!("PRAGMA key = {};", pragma_key(key)))?;
            let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate_part(&conn, LAYOUT_PART, MIGRATIONS)?;
        Ok(Lists {
            conn,
            path: store.path().to_path_buf(),
        })
    }

    /// The lists of a store that may never have held any (a phone's, or a
    /// hub before its first import): `None` there, and nothing is laid out.
    pub fn open_if_any(store: &Store, key: Option<&str>) -> Result<Option<Lists>> {
        let conn = Connection::open_with_flags(
            store.path(),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        if let Some(key) = key {
            conn.execute_batch(&format!("PRAGMA key = {};", pragma_key(key)))?;
            let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let laid_out: bool = conn.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'office_list_tasks'",
            [],
            |r| r.get(0),
        )?;
        Ok(laid_out.then_some(Lists {
            conn,
            path: store.path().to_path_buf(),
        }))
    }

    /// Records a list and its tasks (row number, cell id, task id), in one
    /// transaction; recording the same list again adds only tasks not yet
    /// named and keeps the first import's details. The import is logged
    /// in the audit log in the same transaction, by the office (lists are
    /// imported on the hub machine, `silin office import-list`), at
    /// `list.imported`, with counts only: the list's rows, the matched
    /// ones, the rejected ones, and the tasks new to the register.
    pub fn record(&mut self, list: &ListInfo, tasks: &[(usize, String, String)]) -> Result<()> {
        use crate::audit::{self, Action, Actor, NewEntry};
        use crate::users::{audit_error, UserError};
        let at = chrono::DateTime::parse_from_rfc3339(&list.imported)
            .map_err(|e| UserError::BadInput(format!("imported {:?}: {e}", list.imported)))?;
        let signer = audit::signer(&self.path).map_err(audit_error)?;
        let tx = audit::write_tx(&self.conn)?;
        let mut new_tasks = 0;
        tx.execute(
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
            let mut s = tx.prepare(
                "INSERT INTO office_list_tasks (list_id, row, cell_id, task_id)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (list_id, task_id) DO NOTHING",
            )?;
            for (row, cell, task) in tasks {
                new_tasks += s.execute(params![list.list_id, *row as i64, cell, task])?;
            }
        }
        audit::append(
            &tx,
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
        tx.commit()?;
        Ok(())
    }

    /// Every list, oldest import first.
    pub fn lists(&self) -> Result<Vec<ListInfo>> {
        let mut s = self.conn.prepare(
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
    }

    /// The tasks of a list as (cell id, task id), in the list's row order.
    pub fn tasks(&self, list_id: &str) -> Result<Vec<(String, String)>> {
        let mut s = self.conn.prepare(
            "SELECT cell_id, task_id FROM office_list_tasks WHERE list_id = ?1 ORDER BY row, task_id",
        )?;
        let rows = s.query_map([list_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
