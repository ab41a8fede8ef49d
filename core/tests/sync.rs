//! Sync sessions between stores: convergence, the one-round-trip "nothing
//! changed", whole documents for what one side lacks, scope, and refusal of
//! forged, expired, replayed and tampered messages — each refusal leaving the
//! receiving file unchanged.

mod common;

use common::*;
use silin_core::identity::{Certificate, IdentityError, KeyPair, Office, Role};
use silin_core::model::*;
use silin_core::sync::envelope::{Body, Envelope, Item, Sender};
use silin_core::sync::{bundle, sync_local, Session, SyncError};
use silin_core::Store;

fn ids(s: &Store) -> Vec<String> {
    let mut v: Vec<String> = s.cells(&[]).unwrap().into_iter().map(|c| c.id).collect();
    v.sort();
    v
}

fn same(a: &Store, b: &Store, cell: &str) {
    assert_eq!(a.heads(cell).unwrap(), b.heads(cell).unwrap());
    assert_eq!(a.cell(cell).unwrap(), b.cell(cell).unwrap());
}

#[test]
fn documents_flow_down_within_scope_and_edits_flow_back_up() {
    let c = county();
    // The worker pulls its village from the hub: two cells, not the far one.
    let s = sync_local(&c.worker, &c.hub).unwrap();
    assert_eq!(s.docs_received, 2);
    let mut want = vec![c.cell.clone(), c.other.clone()];
    want.sort();
    assert_eq!(ids(&c.worker), want);
    // The lead meets the worker in the village and gets only its own cell.
    sync_local(&c.lead, &c.worker).unwrap();
    assert_eq!(ids(&c.lead), vec![c.cell.clone()]);

    // Both edit the same cell offline, the same member field included.
    let (_, m) = household_of(&c.lead, &c.cell, "王芳");
    sync_local(&c.lead, &c.worker).unwrap();
    c.lead
        .edit_member(
            &m,
            &MemberEdit::parse_assignment("phone=13700000001", today()).unwrap(),
        )
        .unwrap();
    c.worker
        .edit_member(
            &m,
            &MemberEdit::parse_assignment("phone=13700000002", today()).unwrap(),
        )
        .unwrap();
    c.lead
        .record_visit(&c.cell, visit(VisitKind::DoorKnock, "lead"))
        .unwrap();
    c.worker
        .record_visit(&c.cell, visit(VisitKind::Call, "worker"))
        .unwrap();

    // Phone to phone, then the worker to the hub, then a second worker pulls.
    sync_local(&c.lead, &c.worker).unwrap();
    same(&c.lead, &c.worker, &c.cell);
    sync_local(&c.worker, &c.hub).unwrap();
    same(&c.worker, &c.hub, &c.cell);
    let second = open_fast(&c._dir.path().join("worker2.db"));
    enrol(&second, &office(), Role::GridWorker, &["县/镇/村"]);
    sync_local(&second, &c.hub).unwrap();
    same(&second, &c.hub, &c.cell);
    same(&second, &c.lead, &c.cell);
    assert_eq!(c.hub.cell(&c.cell).unwrap().visits.len(), 2);
    assert_eq!(c.hub.conflicts(&c.cell).unwrap().len(), 1);
    assert!(c.hub.projections_match_docs().unwrap());
    assert!(second.projections_match_docs().unwrap());
}

#[test]
fn nothing_changed_costs_one_round_trip_and_a_few_hundred_bytes() {
    let c = county();
    for i in 0..40 {
        c.hub
            .create_cell(&format!("{i}组"), &path("县/镇/村/组"), None)
            .unwrap();
    }
    sync_local(&c.worker, &c.hub).unwrap();
    let s = sync_local(&c.worker, &c.hub).unwrap();
    assert_eq!(s.round_trips, 1);
    assert_eq!((s.docs_sent, s.docs_received), (0, 0));
    // Both sides hold each other's certificates from the first session and
    // refer to them by reference: the whole exchange fits in 512 bytes.
    let total = s.bytes_up + s.bytes_down;
    assert!(total <= 512, "{total} bytes");

    // Opening without naming the peer sends both certificates, and still
    // costs one round trip.
    let (mut a, hello) = Session::initiate(&c.worker).unwrap();
    let mut b = Session::accept(&c.hub).unwrap();
    let reply = b.receive(&c.hub, &hello).unwrap().unwrap();
    assert!(a.receive(&c.worker, &reply).unwrap().is_none());
    let certs = c.worker.certificate().unwrap().unwrap().encode().len()
        + c.hub.certificate().unwrap().unwrap().encode().len();
    let besides = hello.len() + reply.len() - certs;
    assert!(besides <= 512, "{besides} bytes besides the certificates");
}

