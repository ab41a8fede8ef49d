//! [`PgStorage`] as a sync [`Replica`]: cell documents, peers, seen
//! sessions and sync states in PostgreSQL, shared by every hub process.
//!
//! A process keeps recently used documents decoded ([`Local`]), each with
//! the `docs.version` it was built from. Nothing in that cache is trusted
//! until the database confirms it: a read first asks for the row's version
//! (one small query) and reloads on a difference; a write locks the row
//! (`SELECT … FOR UPDATE`), reloads inside its transaction if the version
//! moved, runs the trust boundary ([`absorb_checked`]) on the latest
//! document, and commits the new chunk (numbered from the locked row's
//! count), the raised version and the cell's projection rows together. A
//! sync message that carries no changes cannot change a document: it is
//! answered from the revalidated copy, without the lock. The in-process
//! mutex on a cached document only keeps two threads of one process off the
//! same decoded copy; which write follows which is decided by the row lock,
//! and a chunk number taken twice by the primary key. See
//! hub/doc/postgres.md.

use super::projection::{self, last_of};
use super::{PgOptions, PgStorage};
use automerge::sync::{Message, State};
use automerge::{ActorId, ChangeHash};
use postgres::types::Type;
use postgres::{GenericClient, Transaction};
use silin_core::cell::{CellDoc, Touched};
use silin_core::identity::{Certificate, KeyPair, Office, Role, Scope, CLOCK_SKEW_SECS};
use silin_core::model::check_id;
use silin_core::replica::{absorb_checked, admit_new, decode_whole, holds_waiting, Absorbed};
use silin_core::store::{heads_from_bytes, heads_to_bytes, CellRows, DocHeadsRow, PeerRefs};
use silin_core::{Clock, Error, Replica, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// What one hub process keeps beside its pool.
pub(crate) struct Local {
    /// This process's own automerge actor: a migration may write a change,
    /// and two processes writing as one actor would number their changes
    /// alike.
    pub(super) actor: ActorId,
    pub(super) clock: Clock,
    compact_after: i64,
    cache: Mutex<DocCache>,
    /// The hub's device id and key, shared by every process through `meta`;
    /// fixed once created, so read once.
    pub(super) identity: OnceLock<super::hub::Identity>,
    /// The office key [`PgStorage::enrol_hub`] was given, to renew the
    /// hub's certificate with; never written to the database.
    pub(super) office: Mutex<Option<Office>>,
}

impl Local {
    pub(super) fn new(options: PgOptions) -> Local {
        Local {
            actor: ActorId::random(),
            clock: options.clock,
            compact_after: options.compact_after_chunks.max(1),
            cache: Mutex::new(DocCache {
                capacity: options.cache_docs.max(1),
                tick: 0,
                slots: HashMap::new(),
            }),
            identity: OnceLock::new(),
            office: Mutex::new(None),
        }
    }

    /// The cache slot of document `id`, made empty if there is none.
    pub(super) fn slot(&self, id: &str) -> Slot {
        // The map is only ever touched briefly and left consistent.
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .slot(id)
    }
}

/// A decoded document and what it was built from.
pub(super) struct Loaded {
    pub(super) doc: CellDoc,
    /// The `docs.version` it was loaded at or written as.
    version: i64,
    /// Its heads as stored (sorted): what a peer's changes are checked
    /// against and the next chunk follows.
    heads: Vec<ChangeHash>,
    /// Its projection rows, when this process wrote them (and so knows
    /// what the tables hold for `version` without reading them); `None`
    /// after a load.
    rows: Option<CellRows>,
}

pub(super) type Slot = Arc<Mutex<Option<Loaded>>>;

/// Least recently used slots. An evicted slot still in use by a thread
/// lives on until that thread is done; the next user makes a new one.
struct DocCache {
    capacity: usize,
    tick: u64,
    slots: HashMap<String, (u64, Slot)>,
}

impl DocCache {
    fn slot(&mut self, id: &str) -> Slot {
        self.tick += 1;
        if let Some((t, s)) = self.slots.get_mut(id) {
            *t = self.tick;
            return s.clone();
        }
        if self.slots.len() >= self.capacity {
            // Linear: a few hundred entries, scanned only when a document
            // new to the cache comes in.
            if let Some(oldest) = self
                .slots
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
            {
                self.slots.remove(&oldest);
            }
        }
        let s = Slot::default();
        self.slots.insert(id.to_string(), (self.tick, s.clone()));
        s
    }
}

/// The slot's document for this thread alone. A thread that panicked while
/// holding it may have left it half-changed: it is dropped, and reloaded
/// from the database by whoever needs it next.
pub(super) fn hold(slot: &Slot) -> MutexGuard<'_, Option<Loaded>> {
    match slot.lock() {
        Ok(g) => g,
        Err(poisoned) => {
            let mut g = poisoned.into_inner();
            *g = None;
            slot.clear_poison();
            g
        }
    }
}

