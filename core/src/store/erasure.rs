//! Erasure in the store: issuing an order (the office), keeping and
//! passing on the orders it has heard of, and replacing a cell's lineage
//! with its new epoch so that no erased byte is left in the file (see
//! [`crate::erasure`] for the protocol).

use super::{heads_to_bytes, projection, Cached, Inner, Store};
use crate::audit::{CountKey, DeviceAction};
use crate::cell::{CellDoc, Followed};
use crate::erasure::{ErasureError, ErasureOrder, Retention, Subject};
use crate::error::{Error, Result};
use crate::identity::KeyPair;
use rusqlite::{params, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};

/// What taking a peer's orders did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrdersTaken {
    /// Orders new to this store, each checked against the office key.
    pub new: usize,
    /// Cells moved to their new epoch here (rebuilt from the cut this store
    /// held).
    pub applied: Vec<String>,
    /// Cells this store holds whose new epoch it could not build (it lacks
    /// changes the office cut at): a peer must send the new document whole.
    pub awaiting: Vec<String>,
    /// Orders refused: not the office's, or malformed for this store.
    pub refused: Vec<String>,
}

impl Store {
    /// The office orders an erasure in `cell_id`: the cell's new epoch
    /// without `subjects`, built here, and the signed order every replica
    /// will follow. The hub's own copy moves to the new epoch at once and
    /// the file is rewritten without the erased bytes.
    pub fn issue_erasure(
        &self,
        office: &KeyPair,
        cell_id: &str,
        subjects: Vec<Subject>,
        reason: &str,
    ) -> Result<ErasureOrder> {
        let order = self.issue_unpurged(office, cell_id, subjects, reason)?;
        self.purge()?;
        self.notify(std::slice::from_ref(&order.cell));
        Ok(order)
    }

    /// Applies a retention policy to every cell this (office) store holds
    /// on `today`: one order per cell with records to let go, then the
    /// file rewritten once. Returns the orders issued.
    pub fn apply_retention(
        &self,
        office: &KeyPair,
        policy: &Retention,
        today: chrono::NaiveDate,
        reason: &str,
    ) -> Result<Vec<ErasureOrder>> {
        let ids = self.lock().doc_ids()?;
        let mut orders = Vec::new();
        for id in ids {
            let subjects = self.with_doc(&id, |d| policy.subjects(d, today))?;
            if !subjects.is_empty() {
                orders.push(self.issue_unpurged(office, &id, subjects, reason)?);
            }
        }
        if !orders.is_empty() {
            self.purge()?;
            let cells: Vec<String> = orders.iter().map(|o| o.cell.clone()).collect();
            self.notify(&cells);
        }
        Ok(orders)
    }

    fn issue_unpurged(
        &self,
        office: &KeyPair,
        cell_id: &str,
        subjects: Vec<Subject>,
        reason: &str,
    ) -> Result<ErasureOrder> {
        crate::model::check_id("cell", cell_id)?;
        if self.office_public_key()? != Some(office.public_key()) {
            return Err(ErasureError::NotOffice.into());
        }
        let at = self.clock().timestamp();
        let order = self.lock().write(|inner| {
            let actor = inner.actor.clone();
            let entry = inner.doc(cell_id)?;
            let (order, doc) = entry
                .doc
                .issue_order(office, subjects, reason, at, &actor)?;
            keep_order(inner, &order)?;
            inner.replace_lineage(cell_id, doc)?;
            Ok(order)
        })?;
        Ok(order)
    }