#[test]
fn a_peer_that_lost_our_certificate_gets_it_again() {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    // The hub is rebuilt from nothing and no longer holds the worker's
    // certificate.
    let rebuilt = open_fast(&c._dir.path().join("hub3.db"));
    enrol(
        &rebuilt,
        &office(),
        silin_core::identity::Role::Office,
        &["县/镇"],
    );
    // Pretend it is the same hub the worker knows: name it as the peer.
    let (_, hello) = Session::initiate_to(&c.worker, Some(&c.hub.device_id())).unwrap();
    let mut b = Session::accept(&rebuilt).unwrap();
    assert!(matches!(
        b.receive(&rebuilt, &hello),
        Err(SyncError::UnknownCertificate)
    ));
    // Starting again without naming the peer sends the certificate whole.
    let (mut a, hello) = Session::initiate(&c.worker).unwrap();
    let mut b = Session::accept(&rebuilt).unwrap();
    let reply = b.receive(&rebuilt, &hello).unwrap().unwrap();
    a.receive(&c.worker, &reply).unwrap();
}

#[test]
fn a_lead_never_receives_another_cells_document() {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    // Either side may open the session.
    sync_local(&c.worker, &c.lead).unwrap();
    assert_eq!(ids(&c.lead), vec![c.cell.clone()]);
    sync_local(&c.lead, &c.hub).unwrap();
    assert_eq!(ids(&c.lead), vec![c.cell.clone()]);
}

#[test]
fn changes_to_a_cell_outside_the_senders_scope_are_refused_before_applying() {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    // Someone with the lead's key tries to push an edit of the neighbouring
    // cell (made on a copy) to the worker.
    let rogue = open_fast(&c._dir.path().join("rogue.db"));
    rogue
        .merge_bytes(&c.hub.save_doc(&c.other).unwrap())
        .unwrap();
    rogue
        .record_visit(&c.other, visit(VisitKind::Errand, "forged"))
        .unwrap();
    let (_a, mut b, reply) = opened(&c.lead, &c.worker);
    let before = dump_tables(c.worker.path());
    let forged = Envelope {
        session: reply.session,
        challenge: reply.challenge,
        round: 1,
        time: now(),
        sender: Sender::Anonymous,
        body: Body::Round {
            items: vec![Item::Whole {
                doc: c.other.clone(),
                bytes: rogue.save_doc(&c.other).unwrap(),
            }],
        },
        signature: None,
    };
    let err = b
        .receive(&c.worker, &signed(&c.lead.device_key().unwrap(), forged))
        .unwrap_err();
    assert!(
        matches!(err, SyncError::OutOfScope { ref doc } if doc == &c.other),
        "{err}"
    );
    assert_eq!(dump_tables(c.worker.path()), before);
}

fn refused(to: &Store, bytes: &[u8]) -> SyncError {
    let before = dump_tables(to.path());
    let mut b = Session::accept(to).unwrap();
    let err = b.receive(to, bytes).unwrap_err();
    assert_eq!(dump_tables(to.path()), before, "a refused message wrote");
    err
}

