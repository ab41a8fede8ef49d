//! `SyncSession`: one app-carried sync, callable from any thread. Messages
//! of one session are handled one at a time, in the order they arrive.

use crate::convert::SyncStats;
use crate::error::{StoreError, SyncError};
use crate::store::{open_store, Shared};
use silin_core::sync::Session;
use std::sync::Mutex;

pub struct SyncSession {
    store: Shared,
    session: Mutex<Session>,
}

impl SyncSession {
    pub(crate) fn new(store: Shared, session: Session) -> SyncSession {
        SyncSession {
            store,
            session: Mutex::new(session),
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A failed receive leaves the session refusing further messages,
        // never half-applied, so a poisoned lock is safe to take over.
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn receive(&self, message: Vec<u8>) -> Result<Option<Vec<u8>>, SyncError> {
        let store = open_store(&self.store).ok_or_else(|| SyncError::from(StoreError::closed()))?;
        Ok(self.session().receive(&*store, &message)?)
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
