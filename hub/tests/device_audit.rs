//! Devices' own audit entries reaching the hub's log: a phone's export
//! comes up with its next sync and is appended once, the phone as the
//! actor (from the session's certificate, never from what was sent), and
//! the phone marks it sent only when the hub said it holds it. A resend
//! after a lost reply adds nothing; a forged or malformed opening writes
//! nothing. On the SQLite hub and, with `SILIN_TEST_POSTGRES`, on a
//! PostgreSQL hub.
#![cfg(feature = "server")]

#[path = "support/pg.rs"]
mod pg_support;
#[path = "support/phones.rs"]
mod phones;

use phones::{open, phone, sync};
use silin_core::audit::{CountKey, DeviceAction, DeviceEntry};
use silin_core::identity::{IdentityError, KeyPair, Office, Role, Scope};
use silin_core::model::RegionPath;
use silin_core::sync::envelope::{Body, Envelope, EnvelopeError, Sender};
use silin_core::sync::{Session, SyncError};
use silin_core::{bundle, Store};
use silin_hub::audit::{self, Action, Actor, Entry};
use silin_hub::storage::HubStorage;
use std::path::Path;

/// A SQLite hub as `silin hub serve` makes it: its office key beside the
/// store, keeping the entries devices send up.
fn sqlite_hub(dir: &Path) -> (Store, Office) {
    let hub = open(dir, "hub");
    let office = silin_hub::office::office(&hub, None).unwrap();
    hub.keep_device_audit(audit::keep_device_entries);
    (hub, office)
}

fn export_plain(device: &Store) -> usize {
    bundle::export(
        device,
        &bundle::ExportOptions {
            sealing: bundle::Sealing::Plain,
            ..Default::default()
        },
    )
    .unwrap()
    .0
    .len()
}

fn device_rows(entries: &[Entry]) -> Vec<&Entry> {
    entries
        .iter()
        .filter(|e| matches!(e.actor, Actor::Device { .. }))
        .collect()
}

/// The phone's export on the hub: once, the phone as its actor.
fn check_export_arrived(entries: &[Entry], lead: &Store, cell: &str, bytes: usize) {
    let rows = device_rows(entries);
    assert_eq!(rows.len(), 1, "{entries:#?}");
    let e = rows[0];
    assert_eq!(e.actor, Actor::device(&lead.device_id(), Role::Lead));
    assert_eq!(e.action, Action::BundleExport);
    assert_eq!(e.target, format!("cell={cell}"));
    assert_eq!(e.detail["docs"], 1);
    assert_eq!(e.detail["recipients"], 0);
    assert_eq!(e.detail["bytes"], bytes as i64);
    assert_eq!(e.detail["device_seq"], 1);
    assert!(e.detail["device_at"] > 1_700_000_000, "{e:?}");
}

#[test]
fn a_phones_export_reaches_the_sqlite_hubs_log_once_and_is_then_marked_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, office) = sqlite_hub(dir.path());
    let cell = hub
        .create_cell("一组", &RegionPath::parse("县/镇/村/组").unwrap(), None)
        .unwrap();
    let lead = phone(dir.path(), "lead", &office, Role::Lead, &cell);
    sync(&lead, &hub);
    let bytes = export_plain(&lead);
    assert!(!lead.audit_entries().unwrap()[0].sent);

    // The reply of the first session is lost: the hub took the entry, the
    // phone never heard so and keeps it unsent.
    let (_, hello) = Session::initiate(&lead).unwrap();
    let mut b = Session::accept(&hub).unwrap();
    b.receive(&hub, &hello).unwrap();
    assert!(!lead.audit_entries().unwrap()[0].sent);
    check_export_arrived(&audit::entries(&hub, None).unwrap(), &lead, &cell, bytes);

    // The next session sends it again: nothing new on the hub, and the
    // phone now marks it sent.
    sync(&lead, &hub);
    assert!(lead.audit_entries().unwrap()[0].sent);
    check_export_arrived(&audit::entries(&hub, None).unwrap(), &lead, &cell, bytes);
    // And once sent, it does not travel again.
    assert!(lead.audit_to_send().unwrap().is_empty());
    sync(&lead, &hub);
    let all = audit::entries(&hub, None).unwrap();
    check_export_arrived(&all, &lead, &cell, bytes);
    let v = audit::verify(&hub).unwrap();
    assert!(v.signed);
    assert_eq!(v.entries, all.len() as i64);
}

