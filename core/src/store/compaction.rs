//! Compaction: folding a document's chunks into a new snapshot, off the
//! user's write.
//!
//! Every write appends one chunk (its changes) to the document's rows, and
//! loading a document applies its snapshot and then every chunk, so chunks
//! must be folded into the snapshot now and then. That fold is a full
//! automerge `save()` — milliseconds for a year-old cell, mostly DEFLATE — and
//! it used to run inside the write that brought the 128th chunk: one write
//! in 128 took twenty times the median or more (issue 15, item 7).
//!
//! Now the write only appends, and a document with
//! [`StoreOptions::compact_after_chunks`](super::StoreOptions) chunks or more
//! is *due*. Why this design:
//!
//! - **After the write returns, on a thread the store owns**
//!   ([`Compaction::Background`], the default). Apps and the hub need to
//!   call nothing: a write that leaves a document due wakes the thread, which
//!   takes the store's lock only twice per document and briefly — to clone
//!   the cached document, and to commit the new snapshot — and runs the
//!   `save()` itself with the lock released, so writes go on meanwhile. An
//!   idle-time scheduler (the app's `onTrimMemory`, a sync's end) would have
//!   to be called by every app, and a size-proportional threshold alone still
//!   puts the whole `save()` inside some user's write.
//! - **Durability is unchanged.** The user's chunk is committed (and with
//!   [`Durability::Full`](super::Durability), fsynced) before the call
//!   returns, as before. The compaction is a transaction of its own that
//!   replaces the snapshot and drops the chunks together, and only if the
//!   document's row still records the heads the snapshot was saved at
//!   (`write_snapshot`): if a write — of this store or of another program on
//!   the file — moved the document on while the snapshot was being saved,
//!   nothing is written and the document stays due (but see the next
//!   point). A power cut at any point leaves either the old snapshot and
//!   all its chunks or the new snapshot and the chunks after it: both load
//!   to the same document.
//! - **A document written while it is saved is still compacted.** The save
//!   of a year-old cell takes 10–25 ms here; a cell written more often than
//!   that (a hub merging a stream of changes, this benchmark's round-robin)
//!   would never stay still long enough. The copy's chunks are the file's
//!   first `n` chunks if, since the copy, no other program committed to the
//!   file (`PRAGMA data_version` unchanged) and this store compacted nothing
//!   (its count of compactions unchanged): then only this store's own
//!   writes appended chunks after them, and the snapshot replaces those `n`
//!   and keeps the rest, renumbered. Otherwise it must match the heads, as
//!   above.
//! - **A bound for stores that are never idle.** If the thread cannot keep
//!   up (it lost every race for a document written continuously, or
//!   [`Compaction::OnMaintain`] and nobody calls [`Store::maintain`]), a
//!   write that would bring a document to [`BOUND`] × `compact_after_chunks`
//!   chunks compacts inline, as every 128th write used to: chunks never pile
//!   up past that, and loading stays bounded.
//! - **WAL checkpoints go the same way.** SQLite copies the WAL back into
//!   the database file, with an fsync even at `synchronous=NORMAL`, inside
//!   the commit that takes the WAL past `wal_autocheckpoint` pages (1,000 by
//!   default: with about ten pages per visit, one write in a hundred); and
//!   the first commit after each complete checkpoint restarts the WAL and
//!   fsyncs its new header. On a slow disk both are milliseconds, and at
//!   one write in a hundred each they were the tail left once compaction
//!   moved out. With [`Compaction::Background`] the thread runs a passive
//!   checkpoint every [`CHECKPOINT_EVERY`] commits, after the write that
//!   asked for it has returned, on the store's connection under its lock
//!   (a writer arriving meanwhile waits for it), and the store's connection
//!   checkpoints by itself only past [`WAL_PAGES`] (the bound, if the
//!   thread falls behind). A connection of the thread's own, as first
//!   built, made the store's connection stop seeing what another program
//!   committed afterwards: a hub serving went on refusing the enrolment
//!   tokens `silin hub token` had written (cli/tests/hub.rs). When writes leave the thread time
//!   to finish its checkpoint, one write in 150 pays a header fsync and none
//!   a checkpoint; a stream of writes that never pauses keeps the WAL from
//!   being fully checkpointed, and the connection's own checkpoint still
//!   runs every [`WAL_PAGES`] pages (doc/BENCHMARKS.md, "The write path").
//!   The price is a WAL file of up to ~12 MB instead of ~4 MB.
//! - Only documents in the cache are compacted by the thread: loading an
//!   evicted year-old document just to compact it would hold the lock for
//!   the load. An evicted document stays due until its next write (or
//!   [`Store::maintain`], which loads it).

