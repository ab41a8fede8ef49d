//! Revocation reaches phones: the office's signed revocations travel with
//! every session and bundle, so two phones meeting with no network refuse
//! a device the office revoked once either has heard of it, by any path.
//! A revocation the office did not sign is refused and changes nothing.
//! Every store here is a real SQLite file on disk.

mod common;

use common::*;
use silin_core::identity::{
    self, IdentityError, KeyPair, Office, Revocation, Role, MAX_REVOCATIONS,
};
use silin_core::model::VisitKind;
use silin_core::sync::envelope::{self, Body, Envelope, Sender};
use silin_core::sync::{bundle, sync_local, Session, SyncError};
use silin_core::Store;
use std::path::Path;

fn revoked(err: &SyncError, device: &str) -> bool {
    matches!(err, SyncError::Identity(IdentityError::Revoked { device: d }) if d == device)
}

/// A second lead phone over the lead's cell (say, one that was lost).
fn lost_phone(c: &County) -> Store {
    let x = open_fast(&c._dir.path().join("lost.db"));
    enrol(&x, &office(), Role::Lead, &[&c.cell]);
    x
}

#[test]
fn a_lead_refuses_a_revoked_phone_offline_once_a_grid_worker_brought_the_revocation() {
    let c = county();
    let x = lost_phone(&c);
    // Before: the cell comes down to the worker, the lead and the phone X,
    // and X and the lead sync with each other.
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&x, &c.lead).unwrap();
    x.record_visit(&c.cell, visit(VisitKind::DoorKnock, "x"))
        .unwrap();
    sync_local(&x, &c.lead).unwrap();

    // The office revokes X at the hub.
    c.hub
        .record_revocations(&[office().revoke(&x.device_id(), now())])
        .unwrap();
    assert!(!c.lead.is_revoked(&x.device_id()).unwrap());

    // The worker syncs with the hub (no cell changed: one round trip), then
    // meets the lead in the village, offline.
    let s = sync_local(&c.worker, &c.hub).unwrap();
    assert_eq!(s.round_trips, 1);
    assert!(c.worker.is_revoked(&x.device_id()).unwrap());
    sync_local(&c.lead, &c.worker).unwrap();
    assert!(c.lead.is_revoked(&x.device_id()).unwrap());

    // X has a new edit; the lead refuses it whichever side speaks first,
    // and its file is unchanged.
    x.record_visit(&c.cell, visit(VisitKind::Call, "after"))
        .unwrap();
    let before = dump_tables(c.lead.path());
    let err = sync_local(&x, &c.lead).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
    let err = sync_local(&c.lead, &x).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
    let (file, _) = bundle::export(&x, &Default::default()).unwrap();
    let err = bundle::import(&c.lead, &file).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
    assert_eq!(dump_tables(c.lead.path()), before);

    // The revocation is on the lead's disk: reopened, it still refuses X,
    // and passes the revocation on to a phone that never met the hub.
    let path = c.lead.path().to_path_buf();
    drop(c.lead);
    let lead = open_fast(&path);
    let err = sync_local(&x, &lead).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
    let neighbour = open_fast(&c._dir.path().join("neighbour.db"));
    enrol(&neighbour, &office(), Role::Lead, &[&c.cell]);
    sync_local(&neighbour, &lead).unwrap();
    let err = sync_local(&x, &neighbour).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
}

