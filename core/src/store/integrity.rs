//! Checking and repairing a store: the file, every document, and the
//! projection rows against a rebuild from the documents; and its sizes.

use super::{projection, CellRows, Store};
use crate::error::Result;
use serde::Serialize;

/// What `check` found. `ok` is true when nothing needed repair.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub docs: usize,
    pub file_ok: bool,
    pub problems: Vec<String>,
    /// Cells whose projections disagreed with their document and were rebuilt.
    pub repaired: Vec<String>,
}

/// Sizes, for `silin check` and the benchmarks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreStats {
    pub docs: i64,
    pub chunks: i64,
    pub snapshot_bytes: i64,
    pub chunk_bytes: i64,
}

/// The `meta` row a migration writes when the query tables must be rebuilt
/// from the documents (layout 8's check schedules).
const PROJECTIONS_STALE: &str = "projections_stale";

impl Store {
    pub fn stats(&self) -> Result<StoreStats> {
        let inner = self.lock();
        Ok(inner.conn.query_row(
            "SELECT count(*), coalesce(sum(chunk_count),0), coalesce(sum(snapshot_bytes),0), coalesce(sum(chunk_bytes),0) FROM docs",
            [],
            |r| {
                Ok(StoreStats {
                    docs: r.get(0)?,
                    chunks: r.get(1)?,
                    snapshot_bytes: r.get(2)?,
                    chunk_bytes: r.get(3)?,
                })
            },
        )?)
    }

    /// Rebuilds every projection from the documents, in one transaction.
    pub fn rebuild_projections(&self) -> Result<()> {
        // Documents read and rows written under one write lock: a document
        // another program changed half-way would leave its rows behind.
        self.lock().write(|inner| {
            let mut all = Vec::new();
            for id in inner.doc_ids()? {
                let rows = CellRows::from_doc(&inner.doc(&id)?.doc)?;
                all.push((id, rows));
            }
            for table in projection::TABLES {
                inner.conn.execute(&format!("DELETE FROM {table}"), [])?;
            }
            for (id, rows) in &all {
                projection::write_rows(&inner.conn, id, rows)?;
            }
            inner
                .conn
                .execute("DELETE FROM meta WHERE key = ?1", [PROJECTIONS_STALE])?;
            Ok(())
        })
    }

    /// At open: rebuilds the query tables when a migration left them
    /// without what the documents say (a layout that added a column only
    /// the documents can fill in), once, before anything reads them.
    pub(super) fn rebuild_stale_projections(&self) -> Result<()> {
        let stale = self
            .lock()
            .conn
            .prepare("SELECT 1 FROM meta WHERE key = ?1")?
            .exists([PROJECTIONS_STALE])?;
        if stale {
            self.rebuild_projections()?;
        }
        Ok(())
    }

    /// Checks the file, every document and every projection. Projections
    /// that disagree with their document are rebuilt (and reported).
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let mut inner = self.lock();
        let quick: String = inner
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        report.file_ok = quick == "ok";
        if !report.file_ok {
            report.problems.push(format!("file: {quick}"));
        }
        let ids = inner.doc_ids()?;
        report.docs = ids.len();
        for id in &ids {
            // Under the write lock, one document at a time: what the rows
            // are compared with, and the repair, must see the same document.
            let outcome = inner.write(|inner| {
                let (expected, actual) = inner.rows_in_file(id)?;
                let expected = match expected {
                    Ok(rows) => rows,
                    Err(e) => return Ok(Err(e)),
                };
                if actual == expected {
                    return Ok(Ok(false));
                }
                projection::write_rows(&inner.conn, id, &expected)?;
                Ok(Ok(true))
            })?;
            match outcome {
                Err(e) => report.problems.push(format!("document {id}: {e}")),
                Ok(false) => {}
                Ok(true) => {
                    report
                        .problems
                        .push(format!("projections of {id} disagreed with its document"));
                    report.repaired.push(id.clone());
                }
            }
        }
        // Projection rows of cells that have no document.
        let orphans: i64 = inner.conn.query_row(
            "SELECT count(*) FROM cells WHERE id NOT IN (SELECT id FROM docs)",
            [],
            |r| r.get(0),
        )?;
        if orphans > 0 {
            report
                .problems
                .push(format!("{orphans} projected cells have no document"));
        }
        report.ok = report.problems.is_empty();
        Ok(report)
    }

    /// True when every projection row equals a rebuild from the documents.
    pub fn projections_match_docs(&self) -> Result<bool> {
        // Under the write lock so that no other program's commit falls
        // between reading a document and reading its rows.
        self.lock().write(|inner| {
            for id in inner.doc_ids()? {
                let expected = CellRows::from_doc(&inner.doc(&id)?.doc)?;
                if CellRows::read(&inner.conn, &id)? != expected {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }
}