#[test]
fn forged_expired_revoked_and_unenrolled_peers_are_refused() {
    let c = county();
    let dir = tempfile::tempdir().unwrap();
    // Signed by another office.
    let stranger = open_fast(&dir.path().join("s.db"));
    let other_office = Office {
        key: KeyPair::from_seed(&[1; 32]),
    };
    enrol(&stranger, &other_office, Role::County, &["*"]);
    let (_, hello) = Session::initiate(&stranger).unwrap();
    assert!(matches!(
        refused(&c.hub, &hello),
        SyncError::Identity(IdentityError::WrongIssuer { .. })
    ));

    // Expired: issued by our office, but long ago.
    let old = open_fast(&dir.path().join("old.db"));
    let cert = office().issue(
        &old.device_id(),
        old.device_key().unwrap().public_key(),
        Role::GridWorker,
        silin_core::identity::Scope::parse(&["县".into()]).unwrap(),
        now() - 90 * 86400,
        now() - 60 * 86400,
    );
    // install_certificate refuses an expired one, so forge the opening by hand.
    assert!(old
        .install_certificate(&cert, &office().public_key())
        .is_err());
    let hello = signed(
        &old.device_key().unwrap(),
        Envelope {
            session: [9; 16],
            challenge: [0; 16],
            round: 0,
            time: now(),
            sender: Sender::Certificate(cert),
            body: Body::Hello {
                digest: [0; 32],
                docs: 0,
                known_peer: None,
                revocations: Vec::new(),
                orders: Vec::new(),
                audit: Vec::new(),
            },
            signature: None,
        },
    );
    assert!(matches!(
        refused(&c.hub, &hello),
        SyncError::Identity(IdentityError::Expired { .. })
    ));

    // Someone else's certificate, without its key: no proof of possession.
    let worker_cert = c.worker.certificate().unwrap().unwrap();
    let hello = signed(
        &KeyPair::generate(),
        Envelope {
            session: [8; 16],
            challenge: [0; 16],
            round: 0,
            time: now(),
            sender: Sender::Certificate(worker_cert),
            body: Body::Hello {
                digest: [0; 32],
                docs: 0,
                known_peer: None,
                revocations: Vec::new(),
                orders: Vec::new(),
                audit: Vec::new(),
            },
            signature: None,
        },
    );
    assert!(matches!(
        refused(&c.hub, &hello),
        SyncError::Identity(IdentityError::NoProofOfKey { .. })
    ));

    // An unenrolled store talking to an enrolled one.
    let bare = open_fast(&dir.path().join("bare.db"));
    let (_, hello) = Session::initiate(&bare).unwrap();
    assert!(matches!(
        refused(&c.hub, &hello),
        SyncError::PeerNotEnrolled
    ));

    // A revoked device.
    c.hub.revoke(&c.worker.device_id()).unwrap();
    let (_, hello) = Session::initiate(&c.worker).unwrap();
    assert!(matches!(
        refused(&c.hub, &hello),
        SyncError::Identity(IdentityError::Revoked { .. })
    ));
}

#[test]
fn a_replayed_opening_and_a_tampered_round_are_refused() {
    let c = county();
    let (_, hello) = Session::initiate(&c.worker).unwrap();
    let mut b = Session::accept(&c.hub).unwrap();
    b.receive(&c.hub, &hello).unwrap();
    assert!(matches!(refused(&c.hub, &hello), SyncError::Replayed));

    // Tamper with a round in flight: flip one byte of the payload.
    let (mut a, hello) = Session::initiate(&c.worker).unwrap();
    let mut b = Session::accept(&c.hub).unwrap();
    let reply = b.receive(&c.hub, &hello).unwrap().unwrap();
    let mut round = a.receive(&c.worker, &reply).unwrap().unwrap();
    let n = round.len();
    round[n - 70] ^= 1;
    let before = dump_tables(c.hub.path());
    let err = b.receive(&c.hub, &round).unwrap_err();
    assert!(err.is_refusal(), "{err}");
    assert_eq!(dump_tables(c.hub.path()), before);

    // A round recorded in one session does not play into another.
    let (mut a1, hello1) = Session::initiate(&c.worker).unwrap();
    let mut b1 = Session::accept(&c.hub).unwrap();
    let r1 = b1.receive(&c.hub, &hello1).unwrap().unwrap();
    let round1 = a1.receive(&c.worker, &r1).unwrap().unwrap();
    let (_, hello2) = Session::initiate(&c.worker).unwrap();
    let mut b2 = Session::accept(&c.hub).unwrap();
    b2.receive(&c.hub, &hello2).unwrap();
    assert!(matches!(
        b2.receive(&c.hub, &round1),
        Err(SyncError::WrongSession)
    ));
}