use super::{lock_shared, write_snapshot, Inner, Store};
use crate::error::{Error, Result};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, Weak};
use std::thread::JoinHandle;

/// When a due document is compacted. See the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compaction {
    /// After the write that made it due has returned, on a thread the store
    /// owns (started on first need, joined when the store is dropped).
    #[default]
    Background,
    /// Only when [`Store::maintain`] is called (or a write reaches the
    /// bound): for programs that schedule their own idle work.
    OnMaintain,
    /// Inside the write that makes it due, which then takes as long as a full
    /// save of the document. The behaviour before issue 15, kept to measure
    /// against and for one-shot tools that exit right after their write.
    InWrite,
}

/// A write compacts inline once a document would hold this many times
/// `compact_after_chunks` chunks, however compaction is scheduled.
pub const BOUND: i64 = 4;

/// With [`Compaction::Background`], the thread checkpoints the WAL after this
/// many commits (about 1,500 pages for visits), under [`WAL_PAGES`].
pub const CHECKPOINT_EVERY: u32 = 150;

/// With [`Compaction::Background`], the store's own connection checkpoints
/// inside a commit only once the WAL holds this many pages.
pub const WAL_PAGES: u32 = 3000;

/// The background thread and the channel that wakes it.
pub(super) struct Worker {
    wake: Sender<()>,
    handle: JoinHandle<()>,
}

impl Worker {
    fn spawn(shared: Weak<Mutex<Inner>>) -> Option<Worker> {
        let (wake, asleep) = channel();
        let handle = std::thread::Builder::new()
            .name("silin-compaction".into())
            .spawn(move || work(shared, asleep))
            .ok()?;
        Some(Worker { wake, handle })
    }

    /// Closes the channel and waits for the thread: it finishes the
    /// document it is compacting, if any, and starts no other.
    pub(super) fn stop(self) {
        drop(self.wake);
        let _ = self.handle.join();
    }
}

