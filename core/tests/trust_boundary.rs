//! The trust boundary: whatever a peer's raw automerge bytes say, a
//! receiving store keeps its own truth about a cell (its id and region), a
//! layout every device can read, and its file untouched by what it refuses.
//! Each hostile change is made the way a modified app would make it — on a
//! copy of the lead's own cell, signed with the lead's real key — and
//! delivered by bundle and by session.

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ObjType, ReadDoc, ROOT};
use common::*;
use silin_core::identity::Role;
use silin_core::sync::envelope::{Body, Envelope, Item, Sender};
use silin_core::sync::{bundle, sync_local, SyncError};
use silin_core::Store;

/// The county with the lead holding its cell (through the worker).
fn with_lead() -> County {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    c
}

/// Changes a modified app on the lead's phone would make to its cell.
fn raw_changes(c: &County, edit: impl FnOnce(&mut AutoCommit)) -> Vec<u8> {
    let mut doc = AutoCommit::load(&c.lead.save_doc(&c.cell).unwrap())
        .unwrap()
        .with_actor(ActorId::random());
    let heads = doc.get_heads();
    edit(&mut doc);
    doc.commit();
    doc.save_after(&heads)
}

fn cell_map(doc: &AutoCommit) -> automerge::ObjId {
    doc.get(ROOT, "cell").unwrap().unwrap().1
}

/// A bundle of `items` signed by the lead.
fn lead_bundle(c: &County, items: Vec<Item>) -> Vec<u8> {
    let cert = c.lead.certificate().unwrap().unwrap();
    signed(
        &c.lead.device_key().unwrap(),
        Envelope {
            session: [7; 16],
            challenge: [0; 16],
            round: 0,
            time: now(),
            sender: Sender::Certificate(cert),
            body: Body::Bundle {
                items,
                revocations: Vec::new(),
                orders: Vec::new(),
            },
            signature: None,
        },
    )
}

fn hostile_edits(c: &County) -> Vec<(&'static str, Vec<u8>)> {
    let far_path = ["县", "镇", "远村", "组"];
    let other = c.other.clone();
    vec![
        (
            "moves the cell to another village",
            raw_changes(c, |d| {
                let cell = cell_map(d);
                let p = d.put_object(&cell, "path", ObjType::List).unwrap();
                for (i, part) in far_path.iter().enumerate() {
                    d.insert(&p, i, *part).unwrap();
                }
            }),
        ),
        (
            "gives the cell another cell's id",
            raw_changes(c, |d| {
                let cell = cell_map(d);
                d.put(&cell, "id", other.as_str()).unwrap();
            }),
        ),
        (
            "declares a layout from the future",
            raw_changes(c, |d| d.put(ROOT, "schema", 99).unwrap()),
        ),
        (
            "writes a 262,144-character name",
            raw_changes(c, |d| {
                let cell = cell_map(d);
                d.put(&cell, "name", "名".repeat(262_144)).unwrap();
            }),
        ),
        (
            "plants thousands of nested maps",
            raw_changes(c, |d| {
                let mut obj = d.get(ROOT, "households").unwrap().unwrap().1;
                for _ in 0..3000 {
                    obj = d.put_object(&obj, "x", ObjType::Map).unwrap();
                }
            }),
        ),
        (
            "files a report with 200,000 arrivals",
            raw_changes(c, |d| {
                let reports = d.get(ROOT, "reports").unwrap().unwrap().1;
                let r = d.put_object(&reports, "2026-11-29", ObjType::Map).unwrap();
                d.put(&r, "arrivals", 200_000).unwrap();
            }),
        ),
    ]
}

