//! The office's register of imported feedback lists on a PostgreSQL hub:
//! the same rows as a SQLite hub's ([`crate::lists`]), in the tables
//! `office_lists` and `office_list_tasks` (layout 4). A list is recorded in
//! the transaction that adds its tasks to the cells
//! ([`PgStorage::edit_cells_then`]), with its audit entry, so it is
//! imported whole or not at all whichever hub machine runs the import.

use super::PgStorage;
use crate::audit::{Action, Actor, NewEntry};
use crate::lists::ListInfo;
use postgres::Transaction;

impl PgStorage {
    /// Every imported list, oldest import first.
    pub fn office_lists(&self) -> silin_core::Result<Vec<ListInfo>> {
        let doing = "reading the imported lists";
        let rows = self.run(doing, |c| {
            c.query(
                "SELECT list_id, kind, title, file, rows, imported FROM office_lists
                 ORDER BY imported, list_id",
                &[],
            )
        })?;
        rows.iter()
            .map(|r| {
                Ok(ListInfo {
                    list_id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    title: r.try_get(2)?,
                    file: r.try_get(3)?,
                    rows: r.try_get(4)?,
                    imported: r.try_get(5)?,
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(|e| self.failed(doing, e))
    }

    /// Every cell as (id, region path), by path, name and id as on a
    /// SQLite hub ([`silin_core::Store::cells`]): what a list's rows are
    /// matched against.
    pub fn cell_paths(&self) -> silin_core::Result<Vec<(String, String)>> {
        Ok(self
            .cells_in(&[])?
            .into_iter()
            .map(|c| (c.id, c.path.to_string()))
            .collect())
    }

    /// The tasks of a list as (cell id, task id), in the list's row order.
    pub fn office_list_tasks(&self, list_id: &str) -> silin_core::Result<Vec<(String, String)>> {
        let doing = "reading an imported list's tasks";
        let rows = self.run(doing, |c| {
            c.query(
                "SELECT cell_id, task_id FROM office_list_tasks WHERE list_id = $1
                 ORDER BY row, task_id",
                &[&list_id],
            )
        })?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|e| self.failed(doing, e))
    }
}

/// Records a list and its tasks (row number, cell id, task id) inside `tx`,
/// the import's transaction: recording the same list again adds only the
/// tasks not yet named and keeps the first import's details. The import is
/// logged by the office at `list.imported`, with counts only, as on a
/// SQLite hub ([`crate::lists::record_in`]).
pub fn record_list(
    tx: &mut Transaction<'_>,
    list: &ListInfo,
    tasks: &[(usize, String, String)],
) -> Result<(), RecordError> {
    let at = chrono::DateTime::parse_from_rfc3339(&list.imported)
        .map_err(|e| RecordError::BadTime(format!("{:?}: {e}", list.imported)))?;
    tx.execute(
        "INSERT INTO office_lists (list_id, kind, title, file, rows, imported)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (list_id) DO NOTHING",
        &[
            &list.list_id,
            &list.kind,
            &list.title,
            &list.file,
            &list.rows,
            &list.imported,
        ],
    )?;
    // One statement over arrays, whatever the list's length.
    let rows: Vec<i64> = tasks.iter().map(|(row, _, _)| *row as i64).collect();
    let cells: Vec<&str> = tasks.iter().map(|(_, c, _)| c.as_str()).collect();
    let ids: Vec<&str> = tasks.iter().map(|(_, _, t)| t.as_str()).collect();
    let new_tasks = tx.execute(
        "INSERT INTO office_list_tasks (list_id, row, cell_id, task_id)
         SELECT $1, r, c, t FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[]) AS u (r, c, t)
         ON CONFLICT (list_id, task_id) DO NOTHING",
        &[&list.list_id, &rows, &cells, &ids],
    )?;
    super::audit::append(
        tx,
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
    )?;
    Ok(())
}

/// Why a list could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the list's import time {0} is not an RFC 3339 time")]
    BadTime(String),
    #[error("PostgreSQL: {}", super::reason(.0))]
    Database(#[from] postgres::Error),
}