#[test]
fn a_bundle_carries_the_revocation_to_a_phone_that_never_meets_the_hub() {
    let c = county();
    let x = lost_phone(&c);
    sync_local(&c.worker, &c.hub).unwrap();
    c.hub
        .record_revocations(&[office().revoke(&x.device_id(), now())])
        .unwrap();
    sync_local(&c.worker, &c.hub).unwrap();
    // The worker's bundle for the lead (a memory card) carries it.
    let (file, _) = bundle::export(
        &c.worker,
        &bundle::ExportOptions {
            cells: vec![c.cell.clone()],
            for_peer: None,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(envelope::decode(&file).unwrap().body.revocations().len(), 1);
    bundle::import(&c.lead, &file).unwrap();
    assert!(c.lead.is_revoked(&x.device_id()).unwrap());
    assert_eq!(c.lead.revocations().unwrap().len(), 1);
    let err = sync_local(&x, &c.lead).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
    // Taking the same revocation again keeps one copy.
    bundle::import(&c.lead, &file).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    assert_eq!(c.lead.revocations().unwrap().len(), 1);
}

#[test]
fn a_revoked_phone_that_carries_its_own_revocation_is_refused_and_the_revocation_kept() {
    let c = county();
    let x = lost_phone(&c);
    let rev = office().revoke(&x.device_id(), now());
    // X holds its own revocation (it synced with someone who had it).
    x.record_revocations(std::slice::from_ref(&rev)).unwrap();
    let err = sync_local(&x, &c.lead).unwrap_err();
    assert!(revoked(&err, &x.device_id()), "{err}");
    assert_eq!(c.lead.revocations().unwrap(), vec![rev]);
}

/// The opening a peer holding `key` (the worker's) would send, carrying
/// `revocations`.
fn hello(c: &County, session: u8, revocations: Vec<Revocation>) -> Vec<u8> {
    signed(
        &c.worker.device_key().unwrap(),
        Envelope {
            session: [session; 16],
            challenge: [0; 16],
            round: 0,
            time: now(),
            sender: Sender::Certificate(c.worker.certificate().unwrap().unwrap()),
            body: Body::Hello {
                digest: [0; 32],
                docs: 0,
                known_peer: None,
                revocations,
                orders: Vec::new(),
                audit: Vec::new(),
            },
            signature: None,
        },
    )
}

fn refused_by(to: &Store, bytes: &[u8]) -> SyncError {
    let before = dump_tables(to.path());
    let mut s = Session::accept(to).unwrap();
    let err = s.receive(to, bytes).unwrap_err();
    assert_eq!(dump_tables(to.path()), before, "a refused message wrote");
    err
}

#[test]
fn a_forged_altered_or_foreign_revocation_is_refused_and_changes_nothing() {
    let c = county();
    let lead = c.lead.device_id();
    let stranger = Office {
        key: KeyPair::from_seed(&[1; 32]),
    };
    let genuine = office().revoke(&c.hub.device_id(), now());
    let mut altered = office().revoke(&lead, now());
    altered.at += 1;
    let mut moved = office().revoke(&c.hub.device_id(), now());
    moved.device_id = lead.clone();
    let cases = [
        ("another office", vec![stranger.revoke(&lead, now())]),
        ("altered time", vec![altered]),
        ("moved to another device", vec![moved]),
        // One bad record spoils a list with good ones: nothing is kept.
        ("mixed", vec![genuine, stranger.revoke(&lead, now())]),
    ];
    for (i, (what, list)) in cases.into_iter().enumerate() {
        let err = refused_by(&c.lead, &hello(&c, i as u8 + 1, list));
        assert!(
            matches!(
                err,
                SyncError::Identity(IdentityError::ForgedRevocation { .. })
            ),
            "{what}: {err}"
        );
        assert!(!c.lead.is_revoked(&lead).unwrap(), "{what}");
        assert!(!c.lead.is_revoked(&c.hub.device_id()).unwrap(), "{what}");
        assert!(c.lead.revocations().unwrap().is_empty(), "{what}");
    }
    // The same in a bundle: nothing of it is imported.
    sync_local(&c.worker, &c.hub).unwrap();
    let (file, _) = bundle::export(&c.worker, &Default::default()).unwrap();
    let mut env = envelope::decode(&file).unwrap();
    if let Body::Bundle { revocations, .. } = &mut env.body {
        revocations.push(stranger.revoke(&lead, now()));
    }
    let forged = signed(&c.worker.device_key().unwrap(), env);
    let before = dump_tables(c.lead.path());
    let err = bundle::import(&c.lead, &forged).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Identity(IdentityError::ForgedRevocation { .. })
        ),
        "{err}"
    );
    assert_eq!(dump_tables(c.lead.path()), before);
    // A genuine opening from the worker still works afterwards.
    sync_local(&c.lead, &c.worker).unwrap();
}

#[test]
fn a_list_longer_than_the_limit_is_refused_before_any_signature_is_checked() {
    let c = county();
    let one = office().revoke(&c.hub.device_id(), now());
    let bytes = hello(&c, 7, vec![one; MAX_REVOCATIONS + 1]);
    let err = refused_by(&c.lead, &bytes);
    assert!(matches!(err, SyncError::Envelope(_)), "{err}");
}

fn corpus(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|f| {
            let p = f.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    files.sort();
    files
}

/// The fuzz target's corpus (fuzz/corpus/revocation_decode), replayed in
/// the normal tests: every input decodes to a typed result, what decodes
/// round-trips, and checking a signature never panics.
#[test]
fn every_revocation_corpus_input_decodes_to_a_typed_result() {
    let files = corpus("revocation_decode");
    assert!(files.len() >= 4, "the corpus is there");
    let mut good = 0;
    for (p, bytes) in files {
        if let Ok(list) = identity::decode_revocations(&bytes) {
            good += 1;
            assert_eq!(
                identity::decode_revocations(&identity::encode_revocations(&list)).as_ref(),
                Ok(&list),
                "{}",
                p.display()
            );
            for r in &list {
                let _ = r.signed_by(&office().public_key());
            }
        }
        let _ = Revocation::decode(&bytes);
    }
    assert!(good >= 1, "a valid list is in the corpus");
}

/// Writes seeds for fuzz/corpus/revocation_decode. Runs only with
/// SILIN_WRITE_FUZZ_SEEDS=1.
#[test]
fn write_revocation_fuzz_seeds() {
    if std::env::var_os("SILIN_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/revocation_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let a = office().revoke("0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f", 1_790_000_000);
    let b = office().revoke("0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e60", 1_790_086_400);
    let two = identity::encode_revocations(&[a.clone(), b]);
    std::fs::write(dir.join("valid-empty"), identity::encode_revocations(&[])).unwrap();
    std::fs::write(dir.join("valid-one"), identity::encode_revocations(&[a])).unwrap();
    std::fs::write(dir.join("valid-two"), &two).unwrap();
    std::fs::write(dir.join("bad-truncated"), &two[..two.len() - 5]).unwrap();
    std::fs::write(dir.join("bad-count"), [0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap();
}
