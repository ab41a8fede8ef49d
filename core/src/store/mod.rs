//! The store: one SQLite file holding every cell document a device carries,
//! their incremental chunks, and query projections.
//!
//! Each user action is one write transaction holding the document's new
//! chunk and the projection rows it touched, committed before the call
//! returns (with [`Durability::Full`], fsynced). Opening a store reads no
//! document; documents load on first use into a bounded cache, checked
//! against the file before each use so that several programs can hold the
//! same file. See core/doc/store.md.

mod audit;
mod cache;
mod compaction;
mod erasure;
mod integrity;
mod office;
mod projection;
mod queries;
mod regions;
mod register;
mod replica;
mod schema;
mod summaries;
mod trust;

pub use audit::{DeviceAuditKeeper, OwnEntry, OwnVerified};
pub use compaction::{Compaction, BOUND as COMPACTION_BOUND};
pub use erasure::OrdersTaken;
pub use integrity::{CheckReport, StoreStats};
pub use office::{closes_task, MissingReport, Monitored, PeerSeen, TaskProgress, TaskState};
pub use projection::{CellRow, CellRows, HouseholdRow, MemberRow, ReportRow, TaskRow, VisitRow};
pub use queries::{cells_in_scope, MemberSummary, VisitSummary};
pub use schema::{Durability, StoreKey, LAYOUT};
pub use trust::{fingerprint_to_store, heads_hash, stored_fingerprint, DocHeadsRow, PeerRefs};

use crate::cell::{CellDoc, Touched};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::identity::Role;
use crate::model::*;
use crate::replica::Absorbed;
use automerge::{ActorId, ChangeHash};
use cache::{Cached, DocCache};
use chrono::NaiveDate;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

/// Told which cells changed, after the change is committed.
pub trait Observer: Send + Sync {
    fn cells_changed(&self, cell_ids: &[String]);
}

#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub key: Option<StoreKey>,
    pub durability: Durability,
    /// Documents kept decoded in memory; others are reloaded on use.
    pub cache_docs: usize,
    /// A document is due for compaction once this many chunks have piled up
    /// on its snapshot; `compaction` says when that happens. Whatever it
    /// says, a write that would bring a document to
    /// [`COMPACTION_BOUND`] × this many chunks compacts inline.
    pub compact_after_chunks: i64,
    /// When due documents are compacted: by default on a thread the store
    /// owns, after the write returns (see [`Compaction`]).
    pub compaction: Compaction,
    /// What time it is: edits, certificates and tokens read it from here.
    pub clock: Clock,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            key: None,
            durability: Durability::Full,
            cache_docs: 64,
            compact_after_chunks: 128,
            compaction: Compaction::Background,
            clock: Clock::system(),
        }
    }
}

struct Inner {
    conn: Connection,
    cache: DocCache,
    /// `PRAGMA data_version` when the cache was last checked against the
    /// file; it moves when another connection commits.
    data_version: i64,
    /// Documents written by the open write transaction, dropped from the
    /// cache if it rolls back.
    written: Vec<String>,
    actor: ActorId,
    device_id: String,
    compact_after: i64,
    /// Chunks a write never leaves behind: it compacts inline instead.
    compact_bound: i64,
    compaction: Compaction,
    /// The compaction thread, once a write has woken it.
    worker: Option<compaction::Worker>,
    /// This `Inner` as the store shares it, for the compaction thread.
    me: Weak<Mutex<Inner>>,
    /// Compactions this store has written (or tried to): a copy saved while
    /// this did not move knows its chunks are still the file's first ones.
    compactions: u64,
    /// Commits since the compaction thread was last asked to checkpoint.
    commits: u32,
    /// The compaction thread should checkpoint the WAL on its next pass.
    checkpoint_due: bool,
    clock: Clock,
    /// The role this device enrolled with: its own edits keep to the write
    /// rules every replica will check them against.
    role: Option<Role>,
}

impl Inner {
    fn now_ts(&self) -> i64 {
        self.clock.timestamp()
    }
}

pub struct Store {
    /// Shared with the compaction thread, which holds it only weakly.
    inner: Arc<Mutex<Inner>>,
    observers: Mutex<Vec<(u64, Arc<dyn Observer>)>>,
    next_observer: std::sync::atomic::AtomicU64,
    path: PathBuf,
    clock: Clock,
    /// What this store does with audit entries devices send up (a hub's);
    /// none on a phone.
    audit_keeper: std::sync::OnceLock<DeviceAuditKeeper>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // The thread finishes the compaction it is in, if any, and stops;
        // documents still due are compacted by a later store on the file.
        let worker = self.lock().worker.take();
        if let Some(worker) = worker {
            worker.stop();
        }
    }
}

/// The store's lock, for the store and its compaction thread alike.
fn lock_shared(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    match inner.lock() {
        Ok(inner) => inner,
        Err(poisoned) => {
            // A panic mid-operation can leave a transaction open or a
            // cached document ahead of the file; the file itself is
            // transactional, so start again from what it holds.
            let mut guard = poisoned.into_inner();
            guard.reset();
            inner.clear_poison();
            guard
        }
    }
}

