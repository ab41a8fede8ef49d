//! The stores open in this process, by file. Apps open a store from more
//! than one place (two screens, a background sync worker); two SQLite
//! connections on one file would each keep their own document cache and go
//! stale on each other, so a second `Store.open` of a file that is open
//! shares the store already open — after checking it was given the same key
//! (and the same clock, for stores opened at a set time).

use crate::error::StoreError;
use crate::status::Tracker;
use sha2::{Digest, Sha256};
use silin_core::clock::Clock;
use silin_core::store::{StoreKey, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

struct Entry {
    path: PathBuf,
    /// A digest, so that no key outlives the call that gave it.
    key: [u8; 32],
    store: Weak<silin_core::Store>,
    /// The file's sync status, shared by every handle on it.
    tracker: Arc<Tracker>,
    /// The time its clock was set to (`Store.open_at`), or none: the
    /// system's.
    now: Option<String>,
}

static OPEN: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn key_digest(key: Option<&str>) -> [u8; 32] {
    let mut h = Sha256::new();
    match key {
        None => h.update([0u8]),
        Some(k) => {
            h.update([1u8]);
            h.update(k.as_bytes());
        }
    }
    h.finalize().into()
}

/// The store open on one file, and its sync status.
pub(crate) type Opened = (Arc<silin_core::Store>, Arc<Tracker>);

/// Opens the store at `path`, or shares the one already open there;
/// `now` sets its clock (see `Store.open_at` in the UDL).
pub(crate) fn open(
    path: &str,
    key: Option<String>,
    now: Option<String>,
) -> Result<Opened, StoreError> {
    let now = now.map(|n| n.trim().to_string());
    let clock = match &now {
        None => Clock::system(),
        Some(n) => Clock::parse(n).ok_or_else(|| StoreError::Invalid {
            field: "now".into(),
            rule: format!(
                "{n:?} is not a time: give RFC 3339 with an offset \
                 (2027-02-28T23:58:00+08:00) or a day (2027-02-28)"
            ),
        })?,
    };
    // Opening is rare; holding the lock throughout keeps two threads opening
    // one new file from making two stores.
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    open.retain(|e| e.store.strong_count() > 0);
    let digest = key_digest(key.as_deref());
    if let Ok(canonical) = Path::new(path).canonicalize() {
        if let Some(e) = open.iter().find(|e| e.path == canonical) {
            if let Some(store) = e.store.upgrade() {
                if e.key != digest {
                    return Err(silin_core::Error::WrongKey.into());
                }
                if e.now != now {
                    return Err(StoreError::Invalid {
                        field: "now".into(),
                        rule: "this file is already open in this process with another clock; \
                               close every handle on it first"
                            .into(),
                    });
                }
                return Ok((store, e.tracker.clone()));
            }
        }
    }
    let options = StoreOptions {
        key: key.map(StoreKey::new),
        clock,
        ..StoreOptions::default()
    };
    let store = Arc::new(silin_core::Store::open(path, options)?);
    let tracker = Arc::new(Tracker::new());
    // The file exists now; if it cannot be named canonically (removed at
    // once by someone else), the store still works, unshared.
    if let Ok(canonical) = Path::new(path).canonicalize() {
        open.push(Entry {
            path: canonical,
            key: digest,
            store: Arc::downgrade(&store),
            tracker: tracker.clone(),
            now,
        });
    }
    Ok((store, tracker))
}
