//! Authorization, table by table: every sender (lead, grid worker, office,
//! county, revoked, expired, unenrolled) × every way changes travel (whole
//! document, changes, automerge sync message, bundle) × a cell inside and
//! outside the sender's scope × every part of a cell, delivered to the hub
//! and, phone to phone, to a grid worker's phone. Each delivery is either
//! taken, as the table below says, or refused with its typed reason and
//! the receiving file's register unchanged. Requests (want, since) are
//! answered only inside both scopes, and no store ever holds a cell outside
//! its own.
//!
//! The changes are made the way a modified app would make them: through
//! silin's own API on a scratch copy where one exists, as raw automerge
//! edits where none does, then signed with the sender's real key.

mod common;

use automerge::sync::{State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjType, ReadDoc, ROOT};
use common::*;
use silin_core::identity::{IdentityError, KeyPair, Role};
use silin_core::model::*;
use silin_core::sync::envelope::{self, Body, Envelope, Item, Sender};
use silin_core::sync::{bundle, sync_local, Session, SyncError};
use silin_core::Store;

/// What a delivered change does to the cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    MoveCell,
    RenameCell,
    AddHousehold,
    DeleteHousehold,
    EditMember,
    ChangeResidentId,
    RecordVisit,
    RewriteVisit,
    FileReport,
    AddTask,
    CloseTask,
    RetitleTask,
}

use Group::*;

const LEAD: Role = Role::Lead;
const WORKER: Role = Role::GridWorker;
const OFFICE: Role = Role::Office;
const COUNTY: Role = Role::County;

/// The table under test: who may make each change through sync. Written
/// out here, not derived from the code's own table.
const TABLE: &[(Group, &[Role])] = &[
    (MoveCell, &[]),
    (RenameCell, &[WORKER, OFFICE, COUNTY]),
    (AddHousehold, &[LEAD, WORKER, OFFICE, COUNTY]),
    (DeleteHousehold, &[]),
    (EditMember, &[LEAD, WORKER, OFFICE, COUNTY]),
    (ChangeResidentId, &[WORKER, OFFICE, COUNTY]),
    (RecordVisit, &[LEAD, WORKER, OFFICE, COUNTY]),
    (RewriteVisit, &[]),
    (FileReport, &[LEAD, WORKER, OFFICE, COUNTY]),
    (AddTask, &[LEAD, WORKER, OFFICE, COUNTY]),
    (CloseTask, &[LEAD, WORKER, OFFICE, COUNTY]),
    (RetitleTask, &[]),
];

#[derive(Debug, Clone, Copy)]
enum Carrier {
    Whole,
    Changes,
    Sync,
    Bundle,
}

const CARRIERS: [Carrier; 4] = [
    Carrier::Whole,
    Carrier::Changes,
    Carrier::Sync,
    Carrier::Bundle,
];

/// A cell with one of everything, as the hub made it.
#[derive(Clone)]
struct Ids {
    cell: String,
    household: String,
    member: String,
    visit: String,
    task: String,
}