#[test]
fn the_closing_message_ends_the_responders_session_and_nothing_else() {
    let c = county();
    // Runs a session by hand up to the initiator's end.
    let run = |worker: &Store, hub: &Store| {
        let (mut a, mut msg) = Session::initiate(worker).unwrap();
        let mut b = Session::accept(hub).unwrap();
        loop {
            let reply = b.receive(hub, &msg).unwrap().unwrap();
            match a.receive(worker, &reply).unwrap() {
                Some(next) => msg = next,
                None => return (a, b),
            }
        }
    };

    // Data moved: the hub's session waits until the worker says it is over.
    let (mut a, mut b) = run(&c.worker, &c.hub);
    assert!(a.is_done() && !b.is_done());
    let done = a.close_message().expect("the responder is owed a closing");
    // Signed, it is one envelope header and a signature: small next to any
    // round (printed for doc/BENCHMARKS.md).
    println!("closing message: {} bytes", done.len());
    assert!(done.len() < 160, "{} bytes", done.len());
    assert!(a.close_message().is_none(), "one closing only");
    // Tampered (its signature broken), it is refused.
    let mut forged = done.clone();
    let n = forged.len();
    forged[n - 1] ^= 1;
    assert!(b.receive(&c.hub, &forged).unwrap_err().is_refusal());
    // A refusal ends the session, as every refusal does.
    assert!(matches!(b.receive(&c.hub, &done), Err(SyncError::Finished)));

    c.worker
        .record_visit(&c.cell, visit(VisitKind::Call, "second"))
        .unwrap();
    let (mut a, mut b) = run(&c.worker, &c.hub);
    let done = a.close_message().unwrap();
    let before = dump_tables(c.hub.path());
    assert_eq!(b.receive(&c.hub, &done).unwrap(), None);
    assert!(b.is_done());
    assert_eq!(dump_tables(c.hub.path()), before);
    assert!(matches!(b.receive(&c.hub, &done), Err(SyncError::Finished)));
    // Into another session it does not fit.
    c.worker
        .record_visit(&c.cell, visit(VisitKind::Call, "again"))
        .unwrap();
    let (_, mut other) = run(&c.worker, &c.hub);
    assert!(matches!(
        other.receive(&c.hub, &done),
        Err(SyncError::WrongSession)
    ));

    // Nothing changed: the hub's reply already ended both sessions.
    let (mut a, b) = run(&c.worker, &c.hub);
    assert!(b.is_done());
    assert!(a.close_message().is_none());
    // The responder never owes one.
    let mut b = b;
    assert!(b.close_message().is_none());
}

#[test]
fn a_session_suspended_and_resumed_between_every_message_ends_like_one_kept_in_memory() {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    for i in 0..5 {
        c.worker
            .record_visit(&c.cell, visit(VisitKind::DoorKnock, &format!("w{i}")))
            .unwrap();
        c.hub
            .record_visit(&c.other, visit(VisitKind::Notify, &format!("h{i}")))
            .unwrap();
    }
    // As a hub with several processes does: neither side keeps its session
    // object between messages, only the bytes.
    let (a, mut msg) = Session::initiate(&c.worker).unwrap();
    let mut held_a = a.suspend();
    let mut held_b = Session::accept(&c.hub).unwrap().suspend();
    let mut rounds = 0;
    let stats = loop {
        let mut b = Session::resume(&c.hub, &held_b).unwrap();
        // Read back whole: automerge's in-flight state included.
        assert_eq!(b.suspend(), held_b);
        let reply = b.receive(&c.hub, &msg).unwrap().unwrap();
        held_b = b.suspend();
        let mut a = Session::resume(&c.worker, &held_a).unwrap();
        rounds += 1;
        match a.receive(&c.worker, &reply).unwrap() {
            Some(next) => {
                msg = next;
                held_a = a.suspend();
            }
            None => {
                let done = a.close_message().expect("the responder is owed a closing");
                let mut b = Session::resume(&c.hub, &held_b).unwrap();
                assert_eq!(b.receive(&c.hub, &done).unwrap(), None);
                assert!(b.is_done());
                break a.stats();
            }
        }
    };
    assert!(rounds >= 2, "the edits took more than the opening");
    assert_eq!(stats.docs_sent, 1);
    assert_eq!(stats.docs_received, 1);
    same(&c.worker, &c.hub, &c.cell);
    same(&c.worker, &c.hub, &c.other);
    assert_eq!(c.hub.cell(&c.cell).unwrap().visits.len(), 5);
    // A second session finds nothing left: one round trip.
    assert_eq!(sync_local(&c.worker, &c.hub).unwrap().round_trips, 1);

    // Held bytes that do not read back are a typed error, never a panic.
    let whole = Session::accept(&c.hub).unwrap().suspend();
    for cut in 0..whole.len() {
        assert!(matches!(
            Session::resume(&c.hub, &whole[..cut]),
            Err(SyncError::Suspended(_))
        ));
    }
    let mut longer = whole.clone();
    longer.push(0);
    assert!(matches!(
        Session::resume(&c.hub, &longer),
        Err(SyncError::Suspended(_))
    ));
}

#[test]
fn an_interrupted_session_leaves_both_sides_able_to_finish_later() {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    for i in 0..5 {
        c.worker
            .record_visit(&c.cell, visit(VisitKind::DoorKnock, &format!("w{i}")))
            .unwrap();
        c.hub
            .record_visit(&c.cell, visit(VisitKind::Notify, &format!("h{i}")))
            .unwrap();
    }
    // Cut after the first round: the hub's answer never arrives.
    let (mut a, hello) = Session::initiate(&c.worker).unwrap();
    let mut b = Session::accept(&c.hub).unwrap();
    let reply = b.receive(&c.hub, &hello).unwrap().unwrap();
    let round = a.receive(&c.worker, &reply).unwrap().unwrap();
    let _lost = b.receive(&c.hub, &round).unwrap();
    drop((a, b));
    sync_local(&c.worker, &c.hub).unwrap();
    same(&c.worker, &c.hub, &c.cell);
    assert_eq!(c.hub.cell(&c.cell).unwrap().visits.len(), 10);
}

