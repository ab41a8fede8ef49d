//! A small least-recently-used cache of decoded documents. A township hub
//! holds hundreds of cells; keeping them all decoded would cost memory for
//! no gain, since a sync or an edit touches a few at a time.

use crate::cell::CellDoc;
use automerge::ChangeHash;
use std::collections::HashMap;

pub(crate) struct Cached {
    pub doc: CellDoc,
    /// Heads already written to the file (sorted); changes after them are
    /// unsaved. Also what the copy was built on: while the `docs` row still
    /// records these heads, no other connection has moved the document on.
    pub persisted: Vec<ChangeHash>,
    pub chunk_count: i64,
    pub chunk_bytes: i64,
}

pub(crate) struct DocCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (u64, Cached)>,
}

impl DocCache {
    pub fn new(capacity: usize) -> DocCache {
        DocCache {
            capacity,
            tick: 0,
            entries: HashMap::new(),
        }
    }

    pub fn get(&mut self, id: &str) -> Option<&mut Cached> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(id).map(|(t, c)| {
            *t = tick;
            c
        })
    }

    /// The entry, without counting this as a use (for the compaction
    /// thread, which must not keep a document cached by looking at it).
    pub fn peek(&mut self, id: &str) -> Option<&mut Cached> {
        self.entries.get_mut(id).map(|(_, c)| c)
    }

    pub fn take(&mut self, id: &str) -> Option<Cached> {
        self.entries.remove(id).map(|(_, c)| c)
    }

    pub fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every cached document, without touching their recency.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Cached)> {
        self.entries.iter_mut().map(|(id, (_, c))| (id, c))
    }

    pub fn insert(&mut self, id: String, doc: Cached) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&id) {
            // Linear scan: capacity is tens of entries, and eviction happens
            // at most once per load.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        self.entries.insert(id, (self.tick, doc));
    }
}
