//! A resident ID recorded at once on a lead's phone and a grid worker's.
//!
//! A lead may record a member's first ID, and only a grid worker may change
//! a recorded one. When both record a first ID offline, whichever reaches a
//! replica second meets a recorded ID. The lead's phone gives way to the
//! worker's, so the lead's edits of the cell are not refused with its ID;
//! a lead still cannot bring in an ID nobody with the right recorded.

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ReadDoc, ROOT};
use common::*;
use silin_core::model::*;
use silin_core::sync::envelope::Item;
use silin_core::sync::{sync_local, Refusal};

const LEAD_ID: &str = "62122119620315001";
const WORKER_ID: &str = "62122119620315002";

/// The county, with a household of one member (no ID yet) in the lead's
/// cell, held by all three devices.
fn with_member() -> (County, String) {
    let c = county();
    let (_, member) = household_of(&c.hub, &c.cell, "王芳");
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.hub).unwrap();
    (c, member)
}

fn id_of(store: &silin_core::Store, member: &str) -> Option<String> {
    store.member(member).unwrap().id_number
}

/// Syncs `phone` with the hub until nothing moves, refusing nothing either
/// way; returns how many sessions that took.
fn settle(c: &County, phone: &silin_core::Store) -> usize {
    for n in 1..=3 {
        let stats = sync_local(phone, &c.hub).unwrap();
        assert!(
            stats.refused.is_empty() && stats.refused_by_peer.is_empty(),
            "session {n}: {stats:?}"
        );
        if stats.docs_sent == 0 && stats.docs_received == 0 {
            return n;
        }
    }
    panic!("no settling in three sessions");
}

#[test]
fn a_first_id_recorded_at_once_by_a_lead_and_a_worker_ends_as_the_workers_everywhere() {
    for worker_first in [true, false] {
        let (c, member) = with_member();
        c.lead
            .edit_member(&member, &[MemberEdit::IdNumber(Some(resident_id(LEAD_ID)))])
            .unwrap();
        // Later edits of the lead's depend on its ID: they must not be
        // refused with it.
        let visit = c
            .lead
            .record_visit(&c.cell, {
                let mut v = visit(VisitKind::HealthCheck, "体温正常");
                v.member_id = Some(member.clone());
                v
            })
            .unwrap();
        c.worker
            .edit_member(
                &member,
                &[MemberEdit::IdNumber(Some(resident_id(WORKER_ID)))],
            )
            .unwrap();
        let order = if worker_first {
            [&c.worker, &c.lead]
        } else {
            [&c.lead, &c.worker]
        };
        for phone in order {
            sync_local(phone, &c.hub).unwrap();
        }
        for phone in order {
            settle(&c, phone);
        }
        let worker_id = Some(resident_id(WORKER_ID));
        for (name, s) in [("hub", &c.hub), ("lead", &c.lead), ("worker", &c.worker)] {
            assert_eq!(
                id_of(s, &member),
                worker_id,
                "{name}, worker first: {worker_first}"
            );
            assert_eq!(
                s.heads(&c.cell).unwrap(),
                c.hub.heads(&c.cell).unwrap(),
                "{name}"
            );
            assert!(
                s.cell(&c.cell)
                    .unwrap()
                    .visits
                    .iter()
                    .any(|v| v.id == visit),
                "{name} lacks the lead's visit"
            );
            assert!(
                s.conflicts(&c.cell).unwrap().is_empty(),
                "{name}: the ID is left in conflict"
            );
        }
    }
}