#[test]
fn hostile_changes_by_bundle_are_refused_and_write_nothing() {
    let c = with_lead();
    for (what, bytes) in hostile_edits(&c) {
        let before = dump_tables(c.worker.path());
        let file = lead_bundle(
            &c,
            vec![Item::Changes {
                doc: c.cell.clone(),
                bytes,
            }],
        );
        // The cell is skipped and the refusal reported; the import itself
        // goes on (other cells in the file would be taken).
        let outcome = bundle::import(&c.worker, &file).expect(what);
        assert_eq!(outcome.changed, 0, "{what}");
        assert_eq!(outcome.refused.len(), 1, "{what}");
        assert_eq!(outcome.refused[0].doc, c.cell, "{what}");
        assert_eq!(
            dump_tables(c.worker.path()),
            before,
            "{what}: a refusal wrote"
        );
        // The refused change left nothing behind in memory either: the cell
        // still reads as before and syncs on.
        assert_eq!(
            c.worker.cell(&c.cell).unwrap(),
            c.hub.cell(&c.cell).unwrap()
        );
    }
    // The harness can succeed: an ordinary edit the same way is taken.
    let household = "0193a4d2-0000-7000-8000-00000000abcd";
    let fine = raw_changes(&c, |d| {
        let hhs = d.get(ROOT, "households").unwrap().unwrap().1;
        let h = d.put_object(&hhs, household, ObjType::Map).unwrap();
        d.put(&h, "address", "东关村9号").unwrap();
        d.put_object(&h, "members", ObjType::Map).unwrap();
    });
    let file = lead_bundle(
        &c,
        vec![Item::Changes {
            doc: c.cell.clone(),
            bytes: fine,
        }],
    );
    let outcome = bundle::import(&c.worker, &file).unwrap();
    assert_eq!((outcome.changed, outcome.refused.len()), (1, 0));
    let view = c.worker.cell(&c.cell).unwrap();
    assert!(view.households.iter().any(|h| h.id == household));
}

#[test]
fn a_whole_document_cannot_move_a_held_cell_into_the_senders_scope() {
    // The far cell lies outside the worker's village. A peer that holds it
    // rewrites its path into the village and sends it whole: the hub, which
    // holds the cell under its true path, refuses.
    let c = with_lead();
    let mut doc = AutoCommit::load(&c.hub.save_doc(&c.far).unwrap())
        .unwrap()
        .with_actor(ActorId::random());
    let cell = cell_map(&doc);
    let p = doc.put_object(&cell, "path", ObjType::List).unwrap();
    for (i, part) in ["县", "镇", "村", "组"].iter().enumerate() {
        doc.insert(&p, i, *part).unwrap();
    }
    doc.commit();
    // Something to sync, so the session runs past its opening.
    c.worker
        .record_visit(&c.cell, visit(silin_core::model::VisitKind::Call, "打电话"))
        .unwrap();
    let (_a, mut b, reply) = opened(&c.worker, &c.hub);
    let before = dump_tables(c.hub.path());
    let forged = forged_round(
        &reply,
        &c.worker.device_key().unwrap(),
        vec![Item::Whole {
            doc: c.far.clone(),
            bytes: doc.save(),
        }],
    );
    let err = b.receive(&c.hub, &forged).unwrap_err();
    assert!(
        matches!(&err, SyncError::BadDocument { doc, .. } | SyncError::OutOfScope { doc } if doc == &c.far),
        "{err}"
    );
    assert_eq!(dump_tables(c.hub.path()), before);
    // And the worker still never receives the far cell.
    sync_local(&c.worker, &c.hub).unwrap();
    assert!(!c.worker.has_cell(&c.far).unwrap());
}

