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
use silin_core::sync::sync_local;

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
    for (what, attack, taken) in attacks {
        let actor = ActorId::random();
        let mut old = AutoCommit::load(&c.lead.save_doc(&c.cell).unwrap())
            .unwrap()
            .with_actor(actor.clone());
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
        let refused = &b.stats().refused;
        assert_eq!(refused.is_empty(), taken, "{what}: {refused:?}");
        if !taken {
            assert!(
                refused[0].reason.contains("resident ID"),
                "{what}: {}",
                refused[0].reason
            );
            assert!(register_tables(&c.hub) == before, "{what}: a refusal wrote");
        }
        assert_eq!(
            id_of(&c.hub, &member),
            Some(resident_id(WORKER_ID)),
            "{what}"
        );
    }
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