/// Snapshot, chunks and recorded heads in one statement, so one snapshot
/// of the database: a compaction committed in between cannot make the
/// document look damaged.
const LOAD: &str = "SELECT d.version, d.heads, s.snapshot,
        ARRAY(SELECT c.bytes FROM chunks c WHERE c.doc_id = d.id ORDER BY c.seq)
    FROM docs d JOIN snapshots s ON s.id = d.id WHERE d.id = $1";

impl PgStorage {
    fn now(&self) -> i64 {
        self.local.clock.timestamp()
    }

    /// Decodes document `id` as the database holds it (`None`: it holds no
    /// such document). Bytes that do not decode, or do not reach the heads
    /// recorded beside them, are [`Error::Damaged`], never a panic.
    pub(super) fn load(&self, c: &mut impl GenericClient, id: &str) -> Result<Option<Loaded>> {
        let doing = format!("reading cell {id}");
        let fail = |e: postgres::Error| self.failed(&doing, e);
        let Some(row) = c.query_opt(LOAD, &[&id]).map_err(fail)? else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(fail)?;
        let recorded: Vec<u8> = row.try_get(1).map_err(fail)?;
        let snapshot: Vec<u8> = row.try_get(2).map_err(fail)?;
        let chunks: Vec<Vec<u8>> = row.try_get(3).map_err(fail)?;
        // Applied at once: automerge takes a hundred chunks in one call
        // about ten times faster than in a hundred.
        let chunks = chunks.concat();
        let damaged = |reason: String| Error::Damaged {
            doc: id.to_string(),
            reason,
        };
        let actor = &self.local.actor;
        let mut doc = silin_core::guard::contain(|| -> Result<CellDoc> {
            let mut doc = CellDoc::load(&snapshot, actor)?;
            if !chunks.is_empty() {
                doc.apply_bytes(&chunks)?;
            }
            Ok(doc)
        })
        .map_err(|g| damaged(g.to_string()))?
        .map_err(|e| damaged(e.to_string()))?;
        let mut heads = doc.heads();
        heads.sort();
        let recorded = heads_from_bytes(&recorded)
            .ok_or_else(|| damaged("its stored heads are malformed".into()))?;
        if heads != recorded {
            return Err(damaged(
                "its changes do not reach the heads the database recorded".into(),
            ));
        }
        Ok(Some(Loaded {
            doc,
            version,
            heads,
            rows: None,
        }))
    }