/// A document's heads as stored (SQLite and PostgreSQL alike): sorted, 32
/// bytes each, so equal sets store equal.
pub fn heads_to_bytes(heads: &[ChangeHash]) -> Vec<u8> {
    let mut sorted = heads.to_vec();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// Stored heads read back; `None` when they are not whole hashes.
pub fn heads_from_bytes(bytes: &[u8]) -> Option<Vec<ChangeHash>> {
    if bytes.len() % 32 != 0 {
        return None;
    }
    bytes
        .chunks(32)
        .map(|c| ChangeHash::try_from(c).ok())
        .collect()
}

impl Store {
    /// Opens (creating if needed) the store at `path`. Reads no document.
    pub fn open(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        // SQLite takes an empty path as a throwaway temporary database:
        // everything written would vanish on close.
        if path.as_os_str().is_empty() {
            return Err(ValidationError::new("path", "a store is a file: give its path").into());
        }
        let conn = schema::open(&path, options.key.as_ref(), options.durability)?;
        // The header looked right but a page SQLite needed was garbage: the
        // file is damaged, which is about the file, not a fault here.
        let (device_id, actor) = load_or_create_identity(&conn).map_err(|e| match e {
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, m))
                if f.code == rusqlite::ErrorCode::DatabaseCorrupt =>
            {
                Error::NotAStore {
                    path: path.clone(),
                    reason: format!(
                        "it is damaged ({}); restore it from a copy",
                        m.unwrap_or_else(|| f.to_string())
                    ),
                }
            }
            e => e,
        })?;
        let role = trust::enrolled_role(&conn)?;
        let data_version = data_version(&conn)?;
        if options.compaction == Compaction::Background {
            // Checkpoints are the compaction thread's; this connection's
            // own is the bound if it falls behind (see compaction.rs).
            conn.pragma_update(None, "wal_autocheckpoint", compaction::WAL_PAGES)?;
        }
        let compact_after = options.compact_after_chunks.max(1);
        let compact_bound = match options.compaction {
            Compaction::InWrite => compact_after,
            Compaction::Background | Compaction::OnMaintain => {
                compact_after.saturating_mul(compaction::BOUND)
            }
        };
        // An erasure committed but not yet rewritten out of the file (the
        // program stopped in between): finish it before anything else.
        erasure::finish_purge(&conn)?;
        let store = Store {
            inner: Arc::new_cyclic(|me| {
                Mutex::new(Inner {
                    conn,
                    cache: DocCache::new(options.cache_docs.max(1)),
                    data_version,
                    written: Vec::new(),
                    actor,
                    device_id,
                    compact_after,
                    compact_bound,
                    compaction: options.compaction,
                    worker: None,
                    me: me.clone(),
                    compactions: 0,
                    commits: 0,
                    checkpoint_due: false,
                    clock: options.clock.clone(),
                    role,
                })
            }),
            observers: Mutex::new(Vec::new()),
            next_observer: std::sync::atomic::AtomicU64::new(1),
            path,
            clock: options.clock,
            audit_keeper: std::sync::OnceLock::new(),
        };
        store.rebuild_stale_projections()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The clock this store was opened with; sessions and bundles use it too.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn now_ts(&self) -> i64 {
        self.clock.timestamp()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock_shared(&self.inner)
    }

    pub fn device_id(&self) -> String {
        self.lock().device_id.clone()
    }

    pub fn set_device_name(&self, name: &str) -> Result<()> {
        let name = check_text("name", name, 64, false)?;
        self.lock().conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('device_name', ?1)",
            [name],
        )?;
        Ok(())
    }

    pub fn device_name(&self) -> Result<Option<String>> {
        Ok(self
            .lock()
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'device_name'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    // ---- observers -----------------------------------------------------

    pub fn subscribe(&self, observer: Arc<dyn Observer>) -> u64 {
        let id = self
            .next_observer
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, observer));
        id
    }

    pub fn unsubscribe(&self, id: u64) {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _)| *i != id);
    }

    fn notify(&self, cells: &[String]) {
        if cells.is_empty() {
            return;
        }
        let observers: Vec<_> = self
            .observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, o)| o.clone())
            .collect();
        for o in observers {
            o.cells_changed(cells);
        }
    }

    // ---- writes --------------------------------------------------------

    /// Creates a new cell document. `lead` is the lead householder's name.
    pub fn create_cell(&self, name: &str, path: &RegionPath, lead: Option<&str>) -> Result<String> {
        self.create_cell_with(name, path, lead, |_| Ok(()))
            .map(|(id, ())| id)
    }

    /// Creates a cell and fills it in one transaction: `fill` runs on the
    /// new document (e.g. registering its households and members) before
    /// anything is written, so an error in it leaves no trace. For office
    /// imports and for the demo's county set-up.
    pub fn create_cell_with<T>(
        &self,
        name: &str,
        path: &RegionPath,
        lead: Option<&str>,
        fill: impl FnOnce(&mut CellDoc) -> Result<T>,
    ) -> Result<(String, T)> {
        let info = CellInfo {
            id: new_id(),
            name: name.to_string(),
            path: path.clone(),
            lead: lead.map(str::to_string),
        };
        let mut inner = self.lock();
        regions::read_hierarchy(&inner.conn)?.check_cell_path(path)?;
        inner.check_own(&[crate::rules::Touch {
            part: crate::rules::Part::CellIdentity,
            act: crate::rules::Act::Create,
            what: None,
        }])?;
        let mut doc = CellDoc::create(&info, &inner.actor, self.now_ts())?;
        let out = fill(&mut doc)?;
        inner.write(|inner| inner.insert_new_doc(&info.id, doc))?;
        drop(inner);
        self.notify(std::slice::from_ref(&info.id));
        Ok((info.id, out))
    }

    /// Several edits of one cell as one user action: one transaction, all
    /// or nothing (e.g. a household registered with its members).
    pub fn edit_batch<T>(
        &self,
        cell_id: &str,
        f: impl FnOnce(&mut CellDoc) -> Result<T>,
    ) -> Result<T> {
        self.edit(cell_id, |d| Ok((f(d)?, Touched::All)))
    }

    /// Edits several cells (`edit` runs on each in turn), then runs `then`
    /// on the store's connection for tables of the caller's own (a hub's
    /// register of imported lists, its audit log), all in one transaction:
    /// everything is written, or — when any edit or `then` fails — nothing.
    /// For office imports that must not leave half a list behind.
    pub fn edit_cells_then<T, E: From<Error>>(
        &self,
        cells: &[String],
        mut edit: impl FnMut(&str, &mut CellDoc) -> Result<()>,
        then: impl FnOnce(&rusqlite::Connection) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        for id in cells {
            check_id("cell", id).map_err(Error::from)?;
        }
        // The caller's own error, carried past the core's rollback.
        let mut theirs: Option<E> = None;
        let mut inner = self.lock();
        let written = inner.write(|inner| {
            for id in cells {
                inner.edit(id, |d| {
                    edit(id, d)?;
                    Ok(((), Touched::All))
                })?;
            }
            match then(&inner.conn) {
                Ok(out) => Ok(out),
                Err(e) => {
                    theirs = Some(e);
                    Err(Error::Incompatible("the caller's step failed".into()))
                }
            }
        });
        drop(inner);
        match (written, theirs) {
            (Ok(out), _) => {
                self.notify(cells);
                Ok(out)
            }
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// Runs one edit on a cell and commits it with its projections.
    fn edit<T>(
        &self,
        cell_id: &str,
        f: impl FnOnce(&mut CellDoc) -> Result<(T, Touched)>,
    ) -> Result<T> {
        check_id("cell", cell_id)?;
        let mut inner = self.lock();
        let out = inner.write(|inner| inner.edit(cell_id, f))?;
        drop(inner);
        self.notify(&[cell_id.to_string()]);
        Ok(out)
    }

    pub fn rename_cell(&self, cell_id: &str, name: &str) -> Result<()> {
        self.edit(cell_id, |d| Ok(((), d.rename(name, self.now_ts())?)))
    }

    pub fn set_lead(&self, cell_id: &str, lead: &str) -> Result<()> {
        self.edit(cell_id, |d| Ok(((), d.set_lead(lead, self.now_ts())?)))
    }

    pub fn add_household(&self, cell_id: &str, h: NewHousehold) -> Result<String> {
        let id = new_id();
        self.edit(cell_id, |d| {
            Ok((id.clone(), d.add_household(&id, h, self.now_ts())?))
        })
    }

    pub fn add_member(&self, household_id: &str, m: NewMember, today: NaiveDate) -> Result<String> {
        let cell_id = self.cell_of_household(household_id)?;
        let id = new_id();
        self.edit(&cell_id, |d| {
            Ok((
                id.clone(),
                d.add_member(household_id, &id, m, today, self.now_ts())?,
            ))
        })
    }

    pub fn edit_member(&self, member_id: &str, edits: &[MemberEdit]) -> Result<()> {
        let (cell_id, _) = self.cell_of_member(member_id)?;
        self.edit(&cell_id, |d| {
            Ok(((), d.edit_member(member_id, edits, self.now_ts())?))
        })
    }

    pub fn record_visit(&self, cell_id: &str, v: NewVisit) -> Result<String> {
        let id = new_id();
        self.edit(cell_id, |d| Ok((id.clone(), d.record_visit(&id, v)?)))
    }

    /// A door-knock round: several visits to one cell as one user action,
    /// all recorded or none. Returns their ids in order.
    pub fn record_visits(&self, cell_id: &str, visits: Vec<NewVisit>) -> Result<Vec<String>> {
        if visits.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = visits.iter().map(|_| new_id()).collect();
        self.edit(cell_id, |d| {
            // Each visit's own effects: an abnormal check also raises its
            // alert task, whose projection row must follow.
            let mut parts = Vec::with_capacity(ids.len());
            for (id, v) in ids.iter().zip(visits) {
                parts.push(d.record_visit(id, v)?);
            }
            Ok((ids.clone(), Touched::Parts(parts)))
        })
    }

    pub fn submit_report(&self, cell_id: &str, r: NewReport) -> Result<()> {
        self.edit(cell_id, |d| Ok(((), d.submit_report(r)?)))
    }

    pub fn add_task(
        &self,
        cell_id: &str,
        title: &str,
        household_id: Option<&str>,
        member_id: Option<&str>,
        due: Option<NaiveDate>,
        at: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<String> {
        let id = new_id();
        self.edit(cell_id, |d| {
            Ok((
                id.clone(),
                d.add_task(&id, title, household_id, member_id, due, at)?,
            ))
        })
    }

    pub fn set_task_status(&self, cell_id: &str, task_id: &str, status: TaskStatus) -> Result<()> {
        self.edit(cell_id, |d| {
            Ok(((), d.set_task_status(task_id, status, self.now_ts())?))
        })
    }

    /// Applies another replica's bytes (a saved document, or changes) for a
    /// cell. A cell new to this store is created from them. Returns the cell
    /// id and whether anything changed. Idempotent. The bytes pass the
    /// trust boundary's checks (identity, layout, bounds) but no role's
    /// write rules: this is for files the user brought, not for peers (sync
    /// and bundles check the sender's role).
    pub fn merge_bytes(&self, bytes: &[u8]) -> Result<(String, bool)> {
        self.merge_from(bytes, None, false)
    }

    /// [`Store::merge_bytes`] for bytes a peer of role `sender` handed over
    /// (`None`: a peer whose role this store cannot know, in open mode);
    /// `names_cell`: its certificate names the cell by id.
    pub(crate) fn merge_from(
        &self,
        bytes: &[u8],
        sender: Option<Role>,
        names_cell: bool,
    ) -> Result<(String, bool)> {
        let mut inner = self.lock();
        let (cell_id, changed) = inner.merge_bytes(bytes, sender, names_cell)?;
        drop(inner);
        if changed {
            self.notify(std::slice::from_ref(&cell_id));
        }
        Ok((cell_id, changed))
    }

    /// Applies `bytes` to a cell this store already holds (changes only).
    /// Like [`Store::merge_bytes`], no role's write rules are checked.
    pub fn apply_changes(&self, cell_id: &str, bytes: &[u8]) -> Result<bool> {
        self.absorb_from(cell_id, None, |d| d.apply_bytes(bytes).map(|_| ()))
    }

    /// Runs `f` (which applies a peer's changes, e.g. an automerge sync
    /// message) on a cell's document and persists what it added, with the
    /// projections, in one transaction. Returns whether anything changed. If
    /// `f` fails, or what it did breaks the trust boundary's checks — and,
    /// when `sender` is given, the write rules for that role
    /// ([`crate::rules`]) — nothing it did stays in memory or reaches the
    /// file.
    pub fn absorb_from(
        &self,
        cell_id: &str,
        sender: Option<Role>,
        f: impl FnOnce(&mut CellDoc) -> Result<()>,
    ) -> Result<bool> {
        Ok(self.absorb_with(cell_id, sender, f)?.changed)
    }

    /// [`Store::absorb_from`], saying also whether changes wait on a
    /// dependency (they were not kept; see [`crate::replica::Absorbed`]).
    pub(crate) fn absorb_with(
        &self,
        cell_id: &str,
        sender: Option<Role>,
        f: impl FnOnce(&mut CellDoc) -> Result<()>,
    ) -> Result<crate::replica::Absorbed> {
        check_id("cell", cell_id)?;
        let mut inner = self.lock();
        let absorbed = inner.write(|inner| inner.absorb(cell_id, sender, f))?;
        drop(inner);
        if absorbed.changed {
            self.notify(&[cell_id.to_string()]);
        }
        Ok(absorbed)
    }

    /// Rewrites every document as a single snapshot (dropping its chunks).
    pub fn compact_all(&self) -> Result<()> {
        let mut inner = self.lock();
        for id in inner.doc_ids()? {
            // One transaction per document: another program waits for one
            // document's compaction at a time, not for the whole store's.
            inner.write(|inner| inner.compact(&id))?;
        }
        inner
            .conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    /// Lends the store's connection to the program embedding the store, for
    /// tables of its own kept in the same file (the hub's enrolment tokens
    /// and logins): one file, one encryption key, one backup. That program
    /// owns those tables' layout and SQL; the store never reads them. `f`
    /// runs under the store's lock; a write in it takes the file's write
    /// lock first (`BEGIN IMMEDIATE`), as the store's own writes do, and
    /// must leave no transaction open.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let inner = self.lock();
        let out = f(&inner.conn);
        if !inner.conn.is_autocommit() {
            // A transaction left open would swallow the store's next write.
            let _ = inner.conn.execute_batch("ROLLBACK");
        }
        out
    }

    /// Reclaims free pages after compaction.
    pub fn vacuum(&self) -> Result<()> {
        let inner = self.lock();
        inner
            .conn
            .execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    }

    // ---- document reads ------------------------------------------------

    /// Runs `f` on the (cached or loaded) document of `cell_id`.
    pub fn with_doc<T>(
        &self,
        cell_id: &str,
        f: impl FnOnce(&mut CellDoc) -> Result<T>,
    ) -> Result<T> {
        check_id("cell", cell_id)?;
        let mut inner = self.lock();
        let entry = inner.doc_read(cell_id)?;
        f(&mut entry.doc)
    }

    pub fn cell(&self, cell_id: &str) -> Result<CellView> {
        self.with_doc(cell_id, |d| d.view())
    }

    pub fn conflicts(&self, cell_id: &str) -> Result<Vec<Conflict>> {
        self.with_doc(cell_id, |d| d.conflicts())
    }

    pub fn member(&self, member_id: &str) -> Result<Member> {
        let (cell_id, _) = self.cell_of_member(member_id)?;
        self.with_doc(&cell_id, |d| d.member(member_id))
    }

    /// The whole document in automerge's standard binary format.
    pub fn save_doc(&self, cell_id: &str) -> Result<Vec<u8>> {
        self.with_doc(cell_id, |d| Ok(d.save()))
    }

    pub fn heads(&self, cell_id: &str) -> Result<Vec<ChangeHash>> {
        self.with_doc(cell_id, |d| Ok(d.heads()))
    }

    /// Changes a peer with `heads` lacks.
    pub fn changes_after(&self, cell_id: &str, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        self.with_doc(cell_id, |d| Ok(d.save_after(heads)))
    }
}

/// Replaces a document's snapshot and drops its chunks (compaction). The
/// snapshot has a table of its own so that the per-write update of `docs`
/// (heads, counters) never rewrites it. `built_on` are the heads the
/// snapshot's document was loaded at: if the row records others, another
/// connection moved the document on and this snapshot would drop its
/// changes, so nothing is written.
fn write_snapshot(
    conn: &Connection,
    id: &str,
    snapshot: &[u8],
    built_on: &[ChangeHash],
    heads: &[ChangeHash],
) -> Result<()> {
    let moved = conn
        .prepare_cached(
            "UPDATE docs SET heads = ?2, snapshot_bytes = ?3, chunk_count = 0, chunk_bytes = 0
             WHERE id = ?1 AND heads = ?4",
        )?
        .execute(params![
            id,
            heads_to_bytes(heads),
            snapshot.len() as i64,
            heads_to_bytes(built_on)
        ])?;
    if moved != 1 {
        return Err(Error::Busy);
    }
    conn.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("UPDATE snapshots SET snapshot = ?2 WHERE id = ?1")?
        .execute(params![id, snapshot])?;
    Ok(())
}

fn data_version(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

fn load_or_create_identity(conn: &Connection) -> Result<(String, ActorId)> {
    let get = |key: &str| -> Result<Option<Vec<u8>>> {
        Ok(conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    };
    let found = |get: &dyn Fn(&str) -> Result<Option<Vec<u8>>>| -> Result<_> {
        if let (Some(id), Some(actor)) = (get("device_id")?, get("actor")?) {
            let id = String::from_utf8(id)
                .map_err(|_| Error::Incompatible("device id is not text".into()))?;
            return Ok(Some((id, ActorId::from(actor))));
        }
        Ok(None)
    };
    if let Some(identity) = found(&get)? {
        return Ok(identity);
    }
    // Two programs creating the same new store must agree on one identity:
    // look again under the write lock, and only then create it.
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    if let Some(identity) = found(&get)? {
        tx.commit()?;
        return Ok(identity);
    }
    let id = new_id();
    // A fresh random actor per device: two devices must never share one,
    // or their concurrent changes would collide.
    let actor = ActorId::random();
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('device_id', ?1), ('actor', ?2)",
        params![id.as_bytes(), actor.to_bytes()],
    )?;
    tx.commit()?;
    Ok((id, actor))
}

impl Inner {
    /// Refuses an edit of this device's own that its role may not make:
    /// every peer would refuse it, and the cell could then sync no more.
    fn check_own(&self, effects: &[crate::rules::Touch]) -> Result<()> {
        match self.role {
            Some(role) => Ok(crate::rules::check(role, effects)?),
            None => Ok(()),
        }
    }

    fn doc_ids(&self) -> Result<Vec<String>> {
        let mut s = self
            .conn
            .prepare_cached("SELECT id FROM docs ORDER BY id")?;
        let ids = s
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Back to what the file holds, after a panic left this connection
    /// mid-operation: an open transaction, a cached copy ahead of the file.
    fn reset(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.cache.clear();
        self.written.clear();
    }

    /// Drops every cached document another connection (another program, or
    /// another `Store` on the same file) has moved on since the last look.
    /// `data_version` changes only when another connection commits, so when
    /// nobody else wrote this is one query and no document is touched.
    fn revalidate(&mut self) -> Result<()> {
        let version = data_version(&self.conn)?;
        if version == self.data_version {
            return Ok(());
        }
        self.data_version = version;
        if self.cache.is_empty() {
            return Ok(());
        }
        let mut row = self
            .conn
            .prepare_cached("SELECT heads, chunk_count, chunk_bytes FROM docs WHERE id = ?1")?;
        let mut stale = Vec::new();
        for (id, entry) in self.cache.iter_mut() {
            let found: Option<(Vec<u8>, i64, i64)> = row
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            match found {
                // Same heads, same document: only the chunk counters can
                // differ (another program compacted it).
                Some((heads, count, bytes)) if heads == heads_to_bytes(&entry.persisted) => {
                    entry.chunk_count = count;
                    entry.chunk_bytes = bytes;
                }
                _ => stale.push(id.clone()),
            }
        }
        for id in stale {
            self.cache.remove(&id);
        }
        Ok(())
    }

    /// Runs `f` as one write transaction that holds the file's write lock
    /// from its start (`BEGIN IMMEDIATE`): after [`Inner::revalidate`] the
    /// cached documents are those the file holds, and nobody else can commit
    /// until this does, so an edit always applies to the latest document and
    /// its chunk follows the last one written. Another writer is waited for
    /// up to the busy timeout ([`Error::Busy`] after that). If anything
    /// fails, the transaction is rolled back and every document written in
    /// it is dropped from the cache, so memory never runs ahead of the file.
    fn write<T>(&mut self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        self.written.clear();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let out = match self.revalidate().and_then(|()| f(self)) {
            Ok(out) => out,
            Err(e) => {
                self.roll_back();
                return Err(e);
            }
        };
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            self.roll_back();
            return Err(e.into());
        }
        self.written.clear();
        self.committed();
        Ok(out)
    }

    fn roll_back(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        for id in std::mem::take(&mut self.written) {
            self.cache.remove(&id);
        }
    }

    /// Reads inside one read transaction: a document's snapshot, chunks and
    /// heads must come from the same state of the file, or a compaction
    /// committed in between would make it look damaged.
    fn read_tx<T>(&mut self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let out = f(self);
        // A read transaction has nothing to keep: end it either way.
        let end = self.conn.execute_batch("COMMIT");
        if end.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        let out = out?;
        end?;
        Ok(out)
    }

    /// A document to read, as the file holds it now.
    fn doc_read(&mut self, id: &str) -> Result<&mut Cached> {
        self.revalidate()?;
        if self.cache.get(id).is_none() {
            let (loaded, migrated) = self.read_tx(|inner| inner.load(id))?;
            if migrated {
                // Migrating an old document is a write like any other: made
                // under the write lock, on the latest copy.
                self.write(|inner| inner.doc(id).map(|_| ()))?;
            } else {
                self.cache.insert(id.to_string(), loaded);
            }
        }
        self.cache
            .get(id)
            .ok_or_else(|| Error::not_found("cell", id))
    }

    /// The document to change, cached or loaded; inside [`Inner::write`]
    /// only (a migration is persisted on load).
    fn doc(&mut self, id: &str) -> Result<&mut Cached> {
        if self.cache.get(id).is_none() {
            let (mut loaded, migrated) = self.load(id)?;
            if migrated {
                self.persist(id, &mut loaded, &Touched::All)?;
            }
            self.cache.insert(id.to_string(), loaded);
        }
        self.cache
            .get(id)
            .ok_or_else(|| Error::not_found("cell", id))
    }

    /// Decodes a document from snapshot + chunks, migrated in memory to the
    /// current layout; true when that migration changed it (and so needs
    /// persisting). Writes nothing.
    fn load(&mut self, id: &str) -> Result<(Cached, bool)> {
        let row: Option<(Vec<u8>, Vec<u8>, i64, i64)> = self
            .conn
            .query_row(
                "SELECT s.snapshot, d.heads, d.chunk_count, d.chunk_bytes
                 FROM docs d JOIN snapshots s ON s.id = d.id WHERE d.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (snapshot, heads, chunk_count, chunk_bytes) =
            row.ok_or_else(|| Error::not_found("cell", id))?;
        let damaged = |reason: String| Error::Damaged {
            doc: id.to_string(),
            reason,
        };
        let mut doc = CellDoc::load(&snapshot, &self.actor).map_err(|e| damaged(e.to_string()))?;
        {
            let mut s = self
                .conn
                .prepare_cached("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY seq")?;
            let chunks = s.query_map([id], |r| r.get::<_, Vec<u8>>(0))?;
            for chunk in chunks {
                doc.apply_bytes(&chunk?)
                    .map_err(|e| damaged(e.to_string()))?;
            }
        }
        let mut now = doc.heads();
        now.sort();
        let recorded =
            heads_from_bytes(&heads).ok_or_else(|| damaged("stored heads are malformed".into()))?;
        if now != recorded {
            return Err(damaged(
                "its changes do not reach the heads the store recorded".into(),
            ));
        }
        let mut cached = Cached {
            doc,
            persisted: now,
            chunk_count,
            chunk_bytes,
        };
        let migrated = cached.doc.migrate(self.now_ts())?;
        Ok((cached, migrated))
    }

    /// Inside [`Inner::write`].
    fn insert_new_doc(&mut self, id: &str, mut doc: CellDoc) -> Result<()> {
        let snapshot = doc.save();
        let heads = doc.heads();
        self.conn.execute(
            "INSERT INTO docs (id, heads, snapshot_bytes) VALUES (?1, ?2, ?3)",
            params![id, heads_to_bytes(&heads), snapshot.len() as i64],
        )?;
        self.conn.execute(
            "INSERT INTO snapshots (id, snapshot) VALUES (?1, ?2)",
            params![id, snapshot],
        )?;
        projection::write_cell(&self.conn, id, &doc)?;
        self.written.push(id.to_string());
        let mut persisted = heads;
        persisted.sort();
        self.cache.insert(
            id.to_string(),
            Cached {
                doc,
                persisted,
                chunk_count: 0,
                chunk_bytes: 0,
            },
        );
        Ok(())
    }

    /// Inside [`Inner::write`].
    fn edit<T>(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut CellDoc) -> Result<(T, Touched)>,
    ) -> Result<T> {
        let role = self.role;
        let entry = self.doc(id)?;
        let (out, touched) = match f(&mut entry.doc) {
            Ok(v) => v,
            Err(e) => {
                // A failed edit may have committed part of a batch in
                // memory; drop the decoded document so the next use reloads
                // exactly what the file holds.
                entry.doc.rollback();
                self.cache.remove(id);
                return Err(e);
            }
        };
        if let Some(role) = role {
            let effects = entry.doc.effects_since(&entry.persisted);
            if let Err(e) = crate::rules::check(role, &effects) {
                // The edit is committed in memory only: drop it with the
                // cached document.
                self.cache.remove(id);
                return Err(e.into());
            }
        }
        // Out of the cache while it is written: if the write fails, the copy
        // (ahead of the file) is dropped with it.
        let mut entry = self
            .cache
            .take(id)
            .ok_or_else(|| Error::not_found("cell", id))?;
        self.persist(id, &mut entry, &touched)?;
        self.cache.insert(id.to_string(), entry);
        Ok(out)
    }

    /// Writes the document's unsaved changes as one chunk, with the touched
    /// projections. A document left with `compact_after` chunks is due, and
    /// compacted after this write returns ([`Compaction`]); only a write
    /// that would reach `compact_bound` chunks (the first that could with
    /// [`Compaction::InWrite`]) compacts inline. Inside [`Inner::write`],
    /// whose commit makes it durable (and whose rollback drops `entry`'s
    /// document from the cache again).
    fn persist(&mut self, id: &str, entry: &mut Cached, touched: &Touched) -> Result<()> {
        let bytes = entry.doc.save_after(&entry.persisted);
        if bytes.is_empty() {
            return Ok(());
        }
        let mut heads = entry.doc.heads();
        heads.sort();
        let compact = entry.chunk_count + 1 >= self.compact_bound;
        if compact {
            let snapshot = entry.doc.save();
            self.compactions += 1;
            write_snapshot(&self.conn, id, &snapshot, &entry.persisted, &heads)?;
        } else {
            // The sequence number comes from the row, counted under the
            // write lock, not from the cache; and the row must still record
            // the heads this chunk follows, or the chunk would not decode
            // after the ones already written.
            let counted: Option<i64> = self
                .conn
                .prepare_cached(
                    "UPDATE docs SET heads = ?2, chunk_count = chunk_count + 1, chunk_bytes = chunk_bytes + ?3
                     WHERE id = ?1 AND heads = ?4 RETURNING chunk_count",
                )?
                .query_row(
                    params![
                        id,
                        heads_to_bytes(&heads),
                        bytes.len() as i64,
                        heads_to_bytes(&entry.persisted)
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            let chunk_count = counted.ok_or(Error::Busy)?;
            self.conn
                .prepare_cached("INSERT INTO chunks (doc_id, seq, bytes) VALUES (?1, ?2, ?3)")?
                .execute(params![id, chunk_count - 1, bytes])?;
            entry.chunk_count = chunk_count;
            entry.chunk_bytes += bytes.len() as i64;
        }
        projection::apply(&self.conn, id, &entry.doc, touched)?;
        self.written.push(id.to_string());
        entry.persisted = heads;
        if compact {
            entry.chunk_count = 0;
            entry.chunk_bytes = 0;
        } else if entry.chunk_count >= self.compact_after
            && self.compaction == Compaction::Background
        {
            self.wake_compaction();
        }
        Ok(())
    }

    /// Inside [`Inner::write`].
    fn compact(&mut self, id: &str) -> Result<()> {
        let mut entry = {
            self.doc(id)?;
            self.cache
                .take(id)
                .ok_or_else(|| Error::not_found("cell", id))?
        };
        let snapshot = entry.doc.save();
        let mut heads = entry.doc.heads();
        heads.sort();
        self.compactions += 1;
        write_snapshot(&self.conn, id, &snapshot, &entry.persisted, &heads)?;
        self.written.push(id.to_string());
        entry.persisted = heads;
        entry.chunk_count = 0;
        entry.chunk_bytes = 0;
        self.cache.insert(id.to_string(), entry);
        Ok(())
    }

    /// What a cell's projections should hold and what they hold, read under
    /// the write lock so that nobody changes either between the two reads.
    /// The document is loaded afresh: this checks the file, not the cache.
    fn rows_in_file(&mut self, id: &str) -> Result<(Result<CellRows>, CellRows)> {
        self.cache.remove(id);
        let expected = match self.doc(id) {
            Ok(entry) => CellRows::from_doc(&entry.doc),
            Err(e) => Err(e),
        };
        let actual = CellRows::read(&self.conn, id)?;
        Ok((expected, actual))
    }

    /// Applies a peer's changes to a held cell: the trust boundary for
    /// everything that arrives by sync or bundle. The change runs on the
    /// cached copy; if it panics, moves the cell (its id or region path), or
    /// leaves a document that fails [`CellDoc::check_merged`], the copy is
    /// dropped and nothing reaches the file. Identity is compared with what
    /// this store held before, never with what the bytes claim; the write
    /// rules, with what the change did to this store's copy. Inside
    /// [`Inner::write`], so the copy is the latest the file holds.
    fn absorb(
        &mut self,
        id: &str,
        sender: Option<Role>,
        f: impl FnOnce(&mut CellDoc) -> Result<()>,
    ) -> Result<Absorbed> {
        // Changes an earlier call left waiting for a dependency were never
        // checked, and maybe not against this sender: start from the file.
        if self
            .cache
            .get(id)
            .is_some_and(|e| crate::replica::holds_waiting(&mut e.doc))
        {
            self.cache.remove(id);
        }
        let entry = self.doc(id)?;
        let before = entry.persisted.clone();
        let checked = crate::replica::absorb_checked(&mut entry.doc, &before, sender, f);
        let waiting = checked.is_ok() && crate::replica::holds_waiting(&mut entry.doc);
        match checked {
            Err(e) => {
                // Partially applied or refused input must not linger in memory.
                self.cache.remove(id);
                Err(e)
            }
            Ok(None) => Ok(Absorbed {
                changed: false,
                waiting,
                wrote: false,
            }),
            Ok(Some(touched)) => {
                let mut entry = self
                    .cache
                    .take(id)
                    .ok_or_else(|| Error::not_found("cell", id))?;
                // A migration may move anything: then the whole cell.
                let migrated = entry.doc.migrate(self.now_ts())?;
                // A device that may not change a recorded resident ID gives
                // way where its own first one crossed another's, in the same
                // write, so its later changes are not refused with it.
                let yielded = match self.role {
                    Some(role) if !crate::rules::may_change_resident_ids(role) => {
                        entry.doc.yield_resident_ids(self.now_ts())?
                    }
                    _ => false,
                };
                let touched = if migrated || yielded {
                    Touched::All
                } else {
                    touched
                };
                self.persist(id, &mut entry, &touched)?;
                // Kept with what waits (automerge asks the peer for the
                // missing dependencies from it), until the next write.
                self.cache.insert(id.to_string(), entry);
                Ok(Absorbed {
                    changed: true,
                    waiting,
                    wrote: migrated || yielded,
                })
            }
        }
    }

    fn merge_bytes(
        &mut self,
        bytes: &[u8],
        sender: Option<Role>,
        names_cell: bool,
    ) -> Result<(String, bool)> {
        // Decode on its own first, before taking the write lock: we need the
        // cell id, and bad bytes must be refused before they touch a stored
        // document.
        let (id, incoming) = crate::replica::decode_whole(bytes, &self.actor)?;
        let mut new_epoch = false;
        // Whether the cell is new is decided under the write lock: two
        // programs importing the same new cell must not both create it.
        let changed = self.write(|inner| {
            let exists = inner
                .conn
                .prepare_cached("SELECT 1 FROM docs WHERE id = ?1")?
                .query_row([&id], |_| Ok(()))
                .optional()?
                .is_some();
            if !exists {
                if let Some(latest) = inner.latest_order(&id)?.filter(|e| *e > incoming.epoch()) {
                    return Err(Error::Refused {
                        doc: id.clone(),
                        reason: format!("it is a copy from before the office erased data from the cell (epoch {latest} is current); the sender must sync with the hub first"),
                    });
                }
                let doc = crate::replica::admit_new(incoming, sender, names_cell, inner.now_ts())?;
                inner.insert_new_doc(&id, doc)?;
                return Ok(true);
            }
            // A later epoch than the one held replaces it, if an erasure
            // order held here leads to it; it never merges with it.
            if incoming.epoch() > inner.doc(&id)?.doc.epoch() {
                let now = inner.now_ts();
                return match inner.follow_orders(&id, Some(incoming), now)? {
                    Some(true) => {
                        new_epoch = true;
                        Ok(true)
                    }
                    _ => Err(Error::Refused {
                        doc: id.clone(),
                        reason: "it is a later epoch of the cell than any erasure order this device holds; sync with the hub first".into(),
                    }),
                };
            }
            Ok(inner
                .absorb(&id, sender, |d| d.apply_bytes(bytes).map(|_| ()))?
                .changed)
        })?;
        if new_epoch {
            self.purge()?;
            // The new epoch is kept whatever follows: the rest of the
            // peer's document is its own changes, under its role's rules.
            self.write(|inner| inner.absorb(&id, sender, |d| d.apply_bytes(bytes).map(|_| ())))?;
        }
        Ok((id, changed))
    }
}
