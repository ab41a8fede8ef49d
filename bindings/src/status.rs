//! Sync status and progress: what the store's syncs are doing, for a screen
//! to show (a status value apps read or watch), and the cancel flags of the
//! hub syncs running. One tracker per open file, shared by every `Store`
//! handle on it, so a background worker's sync shows on every screen.

use silin_core::sync::Session;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a sync is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPhase {
    Idle,
    Connecting,
    Sending,
    Receiving,
}

/// The store's sync status, as the UDL declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    pub phase: SyncPhase,
    pub cells_done: u32,
    pub cells_total: u32,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub last_synced: Option<String>,
    pub last_error: Option<String>,
}

impl SyncStatus {
    fn idle() -> SyncStatus {
        SyncStatus {
            phase: SyncPhase::Idle,
            cells_done: 0,
            cells_total: 0,
            bytes_up: 0,
            bytes_down: 0,
            last_synced: None,
            last_error: None,
        }
    }
}

/// An app's status listener, as the UDL declares it.
pub trait SyncStatusObserver: Send + Sync {
    fn status_changed(&self, status: SyncStatus) -> Result<(), crate::ObserverError>;
}

pub(crate) struct Tracker {
    status: Mutex<SyncStatus>,
    observers: Mutex<Vec<(u64, Arc<dyn SyncStatusObserver>)>>,
    next_observer: AtomicU64,
    /// The cancel flags of the hub syncs running now.
    running: Mutex<Vec<Arc<AtomicBool>>>,
    /// Held for a whole hub sync: a store syncs with its hub one session
    /// at a time, so the sync after a cancelled one starts once the
    /// cancelled one has stopped at its round boundary.
    hub: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data, consistent at every unlock; an observer's panic is caught
    // by the FFI layer before it could poison anything here.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tracker {
    pub(crate) fn new() -> Tracker {
        Tracker {
            status: Mutex::new(SyncStatus::idle()),
            observers: Mutex::new(Vec::new()),
            next_observer: AtomicU64::new(1),
            running: Mutex::new(Vec::new()),
            hub: Mutex::new(()),
        }
    }

    pub(crate) fn status(&self) -> SyncStatus {
        lock(&self.status).clone()
    }

    pub(crate) fn subscribe(&self, observer: Arc<dyn SyncStatusObserver>) -> u64 {
        let id = self.next_observer.fetch_add(1, Ordering::Relaxed);
        lock(&self.observers).push((id, observer));
        id
    }

    pub(crate) fn unsubscribe(&self, id: u64) {
        lock(&self.observers).retain(|(i, _)| *i != id);
    }

    /// Changes the status and tells the observers, on this thread, when it
    /// changed. Observers are called with no lock held.
    pub(crate) fn update(&self, change: impl FnOnce(&mut SyncStatus)) {
        let now = {
            let mut status = lock(&self.status);
            let before = status.clone();
            change(&mut status);
            if *status == before {
                return;
            }
            status.clone()
        };
        let observers: Vec<_> = lock(&self.observers)
            .iter()
            .map(|(_, o)| o.clone())
            .collect();
        for o in observers {
            // The sync goes on whatever the app's observer does.
            let _ = o.status_changed(now.clone());
        }
    }

    /// A step of a session: its phase and figures so far.
    pub(crate) fn step(&self, phase: SyncPhase, session: &Session) {
        let (done, total) = session.progress();
        let stats = session.stats();
        self.update(|s| {
            s.phase = phase;
            s.cells_done = crate::convert::count(done);
            s.cells_total = crate::convert::count(total);
            s.bytes_up = stats.bytes_up as u64;
            s.bytes_down = stats.bytes_down as u64;
        });
    }

    /// A sync starts: figures from zero, the last outcome kept.
    pub(crate) fn begin(&self, phase: SyncPhase) {
        self.update(|s| {
            s.phase = phase;
            s.cells_done = 0;
            s.cells_total = 0;
            s.bytes_up = 0;
            s.bytes_down = 0;
        });
    }

    /// A sync ended: idle again, with when (on success) or why not.
    pub(crate) fn end(&self, outcome: Result<String, String>) {
        self.update(|s| {
            s.phase = SyncPhase::Idle;
            match outcome {
                Ok(at) => {
                    s.last_synced = Some(at);
                    s.last_error = None;
                }
                Err(e) => s.last_error = Some(e),
            }
        });
    }

    /// Registers a hub sync about to run and returns its cancel flag.
    pub(crate) fn start_hub_sync(&self, flag: Arc<AtomicBool>) -> HubRun<'_> {
        lock(&self.running).push(flag.clone());
        HubRun {
            tracker: self,
            flag,
        }
    }

    /// Asks every hub sync running on this file to stop at its next round
    /// boundary.
    pub(crate) fn cancel_all(&self) {
        for f in lock(&self.running).iter() {
            f.store(true, Ordering::SeqCst);
        }
    }

    pub(crate) fn hub_turn(&self) -> MutexGuard<'_, ()> {
        lock(&self.hub)
    }
}

/// A hub sync registered with its tracker, until dropped.
pub(crate) struct HubRun<'a> {
    tracker: &'a Tracker,
    flag: Arc<AtomicBool>,
}

impl HubRun<'_> {
    pub(crate) fn cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl Drop for HubRun<'_> {
    fn drop(&mut self) {
        lock(&self.tracker.running).retain(|f| !Arc::ptr_eq(f, &self.flag));
    }
}

/// Sets a cancel flag when dropped: an async sync whose future the app
/// dropped (a cancelled coroutine or task) stops at its next round boundary.
pub(crate) struct CancelOnDrop(pub(crate) Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
