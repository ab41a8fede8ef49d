//! Compaction: folding a document's chunks into a new snapshot, off the
//! user's write.
//!
//! Every write appends one chunk (its changes) to the document's rows, and
//! loading a document applies its snapshot and then every chunk, so chunks
//! must be folded into the snapshot now and then. That fold is a full
//! automerge `save()` — about 3 ms for a year-old cell, mostly DEFLATE — and
//! it used to run inside the write that brought the 128th chunk: one write
//! in 128 took thirty times the median (issue 15, item 7).
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
//!   nothing is written and the document stays due. A power cut at any point
//!   leaves either the old snapshot and all its chunks or the new snapshot:
//!   both load to the same document.
//! - **A bound for stores that are never idle.** If the thread cannot keep
//!   up (it lost every race for a document written continuously, or
//!   [`Compaction::OnMaintain`] and nobody calls [`Store::maintain`]), a
//!   write that would bring a document to [`BOUND`] × `compact_after_chunks`
//!   chunks compacts inline, as every 128th write used to: chunks never pile
//!   up past that, and loading stays bounded.
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
        let due = lock_shared(&shared).due_in_cache();
        for id in due {
            if let Err(e) = compact_one(&shared, &id, false) {
                // The document stays due; the next write wakes us again,
                // and the bound keeps its chunks in check meanwhile. Only
                // SQLite's code is logged: an error may name a record.
                let code = match &e {
                    Error::Sqlite(s) => s.sqlite_error_code(),
                    _ => None,
                };
                tracing::warn!(sqlite = ?code, "background compaction failed");
            }
            if asleep.try_recv() == Err(std::sync::mpsc::TryRecvError::Disconnected) {
                return;
            }
        }
    }
}

/// Compacts one due document, saving its snapshot with the store's lock
/// released. Returns whether it was compacted: false when it was not due,
/// not cached (and `load` is false), or moved on while it was being saved.
pub(super) fn compact_one(shared: &Mutex<Inner>, id: &str, load: bool) -> Result<bool> {
    let (mut copy, built_on) = {
        let mut inner = lock_shared(shared);
        let after = inner.compact_after;
        let entry = if load {
            inner.doc_read(id)?
        } else {
            // As the file holds it now, and without counting as a use.
            inner.revalidate()?;
            match inner.cache.peek(id) {
                Some(entry) => entry,
                None => return Ok(false),
            }
        };
        if entry.chunk_count < after {
            return Ok(false);
        }
        // A copy, so that writes to the document go on while it is saved.
        // Between writes the cached document holds exactly what the file
        // holds (`persisted`); changes waiting on a missing dependency are
        // not part of its history and are not saved.
        let copy = entry.doc.automerge().clone();
        (copy, entry.persisted.clone())
    };
    let mut heads = copy.get_heads();
    heads.sort();
    if heads != built_on {
        return Ok(false);
    }
    let snapshot = copy.save();
    drop(copy);
    let mut inner = lock_shared(shared);
    match inner.write(|inner| write_snapshot(&inner.conn, id, &snapshot, &built_on, &built_on)) {
        Ok(()) => {}
        // Moved on since the copy: still due, and tried again later.
        Err(Error::Busy) => return Ok(false),
        Err(e) => return Err(e),
    }
    if let Some(entry) = inner.cache.peek(id) {
        if entry.persisted == built_on {
            entry.chunk_count = 0;
            entry.chunk_bytes = 0;
        }
    }
    Ok(true)
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
    /// more, loading those not in memory; each in a transaction of its own,
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
        Ok(done)
    }
}