fn furnish(hub: &Store, cell: &str) -> Ids {
    let household = hub
        .add_household(
            cell,
            NewHousehold {
                address: Some("东关村3号".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let member = hub
        .add_member(
            &household,
            NewMember {
                name: "李德明".into(),
                id_number: Some(resident_id("62122119620315001")),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    let visit = hub
        .record_visit(cell, visit(VisitKind::DoorKnock, "敲门"))
        .unwrap();
    let task = hub
        .add_task(
            cell,
            "送药",
            Some(&household),
            None,
            None,
            at(today(), 8, 0),
        )
        .unwrap();
    Ids {
        cell: cell.to_string(),
        household,
        member,
        visit,
        task,
    }
}

/// The receiver's copy of the cell with `group`'s change made on it by a
/// modified app: `(document after, heads before)`.
fn edited(receiver: &Store, ids: &Ids, group: Group, n: usize) -> (AutoCommit, Vec<ChangeHash>) {
    let base = receiver.save_doc(&ids.cell).unwrap();
    edited_from(&base, ids, group, n)
}

/// [`edited`] on the saved document `base`.
fn edited_from(base: &[u8], ids: &Ids, group: Group, n: usize) -> (AutoCommit, Vec<ChangeHash>) {
    let base = base.to_vec();
    let mut doc = AutoCommit::load(&base)
        .unwrap()
        .with_actor(ActorId::random());
    let heads = doc.get_heads();
    let api = |f: &dyn Fn(&Store)| -> AutoCommit {
        // silin's own API on a scratch, unenrolled copy.
        let dir = tempfile::tempdir().unwrap();
        let scratch = open_fast(&dir.path().join("scratch.db"));
        scratch.merge_bytes(&base).unwrap();
        f(&scratch);
        AutoCommit::load(&scratch.save_doc(&ids.cell).unwrap()).unwrap()
    };
    let map = |d: &AutoCommit, key: &str| d.get(ROOT, key).unwrap().unwrap().1;
    let entry = |d: &AutoCommit, coll: &str, id: &str| {
        let c = map(d, coll);
        d.get(&c, id).unwrap().unwrap().1
    };
    let doc = match group {
        MoveCell => {
            let cell = map(&doc, "cell");
            let p = doc.put_object(&cell, "path", ObjType::List).unwrap();
            for (i, part) in ["县", "镇", "邻村", "组"].iter().enumerate() {
                doc.insert(&p, i, *part).unwrap();
            }
            doc.commit();
            doc
        }
        RenameCell => api(&|s| s.rename_cell(&ids.cell, &format!("一组（{n}）")).unwrap()),
        AddHousehold => api(&|s| {
            s.add_household(
                &ids.cell,
                NewHousehold {
                    door: Some(n.to_string()),
                    ..Default::default()
                },
            )
            .unwrap();
        }),
        DeleteHousehold => {
            let hhs = map(&doc, "households");
            doc.delete(&hhs, ids.household.as_str()).unwrap();
            doc.commit();
            doc
        }
        EditMember => api(&|s| {
            s.edit_member(
                &ids.member,
                &[MemberEdit::Phone(Some(format!("1380000{n:04}")))],
            )
            .unwrap()
        }),
        ChangeResidentId => api(&|s| {
            let id = resident_id(&format!("62122119620315{:03}", n % 1000));
            s.edit_member(&ids.member, &[MemberEdit::IdNumber(Some(id))])
                .unwrap()
        }),
        RecordVisit => api(&|s| {
            s.record_visit(&ids.cell, visit(VisitKind::Call, &format!("电话 {n}")))
                .unwrap();
        }),
        RewriteVisit => {
            let v = entry(&doc, "visits", &ids.visit);
            doc.put(&v, "by", "冒名").unwrap();
            doc.commit();
            doc
        }
        FileReport => api(&|s| {
            s.submit_report(
                &ids.cell,
                NewReport {
                    date: today() - chrono::Days::new(n as u64 % 300),
                    by: "王建国".into(),
                    at: at(today(), 18, 0),
                    arrivals: 0,
                    under_monitoring: None,
                    abnormal: 0,
                    errands: None,
                    note: Some(format!("第{n}次")),
                },
            )
            .unwrap()
        }),
        AddTask => api(&|s| {
            s.add_task(&ids.cell, "代购", None, None, None, at(today(), 9, 0))
                .unwrap();
        }),
        CloseTask => api(&|s| {
            // Flip it: a put of the value already there is no change.
            let open = s
                .cell(&ids.cell)
                .unwrap()
                .tasks
                .iter()
                .any(|t| t.id == ids.task && t.status == TaskStatus::Open);
            let status = if open {
                TaskStatus::Done
            } else {
                TaskStatus::Open
            };
            s.set_task_status(&ids.cell, &ids.task, status).unwrap()
        }),
        RetitleTask => {
            let t = entry(&doc, "tasks", &ids.task);
            doc.put(&t, "title", format!("改 {n}")).unwrap();
            doc.commit();
            doc
        }
    };
    (doc, heads)
}

/// An automerge sync message carrying what `doc` has beyond the copy in
/// `base`, as the protocol produces it once the two have exchanged heads.
fn sync_message(doc: &mut AutoCommit, base: &Store, cell: &str) -> Vec<u8> {
    let mut theirs = AutoCommit::load(&base.save_doc(cell).unwrap()).unwrap();
    let (mut ours_state, mut their_state) = (State::new(), State::new());
    for _ in 0..4 {
        if let Some(m) = doc.sync().generate_sync_message(&mut ours_state) {
            if !m.changes.is_empty() {
                return m.encode();
            }
            theirs
                .sync()
                .receive_sync_message(&mut their_state, m)
                .unwrap();
        }
        if let Some(m) = theirs.sync().generate_sync_message(&mut their_state) {
            doc.sync().receive_sync_message(&mut ours_state, m).unwrap();
        }
    }
    panic!(
        "automerge's protocol never carried the change ({:?} over {:?})",
        doc.get_heads(),
        theirs.get_heads()
    )
}

/// A device that sends, with its key and certificate.
struct Device {
    role: Role,
    store: Store,
}

/// How a delivery ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Taken,
    /// Refused for this cell only; the session or import went on.
    Refused(String),
    OutOfScope,
}

fn deliver(
    from: &Device,
    to: &Store,
    ids: &Ids,
    group: Group,
    carrier: Carrier,
    n: usize,
) -> Outcome {
    deliver_via(from, to, to, ids, group, carrier, n)
}

/// [`deliver`], with the changes made on `base`'s copy of the cell (the
/// receiver's own when it holds the cell).
fn deliver_via(
    from: &Device,
    to: &Store,
    base: &Store,
    ids: &Ids,
    group: Group,
    carrier: Carrier,
    n: usize,
) -> Outcome {
    let (mut doc, heads) = edited(base, ids, group, n);
    let key = from.store.device_key().unwrap();
    let item = match carrier {
        Carrier::Whole => Item::Whole {
            doc: ids.cell.clone(),
            bytes: doc.save(),
        },
        Carrier::Changes | Carrier::Bundle => Item::Changes {
            doc: ids.cell.clone(),
            bytes: doc.save_after(&heads),
        },
        Carrier::Sync => Item::Sync {
            doc: ids.cell.clone(),
            message: sync_message(&mut doc, base, &ids.cell),
        },
    };
    if let Carrier::Bundle = carrier {
        let file = signed(
            &key,
            Envelope {
                session: silin_core::identity::random_bytes(),
                challenge: [0; 16],
                round: 0,
                time: now(),
                sender: Sender::Certificate(from.store.certificate().unwrap().unwrap()),
                body: Body::Bundle {
                    items: vec![item],
                    revocations: Vec::new(),
                    orders: Vec::new(),
                },
                signature: None,
            },
        );
        return match bundle::import(to, &file) {
            Ok(o) if o.refused.is_empty() => {
                assert_eq!(o.changed, 1, "{group:?} by bundle changed nothing");
                Outcome::Taken
            }
            Ok(o) => {
                assert_eq!(o.refused[0].doc, ids.cell);
                Outcome::Refused(o.refused[0].reason.clone())
            }
            Err(SyncError::OutOfScope { doc }) => {
                assert_eq!(doc, ids.cell);
                Outcome::OutOfScope
            }
            Err(e) => panic!("{group:?} by bundle: {e}"),
        };
    }
    let (_a, mut b, reply) = opened(&from.store, to);
    let forged = forged_round(&reply, &key, vec![item]);
    match b.receive(to, &forged) {
        Ok(Some(answer)) => {
            let stats = b.stats();
            if stats.refused.is_empty() {
                return Outcome::Taken;
            }
            assert_eq!(stats.refused[0].doc, ids.cell);
            // The refusal is told to the sender, with its reason.
            let told = match envelope::decode(&answer).unwrap().body {
                Body::Round { items } => items.into_iter().find_map(|i| match i {
                    Item::Refused { doc, reason } if doc == ids.cell => Some(reason),
                    _ => None,
                }),
                _ => None,
            };
            assert_eq!(told.as_deref(), Some(stats.refused[0].reason.as_str()));
            Outcome::Refused(stats.refused[0].reason.clone())
        }
        Ok(None) => panic!("the responder always answers a round"),
        Err(SyncError::OutOfScope { doc }) => {
            assert_eq!(doc, ids.cell);
            Outcome::OutOfScope
        }
        Err(e) => panic!("{group:?} by {carrier:?}: {e}"),
    }
}

struct World {
    c: County,
    senders: Vec<Device>,
    /// The lead's cell (inside every sender's scope) and the far cell
    /// (outside the lead's and the grid worker's).
    near: Ids,
    far: Ids,
}

fn world() -> World {
    let c = county();
    let near = furnish(&c.hub, &c.cell);
    let far = furnish(&c.hub, &c.far);
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    let o = office();
    let device = |name: &str, role: Role, scope: &[&str]| {
        let store = open_fast(&c._dir.path().join(name));
        enrol(&store, &o, role, scope);
        Device { role, store }
    };
    let senders = vec![
        device("lead2.db", LEAD, &[&c.cell]),
        device("worker2.db", WORKER, &["县/镇/村"]),
        device("office2.db", OFFICE, &["县/镇"]),
        device("county.db", COUNTY, &["县"]),
    ];
    World {
        c,
        senders,
        near,
        far,
    }
}

fn allowed(group: Group, role: Role) -> bool {
    TABLE
        .iter()
        .find(|(g, _)| *g == group)
        .unwrap()
        .1
        .contains(&role)
}

/// Runs the whole table against `receiver`, whose own scope is
/// `receiver_covers`, and returns how many deliveries were checked.
fn run_table(w: &World, receiver: &Store, receiver_covers_far: bool) -> usize {
    let mut n = 0;
    for from in &w.senders {
        let sender_covers_far = matches!(from.role, OFFICE | COUNTY);
        for (target, in_scope) in [
            (&w.near, true),
            (&w.far, sender_covers_far && receiver_covers_far),
        ] {
            if !receiver.has_cell(&target.cell).unwrap() {
                // Not held here (the far cell on the worker's phone): the
                // sender cannot bring it in by changes either.
                assert!(!in_scope);
            }
            for &(group, _) in TABLE {
                for carrier in CARRIERS {
                    n += 1;
                    let held = receiver.has_cell(&target.cell).unwrap();
                    let before = register_tables(receiver);
                    let base = if held { receiver } else { &w.c.hub };
                    let outcome = deliver_via(from, receiver, base, target, group, carrier, n);
                    let what = format!(
                        "{} sends {group:?} by {carrier:?} for the {} cell",
                        from.role.as_str(),
                        if target.cell == w.near.cell {
                            "near"
                        } else {
                            "far"
                        }
                    );
                    match (in_scope, allowed(group, from.role)) {
                        // A cell this device does not hold can come only
                        // whole, and then its region decides.
                        (false, _) if !held && !matches!(carrier, Carrier::Whole) => assert_eq!(
                            outcome,
                            Outcome::Refused(
                                "this device does not hold the cell; it must be sent whole".into()
                            ),
                            "{what}"
                        ),
                        (false, _) => assert_eq!(outcome, Outcome::OutOfScope, "{what}"),
                        (true, true) => assert_eq!(outcome, Outcome::Taken, "{what}"),
                        (true, false) => {
                            assert!(
                                matches!(outcome, Outcome::Refused(_)),
                                "{what}: {outcome:?}"
                            );
                        }
                    }
                    if outcome != Outcome::Taken {
                        assert_eq!(register_tables(receiver), before, "{what}: a refusal wrote");
                    }
                }
            }
        }
    }
    n
}

#[test]
fn the_hub_takes_exactly_what_the_table_allows() {
    let w = world();
    let checked = run_table(&w, &w.c.hub, true);
    assert_eq!(checked, 4 * 2 * TABLE.len() * CARRIERS.len());
    // Every refusal names who may instead.
    let lead = &w.senders[0];
    match deliver(lead, &w.c.hub, &w.near, RenameCell, Carrier::Changes, 9999) {
        Outcome::Refused(reason) => assert!(
            reason.contains("a lead may not change the cell's name or lead")
                && reason.contains("grid_worker or above"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_grid_workers_phone_takes_exactly_what_the_table_allows() {
    let w = world();
    // The worker's own scope is the village: the far cell is not its to
    // hold, whoever sends it.
    run_table(&w, &w.c.worker, false);
    assert!(!w.c.worker.has_cell(&w.far.cell).unwrap());
}

#[test]
fn requests_are_answered_only_inside_both_scopes() {
    let w = world();
    for from in &w.senders {
        for (target, covers) in [
            (&w.near, true),
            (&w.far, matches!(from.role, OFFICE | COUNTY)),
        ] {
            for request in [
                Item::Want {
                    doc: target.cell.clone(),
                },
                Item::Since {
                    doc: target.cell.clone(),
                    heads: Vec::new(),
                },
            ] {
                let before = register_tables(&w.c.hub);
                let (_a, mut b, reply) = opened(&from.store, &w.c.hub);
                let forged = forged_round(
                    &reply,
                    &from.store.device_key().unwrap(),
                    vec![request.clone()],
                );
                let out = b.receive(&w.c.hub, &forged);
                let what = format!("{} asks {request:?}", from.role.as_str());
                if covers {
                    let answer = envelope::decode(&out.expect(&what).unwrap()).unwrap();
                    let Body::Round { items } = answer.body else {
                        panic!("{what}: not a round")
                    };
                    assert!(items.iter().any(|i| i.doc() == target.cell), "{what}");
                } else {
                    assert!(
                        matches!(out, Err(SyncError::OutOfScope { .. })),
                        "{what}: {out:?}"
                    );
                    assert_eq!(register_tables(&w.c.hub), before);
                }
            }
        }
    }
}

#[test]
fn revoked_expired_and_unenrolled_devices_are_refused_before_anything_is_read() {
    let w = world();
    let o = office();
    let dir = &w.c._dir;
    let revoked = open_fast(&dir.path().join("revoked.db"));
    enrol(&revoked, &o, LEAD, &[&w.c.cell]);
    w.c.hub.revoke(&revoked.device_id()).unwrap();
    let expired = open_fast(&dir.path().join("expired.db"));
    let cert = o.issue(
        &expired.device_id(),
        expired.device_key().unwrap().public_key(),
        LEAD,
        silin_core::identity::Scope::parse(std::slice::from_ref(&w.c.cell)).unwrap(),
        now() - 40 * 86400,
        now() - 10 * 86400,
    );
    // Installed as it was while valid: write it through a store that
    // believes the earlier day.
    let installed = Store::open(
        expired.path(),
        silin_core::StoreOptions {
            clock: silin_core::Clock::starting_at(
                chrono::DateTime::from_timestamp(now() - 20 * 86400, 0)
                    .unwrap()
                    .fixed_offset(),
            ),
            ..Default::default()
        },
    );
    drop(expired);
    let expired = installed.unwrap();
    expired.install_certificate(&cert, &o.public_key()).unwrap();
    let unenrolled = open_fast(&dir.path().join("unenrolled.db"));

    for (name, store) in [
        ("revoked", &revoked),
        ("expired", &expired),
        ("unenrolled", &unenrolled),
    ] {
        let before = register_tables(&w.c.hub);
        let (_a, hello) = Session::initiate(store).unwrap();
        let mut b = Session::accept(&w.c.hub).unwrap();
        let err = b.receive(&w.c.hub, &hello).unwrap_err();
        let typed = match name {
            "revoked" => matches!(err, SyncError::Identity(IdentityError::Revoked { .. })),
            "expired" => matches!(err, SyncError::Identity(IdentityError::Expired { .. })),
            _ => matches!(err, SyncError::PeerNotEnrolled),
        };
        assert!(typed, "{name}: {err:?}");
        // A bundle of a change it is otherwise allowed (a visit) fares the same.
        let (mut doc, heads) = edited(&w.c.hub, &w.near, RecordVisit, 1);
        let key: KeyPair = store.device_key().unwrap();
        let sender = match store.certificate().unwrap() {
            Some(c) => Sender::Certificate(c),
            None => Sender::Anonymous,
        };
        let file = signed(
            &key,
            Envelope {
                session: silin_core::identity::random_bytes(),
                challenge: [0; 16],
                round: 0,
                time: now(),
                sender,
                body: Body::Bundle {
                    items: vec![Item::Changes {
                        doc: w.near.cell.clone(),
                        bytes: doc.save_after(&heads),
                    }],
                    revocations: Vec::new(),
                    orders: Vec::new(),
                },
                signature: None,
            },
        );
        let err = bundle::import(&w.c.hub, &file).unwrap_err();
        assert!(err.is_refusal(), "{name}: {err}");
        assert_eq!(register_tables(&w.c.hub), before, "{name}");
    }
}

#[test]
fn a_lead_cannot_hand_over_a_cell_and_its_phone_refuses_what_no_peer_would_take() {
    let w = world();
    // A whole cell the hub lacks, inside the sender's scope: from a grid
    // worker it is taken; from a lead (scoped here to a group, so the cell
    // is inside its scope) it is refused.
    let dir = tempfile::tempdir().unwrap();
    let maker = open_fast(&dir.path().join("maker.db"));
    let group_lead = open_fast(&dir.path().join("group-lead.db"));
    // Its own cell too, so that the session has something to sync.
    enrol(&group_lead, &office(), LEAD, &["县/镇/村/新组", &w.c.cell]);
    let group_lead = Device {
        role: LEAD,
        store: group_lead,
    };
    // A lead whose certificate names the new cell by id (the office
    // enrolled it for the cell it set up on its phone) may bring that cell.
    let own_cell = maker
        .create_cell("自建组", &path("县/镇/村/新组"), None)
        .unwrap();
    let named_lead = open_fast(&dir.path().join("named-lead.db"));
    enrol(&named_lead, &office(), LEAD, &[&own_cell, &w.c.cell]);
    let named_lead = Device {
        role: LEAD,
        store: named_lead,
    };
    for (from, taken, existing) in [
        (&group_lead, false, None),
        (&w.senders[1], true, None),
        (&named_lead, true, Some(&own_cell)),
    ] {
        let new_cell = match existing {
            Some(id) => id.clone(),
            None => maker
                .create_cell("新组", &path("县/镇/村/新组"), None)
                .unwrap(),
        };
        let (_a, mut b, reply) = opened(&from.store, &w.c.hub);
        let forged = forged_round(
            &reply,
            &from.store.device_key().unwrap(),
            vec![Item::Whole {
                doc: new_cell.clone(),
                bytes: maker.save_doc(&new_cell).unwrap(),
            }],
        );
        b.receive(&w.c.hub, &forged).unwrap().unwrap();
        assert_eq!(w.c.hub.has_cell(&new_cell).unwrap(), taken);
        assert_eq!(b.stats().refused.is_empty(), taken, "{:?}", b.stats());
    }
    // On the lead's own phone, edits its role may not make are refused
    // before anything is written, with a typed error.
    let lead = &w.c.lead;
    let before = register_tables(lead);
    let err = lead.rename_cell(&w.c.cell, "改名").unwrap_err();
    assert!(matches!(err, silin_core::Error::NotAllowed(_)), "{err}");
    let err = lead
        .edit_member(
            &w.near.member,
            &[MemberEdit::IdNumber(Some(resident_id("62122119620315002")))],
        )
        .unwrap_err();
    assert!(matches!(err, silin_core::Error::NotAllowed(_)), "{err}");
    assert_eq!(register_tables(lead), before);
    // What a lead may do goes through and syncs.
    lead.edit_member(
        &w.near.member,
        &[MemberEdit::Phone(Some("13800000009".into()))],
    )
    .unwrap();
    let stats = sync_local(lead, &w.c.worker).unwrap();
    assert!(stats.refused.is_empty() && stats.refused_by_peer.is_empty());
}