#[test]
fn a_phone_without_a_hub_that_keeps_entries_keeps_them_unsent() {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(dir.path(), "hub");
    let office = silin_hub::office::office(&hub, None).unwrap();
    let cell = hub
        .create_cell("一组", &RegionPath::parse("县/镇/村/组").unwrap(), None)
        .unwrap();
    // A store that serves without keeping device entries acknowledges none.
    let lead = phone(dir.path(), "lead", &office, Role::Lead, &cell);
    sync(&lead, &hub);
    export_plain(&lead);
    sync(&lead, &hub);
    assert!(!lead.audit_entries().unwrap()[0].sent);
    assert!(device_rows(&audit::entries(&hub, None).unwrap()).is_empty());
}

fn hello(sender: Sender, key: &KeyPair, session: u8, audit: Vec<DeviceEntry>) -> Vec<u8> {
    let mut env = Envelope {
        session: [session; 16],
        challenge: [0; 16],
        round: 0,
        time: chrono::Utc::now().timestamp(),
        sender,
        body: Body::Hello {
            digest: [0; 32],
            docs: 0,
            known_peer: None,
            revocations: Vec::new(),
            orders: Vec::new(),
            audit,
        },
        signature: None,
    };
    env.signature = Some(key.sign(&env.signed_part()));
    env.encode()
}

fn entry(seq: u64, cell: Option<&str>) -> DeviceEntry {
    DeviceEntry {
        seq,
        at: 1_790_000_000,
        action: DeviceAction::CellSave,
        cell: cell.map(str::to_string),
        counts: vec![(CountKey::Bytes, 10)],
    }
}

#[test]
fn entries_are_the_senders_own_and_a_forged_or_malformed_opening_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, office) = sqlite_hub(dir.path());
    let cell = hub
        .create_cell("一组", &RegionPath::parse("县/镇/村/组").unwrap(), None)
        .unwrap();
    let lead = phone(dir.path(), "lead", &office, Role::Lead, &cell);
    let worker = phone(dir.path(), "worker", &office, Role::GridWorker, "县/镇/村");
    let lead_cert = lead.certificate().unwrap().unwrap();
    let worker_cert = worker.certificate().unwrap().unwrap();
    let worker_key = worker.device_key().unwrap();
    let before = audit::entries(&hub, None).unwrap().len();

    // The lead's certificate, signed with the worker's key, to put
    // entries in the lead's name: refused, nothing written.
    let forged = hello(
        Sender::Certificate(lead_cert),
        &worker_key,
        1,
        vec![entry(1, Some(&cell))],
    );
    let e = Session::accept(&hub)
        .unwrap()
        .receive(&hub, &forged)
        .unwrap_err();
    assert!(
        matches!(e, SyncError::Identity(IdentityError::NoProofOfKey { .. })),
        "{e}"
    );
    assert_eq!(audit::entries(&hub, None).unwrap().len(), before);

    // Entries out of order, or more than an opening may carry: a typed
    // error before anything is looked at.
    for bad in [
        vec![entry(2, None), entry(1, None)],
        vec![entry(0, None)],
        (1..=silin_core::audit::MAX_ENTRIES as u64 + 1)
            .map(|n| entry(n, None))
            .collect(),
    ] {
        let mut env = silin_core::sync::envelope::decode(&hello(
            Sender::Certificate(worker_cert.clone()),
            &worker_key,
            2,
            Vec::new(),
        ))
        .unwrap();
        if let Body::Hello { audit, .. } = &mut env.body {
            *audit = bad;
        }
        // Encoded by hand past the writer's own cap, as a hostile peer
        // would.
        let bytes = hostile_encode(&env, &worker_key);
        let e = Session::accept(&hub)
            .unwrap()
            .receive(&hub, &bytes)
            .unwrap_err();
        assert!(
            matches!(e, SyncError::Envelope(EnvelopeError::Malformed(_))),
            "{e}"
        );
    }
    assert_eq!(audit::entries(&hub, None).unwrap().len(), before);

    // The worker's own entries, however they are worded, are the worker's.
    let sent = hello(
        Sender::Certificate(worker_cert),
        &worker_key,
        3,
        vec![entry(1, Some(&cell)), entry(5, None)],
    );
    let reply = Session::accept(&hub)
        .unwrap()
        .receive(&hub, &sent)
        .unwrap()
        .unwrap();
    match silin_core::sync::envelope::decode(&reply).unwrap().body {
        Body::Reply { audit_held, .. } => assert_eq!(audit_held, Some(5)),
        other => panic!("{other:?}"),
    }
    let all = audit::entries(&hub, None).unwrap();
    let rows = device_rows(&all);
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(
            r.actor,
            Actor::device(&worker.device_id(), Role::GridWorker)
        );
    }
    audit::verify(&hub).unwrap();
}

