//! Where a hub keeps a device's sync session between its round trips.
//!
//! One process over SQLite keeps them in memory ([`MemorySessions`]).
//! Several processes behind a reverse proxy keep them in their shared
//! database as suspended bytes ([`silin_core::sync::Session::suspend`]), so
//! a device's next round may reach any process; taking a session out is
//! then the database's atomic delete, so two processes never both run it.

use silin_core::sync::{Session, SyncResult, SyncStats};
use silin_core::Replica;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many sessions a hub holds (see `HubConfig`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_sessions: usize,
    pub per_device: usize,
}

/// What holding one more session pushed out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The device's own oldest sessions, past its quota.
    pub own: usize,
    /// The longest idle session of all (its device), past the hub's limit.
    pub idle: Option<Option<String>>,
}

/// A session that ended by going idle, for the log.
#[derive(Debug, Clone)]
pub struct Ended {
    pub device: Option<String>,
    pub stats: SyncStats,
}

impl Ended {
    pub fn of(session: &Session) -> Ended {
        Ended {
            device: session.peer_id().map(str::to_string),
            stats: session.stats(),
        }
    }
}

pub trait SessionHold: Send + Sync {
    /// Keeps `session` until its device's next round.
    fn hold(&self, id: [u8; 16], session: Session, limits: Limits) -> SyncResult<Dropped>;
    /// Whether a session of this id waits (a message naming it may then be
    /// as large as any envelope).
    fn holds(&self, id: &[u8; 16]) -> SyncResult<bool>;
    /// Hands out session `id` for a message from its own peer, resumed
    /// against `replica`; a message from anyone else leaves it held, so
    /// naming a session id ends nobody's sync.
    fn take_for(
        &self,
        replica: &dyn Replica,
        id: &[u8; 16],
        message: &[u8],
    ) -> SyncResult<Option<Session>>;
    /// Drops sessions idle for `idle` or longer.
    fn sweep(&self, replica: &dyn Replica, idle: Duration) -> SyncResult<Vec<Ended>>;
    /// How many are held (metrics).
    fn count(&self) -> SyncResult<usize>;
}

struct Held {
    session: Session,
    last: Instant,
}

/// Sessions in this process's memory: one hub process.
#[derive(Default)]
pub struct MemorySessions {
    map: Mutex<HashMap<[u8; 16], Held>>,
}

impl MemorySessions {
    pub fn new() -> MemorySessions {
        MemorySessions::default()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<[u8; 16], Held>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionHold for MemorySessions {
    fn hold(&self, id: [u8; 16], session: Session, limits: Limits) -> SyncResult<Dropped> {
        let mut map = self.map();
        let mut dropped = Dropped::default();
        map.remove(&id);
        if let Some(device) = session.peer_id() {
            let mut own: Vec<([u8; 16], Instant)> = map
                .iter()
                .filter(|(_, h)| h.session.peer_id() == Some(device))
                .map(|(k, h)| (*k, h.last))
                .collect();
            let quota = limits.per_device.max(1);
            if own.len() >= quota {
                own.sort_by_key(|(_, last)| *last);
                dropped.own = own.len() + 1 - quota;
                for (k, _) in own.into_iter().take(dropped.own) {
                    map.remove(&k);
                }
            }
        }
        if map.len() >= limits.max_sessions.max(1) {
            let oldest = map.iter().min_by_key(|(_, h)| h.last).map(|(k, _)| *k);
            if let Some(h) = oldest.and_then(|k| map.remove(&k)) {
                dropped.idle = Some(h.session.peer_id().map(str::to_string));
            }
        }
        map.insert(
            id,
            Held {
                session,
                last: Instant::now(),
            },
        );
        Ok(dropped)
    }

    fn holds(&self, id: &[u8; 16]) -> SyncResult<bool> {
        Ok(self.map().contains_key(id))
    }

    fn take_for(
        &self,
        _replica: &dyn Replica,
        id: &[u8; 16],
        message: &[u8],
    ) -> SyncResult<Option<Session>> {
        let mut map = self.map();
        if !map.get(id).is_some_and(|h| h.session.is_from_peer(message)) {
            return Ok(None);
        }
        Ok(map.remove(id).map(|h| h.session))
    }

    fn sweep(&self, _replica: &dyn Replica, idle: Duration) -> SyncResult<Vec<Ended>> {
        let now = Instant::now();
        let mut map = self.map();
        let keys: Vec<[u8; 16]> = map
            .iter()
            .filter(|(_, h)| now.duration_since(h.last) >= idle)
            .map(|(k, _)| *k)
            .collect();
        Ok(keys
            .iter()
            .filter_map(|k| map.remove(k))
            .map(|h| Ended::of(&h.session))
            .collect())
    }

    fn count(&self) -> SyncResult<usize> {
        Ok(self.map().len())
    }
}
