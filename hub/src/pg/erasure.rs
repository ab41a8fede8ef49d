//! Erasure on a PostgreSQL hub: the office's orders issued, kept, passed
//! on and followed in the database every hub process serves, as a SQLite
//! store does it ([`silin_core::Store::issue_erasure`]); the rules of an
//! order and its epoch are the core's ([`CellDoc::issue_order`],
//! [`CellDoc::follow_orders`]), only the storage differs.
//!
//! A cell moves to its new epoch in one transaction holding the document's
//! row lock: the order kept, the old lineage's snapshot, chunks and sync
//! states deleted, the new epoch's snapshot written, the version raised (so
//! every process drops its decoded copy at its next use) and the cell's
//! rows rewritten. Then the tables those rows lived in are rewritten
//! (`VACUUM FULL`, [`PgStorage::purge`]) so that no erased value is left in
//! the database's live files; what PostgreSQL keeps elsewhere (its
//! write-ahead log until it is recycled, archives, backups) is the
//! database's, see doc/PRIVACY.md.

use super::replica::hold;
use super::PgStorage;
use crate::audit::NewEntry;
use postgres::types::Type;
use postgres::Transaction;
use silin_core::cell::{CellDoc, Followed};
use silin_core::erasure::{ErasureError, ErasureOrder, Retention, Subject};
use silin_core::identity::Office;
use silin_core::model::{check_id, new_id};
use silin_core::store::{heads_to_bytes, CellRows, OrdersTaken};
use silin_core::{Error, Replica, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The `meta` row that says an erasure's old bytes may still lie in the
/// tables' files (as on a SQLite store).
const PURGE_DUE: &str = "erasure_purge_due";

/// The tables an erasure rewrites: every one that held a row of a cell's
/// old lineage.
const PURGED: &str =
    "snapshots, chunks, sync_states, cells, households, members, visits, reports, tasks";

impl PgStorage {
    /// The office key this process was given ([`PgStorage::enrol_hub`]):
    /// only the office orders an erasure.
    fn office(&self) -> Result<Office> {
        self.local
            .office
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ErasureError::NotOffice.into())
    }

    /// The office orders an erasure in one cell: the cell moves to a new
    /// epoch without `subjects` in the database, the tables are rewritten
    /// without their rows, and the signed order goes out to every device at
    /// its next sync. Audited with counts only, in the same transaction.
    pub fn issue_erasure(
        &self,
        cell_id: &str,
        subjects: Vec<Subject>,
        reason: &str,
    ) -> Result<ErasureOrder> {
        if subjects.is_empty() {
            return Err(ErasureError::NothingNamed(
                "name a member, a household, records or the whole cell".into(),
            )
            .into());
        }
        let entry = crate::office::erase_entry(cell_id, &subjects);
        let order = self
            .issue_unpurged(
                cell_id,
                |_| Ok(subjects),
                reason,
                |order| Some(entry.count("epoch", order.epoch)),
            )?
            .ok_or_else(|| Error::not_found("cell", cell_id))?;
        self.purge()?;
        Ok(order)
    }

    /// Applies a retention policy to every cell of the database on
    /// `today`: one order per cell with records past their keeping time,
    /// each cell in a transaction of its own, then the tables rewritten
    /// once and one audit entry with the counts.
    pub fn apply_retention(
        &self,
        policy: &Retention,
        today: chrono::NaiveDate,
        reason: &str,
    ) -> Result<Vec<ErasureOrder>> {
        let ids: Vec<String> = self.run("listing the cells", |c| {
            c.query("SELECT id FROM docs ORDER BY id", &[])?
                .iter()
                .map(|r| r.try_get(0))
                .collect()
        })?;
        let mut orders = Vec::new();
        for id in ids {
            let issued =
                self.issue_unpurged(&id, |doc| policy.subjects(doc, today), reason, |_| None)?;
            orders.extend(issued);
        }
        if !orders.is_empty() {
            self.purge()?;
        }
        self.record_audit(&crate::office::retention_entry(&orders, policy))
            .map_err(|e| match e {
                crate::audit::AuditError::Store(e) => e,
                e => Error::Io(std::io::Error::other(e.to_string())),
            })?;
        Ok(orders)
    }

    /// Under the cell's row lock: `subjects` read from the document as it
    /// is, the order issued on it, kept, and the cell moved to the new
    /// epoch, with `audit`'s entry for the order, in one transaction. No
    /// subjects: nothing is done (`None`).
    fn issue_unpurged(
        &self,
        cell_id: &str,
        subjects: impl FnOnce(&mut CellDoc) -> Result<Vec<Subject>>,
        reason: &str,
        audit: impl FnOnce(&ErasureOrder) -> Option<NewEntry>,
    ) -> Result<Option<ErasureOrder>> {
        check_id("cell", cell_id)?;
        let office = self.office()?;
        if self.office_public_key()? != Some(office.public_key()) {
            return Err(ErasureError::NotOffice.into());
        }
        let at = self.local.clock.timestamp();
        let doing = format!("erasing from cell {cell_id}");
        let fail = |e: postgres::Error| self.failed(&doing, e);
        let issued = self.replacing(cell_id, &doing, |tx, doc| {
            let subjects = subjects(doc)?;
            if subjects.is_empty() {
                return Ok(None);
            }
            let (order, new) =
                doc.issue_order(&office.key, subjects, reason, at, &self.local.actor)?;
            keep_order(tx, &order).map_err(fail)?;
            self.replace_lineage(tx, cell_id, new)?;
            if let Some(entry) = audit(&order) {
                super::audit::append(tx, &self.local.clock.now(), &entry).map_err(fail)?;
            }
            Ok(Some(order))
        })?;
        issued.ok_or_else(|| Error::not_found("cell", cell_id))
    }

    /// Runs `f` on cell `cell_id` as the database holds it, in a
    /// transaction holding the cell's row lock that commits when `f`
    /// returns `Ok`; this process's decoded copy is dropped first (the
    /// cell is about to be replaced, and the next user reloads it). `None`
    /// when the database holds no such cell.
    fn replacing<T>(
        &self,
        cell_id: &str,
        doing: &str,
        f: impl FnOnce(&mut Transaction<'_>, &mut CellDoc) -> Result<T>,
    ) -> Result<Option<T>> {
        let fail = |e: postgres::Error| self.failed(doing, e);
        let slot = self.local.slot(cell_id);
        let mut held = hold(&slot);
        *held = None;
        let mut c = self.client(doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        let locked = tx
            .query_typed_opt(
                "SELECT 1 FROM docs WHERE id = $1 FOR UPDATE",
                &[(&cell_id, Type::TEXT)],
            )
            .map_err(fail)?;
        if locked.is_none() {
            return Ok(None);
        }
        let Some(mut loaded) = self.load(&mut tx, cell_id)? else {
            return Ok(None);
        };
        let out = f(&mut tx, &mut loaded.doc)?;
        tx.commit().map_err(fail)?;
        Ok(Some(out))
    }

    /// Inside the transaction holding `cell_id`'s row lock: `doc` becomes
    /// the cell's only lineage. The old snapshot, chunks and sync states
    /// are deleted, the version raised, and the cell's rows rewritten from
    /// the new document.
    fn replace_lineage(
        &self,
        tx: &mut Transaction<'_>,
        cell_id: &str,
        mut doc: CellDoc,
    ) -> Result<()> {
        let doing = format!("moving cell {cell_id} to its new epoch");
        let fail = |e: postgres::Error| self.failed(&doing, e);
        let snapshot = doc.save();
        let mut heads = doc.heads();
        heads.sort();
        tx.execute("DELETE FROM chunks WHERE doc_id = $1", &[&cell_id])
            .map_err(fail)?;
        tx.execute(
            "UPDATE snapshots SET snapshot = $2 WHERE id = $1",
            &[&cell_id, &snapshot],
        )
        .map_err(fail)?;
        tx.execute(
            "UPDATE docs SET heads = $2, snapshot_bytes = $3, chunk_count = 0,
                 chunk_bytes = 0, version = version + 1
             WHERE id = $1",
            &[&cell_id, &heads_to_bytes(&heads), &(snapshot.len() as i64)],
        )
        .map_err(fail)?;
        // What peers were known to hold is of the old lineage.
        tx.execute("DELETE FROM sync_states WHERE doc_id = $1", &[&cell_id])
            .map_err(fail)?;
        let rows = CellRows::from_doc(&doc)?;
        super::projection::write(tx, cell_id, None, &rows).map_err(fail)?;
        // The old rows' bytes wait in the tables' files until they are
        // rewritten: said with the commit, so that a process stopped before
        // it rewrites them leaves the rewrite to the next one to start. A
        // fresh value each time, so that a rewrite that began before this
        // commit does not clear it.
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&PURGE_DUE, &new_id().into_bytes()],
        )
        .map_err(fail)?;
        Ok(())
    }

    /// Rewrites the tables an erasure deleted rows from, so that no erased
    /// value is left in their files (`VACUUM FULL` writes each table anew
    /// and removes the old files). It holds each table exclusively while it
    /// is rewritten: syncs wait for it. Every erasure ends with it; public
    /// for the benchmark that weighs an erasure against it.
    ///
    /// A transaction that began before the erasure committed may still
    /// need the old rows (a long read, the server's own autoanalyze, a
    /// dump, any other database's transaction), and `VACUUM FULL` would
    /// copy them into the new files: it first waits, up to
    /// [`READERS_WAIT`], until no such transaction is left.
    /// If one still is, the rewrite removes what it can and the database
    /// keeps saying a rewrite is due, for the next erasure, the next
    /// process to start or the serving hub's next check.
    pub fn purge(&self) -> Result<()> {
        self.run("rewriting the tables after an erasure", |c| {
            let due: Option<Vec<u8>> = c
                .query_opt("SELECT value FROM meta WHERE key = $1", &[&PURGE_DUE])?
                .map(|r| r.try_get(0))
                .transpose()?;
            let since: std::time::SystemTime = c.query_one("SELECT clock_timestamp()", &[])?.try_get(0)?;
            let waited_out = wait_for_older_readers(c, since)?;
            c.batch_execute(&format!("VACUUM FULL {PURGED}"))?;
            if waited_out {
                c.execute(
                    "DELETE FROM meta WHERE key = $1 AND value = $2",
                    &[&PURGE_DUE, &due.unwrap_or_default()],
                )?;
            } else {
                tracing::warn!(
                    database = self.target(),
                    "a transaction older than an erasure still reads the database; its tables were rewritten without the rows it no longer holds, and will be again once it ends"
                );
            }
            Ok(())
        })
    }

    /// At a process's start: rewrites the tables if an erasure was
    /// committed but its process stopped before they were rewritten.
    /// Returns whether it had to.
    pub fn finish_erasures(&self) -> Result<bool> {
        let due = self.run("looking for an unfinished erasure", |c| {
            Ok(
                c.query_opt("SELECT 1 FROM meta WHERE key = $1", &[&PURGE_DUE])?
                    .is_some(),
            )
        })?;
        if due {
            self.purge()?;
        }
        Ok(due)
    }

    /// Every order the database holds, per cell oldest epoch first: what
    /// the hub passes on in sessions.
    fn held_orders(&self, cell: Option<&str>) -> Result<Vec<ErasureOrder>> {
        let rows = self.run("reading erasure orders", |c| {
            c.query(
                "SELECT body FROM erasure_orders WHERE $1::text IS NULL OR cell_id = $1
                 ORDER BY cell_id, epoch",
                &[&cell],
            )
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let bytes: Vec<u8> = r
                .try_get(0)
                .map_err(|e| self.failed("reading erasure orders", e))?;
            // Checked when kept; a row that no longer decodes is not passed on.
            if let Ok(o) = ErasureOrder::decode(&bytes) {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// The epoch of the latest order held, per cell of `cells` that has one.
    fn latest_orders(&self, cells: &[String]) -> Result<BTreeMap<String, u32>> {
        let rows = self.run("reading erasure orders", |c| {
            c.query(
                "SELECT cell_id, max(epoch) FROM erasure_orders
                 WHERE cell_id = ANY($1::text[]) GROUP BY cell_id",
                &[&cells],
            )
        })?;
        let mut out = BTreeMap::new();
        for r in rows {
            let got = (|| Ok::<_, postgres::Error>((r.try_get(0)?, r.try_get::<_, i64>(1)?)))()
                .map_err(|e| self.failed("reading erasure orders", e))?;
            if let Ok(epoch) = u32::try_from(got.1) {
                out.insert(got.0, epoch);
            }
        }
        Ok(out)
    }

    /// Moves a held cell to the newest epoch the orders held for it lead
    /// to, rebuilt from the cut or from `whole` (a peer's document of that
    /// epoch), under its row lock. `None`: nothing to do (not held, or
    /// already there); `Some(false)`: it cannot be built yet. The caller
    /// rewrites the tables after ([`PgStorage::purge`]).
    fn follow(&self, cell_id: &str, whole: Option<CellDoc>) -> Result<Option<bool>> {
        let orders = self.held_orders(Some(cell_id))?;
        let doing = format!("following erasure orders for cell {cell_id}");
        let now = self.local.clock.timestamp();
        let moved = self.replacing(cell_id, &doing, |tx, doc| {
            // The hub's own edits are the office's, written by each
            // process's own actor: the office issues orders here, so none
            // of them is after a cut it did not see; an order issued
            // elsewhere is followed from its cut.
            Ok(
                match doc.follow_orders(&orders, whole, &self.local.actor, now)? {
                    Followed::Nothing => None,
                    Followed::Awaiting => Some(false),
                    Followed::Moved(new) => {
                        self.replace_lineage(tx, cell_id, *new)?;
                        Some(true)
                    }
                },
            )
        })?;
        Ok(moved.flatten())
    }

    /// [`Replica::take_erasure_orders`]: each order checked against the
    /// office key the database trusts, kept, and followed where a held
    /// cell's new epoch can be rebuilt here.
    pub(super) fn take_orders(&self, orders: &[ErasureOrder]) -> Result<OrdersTaken> {
        let mut taken = OrdersTaken::default();
        let Some(office) = self.office_public_key()? else {
            return Ok(taken);
        };
        let mut cells = BTreeSet::new();
        for o in orders {
            if !o.signed_by(&office) {
                taken.refused.push(
                    ErasureError::Forged {
                        cell: o.cell.clone(),
                    }
                    .to_string(),
                );
                continue;
            }
            let kept = self.run("keeping an erasure order", |c| {
                let mut tx = c.transaction()?;
                let kept = keep_order(&mut tx, o)?;
                tx.commit()?;
                Ok(kept)
            })?;
            if kept {
                taken.new += 1;
                cells.insert(o.cell.clone());
            }
        }
        for cell in cells {
            match self.follow(&cell, None) {
                Ok(Some(true)) => taken.applied.push(cell),
                Ok(Some(false)) => taken.awaiting.push(cell),
                Ok(None) => {}
                Err(e) => taken.refused.push(e.to_string()),
            }
        }
        if !taken.applied.is_empty() {
            self.purge()?;
        }
        Ok(taken)
    }

    /// [`Replica::awaiting_epochs`]: which of `cells` the database holds at
    /// an older epoch than an order it holds.
    pub(super) fn awaiting(&self, cells: &[String]) -> Result<BTreeSet<String>> {
        let latest = self.latest_orders(cells)?;
        let mut out = BTreeSet::new();
        for (cell, epoch) in latest {
            let behind = match self.with_doc(&cell, |d| Ok(d.epoch() < epoch)) {
                Ok(b) => b,
                Err(Error::NotFound { .. }) => false,
                Err(e) => return Err(e),
            };
            if behind {
                out.insert(cell);
            }
        }
        Ok(out)
    }

    /// What [`Replica::merge_from`] does with a peer's whole document
    /// `incoming` of cell `id` before it merges: a copy of a cell new here
    /// from before an order held for it is refused; a later epoch of a held
    /// cell than the one held replaces it if an order held here leads to
    /// it, and never merges with it (`None`: it is now the cell's lineage).
    /// `Some`: merge it as usual.
    pub(super) fn whole_epoch(
        &self,
        id: &str,
        incoming: CellDoc,
        exists: bool,
    ) -> Result<Option<CellDoc>> {
        let latest = self.latest_orders(&[id.to_string()])?;
        let latest = latest.get(id).copied();
        if !exists {
            if let Some(latest) = latest.filter(|e| *e > incoming.epoch()) {
                return Err(Error::Refused {
                    doc: id.to_string(),
                    reason: format!("it is a copy from before the office erased data from the cell (epoch {latest} is current); the sender must sync with the hub first"),
                });
            }
            return Ok(Some(incoming));
        }
        let held = self.with_doc(id, |d| Ok(d.epoch()))?;
        if incoming.epoch() <= held {
            return Ok(Some(incoming));
        }
        match self.follow(id, Some(incoming))? {
            Some(true) => {
                self.purge()?;
                Ok(None)
            }
            _ => Err(Error::Refused {
                doc: id.to_string(),
                reason: "it is a later epoch of the cell than any erasure order this hub holds; sync the office's hub first".into(),
            }),
        }
    }

    /// [`Replica::erasure_orders`].
    pub(super) fn orders_to_pass_on(&self) -> Result<Vec<ErasureOrder>> {
        self.held_orders(None)
    }
}

/// Keeps an order (already checked); false if it was held. A second,
/// different order for the same epoch of a cell is not kept: the office
/// issues one per epoch, under the cell's row lock.
fn keep_order(
    tx: &mut Transaction<'_>,
    order: &ErasureOrder,
) -> std::result::Result<bool, postgres::Error> {
    let added = tx.execute(
        "INSERT INTO erasure_orders (cell_id, epoch, body) VALUES ($1, $2, $3)
         ON CONFLICT (cell_id, epoch) DO NOTHING",
        &[&order.cell, &(order.epoch as i64), &order.encode()],
    )?;
    Ok(added == 1)
}

/// How long an erasure's rewrite waits for transactions that began before
/// it to end: a dashboard read or a sync takes well under a second.
const READERS_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits until no other session holds a snapshot or a transaction id from
/// a transaction that began before `since`. Any database's count: the
/// rewrite's own snapshot reaches back to the oldest transaction running on
/// the server, and rows that snapshot might see are kept. (A role without
/// `pg_read_all_stats` sees only its own sessions in `pg_stat_activity`.)
/// False when one still did after [`READERS_WAIT`].
fn wait_for_older_readers(
    c: &mut postgres::Client,
    since: std::time::SystemTime,
) -> std::result::Result<bool, postgres::Error> {
    let started = std::time::Instant::now();
    loop {
        let older: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid()
                   AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
                   AND xact_start < $1",
                &[&since],
            )?
            .try_get(0)?;
        if older == 0 {
            return Ok(true);
        }
        if started.elapsed() >= READERS_WAIT {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