    /// Runs `f` on document `cell_id` as the database holds it now: the
    /// cached copy if its version is still the row's, else a fresh load.
    /// The connection goes back to the pool before `f` runs; if `f` fails,
    /// the copy it may have half-changed is dropped.
    pub(super) fn with_doc<T>(
        &self,
        cell_id: &str,
        f: impl FnOnce(&mut CellDoc) -> Result<T>,
    ) -> Result<T> {
        check_id("cell", cell_id)?;
        let slot = self.local.slot(cell_id);
        let mut held = hold(&slot);
        {
            let doing = format!("reading cell {cell_id}");
            let mut c = self.client(&doing)?;
            let current = match held.as_ref() {
                None => false,
                Some(loaded) => {
                    let row = c
                        .query_typed_opt(
                            "SELECT version FROM docs WHERE id = $1",
                            &[(&cell_id, Type::TEXT)],
                        )
                        .map_err(|e| self.failed(&doing, e))?;
                    let version: Option<i64> = row
                        .map(|r| r.try_get(0))
                        .transpose()
                        .map_err(|e| self.failed(&doing, e))?;
                    version == Some(loaded.version)
                }
            };
            if !current {
                *held = None;
                *held = self.load(&mut *c, cell_id)?;
            }
        }
        let Some(loaded) = held.as_mut() else {
            return Err(Error::not_found("cell", cell_id));
        };
        let out = f(&mut loaded.doc);
        if out.is_err() {
            *held = None;
        }
        out
    }

    /// Runs `f` on cell `cell_id` as the database holds it now (the office's
    /// reads: a list's matching, the dashboard, exports). The decoded copy
    /// is this process's cache, revalidated first; `f` must only read.
    pub fn read_cell<T>(
        &self,
        cell_id: &str,
        f: impl FnOnce(&mut CellDoc) -> Result<T>,
    ) -> Result<T> {
        self.with_doc(cell_id, f)
    }

