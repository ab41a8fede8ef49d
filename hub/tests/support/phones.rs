//! Devices for hub tests: a phone's SQLite store, enrolled by an office,
//! and one whole sync session between it and a hub's storage in this
//! process, as `silin_core::sync::sync_local` runs one between two stores.
//!
//! Use from a test file with `#[path = "support/phones.rs"] mod phones;`.
#![allow(dead_code)]

use silin_core::identity::{Office, Role, Scope};
use silin_core::sync::{Session, SyncError, SyncStats};
use silin_core::{Durability, Replica, Store, StoreOptions};
use std::path::Path;

/// A store of no enrolment at `dir/name.db` (plain, so that a test may
/// search its bytes).
pub fn open(dir: &Path, name: &str) -> Store {
    Store::open(
        dir.join(format!("{name}.db")),
        StoreOptions {
            durability: Durability::Normal,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A device's store, enrolled by `office` as `role` over `scope` (a
/// region path or a cell id) for 30 days.
pub fn phone(dir: &Path, name: &str, office: &Office, role: Role, scope: &str) -> Store {
    let s = open(dir, name);
    let now = s.clock().timestamp();
    let cert = office.issue(
        &s.device_id(),
        s.device_key().unwrap().public_key(),
        role,
        Scope::parse(&[scope.to_string()]).unwrap(),
        now,
        now + 30 * 86400,
    );
    s.install_certificate(&cert, &office.public_key()).unwrap();
    s
}

/// One whole session from `device` to `hub`; what the device saw of it.
pub fn sync(device: &Store, hub: &dyn Replica) -> SyncStats {
    session(device, hub, None).unwrap()
}

/// One whole session, the device naming the hub it expects (`known`, as an
/// app that synced with it before does), or none.
pub fn session(
    device: &Store,
    hub: &dyn Replica,
    known: Option<&str>,
) -> Result<SyncStats, SyncError> {
    let (mut a, mut msg) = Session::initiate_to(device, known)?;
    let mut b = Session::accept(hub)?;
    loop {
        let reply = b
            .receive(hub, &msg)?
            .expect("the hub answers every message but the closing one");
        match a.receive(device, &reply)? {
            Some(next) => msg = next,
            None => {
                if let Some(done) = a.close_message() {
                    assert!(b.receive(hub, &done)?.is_none());
                }
                return Ok(a.stats());
            }
        }
    }
}