#[test]
fn hostile_sync_messages_are_refused_without_panic() {
    let c = with_lead();
    // A sync message whose bloom filter asks for 2^32-1 probes, and one
    // carrying a compressed-change chunk (a type silin never writes).
    let bloom = vec![
        0x42, 0, 0, 1, 0, 8, 1, 8, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0,
    ];
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2, 3, 1, 2, 3];
    let mut compressed = vec![0x42, 0, 0, 0, 1, chunk.len() as u8];
    compressed.append(&mut chunk);
    for message in [bloom, compressed] {
        c.lead
            .record_visit(
                &c.cell,
                visit(silin_core::model::VisitKind::DoorKnock, "敲门"),
            )
            .unwrap();
        let (_a, mut b, reply) = opened(&c.lead, &c.worker);
        let before = dump_tables(c.worker.path());
        let forged = forged_round(
            &reply,
            &c.lead.device_key().unwrap(),
            vec![Item::Sync {
                doc: c.cell.clone(),
                message,
            }],
        );
        // The cell is refused on its own, with the guard's reason told
        // back; the session goes on and the file's register is untouched.
        let answer = b.receive(&c.worker, &forged).unwrap().unwrap();
        let refused = b.stats().refused;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].doc, c.cell);
        let told = match silin_core::sync::envelope::decode(&answer).unwrap().body {
            Body::Round { items } => items
                .into_iter()
                .any(|i| matches!(i, Item::Refused { doc, .. } if doc == c.cell)),
            _ => false,
        };
        assert!(told, "the refusal is told to the sender");
        let register = |t: Vec<(String, Vec<Vec<rusqlite::types::Value>>)>| {
            t.into_iter()
                .filter(|(name, _)| {
                    !["sync_states", "seen_sessions", "peers"].contains(&name.as_str())
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(register(dump_tables(c.worker.path())), register(before));
    }
    // Both still sync honestly afterwards.
    sync_local(&c.lead, &c.worker).unwrap();
}

#[test]
fn a_cell_id_scope_is_never_read_as_a_region_path() {
    // A lead scoped to its cell id; a cell filed under a "region" spelled
    // like that id must not come into its scope.
    let c = county();
    let o = office();
    let spoof = c
        .hub
        .create_cell("冒名", &path(&format!("{}/x/y/z", c.cell)), None)
        .unwrap();
    let rogue_lead = open_fast(&c._dir.path().join("rogue-lead.db"));
    enrol(&rogue_lead, &o, Role::Lead, &[&c.cell]);
    sync_local(&rogue_lead, &c.hub).unwrap();
    assert!(rogue_lead.has_cell(&c.cell).unwrap());
    assert!(!rogue_lead.has_cell(&spoof).unwrap());
    let _: &Store = &c.hub;
}

#[test]
fn a_hostile_value_that_loses_a_conflict_is_still_refused() {
    // The merge is checked from its diff, and a diff shows only the winning
    // value of a conflict: the losing one must be checked too. The hostile
    // change is concurrent with the hub's own edit, and its actor (all
    // zeros) sorts first, so it loses.
    let c = with_lead();
    let base = c.hub.save_doc(&c.cell).unwrap();
    let mut doc = AutoCommit::load(&base)
        .unwrap()
        .with_actor(ActorId::from([0u8; 16]));
    let heads = doc.get_heads();
    let cell = cell_map(&doc);
    doc.put(&cell, "name", "名".repeat(5000)).unwrap();
    doc.commit();
    let hostile = doc.save_after(&heads);
    c.hub.rename_cell(&c.cell, "一组（新）").unwrap();
    let before = dump_tables(c.hub.path());
    let err = c.hub.apply_changes(&c.cell, &hostile).unwrap_err();
    assert!(
        matches!(&err, silin_core::Error::Refused { reason, .. } if reason.contains("5000 characters")),
        "{err}"
    );
    assert_eq!(dump_tables(c.hub.path()), before);
    assert_eq!(c.hub.cell(&c.cell).unwrap().cell.name, "一组（新）");
}

#[test]
fn a_change_waiting_for_its_dependency_is_never_applied_under_another_senders_role() {
    use silin_core::model::NewHousehold;
    use silin_core::Replica;
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    // The worker makes two changes, the second (a rename, which a lead may
    // not make) built on the first (a household, which a lead may add).
    let base = c.worker.heads(&c.cell).unwrap();
    c.worker
        .add_household(&c.cell, NewHousehold::default())
        .unwrap();
    let first_heads = c.worker.heads(&c.cell).unwrap();
    let first = c.worker.changes_after(&c.cell, &base).unwrap();
    c.worker.rename_cell(&c.cell, "改名").unwrap();
    let second = c.worker.changes_after(&c.cell, &first_heads).unwrap();

    // A lead's peer hands the hub the rename alone: it waits for its
    // dependency, unchecked, and nothing is written.
    let before = dump_tables(c.hub.path());
    let waited = Replica::apply_changes_from(&c.hub, &c.cell, &second, Some(Role::Lead)).unwrap();
    assert!(waited.waiting && !waited.changed, "{waited:?}");
    assert_eq!(dump_tables(c.hub.path()), before);
    assert_eq!(c.hub.heads(&c.cell).unwrap(), base);

    // Another sender then brings the dependency: only what that sender
    // offered is applied and checked; the rename the lead offered is not
    // carried in with it.
    let took = Replica::apply_changes_from(&c.hub, &c.cell, &first, Some(Role::Lead)).unwrap();
    assert!(took.changed && !took.waiting, "{took:?}");
    assert_eq!(c.hub.heads(&c.cell).unwrap(), first_heads);
    assert_eq!(c.hub.cell(&c.cell).unwrap().cell.name, "一组");

    // Its author's own session brings the rename, under its own role.
    sync_local(&c.worker, &c.hub).unwrap();
    assert_eq!(c.hub.cell(&c.cell).unwrap().cell.name, "改名");
    assert_eq!(
        c.hub.heads(&c.cell).unwrap(),
        c.worker.heads(&c.cell).unwrap()
    );
}
