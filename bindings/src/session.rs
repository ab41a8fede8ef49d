//! `SyncSession`: one app-carried sync, callable from any thread. Messages
//! of one session are handled one at a time, in the order they arrive; each
//! step shows in the store's sync status.

use crate::convert::SyncStats;
use crate::error::{StoreError, SyncError};
use crate::offthread;
use crate::status::{SyncPhase, Tracker};
use crate::store::{open_store, Shared};
use silin_core::sync::Session;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct SyncSession {
    store: Shared,
    tracker: Arc<Tracker>,
    session: Mutex<Session>,
    /// The status shows this session (the initiator from its start, the
    /// acceptor from its first message).
    begun: AtomicBool,
    /// The status was told how this session ended.
    ended: AtomicBool,
}

impl SyncSession {
    pub(crate) fn new(
        store: Shared,
        tracker: Arc<Tracker>,
        session: Session,
        begun: bool,
    ) -> SyncSession {
        SyncSession {
            store,
            tracker,
            session: Mutex::new(session),
            begun: AtomicBool::new(begun),
            ended: AtomicBool::new(false),
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A failed receive leaves the session refusing further messages,
        // never half-applied, so a poisoned lock is safe to take over.
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn end(&self, outcome: Result<String, String>) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            self.tracker.end(outcome);
        }
    }

    pub fn receive(&self, message: Vec<u8>) -> Result<Option<Vec<u8>>, SyncError> {
        let store = open_store(&self.store).ok_or_else(|| SyncError::from(StoreError::closed()))?;
        let mut session = self.session();
        if !self.begun.swap(true, Ordering::SeqCst) {
            self.tracker.begin(SyncPhase::Receiving);
        }
        self.tracker.step(SyncPhase::Receiving, &session);
        match session.receive(&*store, &message) {
            Ok(Some(reply)) => {
                if session.is_done() {
                    // Both sides were equal: this side's reply ends it.
                    self.end(Ok(store.clock().now().to_rfc3339()));
                } else {
                    self.tracker.step(SyncPhase::Sending, &session);
                }
                Ok(Some(reply))
            }
            Ok(None) => {
                self.tracker.step(SyncPhase::Receiving, &session);
                self.end(Ok(store.clock().now().to_rfc3339()));
                Ok(None)
            }
            Err(e) => {
                let e = SyncError::from(e);
                tracing::warn!(target: "silin::ffi", kind = e.kind(), "peer sync failed");
                self.end(Err(e.to_string()));
                Err(e)
            }
        }
    }

    /// `receive`, awaited: the work runs on a thread of its own.
    pub async fn receive_async(
        self: Arc<Self>,
        message: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        offthread::run(move || self.receive(message)).await
    }

    pub fn close_message(&self) -> Option<Vec<u8>> {
        self.session().close_message()
    }

    pub fn is_done(&self) -> bool {
        self.session().is_done()
    }

    pub fn stats(&self) -> SyncStats {
        self.session().stats().into()
    }

    pub fn peer_device_id(&self) -> Option<String> {
        self.session().peer_id().map(str::to_string)
    }
}

impl Drop for SyncSession {
    fn drop(&mut self) {
        // A session the app let go of midway no longer shows as running.
        if self.begun.load(Ordering::SeqCst) {
            self.end(Err(
                "the sync with the nearby phone stopped before it finished; sync again".into(),
            ));
        }
    }
}