    /// Every order this store holds, oldest epoch first per cell: what it
    /// passes on in sessions and bundles.
    pub fn erasure_orders(&self) -> Result<Vec<ErasureOrder>> {
        let inner = self.lock();
        let mut s = inner
            .conn
            .prepare_cached("SELECT body FROM erasure_orders ORDER BY cell_id, epoch")?;
        let rows = s.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for bytes in rows {
            // Checked when kept; a row that no longer decodes is not passed on.
            if let Ok(o) = ErasureOrder::decode(&bytes?) {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Takes orders a peer passed on: each checked against the office key
    /// this store pinned (a store that pinned none takes none: it could not
    /// tell the office's orders from anyone's), kept, and followed for the
    /// cells this store holds where it can rebuild the new epoch itself.
    pub fn take_erasure_orders(&self, orders: &[ErasureOrder]) -> Result<OrdersTaken> {
        let mut taken = OrdersTaken::default();
        let Some(office) = self.office_public_key()? else {
            return Ok(taken);
        };
        let mut cells = BTreeSet::new();
        {
            let mut inner = self.lock();
            inner.write(|inner| {
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
                    if keep_order(inner, o)? {
                        taken.new += 1;
                        cells.insert(o.cell.clone());
                    }
                }
                Ok(())
            })?;
        }
        // Every cell first, then the file rewritten once.
        let now = self.clock().timestamp();
        for cell in cells {
            match self
                .lock()
                .write(|inner| inner.follow_orders(&cell, None, now))
            {
                Ok(Some(true)) => taken.applied.push(cell),
                Ok(Some(false)) => taken.awaiting.push(cell),
                Ok(None) => {}
                Err(e) => taken.refused.push(e.to_string()),
            }
        }
        if !taken.applied.is_empty() {
            self.purge()?;
            self.notify(&taken.applied);
        }
        Ok(taken)
    }

    /// Whether this store holds `cell_id` at an older epoch than an order
    /// it holds, waiting for the new document from a peer.
    pub fn awaits_epoch(&self, cell_id: &str) -> Result<bool> {
        let mut inner = self.lock();
        let Some(latest) = inner.latest_order(cell_id)? else {
            return Ok(false);
        };
        inner.held_before(cell_id, latest)
    }

    /// Which of `cells` this store waits for the new epoch of (see
    /// [`Store::awaits_epoch`]), with one query for the orders: only a
    /// cell that has one is looked at (its document read for its epoch,
    /// from the cache when it is there).
    pub fn awaiting_epochs(&self, cells: &[String]) -> Result<BTreeSet<String>> {
        let mut inner = self.lock();
        let latest = inner.latest_orders()?;
        let mut out = BTreeSet::new();
        for cell in cells {
            if let Some(&epoch) = latest.get(cell) {
                if inner.held_before(cell, epoch)? {
                    out.insert(cell.clone());
                }
            }
        }
        Ok(out)
    }

    /// Rewrites the file so that nothing deleted is left in it: every page
    /// written afresh (VACUUM), then the write-ahead log emptied and cut to
    /// nothing. A reader holding an old snapshot open (another program on
    /// the same file) can keep the log from being cut until it lets go; the
    /// next erasure or `silin compact` finishes it.
    pub(super) fn purge(&self) -> Result<()> {
        self.lock().purge()
    }
}

/// Keeps an order (already checked); false if it was held. A second,
/// different order for the same epoch of a cell is not kept: the office
/// issues one per epoch, under its write lock.
fn keep_order(inner: &Inner, order: &ErasureOrder) -> Result<bool> {
    let added = inner
        .conn
        .prepare_cached(
            "INSERT OR IGNORE INTO erasure_orders (cell_id, epoch, body) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![order.cell, order.epoch as i64, order.encode()])?;
    Ok(added == 1)
}

/// The `meta` row that says an erasure's old bytes may still lie in the
/// file: written with the new lineage, cleared once the file is rewritten.
const PURGE_DUE: &str = "erasure_purge_due";

fn purge(conn: &rusqlite::Connection) -> Result<()> {
    conn.execute_batch(&format!(
        "VACUUM; DELETE FROM meta WHERE key = '{PURGE_DUE}'; PRAGMA wal_checkpoint(TRUNCATE);"
    ))?;
    Ok(())
}

/// At open: rewrites the file if an erasure was committed but the program
/// stopped before its bytes were rewritten out of the file.
pub(super) fn finish_purge(conn: &rusqlite::Connection) -> Result<()> {
    let due = conn
        .prepare("SELECT 1 FROM meta WHERE key = ?1")?
        .query_row([PURGE_DUE], |_| Ok(()))
        .optional()?
        .is_some();
    if due {
        purge(conn)?;
    }
    Ok(())
}

impl Inner {
    /// See [`Store::purge`]; outside any transaction.
    pub(super) fn purge(&self) -> Result<()> {
        purge(&self.conn)
    }

    /// The epoch of the latest order held for `cell_id`.
    pub(super) fn latest_order(&self, cell_id: &str) -> Result<Option<u32>> {
        let latest: Option<i64> = self
            .conn
            .prepare_cached("SELECT max(epoch) FROM erasure_orders WHERE cell_id = ?1")?
            .query_row([cell_id], |r| r.get(0))?;
        Ok(latest.and_then(|e| u32::try_from(e).ok()))
    }

    /// The epoch of the latest order held, per cell that has one.
    fn latest_orders(&self) -> Result<BTreeMap<String, u32>> {
        let mut s = self
            .conn
            .prepare_cached("SELECT cell_id, max(epoch) FROM erasure_orders GROUP BY cell_id")?;
        let rows = s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (cell, epoch) = row?;
            if let Ok(epoch) = u32::try_from(epoch) {
                out.insert(cell, epoch);
            }
        }
        Ok(out)
    }

    /// Whether this store holds `cell_id` at an epoch before `epoch`
    /// (false when it does not hold the cell).
    fn held_before(&mut self, cell_id: &str, epoch: u32) -> Result<bool> {
        match self.doc_read(cell_id) {
            Ok(e) => Ok(e.doc.epoch() < epoch),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The orders held for `cell_id` after `epoch`, in epoch order.
    fn orders_after(&self, cell_id: &str, epoch: u32) -> Result<Vec<ErasureOrder>> {
        let mut s = self.conn.prepare_cached(
            "SELECT body FROM erasure_orders WHERE cell_id = ?1 AND epoch > ?2 ORDER BY epoch",
        )?;
        let rows = s.query_map(params![cell_id, epoch as i64], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for bytes in rows {
            out.push(ErasureOrder::decode(&bytes?).map_err(Error::from)?);
        }
        Ok(out)
    }

    /// Inside [`Inner::write`]: moves a held cell to the newest epoch its
    /// orders lead to — rebuilt here from the cut, or from `whole` (a
    /// peer's document of that epoch). `None`: nothing to do (not held, or
    /// already there); `Some(false)`: it cannot be built yet. The caller
    /// rewrites the file after the commit ([`Store::purge`]).
    pub(super) fn follow_orders(
        &mut self,
        cell_id: &str,
        whole: Option<CellDoc>,
        now: i64,
    ) -> Result<Option<bool>> {
        let exists = self
            .conn
            .prepare_cached("SELECT 1 FROM docs WHERE id = ?1")?
            .query_row([cell_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let actor = self.actor.clone();
        let held = self.doc(cell_id)?.doc.epoch();
        let chain = self.orders_after(cell_id, held)?;
        let entry = self.doc(cell_id)?;
        let new = match entry.doc.follow_orders(&chain, whole, &actor, now)? {
            Followed::Nothing => return Ok(None),
            Followed::Awaiting => return Ok(Some(false)),
            Followed::Moved(new) => *new,
        };
        let epoch = new.epoch();
        self.replace_lineage(cell_id, new)?;
        // The device's own log says when its copy was erased, with the
        // write that erased it.
        self.audit(
            DeviceAction::ErasureFollowed,
            Some(cell_id),
            &[
                (CountKey::Epoch, i64::from(epoch)),
                (CountKey::Orders, i64::from(epoch.saturating_sub(held))),
            ],
        )?;
        Ok(Some(true))
    }

    /// Inside [`Inner::write`]: `doc` becomes the cell's only lineage. The
    /// old snapshot, chunks and sync states go (their bytes are gone from
    /// the file after [`Store::purge`]), and every projection row is
    /// rewritten from the new document.
    pub(super) fn replace_lineage(&mut self, cell_id: &str, mut doc: CellDoc) -> Result<()> {
        let snapshot = doc.save();
        let mut heads = doc.heads();
        heads.sort();
        self.conn
            .prepare_cached("DELETE FROM chunks WHERE doc_id = ?1")?
            .execute([cell_id])?;
        self.conn
            .prepare_cached("UPDATE snapshots SET snapshot = ?2 WHERE id = ?1")?
            .execute(params![cell_id, snapshot])?;
        self.conn
            .prepare_cached(
                "UPDATE docs SET heads = ?2, snapshot_bytes = ?3, chunk_count = 0, chunk_bytes = 0 WHERE id = ?1",
            )?
            .execute(params![cell_id, heads_to_bytes(&heads), snapshot.len() as i64])?;
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, x'01')")?
            .execute([PURGE_DUE])?;
        // What peers were known to hold is of the old lineage.
        self.conn
            .prepare_cached("DELETE FROM sync_states WHERE doc_id = ?1")?
            .execute([cell_id])?;
        projection::write_cell(&self.conn, cell_id, &doc)?;
        self.written.push(cell_id.to_string());
        self.cache.insert(
            cell_id.to_string(),
            Cached {
                doc,
                persisted: heads,
                chunk_count: 0,
                chunk_bytes: 0,
            },
        );
        Ok(())
    }
}