#[test]
fn a_lead_still_cannot_bring_in_an_id_nobody_recorded() {
    let (c, member) = with_member();
    c.worker
        .edit_member(
            &member,
            &[MemberEdit::IdNumber(Some(resident_id(WORKER_ID)))],
        )
        .unwrap();
    settle(&c, &c.worker);
    let forged = resident_id("62122119620315003");
    // A modified app on the lead's phone: a first ID written as if the
    // worker's were never seen (on the lead's older copy), then the conflict
    // settled on it. The hub holds only the worker's ID.
    let attacks: [(&str, Box<Attack<'_>>, bool); 3] = [
        (
            "writes over the recorded ID",
            Box::new(|_, hub| put_id(hub, &member, &forged)),
            false,
        ),
        (
            "settles a crossed ID on a value of its own",
            Box::new(|old, hub| {
                put_id(old, &member, &forged);
                hub.merge(old).unwrap();
                put_id(hub, &member, &forged);
            }),
            false,
        ),
        // The harness can succeed: settling on the recorded value is taken.
        (
            "settles a crossed ID on the recorded value",
            Box::new(|old, hub| {
                put_id(old, &member, &forged);
                hub.merge(old).unwrap();
                put_id(hub, &member, &resident_id(WORKER_ID));
            }),
            true,
        ),
    ];
    let old = c.lead.save_doc(&c.cell).unwrap();
    for (what, attack, taken) in attacks {
        let refused = forged_by_lead(&c, &old, &*attack);
        assert_eq!(refused.is_empty(), taken, "{what}: {refused:?}");
        assert_eq!(
            id_of(&c.hub, &member),
            Some(resident_id(WORKER_ID)),
            "{what}"
        );
    }
}

/// A lead may settle a conflict of recorded IDs on one of them, even after
/// another phone's settle took the value away on the receiver; it still
/// may not bring back an ID a grid worker has since corrected.
#[test]
fn a_lead_cannot_bring_back_an_id_a_worker_corrected() {
    let (c, member) = with_member();
    let blank = c.lead.save_doc(&c.cell).unwrap();
    let first = resident_id(LEAD_ID);
    c.worker
        .edit_member(&member, &[MemberEdit::IdNumber(Some(first.clone()))])
        .unwrap();
    settle(&c, &c.worker);
    settle(&c, &c.lead);
    let corrected = resident_id(WORKER_ID);
    c.worker
        .edit_member(&member, &[MemberEdit::IdNumber(Some(corrected.clone()))])
        .unwrap();
    settle(&c, &c.worker);
    let forged = resident_id("62122119620315003");
    // The lead's phone holds the first ID; the hub holds the correction.
    let attacks: [(&str, Box<Attack<'_>>); 3] = [
        (
            "writes the first ID back over itself",
            Box::new(|old, hub| {
                put_id(old, &member, &forged);
                put_id(old, &member, &first);
                hub.merge(old).unwrap();
            }),
        ),
        (
            "clears the ID and records the first one again",
            Box::new(|old, hub| {
                put_id(old, &member, "");
                put_id(old, &member, &first);
                hub.merge(old).unwrap();
            }),
        ),
        (
            "settles a conflict of its own making on the first ID",
            Box::new(|old, hub| {
                // Later op counters than the worker's first ID, so the
                // forged value is the one shown and settling on the first
                // ID is a new write (automerge writes nothing to keep the
                // value already shown).
                let mut other = AutoCommit::load(&blank).unwrap();
                for _ in 0..8 {
                    put_id(&mut other, &member, &first);
                    put_id(&mut other, &member, &forged);
                }
                old.merge(&mut other).unwrap();
                put_id(old, &member, &first);
                hub.merge(old).unwrap();
            }),
        ),
    ];
    let old = c.lead.save_doc(&c.cell).unwrap();
    for (what, attack) in attacks {
        let refused = forged_by_lead(&c, &old, &*attack);
        assert!(!refused.is_empty(), "{what}: taken");
        assert_eq!(id_of(&c.hub, &member), Some(corrected.clone()), "{what}");
        assert!(c.hub.conflicts(&c.cell).unwrap().is_empty(), "{what}");
    }
}

/// Plays `attack` on a copy of the lead's document `old` and a copy of the
/// hub's, then sends what it added to the hub's as the lead's phone would,
/// signed with its key. Returns what the hub refused; a refusal must name
/// the resident ID and leave the hub's register as it was.
fn forged_by_lead(c: &County, old: &[u8], attack: &Attack<'_>) -> Vec<Refusal> {
    let actor = ActorId::random();
    let mut old = AutoCommit::load(old).unwrap().with_actor(actor.clone());
    let mut hub = AutoCommit::load(&c.hub.save_doc(&c.cell).unwrap())
        .unwrap()
        .with_actor(actor);
    let held = hub.get_heads();
    attack(&mut old, &mut hub);
    hub.commit();
    let bytes = hub.save_after(&held);
    let before = register_tables(&c.hub);
    let (_a, mut b, reply) = opened(&c.lead, &c.hub);
    let round = forged_round(
        &reply,
        &c.lead.device_key().unwrap(),
        vec![Item::Changes {
            doc: c.cell.clone(),
            bytes,
        }],
    );
    b.receive(&c.hub, &round).unwrap();
    let refused = b.stats().refused.clone();
    if let Some(r) = refused.first() {
        assert!(r.reason.contains("resident ID"), "{}", r.reason);
        assert!(register_tables(&c.hub) == before, "a refusal wrote");
    }
    refused
}

/// A modified app's edit, on its older copy of the cell and on the hub's.
type Attack<'a> = dyn Fn(&mut AutoCommit, &mut AutoCommit) + 'a;

/// Writes `id` as the member's resident ID in a raw copy of the cell.
fn put_id(doc: &mut AutoCommit, member: &str, id: &str) {
    let hhs = doc.get(ROOT, "households").unwrap().unwrap().1;
    for hh in doc.keys(&hhs).collect::<Vec<_>>() {
        let h = doc.get(&hhs, hh.as_str()).unwrap().unwrap().1;
        let members = doc.get(&h, "members").unwrap().unwrap().1;
        if let Some((_, m)) = doc.get(&members, member).unwrap() {
            doc.put(&m, "id_number", id).unwrap();
            doc.commit();
            return;
        }
    }
    panic!("no member {member}");
}

/// A handover with the old phone still enrolled: two phones hold the lead's
/// certificate for one cell, each records a first ID for the same member
/// offline, and two grid workers carry each to the other before either
/// reaches the hub. Both phones yield at once, each to the other's value;
/// whichever reaches the hub second must not be refused, and everyone must
/// end on one ID.
#[test]
fn two_lead_phones_yielding_at_once_are_not_refused_by_the_hub() {
    // Which value automerge shows turns on the random actor ids, and the
    // refusal this guards against came only when the phone whose value
    // lost reached the hub first: both orders, a few times each.
    for round in 0..6 {
        for second_first in [false, true] {
            let (c, member) = with_member();
            let o = office();
            let lead2 = open_fast(&c._dir.path().join("lead2.db"));
            enrol(&lead2, &o, silin_core::identity::Role::Lead, &[&c.cell]);
            let worker2 = open_fast(&c._dir.path().join("worker2.db"));
            enrol(
                &worker2,
                &o,
                silin_core::identity::Role::GridWorker,
                &["县/镇/村"],
            );
            for s in [&lead2, &worker2] {
                sync_local(s, &c.hub).unwrap();
            }
            let id = |v: &str| [MemberEdit::IdNumber(Some(resident_id(v)))];
            c.lead.edit_member(&member, &id(LEAD_ID)).unwrap();
            lead2.edit_member(&member, &id(WORKER_ID)).unwrap();
            // Each worker meets one phone, then the other: each phone
            // meets the other's first ID before the other's yield. Either
            // side may open the session. A worker that refuses the lead's
            // crossed ID answers with its own copy, the phone yields, and
            // the two leave the session holding the same cell.
            for (phone, worker) in [
                (&c.lead, &c.worker),
                (&lead2, &worker2),
                (&lead2, &c.worker),
                (&c.lead, &worker2),
            ] {
                let meet = || match round % 2 {
                    0 => sync_local(phone, worker).unwrap(),
                    _ => sync_local(worker, phone).unwrap(),
                };
                let first = meet();
                assert_eq!(
                    phone.heads(&c.cell).unwrap(),
                    worker.heads(&c.cell).unwrap(),
                    "round {round}: the meeting left them apart: {first:?}"
                );
                let again = meet();
                assert!(
                    again.refused.is_empty() && again.refused_by_peer.is_empty(),
                    "round {round}: refused twice running: {first:?} {again:?}"
                );
            }
            let leads = if second_first {
                [("lead2", &lead2), ("lead", &c.lead)]
            } else {
                [("lead", &c.lead), ("lead2", &lead2)]
            };
            let everyone = [
                leads[0],
                leads[1],
                ("worker", &c.worker),
                ("worker2", &worker2),
            ];
            for n in 0..3 {
                for (name, s) in everyone {
                    let stats = sync_local(s, &c.hub).unwrap();
                    assert!(
                        stats.refused.is_empty() && stats.refused_by_peer.is_empty(),
                        "round {round}, {name} with the hub, time {n}: {stats:?}"
                    );
                }
            }
            let heads = c.hub.heads(&c.cell).unwrap();
            let shown = id_of(&c.hub, &member);
            assert!(shown.is_some());
            for (name, s) in everyone {
                assert_eq!(s.heads(&c.cell).unwrap(), heads, "round {round}: {name}");
                assert_eq!(id_of(s, &member), shown, "round {round}: {name}");
                assert!(
                    s.conflicts(&c.cell).unwrap().is_empty(),
                    "round {round}, {name}: the ID is left in conflict"
                );
            }
        }
    }
}

/// The write a lead's phone makes to give way happens while it takes in
/// the hub's changes; the session must carry it to the hub before it ends.
/// Before, a session that asked the hub only for its new changes ended
/// with the yield still on the phone, and a worker who synced after it
/// held a cell the hub had moved past (the convergence property test found
/// it, with both devices recording the same ID).
#[test]
fn a_leads_yield_reaches_the_hub_in_the_session_that_brought_the_other_id() {
    for worker_value in [LEAD_ID, WORKER_ID] {
        let (c, member) = with_member();
        let id = |v: &str| [MemberEdit::IdNumber(Some(resident_id(v)))];
        c.lead.edit_member(&member, &id(LEAD_ID)).unwrap();
        c.worker.edit_member(&member, &id(worker_value)).unwrap();
        settle(&c, &c.lead);
        settle(&c, &c.worker);
        let stats = sync_local(&c.lead, &c.hub).unwrap();
        assert!(stats.docs_received > 0, "{stats:?}");
        assert!(
            stats.refused.is_empty() && stats.refused_by_peer.is_empty(),
            "{stats:?}"
        );
        assert_eq!(
            c.lead.heads(&c.cell).unwrap(),
            c.hub.heads(&c.cell).unwrap(),
            "the yield stayed on the lead's phone ({worker_value})"
        );
        assert!(c.hub.conflicts(&c.cell).unwrap().is_empty());
    }
}
