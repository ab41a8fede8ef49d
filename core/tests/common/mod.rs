//! Helpers shared by the store's acceptance tests.
#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use rusqlite::types::Value;
use silin_core::model::*;
use silin_core::{Durability, Store, StoreOptions};
use std::path::Path;

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A local (UTC+8) timestamp on `d` at `h:mi`.
pub fn at(d: NaiveDate, h: u32, mi: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .from_local_datetime(&d.and_hms_opt(h, mi, 0).unwrap())
        .unwrap()
}

pub fn path(s: &str) -> RegionPath {
    RegionPath::parse(s).unwrap()
}

/// A valid resident ID number from its first 17 digits.
pub fn resident_id(body: &str) -> String {
    format!("{body}{}", resident_id_check_char(body))
}

pub fn open(p: &Path) -> Store {
    Store::open(p, StoreOptions::default()).unwrap()
}

pub fn open_fast(p: &Path) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Every row of every table of the SQLite file, read through a separate
/// connection: what the file holds, not what the store believes.
pub fn dump_tables(p: &Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let conn = rusqlite::Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut s = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = s.column_count();
            let mut rows = s
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
                .unwrap()
                .collect::<Result<Vec<Vec<Value>>, _>>()
                .unwrap();
            rows.sort_by_cached_key(|r| format!("{r:?}"));
            (t, rows)
        })
        .collect()
}

/// A new household in `cell` with one member named `name`:
/// (household, member).
pub fn household_of(store: &Store, cell: &str, name: &str) -> (String, String) {
    let hh = store.add_household(cell, NewHousehold::default()).unwrap();
    let member = store
        .add_member(
            &hh,
            NewMember {
                name: name.into(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    (hh, member)
}

/// The register as the file holds it (sync bookkeeping left out: a session
/// that refuses a cell still records that it happened).
pub fn register_tables(s: &Store) -> Vec<(String, Vec<Vec<rusqlite::types::Value>>)> {
    dump_tables(s.path())
        .into_iter()
        .filter(|(t, _)| {
            [
                "docs",
                "chunks",
                "snapshots",
                "cells",
                "households",
                "members",
                "visits",
                "reports",
                "tasks",
            ]
            .contains(&t.as_str())
        })
        .collect()
}

/// Every member of a view, in household order.
pub fn members(v: &CellView) -> Vec<&Member> {
    v.households.iter().flat_map(|h| &h.members).collect()
}

/// A township office for tests: one fixed key.
pub fn office() -> silin_core::identity::Office {
    silin_core::identity::Office {
        key: silin_core::identity::KeyPair::from_seed(&[42; 32]),
    }
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Enrols `store` with `office` as `role` over `scope` for 30 days.
pub fn enrol(
    store: &Store,
    office: &silin_core::identity::Office,
    role: silin_core::identity::Role,
    scope: &[&str],
) -> silin_core::identity::Certificate {
    let scope: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
    let cert = office.issue(
        &store.device_id(),
        store.device_key().unwrap().public_key(),
        role,
        silin_core::identity::Scope::parse(&scope).unwrap(),
        now(),
        now() + 30 * 86400,
    );
    store
        .install_certificate(&cert, &office.public_key())
        .unwrap();
    cert
}

/// A visit of `kind` at 09:00 today.
pub fn visit(kind: VisitKind, note: &str) -> NewVisit {
    let mut v = NewVisit::new(kind, at(today(), 9, 0), "王建国");
    v.note = Some(note.to_string());
    v
}

/// A small deterministic dice (xorshift), so a generated cell and its log
/// are the same on every run.
pub struct Dice(pub u64);

impl Dice {
    pub fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.roll(n) == 0
    }
}

/// A member of a generated cell: (household, member, away).
pub type Person = (String, String, bool);

/// A township for sync tests: a hub over the township, a grid worker over
/// one village, a lead over one cell. The hub holds three cells; the worker
/// and lead start empty.
pub struct County {
    pub _dir: tempfile::TempDir,
    pub hub: Store,
    pub worker: Store,
    pub lead: Store,
    /// The lead's cell, and a neighbouring cell in the same group.
    pub cell: String,
    pub other: String,
    pub far: String,
}

pub fn county() -> County {
    let dir = tempfile::tempdir().unwrap();
    let hub = open_fast(&dir.path().join("hub.db"));
    let worker = open_fast(&dir.path().join("worker.db"));
    let lead = open_fast(&dir.path().join("lead.db"));
    let o = office();
    enrol(&hub, &o, silin_core::identity::Role::Office, &["县/镇"]);
    enrol(
        &worker,
        &o,
        silin_core::identity::Role::GridWorker,
        &["县/镇/村"],
    );
    let cell = hub
        .create_cell("一组", &path("县/镇/村/组"), Some("王建国"))
        .unwrap();
    let other = hub.create_cell("二组", &path("县/镇/村/组"), None).unwrap();
    let far = hub
        .create_cell("三组", &path("县/镇/远村/组"), None)
        .unwrap();
    enrol(&lead, &o, silin_core::identity::Role::Lead, &[&cell]);
    County {
        _dir: dir,
        hub,
        worker,
        lead,
        cell,
        other,
        far,
    }
}

/// An envelope signed with `key`, as a peer holding that key would send it.
pub fn signed(
    key: &silin_core::identity::KeyPair,
    mut env: silin_core::sync::envelope::Envelope,
) -> Vec<u8> {
    env.signature = Some(key.sign(&env.signed_part()));
    env.encode()
}

/// Opens a session from `from` to `to` and returns both sides and the
/// responder's Reply, so a test can forge what comes next.
pub fn opened(
    from: &Store,
    to: &Store,
) -> (
    silin_core::sync::Session,
    silin_core::sync::Session,
    silin_core::sync::envelope::Envelope,
) {
    let (a, hello) = silin_core::sync::Session::initiate(from).unwrap();
    let mut b = silin_core::sync::Session::accept(to).unwrap();
    let reply = b.receive(to, &hello).unwrap().unwrap();
    (a, b, silin_core::sync::envelope::decode(&reply).unwrap())
}

/// The initiator's first round after `reply`, carrying `items`, signed with
/// `key` (whoever holds it).
pub fn forged_round(
    reply: &silin_core::sync::envelope::Envelope,
    key: &silin_core::identity::KeyPair,
    items: Vec<silin_core::sync::envelope::Item>,
) -> Vec<u8> {
    use silin_core::sync::envelope::{Body, Envelope, Sender};
    signed(
        key,
        Envelope {
            session: reply.session,
            challenge: reply.challenge,
            round: 1,
            time: now(),
            sender: Sender::Anonymous,
            body: Body::Round { items },
            signature: None,
        },
    )
}