fn work(shared: Weak<Mutex<Inner>>, asleep: Receiver<()>) {
    while asleep.recv().is_ok() {
        // One pass serves every wake-up sent so far.
        while asleep.try_recv().is_ok() {}
        // The store is being dropped: nothing left to serve.
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let (due, checkpoint) = {
            let mut inner = lock_shared(&shared);
            let checkpoint = std::mem::take(&mut inner.checkpoint_due);
            (inner.due_in_cache(), checkpoint)
        };
        for id in due {
            match compact_one(&shared, &id, false) {
                Ok(_) => {}
                Err(e) => {
                    // The document stays due; the next write wakes us again,
                    // and the bound keeps its chunks in check meanwhile. Only
                    // SQLite's code is logged: an error may name a record.
                    let code = match &e {
                        Error::Sqlite(s) => s.sqlite_error_code(),
                        _ => None,
                    };
                    tracing::warn!(sqlite = ?code, "background compaction failed");
                }
            }
            if asleep.try_recv() == Err(std::sync::mpsc::TryRecvError::Disconnected) {
                return;
            }
        }
        if checkpoint {
            // Passive: copies what no reader still needs, waits for nobody.
            // A failure leaves the WAL to SQLite's own checkpoint in a later
            // commit. On the store's own connection, under its lock, after
            // the write that asked for it has returned: a second connection
            // of this process checkpointing made the store's connection stop
            // seeing what other programs commit (a hub missed the tokens
            // `silin hub token` wrote; see core/tests/two_processes.rs).
            let inner = lock_shared(&shared);
            let _ = inner
                .conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
    }
}

/// Compacts one due document, saving its snapshot with the store's lock
/// released. Returns whether it was compacted: false when it was not due,
/// not cached (and `load` is false), or moved on by another program while
/// it was being saved.
pub(super) fn compact_one(shared: &Mutex<Inner>, id: &str, load: bool) -> Result<bool> {
    match copy_due(shared, id, load)? {
        Some(mut copy) => {
            let snapshot = copy.doc.save();
            swap_in(shared, id, &snapshot, &copy)
        }
        None => Ok(false),
    }
}

/// A due document copied out of the cache, and what the file held then.
pub(super) struct Copy {
    doc: automerge::AutoCommit,
    /// Its heads: what the file's row recorded when it was copied.
    built_on: Vec<automerge::ChangeHash>,
    /// The chunks the file held for it then (seq 0 up to this).
    covered: i64,
    /// The file's `data_version` and this store's compaction count then.
    version: i64,
    compactions: u64,
}

/// Under the lock, briefly: a copy of a due document, if it is due (and
/// cached, unless `load`).
pub(super) fn copy_due(shared: &Mutex<Inner>, id: &str, load: bool) -> Result<Option<Copy>> {
    let mut inner = lock_shared(shared);
    let after = inner.compact_after;
    let entry = if load {
        inner.doc_read(id)?
    } else {
        // As the file holds it now, and without counting as a use.
        inner.revalidate()?;
        match inner.cache.peek(id) {
            Some(entry) => entry,
            None => return Ok(None),
        }
    };
    if entry.chunk_count < after {
        return Ok(None);
    }
    // A copy, so that writes to the document go on while it is saved.
    // Between writes the cached document holds exactly what the file holds
    // (`persisted`); changes waiting on a missing dependency are not part of
    // its history and are not saved.
    let mut doc = entry.doc.automerge().clone();
    let (built_on, covered) = (entry.persisted.clone(), entry.chunk_count);
    let mut heads = doc.get_heads();
    heads.sort();
    if heads != built_on {
        return Ok(None);
    }
    Ok(Some(Copy {
        doc,
        built_on,
        covered,
        version: inner.data_version,
        compactions: inner.compactions,
    }))
}

/// Under the lock, in a transaction of its own: `snapshot` (saved from
/// `copy`) replaces what it covers, if the file still holds that.
pub(super) fn swap_in(
    shared: &Mutex<Inner>,
    id: &str,
    snapshot: &[u8],
    copy: &Copy,
) -> Result<bool> {
    let mut inner = lock_shared(shared);
    let built_on = &copy.built_on;
    let counted = inner.write(|inner| {
        // After `write`'s revalidation: `data_version` is the file's now.
        let only_ours = inner.data_version == copy.version && inner.compactions == copy.compactions;
        inner.compactions += 1;
        match write_snapshot(&inner.conn, id, snapshot, built_on, built_on) {
            Ok(()) => Ok(None),
            Err(Error::Busy) if only_ours => {
                replace_first_chunks(&inner.conn, id, snapshot, copy.covered).map(Some)
            }
            Err(e) => Err(e),
        }
    });
    let counted = match counted {
        Ok(counted) => counted,
        // Moved on since the copy by someone else: still due, tried again
        // after a later write.
        Err(Error::Busy) => return Ok(false),
        Err(e) => return Err(e),
    };
    if let Some(entry) = inner.cache.peek(id) {
        match counted {
            None if entry.persisted == *built_on => {
                entry.chunk_count = 0;
                entry.chunk_bytes = 0;
            }
            Some((count, bytes)) => {
                entry.chunk_count = count;
                entry.chunk_bytes = bytes;
            }
            None => {}
        }
    }
    Ok(true)
}

/// Replaces the snapshot and the first `covered` chunks of a document with
/// `snapshot` (which holds exactly them), keeping the later chunks as its
/// chunks 0, 1, …. Returns the chunks' new count and bytes. The caller has
/// proved that the file's first `covered` chunks are those the snapshot
/// was saved from.
fn replace_first_chunks(
    conn: &rusqlite::Connection,
    id: &str,
    snapshot: &[u8],
    covered: i64,
) -> Result<(i64, i64)> {
    conn.prepare_cached("DELETE FROM chunks WHERE doc_id = ?1 AND seq < ?2")?
        .execute(rusqlite::params![id, covered])?;
    // Through negative numbers, so that no step collides with a row not yet
    // renumbered (seq is part of the primary key).
    conn.prepare_cached("UPDATE chunks SET seq = -1 - (seq - ?2) WHERE doc_id = ?1")?
        .execute(rusqlite::params![id, covered])?;
    conn.prepare_cached("UPDATE chunks SET seq = -1 - seq WHERE doc_id = ?1")?
        .execute([id])?;
    let (count, bytes): (i64, i64) = conn
        .prepare_cached(
            "SELECT count(*), coalesce(sum(length(bytes)), 0) FROM chunks WHERE doc_id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    conn.prepare_cached(
        "UPDATE docs SET snapshot_bytes = ?2, chunk_count = ?3, chunk_bytes = ?4 WHERE id = ?1",
    )?
    .execute(rusqlite::params![id, snapshot.len() as i64, count, bytes])?;
    conn.prepare_cached("UPDATE snapshots SET snapshot = ?2 WHERE id = ?1")?
        .execute(rusqlite::params![id, snapshot])?;
    Ok((count, bytes))
}

impl Inner {
    /// Cached documents with `compact_after` chunks or more.
    fn due_in_cache(&mut self) -> Vec<String> {
        let after = self.compact_after;
        self.cache
            .iter_mut()
            .filter(|(_, e)| e.chunk_count >= after)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// After every commit: every [`CHECKPOINT_EVERY`] commits, asks the
    /// background thread for a checkpoint.
    pub(super) fn committed(&mut self) {
        if self.compaction != Compaction::Background {
            return;
        }
        self.commits += 1;
        if self.commits >= CHECKPOINT_EVERY {
            self.commits = 0;
            self.checkpoint_due = true;
            self.wake_compaction();
        }
    }

    /// Wakes the background thread, starting it on first need. Called from
    /// a write, under the lock: the thread waits for that lock, so it sees
    /// the write committed (or rolled back).
    pub(super) fn wake_compaction(&mut self) {
        if self.worker.is_none() {
            self.worker = Worker::spawn(self.me.clone());
        }
        if let Some(w) = &self.worker {
            let _ = w.wake.send(());
        }
    }
}

impl Store {
    /// Compacts every document holding `compact_after_chunks` chunks or
    /// more, loading those not in memory, then checkpoints the WAL; each in a transaction of its own,
    /// its snapshot saved with the store's lock released. For programs that
    /// schedule their own idle work ([`Compaction::OnMaintain`]) and for
    /// tests; with the default [`Compaction::Background`] there is no need to
    /// call it. Returns how many documents were compacted.
    pub fn maintain(&self) -> Result<usize> {
        let due: Vec<String> = {
            let inner = self.lock();
            let mut s = inner
                .conn
                .prepare_cached("SELECT id FROM docs WHERE chunk_count >= ?1 ORDER BY id")?;
            let ids = s
                .query_map([inner.compact_after], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            ids
        };
        let mut done = 0;
        for id in due {
            done += usize::from(compact_one(&self.inner, &id, true)?);
        }
        self.lock()
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NewVisit, RegionPath, VisitKind};
    use crate::store::StoreOptions;

    fn visit(store: &Store, cell: &str) -> String {
        let at = chrono::FixedOffset::east_opt(8 * 3600)
            .and_then(|tz| chrono::TimeZone::timestamp_opt(&tz, 1_795_000_000, 0).single());
        let v = NewVisit::new(VisitKind::DoorKnock, at.expect("a valid time"), "lead");
        store.record_visit(cell, v).expect("visit")
    }

    #[test]
    fn a_cell_written_while_its_snapshot_is_saved_keeps_the_later_chunks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("s.db");
        let options = StoreOptions {
            durability: crate::store::Durability::Normal,
            compact_after_chunks: 8,
            compaction: Compaction::OnMaintain,
            ..Default::default()
        };
        let store = Store::open(&p, options.clone()).expect("open");
        let path = RegionPath::parse("county/township/village/group").expect("path");
        let cell = store
            .create_cell("cell", &path, Some("lead"))
            .expect("cell");
        let mut ids: Vec<String> = (0..10).map(|_| visit(&store, &cell)).collect();
        let mut copy = copy_due(&store.inner, &cell, false)
            .expect("copy")
            .expect("due");
        assert_eq!(copy.covered, 10);
        // Written while the copy is being saved.
        ids.extend((0..3).map(|_| visit(&store, &cell)));
        let snapshot = copy.doc.save();
        assert!(swap_in(&store.inner, &cell, &snapshot, &copy).expect("swap"));
        assert_eq!(store.stats().expect("stats").chunks, 3);
        let heads = store.heads(&cell).expect("heads");
        // The next write numbers its chunk after the three kept.
        ids.push(visit(&store, &cell));
        assert_eq!(store.stats().expect("stats").chunks, 4);
        let heads_after = store.heads(&cell).expect("heads");
        assert_ne!(heads, heads_after);
        drop(store);
        let store = Store::open(&p, options).expect("reopen");
        assert_eq!(store.heads(&cell).expect("heads"), heads_after);
        let visits = store.cell(&cell).expect("view").visits;
        assert_eq!(visits.len(), ids.len());
        assert!(store.check().expect("check").ok);
    }

    #[test]
    fn a_copy_another_program_moved_on_is_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("s.db");
        let options = StoreOptions {
            durability: crate::store::Durability::Normal,
            compact_after_chunks: 4,
            compaction: Compaction::OnMaintain,
            ..Default::default()
        };
        let a = Store::open(&p, options.clone()).expect("open");
        let b = Store::open(&p, options.clone()).expect("open");
        let path = RegionPath::parse("county/township/village/group").expect("path");
        let cell = a.create_cell("cell", &path, Some("lead")).expect("cell");
        (0..5).for_each(|_| {
            visit(&a, &cell);
        });
        let mut copy = copy_due(&a.inner, &cell, false)
            .expect("copy")
            .expect("due");
        // Another program compacts and writes meanwhile.
        b.compact_all().expect("compact");
        visit(&b, &cell);
        let snapshot = copy.doc.save();
        assert!(!swap_in(&a.inner, &cell, &snapshot, &copy).expect("swap"));
        drop((a, b));
        let store = Store::open(&p, options).expect("reopen");
        assert_eq!(store.cell(&cell).expect("view").visits.len(), 6);
        assert!(store.check().expect("check").ok);
    }
}