/// `env` as bytes, its entry list written whatever its length (the
/// envelope's own writer keeps to the limit), signed with `key`.
fn hostile_encode(env: &Envelope, key: &KeyPair) -> Vec<u8> {
    let Body::Hello { audit, .. } = &env.body else {
        unreachable!()
    };
    let mut empty = env.clone();
    if let Body::Hello { audit, .. } = &mut empty.body {
        audit.clear();
    }
    let mut signed = empty.signed_part();
    // The empty list is the last byte of the signed part.
    assert_eq!(signed.pop(), Some(0));
    let mut w = silin_core::wire::Writer::default();
    w.uint(audit.len() as u64);
    for e in audit {
        w.uint(e.seq).int(e.at).u8(2).u8(0).uint(1).u8(3).int(10);
    }
    signed.extend_from_slice(&w.buf);
    let sig = key.sign(&signed);
    signed.push(1);
    signed.extend_from_slice(&sig);
    signed
}

#[test]
fn a_phones_export_reaches_the_postgresql_hubs_log_once() {
    let Some(db) = pg_support::fresh_database() else {
        eprintln!("SILIN_TEST_POSTGRES not set: skipped");
        return;
    };
    let office = Office {
        key: KeyPair::from_seed(&[7; 32]),
    };
    let hub = silin_hub::pg::PgStorage::connect(db.url(), 2).unwrap();
    hub.migrate().unwrap();
    hub.enrol_hub(&office, &Scope::parse(&["县/镇".to_string()]).unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let worker = phone(dir.path(), "worker", &office, Role::GridWorker, "县/镇/村");
    worker
        .create_cell("一组", &RegionPath::parse("县/镇/村/组").unwrap(), None)
        .unwrap();
    sync(&worker, &hub);
    export_plain(&worker);
    sync(&worker, &hub);
    assert!(worker.audit_entries().unwrap()[0].sent);
    sync(&worker, &hub);
    let all = hub.audit_entries(None).unwrap();
    let rows = device_rows(&all);
    assert_eq!(rows.len(), 1, "{all:#?}");
    assert_eq!(
        rows[0].actor,
        Actor::device(&worker.device_id(), Role::GridWorker)
    );
    assert_eq!(rows[0].action, Action::BundleExport);
    assert_eq!(rows[0].detail["device_seq"], 1);
    hub.audit_verify().unwrap();
    let _ = HubStorage::device_id(&hub);
}