    /// The office's own edit of several cells and the caller's own rows in
    /// one transaction: `edit` runs on each of `cells` (as the hub's actor),
    /// then `then` on the transaction; everything commits together or
    /// nothing does. Rows are locked in id order, so two such edits never
    /// wait on each other in a cycle; each cell is written and let go of
    /// before the next is decoded, so a list over every cell of a county
    /// holds one document in memory at a time. Cached copies are not used
    /// or updated: their version no longer matches, and the next reader
    /// reloads.
    pub fn edit_cells_then<T, E: From<Error>>(
        &self,
        cells: &[String],
        mut edit: impl FnMut(&str, &mut CellDoc) -> Result<()>,
        then: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let mut ids: Vec<&str> = cells.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in &ids {
            check_id("cell", id).map_err(Error::from)?;
        }
        let doing = "writing the office's edit";
        let fail = |e: postgres::Error| self.failed(doing, e);
        let mut c = self.client(doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        for id in ids {
            let row = tx
                .query_typed_opt(
                    "SELECT chunk_count FROM docs WHERE id = $1 FOR UPDATE",
                    &[(&id, Type::TEXT)],
                )
                .map_err(fail)?
                .ok_or_else(|| Error::not_found("cell", id))?;
            let chunk_count: i64 = row.try_get(0).map_err(fail)?;
            let mut loaded = self
                .load(&mut tx, id)?
                .ok_or_else(|| Error::not_found("cell", id))?;
            let before = loaded.heads.clone();
            edit(id, &mut loaded.doc)?;
            let mut after = loaded.doc.heads();
            after.sort();
            if after == before {
                continue;
            }
            self.persist(
                &mut tx,
                id,
                &mut loaded,
                &before,
                chunk_count,
                &Touched::All,
            )?;
        }
        let out = then(&mut tx)?;
        tx.commit().map_err(fail)?;
        Ok(out)
    }

    /// The trust boundary and the write, for a cell the database holds: one
    /// transaction holding the document's row lock, on the latest document.
    /// On `Err` nothing is written and the decoded copy is dropped (it may
    /// hold part of the refused input); the error is `f`'s or the trust
    /// boundary's unchanged, so a refusal stays [`Error::Refused`].
    fn absorb(
        &self,
        cell_id: &str,
        sender: Option<Role>,
        f: impl FnOnce(&mut CellDoc) -> Result<()>,
    ) -> Result<Absorbed> {
        check_id("cell", cell_id)?;
        let doing = format!("writing cell {cell_id}");
        let fail = |e: postgres::Error| self.failed(&doing, e);
        let slot = self.local.slot(cell_id);
        let mut held = hold(&slot);
        let mut c = self.client(&doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        let row = tx
            .query_typed_opt(
                "SELECT version, chunk_count FROM docs WHERE id = $1 FOR UPDATE",
                &[(&cell_id, Type::TEXT)],
            )
            .map_err(fail)?;
        let Some(row) = row else {
            *held = None;
            return Err(Error::not_found("cell", cell_id));
        };
        let version: i64 = row.try_get(0).map_err(fail)?;
        let chunk_count: i64 = row.try_get(1).map_err(fail)?;
        // Changes an earlier call left waiting for a dependency were never
        // checked, and maybe not against this sender: start from the row.
        if held.as_mut().is_some_and(|l| holds_waiting(&mut l.doc)) {
            *held = None;
        }
        if held.as_ref().map(|l| l.version) != Some(version) {
            *held = None;
            *held = self.load(&mut tx, cell_id)?;
        }
        let Some(loaded) = held.as_mut() else {
            return Err(Error::not_found("cell", cell_id));
        };
        let before = loaded.heads.clone();
        let checked = absorb_checked(&mut loaded.doc, &before, sender, f);
        let waiting = checked.is_ok() && holds_waiting(&mut loaded.doc);
        let touched = match checked {
            Ok(Some(touched)) => touched,
            // Nothing to write; the transaction ends with the lock.
            Ok(None) => {
                return Ok(Absorbed {
                    changed: false,
                    waiting,
                    wrote: false,
                })
            }
            Err(e) => {
                *held = None;
                return Err(e);
            }
        };
        let written = self
            .persist(&mut tx, cell_id, loaded, &before, chunk_count, &touched)
            .and_then(|w| tx.commit().map(|()| w).map_err(fail));
        match written {
            Ok((version, heads, rows)) => {
                loaded.version = version;
                loaded.heads = heads;
                loaded.rows = Some(rows);
                // The hub neither migrates nor yields on a peer's changes.
                Ok(Absorbed {
                    changed: true,
                    waiting,
                    wrote: false,
                })
            }
            Err(e) => {
                *held = None;
                Err(e)
            }
        }
    }

    /// Writes what `loaded` holds beyond `before` as the document's next
    /// chunk (or, once chunks pile up, as a new snapshot), raises its
    /// version and brings its projections along. Inside the transaction
    /// that locked the row, whose `chunk_count` numbers the chunk. Returns
    /// the new version, heads and projection rows.
    fn persist(
        &self,
        tx: &mut Transaction<'_>,
        cell_id: &str,
        loaded: &mut Loaded,
        before: &[ChangeHash],
        chunk_count: i64,
        touched: &Touched,
    ) -> Result<(i64, Vec<ChangeHash>, CellRows)> {
        let doing = format!("writing cell {cell_id}");
        let fail = |e: postgres::Error| self.failed(&doing, e);
        let doc = &mut loaded.doc;
        let migrated = doc.migrate(self.now())?;
        let mut heads = doc.heads();
        heads.sort();
        // The rows this process wrote last, with what the merge touched
        // read again; the whole cell only without them or after a
        // migration. `projection::write` then writes only what differs.
        let rows = match (&loaded.rows, migrated) {
            (Some(old), false) => old.refreshed(doc, touched)?,
            _ => CellRows::from_doc(doc)?,
        };
        let row = if chunk_count + 1 >= self.local.compact_after {
            let snapshot = doc.save();
            tx.execute_typed(
                "UPDATE snapshots SET snapshot = $2 WHERE id = $1",
                &[(&cell_id, Type::TEXT), (&snapshot, Type::BYTEA)],
            )
            .map_err(fail)?;
            tx.execute_typed(
                "DELETE FROM chunks WHERE doc_id = $1",
                &[(&cell_id, Type::TEXT)],
            )
            .map_err(fail)?;
            tx.query_typed_one(
                "UPDATE docs SET heads = $2, snapshot_bytes = $3, chunk_count = 0,
                     chunk_bytes = 0, version = version + 1
                 WHERE id = $1 RETURNING version",
                &[
                    (&cell_id, Type::TEXT),
                    (&heads_to_bytes(&heads), Type::BYTEA),
                    (&(snapshot.len() as i64), Type::INT8),
                ],
            )
            .map_err(fail)?
        } else {
            let bytes = doc.save_after(before);
            tx.execute_typed(
                "INSERT INTO chunks (doc_id, seq, bytes) VALUES ($1, $2, $3)",
                &[
                    (&cell_id, Type::TEXT),
                    (&chunk_count, Type::INT8),
                    (&bytes, Type::BYTEA),
                ],
            )
            .map_err(fail)?;
            tx.query_typed_one(
                "UPDATE docs SET heads = $2, chunk_count = chunk_count + 1,
                     chunk_bytes = chunk_bytes + $3, version = version + 1
                 WHERE id = $1 RETURNING version",
                &[
                    (&cell_id, Type::TEXT),
                    (&heads_to_bytes(&heads), Type::BYTEA),
                    (&(bytes.len() as i64), Type::INT8),
                ],
            )
            .map_err(fail)?
        };
        let version: i64 = row.try_get(0).map_err(fail)?;
        projection::write(tx, cell_id, loaded.rows.as_ref(), &rows).map_err(fail)?;
        Ok((version, heads, rows))
    }

    /// Files a cell new to the database. False when another process filed
    /// it first (nothing is written then): merge into that one instead.
    fn insert_new(&self, cell_id: &str, mut doc: CellDoc) -> Result<bool> {
        let doing = format!("storing new cell {cell_id}");
        let fail = |e: postgres::Error| self.failed(&doing, e);
        let snapshot = doc.save();
        let mut heads = doc.heads();
        heads.sort();
        let rows = CellRows::from_doc(&doc)?;
        let slot = self.local.slot(cell_id);
        let mut held = hold(&slot);
        let mut c = self.client(&doing)?;
        let mut tx = c.transaction().map_err(fail)?;
        let filed = tx
            .query_opt(
                "INSERT INTO docs (id, heads, snapshot_bytes) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO NOTHING RETURNING version",
                &[&cell_id, &heads_to_bytes(&heads), &(snapshot.len() as i64)],
            )
            .map_err(fail)?;
        let Some(filed) = filed else {
            return Ok(false);
        };
        let version: i64 = filed.try_get(0).map_err(fail)?;
        tx.execute(
            "INSERT INTO snapshots (id, snapshot) VALUES ($1, $2)",
            &[&cell_id, &snapshot],
        )
        .map_err(fail)?;
        // A document new to the database has no rows yet.
        projection::write(&mut tx, cell_id, Some(&CellRows::default()), &rows).map_err(fail)?;
        tx.commit().map_err(fail)?;
        *held = Some(Loaded {
            doc,
            version,
            heads,
            rows: Some(rows),
        });
        Ok(true)
    }

    /// One small statement outside any transaction: `f` runs it, its
    /// failure is said to have happened while `doing`.
    pub(super) fn run<T>(
        &self,
        doing: &str,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let mut c = self.client(doing)?;
        f(&mut c).map_err(|e| self.failed(doing, e))
    }
}

impl Replica for PgStorage {
    fn clock(&self) -> &Clock {
        &self.local.clock
    }

    fn device_key(&self) -> Result<KeyPair> {
        Ok(self.identity()?.key())
    }

    fn certificate(&self) -> Result<Option<Certificate>> {
        self.stored_certificate()
    }

    fn office_public_key(&self) -> Result<Option<[u8; 32]>> {
        self.pinned_office_key()
    }

    fn is_revoked(&self, device_id: &str) -> Result<bool> {
        self.run("looking up revoked devices", |c| {
            Ok(
                c.query_opt("SELECT 1 FROM revoked WHERE device_id = $1", &[&device_id])?
                    .is_some(),
            )
        })
    }

    fn erasure_orders(&self) -> Result<Vec<silin_core::erasure::ErasureOrder>> {
        self.orders_to_pass_on()
    }

    fn take_erasure_orders(
        &self,
        orders: &[silin_core::erasure::ErasureOrder],
    ) -> Result<silin_core::store::OrdersTaken> {
        self.take_orders(orders)
    }

    fn awaiting_epochs(&self, cells: &[String]) -> Result<std::collections::BTreeSet<String>> {
        self.awaiting(cells)
    }

    fn take_device_audit(
        &self,
        cert: &Certificate,
        entries: &[silin_core::audit::DeviceEntry],
    ) -> Result<Option<u64>> {
        self.keep_device_entries(cert, entries)
    }

    fn first_sighting(&self, session: &[u8; 16]) -> Result<bool> {
        let now = self.now();
        self.run("recording a sync session id", |c| {
            // Past the skew window a replay is refused by its timestamp;
            // the ids need not be kept that long.
            c.execute(
                "DELETE FROM seen_sessions WHERE seen_at < $1",
                &[&(now - 2 * CLOCK_SKEW_SECS)],
            )?;
            let n = c.execute(
                "INSERT INTO seen_sessions (session, seen_at) VALUES ($1, $2)
                 ON CONFLICT (session) DO NOTHING",
                &[&&session[..], &now],
            )?;
            Ok(n == 1)
        })
    }

    fn remember_peer(&self, cert: &Certificate, ours: Option<[u8; 16]>) -> Result<()> {
        let r = silin_core::sync::envelope::certificate_ref(cert);
        let ours = ours.map(|o| o.to_vec());
        let now = self.now();
        self.run("recording a peer", |c| {
            c.execute(
                "INSERT INTO peers (device_id, certificate, cert_ref, ours_sent, last_seen)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (device_id) DO UPDATE SET certificate = EXCLUDED.certificate,
                     cert_ref = EXCLUDED.cert_ref,
                     ours_sent = coalesce(EXCLUDED.ours_sent, peers.ours_sent),
                     last_seen = EXCLUDED.last_seen",
                &[&cert.device_id, &cert.encode(), &&r[..], &ours, &now],
            )?;
            Ok(())
        })
    }

    fn peer_certificate(&self, cert_ref: &[u8; 16]) -> Result<Option<Certificate>> {
        let bytes: Option<Vec<u8>> = self.run("looking up a peer's certificate", |c| {
            c.query_opt(
                "SELECT certificate FROM peers WHERE cert_ref = $1 LIMIT 1",
                &[&&cert_ref[..]],
            )?
            .map(|r| r.try_get(0))
            .transpose()
        })?;
        Ok(bytes.and_then(|b| Certificate::decode(&b).ok()))
    }

    fn peer_refs(&self, device_id: &str) -> Result<Option<PeerRefs>> {
        let row: Option<(Vec<u8>, Option<Vec<u8>>)> = self.run("looking up a peer", |c| {
            c.query_opt(
                "SELECT cert_ref, ours_sent FROM peers WHERE device_id = $1",
                &[&device_id],
            )?
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .transpose()
        })?;
        Ok(row.and_then(|(theirs, ours)| {
            let theirs: [u8; 16] = theirs.try_into().ok()?;
            Some((theirs, ours.and_then(|o| o.try_into().ok())))
        }))
    }

    fn sync_state(&self, peer: &str, doc: &str) -> Result<Option<Vec<u8>>> {
        self.run("reading a sync state", |c| {
            c.query_opt(
                "SELECT state FROM sync_states WHERE peer = $1 AND doc_id = $2",
                &[&peer, &doc],
            )?
            .map(|r| r.try_get(0))
            .transpose()
        })
    }

    fn save_sync_states(&self, peer: &str, states: &[(String, Vec<u8>)]) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        // One statement, so all or none; in id order, so two processes
        // saving states of one peer lock its rows in the same order; the
        // last state given for a document is the one kept.
        let mut sorted: Vec<&(String, Vec<u8>)> = states.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let sorted = last_of(&sorted, |s| s.0.clone());
        let docs: Vec<&str> = sorted.iter().map(|s| s.0.as_str()).collect();
        let bytes: Vec<&[u8]> = sorted.iter().map(|s| s.1.as_slice()).collect();
        self.run("saving sync states", |c| {
            c.execute(
                "INSERT INTO sync_states (peer, doc_id, state)
                 SELECT $1, t.doc_id, t.state FROM unnest($2::text[], $3::bytea[]) AS t(doc_id, state)
                 ON CONFLICT (peer, doc_id) DO UPDATE SET state = EXCLUDED.state",
                &[&peer, &docs, &bytes],
            )?;
            Ok(())
        })
    }

    fn scope_heads(&self, scope: &Scope) -> Result<Vec<DocHeadsRow>> {
        const SELECT: &str = "SELECT d.id, c.path, d.heads FROM docs d JOIN cells c ON c.id = d.id";
        let doing = "listing the cells of a scope";
        let rows = if scope.0.iter().any(|e| e == silin_core::identity::SCOPE_ALL) {
            self.run(doing, |c| c.query(SELECT, &[]))?
        } else {
            // A hub holds thousands of cells and a lead's scope names one:
            // cell ids by the primary key, region prefixes by the path
            // index ('0' follows '/', so the range is the prefix's subtree).
            let (ids, prefixes): (Vec<&str>, Vec<&str>) = scope
                .0
                .iter()
                .map(String::as_str)
                .partition(|e| check_id("cell", e).is_ok());
            self.run(doing, |c| {
                c.query(
                    &format!(
                        "{SELECT} WHERE d.id = ANY($1::text[])
                         UNION ALL
                         SELECT d.id, c.path, d.heads FROM unnest($2::text[]) AS p(prefix)
                             JOIN cells c ON c.path = p.prefix COLLATE \"C\"
                                 OR (c.path >= (p.prefix || '/') COLLATE \"C\"
                                     AND c.path < (p.prefix || '0') COLLATE \"C\")
                             JOIN docs d ON d.id = c.id"
                    ),
                    &[&ids, &prefixes],
                )
            })?
        };
        let mut found = Vec::with_capacity(rows.len());
        for r in rows {
            let fields = || -> std::result::Result<_, postgres::Error> {
                Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
            };
            let row: (String, String, Vec<u8>) = fields().map_err(|e| self.failed(doing, e))?;
            found.push(row);
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.dedup_by(|a, b| a.0 == b.0);
        let mut out = Vec::with_capacity(found.len());
        for (id, path, heads) in found {
            // The final word is the scope's own rule, whatever the SQL
            // above let through.
            if !scope.covers(&id, &path) {
                continue;
            }
            let heads = heads_from_bytes(&heads).ok_or_else(|| Error::Damaged {
                doc: id.clone(),
                reason: "its stored heads are malformed".into(),
            })?;
            out.push(DocHeadsRow { id, path, heads });
        }
        Ok(out)
    }

    fn cell_path(&self, cell_id: &str) -> Result<Option<String>> {
        self.run("reading a cell's region", |c| {
            c.query_opt("SELECT path FROM cells WHERE id = $1", &[&cell_id])?
                .map(|r| r.try_get(0))
                .transpose()
        })
    }

    fn heads(&self, cell_id: &str) -> Result<Vec<ChangeHash>> {
        // The row records the heads of exactly what is stored: no document
        // needs decoding to answer.
        check_id("cell", cell_id)?;
        let bytes: Option<Vec<u8>> = self.run(&format!("reading cell {cell_id}"), |c| {
            c.query_opt("SELECT heads FROM docs WHERE id = $1", &[&cell_id])?
                .map(|r| r.try_get(0))
                .transpose()
        })?;
        let bytes = bytes.ok_or_else(|| Error::not_found("cell", cell_id))?;
        heads_from_bytes(&bytes).ok_or_else(|| Error::Damaged {
            doc: cell_id.to_string(),
            reason: "its stored heads are malformed".into(),
        })
    }

    fn holds_changes(&self, cell_id: &str, hashes: &[ChangeHash]) -> Result<bool> {
        self.with_doc(cell_id, |d| Ok(d.holds_changes(hashes)))
    }

    fn settled_heads(&self, cell_id: &str) -> Result<Option<Vec<ChangeHash>>> {
        self.with_doc(cell_id, |d| Ok(d.settled_heads()))
    }

    fn changes_after(&self, cell_id: &str, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        self.with_doc(cell_id, |d| Ok(d.save_after(heads)))
    }

    fn save_doc(&self, cell_id: &str) -> Result<Vec<u8>> {
        self.with_doc(cell_id, |d| Ok(d.save()))
    }

    fn generate_sync_message(&self, cell_id: &str, state: &mut State) -> Result<Option<Message>> {
        self.with_doc(cell_id, |d| Ok(d.generate_sync_message(state)))
    }

    fn receive_sync_message(
        &self,
        cell_id: &str,
        sender: Option<Role>,
        state: &mut State,
        message: Message,
    ) -> Result<Absorbed> {
        if message.changes.is_empty() {
            // Heads, needs and haves only: the document cannot change, so
            // there is nothing to lock or write; the sync state moves on
            // from the document as the database holds it now.
            return self.with_doc(cell_id, |d| {
                match silin_core::guard::contain(|| d.receive_sync_message(state, message)) {
                    Ok(received) => received.map(|()| Absorbed::default()),
                    Err(g) => Err(Error::Refused {
                        doc: cell_id.to_string(),
                        reason: g.to_string(),
                    }),
                }
            });
        }
        self.absorb(cell_id, sender, |d| d.receive_sync_message(state, message))
    }

    fn merge_from(
        &self,
        bytes: &[u8],
        sender: Option<Role>,
        names_cell: bool,
    ) -> Result<(String, bool)> {
        // Decoded on its own first: the cell id is needed, and bad bytes
        // are refused before they touch a stored document.
        let (id, incoming) = decode_whole(bytes, &self.local.actor)?;
        let exists = self.run(&format!("looking up cell {id}"), |c| {
            Ok(c.query_opt("SELECT 1 FROM docs WHERE id = $1", &[&id])?
                .is_some())
        })?;
        let Some(incoming) = self.whole_epoch(&id, incoming, exists)? else {
            // The new epoch is kept whatever follows: the rest of the
            // peer's document is its own changes, under its role's rules.
            self.absorb(&id, sender, |d| d.apply_bytes(bytes).map(|_| ()))?;
            return Ok((id, true));
        };
        if !exists {
            let doc = admit_new(incoming, sender, names_cell, self.now())?;
            if self.insert_new(&id, doc)? {
                return Ok((id, true));
            }
            // Another process filed it meanwhile: these bytes are now a
            // merge into that one, under its row lock and the write rules.
        }
        let changed = self.absorb(&id, sender, |d| d.apply_bytes(bytes).map(|_| ()))?;
        Ok((id, changed.changed))
    }

    fn apply_changes_from(
        &self,
        cell_id: &str,
        bytes: &[u8],
        sender: Option<Role>,
    ) -> Result<Absorbed> {
        self.absorb(cell_id, sender, |d| d.apply_bytes(bytes).map(|_| ()))
    }
}