#[test]
fn a_bundle_carries_a_leads_day_to_the_hub_and_reimporting_changes_nothing() {
    let c = county();
    sync_local(&c.lead, &c.hub).unwrap();
    c.lead
        .record_visit(&c.cell, visit(VisitKind::DoorKnock, "bundle"))
        .unwrap();
    // Only what the hub lacks, from the sync state kept with it.
    let hub_id = c.hub.device_id();
    let (bytes, docs) = bundle::export(
        &c.lead,
        &bundle::ExportOptions {
            cells: vec![],
            for_peer: Some(hub_id),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(docs, 1);
    let whole = bundle::export(&c.lead, &Default::default()).unwrap().0;
    assert!(
        bytes.len() < whole.len(),
        "{} vs {}",
        bytes.len(),
        whole.len()
    );
    let out = bundle::import(&c.hub, &bytes).unwrap();
    assert_eq!((out.docs, out.changed), (1, 1));
    same(&c.lead, &c.hub, &c.cell);
    let before = dump_tables(c.hub.path());
    let again = bundle::import(&c.hub, &bytes).unwrap();
    assert_eq!((again.docs, again.changed), (1, 0));
    assert_eq!(dump_tables(c.hub.path()), before);

    // A tampered bundle is refused whole.
    let mut bad = whole.clone();
    let n = bad.len();
    bad[n / 2] ^= 0x40;
    assert!(bundle::import(&c.hub, &bad).is_err());
    assert_eq!(dump_tables(c.hub.path()), before);

    // A bundle the lead's device cannot accept: a cell outside its scope.
    let (from_hub, _) = bundle::export(&c.hub, &Default::default()).unwrap();
    let before = dump_tables(c.lead.path());
    assert!(matches!(
        bundle::import(&c.lead, &from_hub),
        Err(SyncError::OutOfScope { .. })
    ));
    assert_eq!(dump_tables(c.lead.path()), before);
    let _ = (&c.other, &c.far);
}

#[test]
fn unenrolled_stores_sync_openly_with_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_fast(&dir.path().join("a.db"));
    let b = open_fast(&dir.path().join("b.db"));
    let cell = a.create_cell("一组", &path("c/t/v/g"), None).unwrap();
    sync_local(&b, &a).unwrap();
    same(&a, &b, &cell);
    let cert: Option<Certificate> = a.certificate().unwrap();
    assert!(cert.is_none());
}

/// Writes real envelopes and certificates as seeds for the fuzz targets
/// (fuzz/corpus). Runs only with SILIN_WRITE_FUZZ_SEEDS=1.
#[test]
fn write_fuzz_seeds() {
    if std::env::var_os("SILIN_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    let c = county();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let env_dir = root.join("envelope_decode");
    let cert_dir = root.join("certificate_decode");
    std::fs::create_dir_all(&env_dir).unwrap();
    std::fs::create_dir_all(&cert_dir).unwrap();
    for (i, s) in [&c.hub, &c.worker, &c.lead].iter().enumerate() {
        std::fs::write(
            cert_dir.join(format!("cert-{i}")),
            s.certificate().unwrap().unwrap().encode(),
        )
        .unwrap();
    }
    c.hub
        .record_visit(&c.cell, visit(VisitKind::DoorKnock, "seed"))
        .unwrap();
    let (mut a, mut msg) = Session::initiate(&c.worker).unwrap();
    let mut b = Session::accept(&c.hub).unwrap();
    let mut n = 0;
    loop {
        std::fs::write(env_dir.join(format!("session-{n}")), &msg).unwrap();
        let reply = b.receive(&c.hub, &msg).unwrap().unwrap();
        std::fs::write(env_dir.join(format!("session-{n}-reply")), &reply).unwrap();
        n += 1;
        match a.receive(&c.worker, &reply).unwrap() {
            Some(next) => msg = next,
            None => break,
        }
    }
    let (bundle, _) = bundle::export(&c.hub, &Default::default()).unwrap();
    std::fs::write(env_dir.join("bundle"), bundle).unwrap();
}
