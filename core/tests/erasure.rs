//! Erasure from every replica's history (issue 13): the office orders the
//! people of some households erased; the order reaches the grid workers'
//! phones, the lead's and a phone that only gets bundles; afterwards no
//! marker name or phone number is left in any store's `.db`, `-wal` or
//! `-shm` file, nor in a bundle written since. A phone that was offline
//! during the erasure keeps its own edits to what survives and brings back
//! nothing erased. Real SQLite files, the real sync protocol.

mod common;

use common::*;
use silin_core::erasure::{Collection, Subject};
use silin_core::identity::{KeyPair, Role};
use silin_core::model::{MemberEdit, NewHousehold, NewMember, VisitKind};
use silin_core::sync::{bundle, sync_local};
use silin_core::Store;
use std::path::Path;

/// A marker name and phone number for person `n`: text no other value in
/// the register contains.
fn marker(n: usize) -> (String, String) {
    (format!("抹除标记{n:04}号"), format!("1390{n:07}"))
}

/// Adds a household of marker people to `cell` on `store`, each with a
/// health check that names them in its note. Returns the household id.
fn plant(store: &Store, cell: &str, people: std::ops::Range<usize>) -> String {
    let hh = store
        .add_household(
            cell,
            NewHousehold {
                address: Some(format!("标记户{}", people.start)),
                door: None,
                phone: None,
            },
        )
        .unwrap();
    for n in people {
        let (name, phone) = marker(n);
        let m = store
            .add_member(
                &hh,
                NewMember {
                    name: name.clone(),
                    phone: Some(phone),
                    ..Default::default()
                },
                today(),
            )
            .unwrap();
        let mut v = visit(VisitKind::HealthCheck, &format!("为{name}测体温"));
        v.member_id = Some(m);
        v.temperature = Some(36.5);
        store.record_visit(cell, v).unwrap();
    }
    hh
}

/// A household that stays, with one member.
fn survivor(store: &Store, cell: &str) -> (String, String) {
    let hh = store
        .add_household(
            cell,
            NewHousehold {
                address: Some("留存户".into()),
                door: None,
                phone: None,
            },
        )
        .unwrap();
    let m = store
        .add_member(
            &hh,
            NewMember {
                name: "留存者".into(),
                phone: Some("13812345678".into()),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    (hh, m)
}

/// The files a store keeps on disk.
fn files_of(db: &Path) -> Vec<std::path::PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            let mut p = db.as_os_str().to_owned();
            p.push(s);
            std::path::PathBuf::from(p)
        })
        .filter(|p| p.exists())
        .collect()
}

/// Every cell `store` holds, in a bundle anyone can read (what a
/// `--plaintext` export writes).
fn plain_bundle(store: &Store) -> Vec<u8> {
    bundle::export(
        store,
        &bundle::ExportOptions {
            sealing: bundle::Sealing::Plain,
            ..Default::default()
        },
    )
    .unwrap()
    .0
}

/// How many of markers `people` appear (name or phone) in `bytes`.
fn hits(bytes: &[u8], people: std::ops::Range<usize>) -> usize {
    people
        .filter(|n| {
            let (name, phone) = marker(*n);
            [name.as_bytes(), phone.as_bytes()]
                .iter()
                .any(|m| bytes.windows(m.len()).any(|w| w == *m))
        })
        .count()
}

/// automerge compresses what it saves, so a byte search alone would miss
/// names inside saved documents: they are searched again uncompressed.
fn uncompressed(saved: &[&[u8]]) -> Vec<u8> {
    let mut doc = automerge::AutoCommit::new();
    for bytes in saved {
        let _ = doc.load_incremental(bytes);
    }
    doc.save_nocompress()
}

/// Markers found in a store's files: every byte of `.db`, `-wal` and
/// `-shm` as it lies on disk, and every document in it uncompressed.
fn hits_in_files(db: &Path, people: std::ops::Range<usize>) -> usize {
    let mut found: usize = files_of(db)
        .iter()
        .map(|f| hits(&std::fs::read(f).unwrap(), people.clone()))
        .sum();
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    let mut docs = conn.prepare("SELECT id, snapshot FROM snapshots").unwrap();
    let docs: Vec<(String, Vec<u8>)> = docs
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, snapshot) in docs {
        let mut chunks = conn
            .prepare("SELECT bytes FROM chunks WHERE doc_id = ?1 ORDER BY seq")
            .unwrap();
        let chunks: Vec<Vec<u8>> = chunks
            .query_map([&id], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut all: Vec<&[u8]> = vec![&snapshot];
        all.extend(chunks.iter().map(Vec::as_slice));
        found += hits(&uncompressed(&all), people.clone());
    }
    found
}

/// Markers in a bundle: its bytes, and each document in it uncompressed.
fn hits_in_bundle(bytes: &[u8], people: std::ops::Range<usize>) -> usize {
    let mut found = hits(bytes, people.clone());
    for item in bundle::decode(bytes).unwrap() {
        if let silin_core::sync::envelope::Item::Whole { bytes, .. }
        | silin_core::sync::envelope::Item::Changes { bytes, .. } = item
        {
            found += hits(&uncompressed(&[&bytes]), people.clone());
        }
    }
    found
}

/// After an erasure the file holds no page it does not use (a free page
/// would keep what was deleted) and the write-ahead log is empty.
fn nothing_left_over(db: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let free: i64 = conn
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(free, 0, "{}: free pages", db.display());
}

fn heads_of(store: &Store, cell: &str) -> Vec<automerge::ChangeHash> {
    let mut h = store.heads(cell).unwrap();
    h.sort();
    h
}

fn names_in(store: &Store, cell: &str) -> Vec<String> {
    let mut names: Vec<String> = members(&store.cell(cell).unwrap())
        .iter()
        .map(|m| m.name.clone())
        .collect();
    names.sort();
    names
}

/// Every cell an observer was told of.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<String>>);

impl silin_core::Observer for Heard {
    fn cells_changed(&self, cell_ids: &[String]) {
        self.0.lock().unwrap().extend(cell_ids.iter().cloned());
    }
}

#[test]
fn a_thousand_erased_people_leave_every_replica_and_every_file() {
    let c = county();
    let dir = c._dir.path();
    let worker2 = open_fast(&dir.join("worker2.db"));
    enrol(&worker2, &office(), Role::GridWorker, &["县/镇/村"]);
    let carried = open_fast(&dir.join("carried.db"));
    enrol(&carried, &office(), Role::GridWorker, &["县/镇/村"]);

    // The lead's cell: 20 marker people in 5 households and one that stays.
    sync_local(&c.lead, &c.hub).unwrap();
    let mut erase: Vec<(String, Vec<Subject>)> = vec![(c.cell.clone(), Vec::new())];
    for h in 0..5 {
        let hh = plant(&c.lead, &c.cell, h * 4..h * 4 + 4);
        erase[0].1.push(Subject::Household(hh));
    }
    let (_, kept) = survivor(&c.lead, &c.cell);
    // 98 more cells of the village at the hub, 10 marker people each.
    let mut next = 20;
    for i in 0..98 {
        let cell = c
            .hub
            .create_cell(&format!("{i}号格"), &path("县/镇/村/组"), None)
            .unwrap();
        let mut subjects = Vec::new();
        for _ in 0..2 {
            subjects.push(Subject::Household(plant(&c.hub, &cell, next..next + 5)));
            next += 5;
        }
        erase.push((cell, subjects));
    }
    assert_eq!(next, 1000);

    // Everyone holds every marker: lead → worker → hub → worker 2, and a
    // bundle from the worker to a phone that never syncs.
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&worker2, &c.hub).unwrap();
    let before = plain_bundle(&c.worker);
    assert_eq!(
        hits_in_bundle(&before, 0..1000),
        1000,
        "the search finds planted markers"
    );
    bundle::import(&carried, &before).unwrap();
    for (store, name) in [
        (&c.hub, "hub"),
        (&worker2, "worker2"),
        (&carried, "carried"),
    ] {
        store.compact_all().unwrap();
        let db = dir.join(format!("{name}.db"));
        assert!(
            hits_in_files(&db, 0..1000) >= 1000,
            "{name} holds the markers before"
        );
    }

    // The office erases them.
    let office_key = office().key;
    for (cell, subjects) in &erase {
        let order = c
            .hub
            .issue_erasure(&office_key, cell, subjects.clone(), "请求 2026-031")
            .unwrap();
        assert_eq!(order.epoch, 1);
    }
    assert_eq!(hits_in_files(&dir.join("hub.db"), 0..1000), 0, "hub files");

    // Hub → worker (which holds the cut and rebuilds each epoch itself),
    // worker → lead, hub → worker 2, worker → bundle → the carried phone.
    // The worker's screens hear of each cell that moved.
    let heard = std::sync::Arc::new(Heard::default());
    c.worker.subscribe(heard.clone());
    sync_local(&c.worker, &c.hub).unwrap();
    let mut told = heard.0.lock().unwrap().clone();
    told.sort();
    told.dedup();
    let mut erased_cells: Vec<String> = erase.iter().map(|(c, _)| c.clone()).collect();
    erased_cells.sort();
    assert_eq!(told, erased_cells);
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&worker2, &c.hub).unwrap();
    let after = plain_bundle(&c.worker);
    assert_eq!(
        hits_in_bundle(&after, 0..1000),
        0,
        "a bundle written after the order"
    );
    bundle::import(&carried, &after).unwrap();

    for (store, name) in [
        (&c.hub, "hub"),
        (&c.worker, "worker"),
        (&c.lead, "lead"),
        (&worker2, "worker2"),
        (&carried, "carried"),
    ] {
        let db = dir.join(format!("{name}.db"));
        assert_eq!(
            hits_in_files(&db, 0..1000),
            0,
            "{name}: markers left in its files"
        );
        nothing_left_over(&db);
        // What was not erased is still there, and every replica agrees.
        assert_eq!(names_in(store, &c.cell), ["留存者"], "{name}");
        assert_eq!(
            heads_of(store, &c.cell),
            heads_of(&c.hub, &c.cell),
            "{name}"
        );
        assert_eq!(store.member(&kept).unwrap().name, "留存者");
        assert_eq!(
            store.erasure_orders().unwrap().len(),
            99,
            "{name} keeps the orders"
        );
    }
    // The health checks about the erased went with them; the projections
    // agree with the documents.
    let view = c.lead.cell(&c.cell).unwrap();
    assert!(view.visits.is_empty(), "{:?}", view.visits);
    for store in [&c.hub, &c.lead, &carried] {
        let report = store.check().unwrap();
        assert!(report.ok && report.repaired.is_empty(), "{report:?}");
    }
}

#[test]
fn a_phone_offline_during_the_erasure_keeps_its_own_edits_and_gets_back_nothing_erased() {
    let c = county();
    let dir = c._dir.path();
    sync_local(&c.lead, &c.hub).unwrap();
    let gone = plant(&c.lead, &c.cell, 0..3);
    let (stays, kept) = survivor(&c.lead, &c.cell);
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&c.worker, &c.hub).unwrap();
    let gone_member = members(&c.hub.cell(&c.cell).unwrap())
        .iter()
        .find(|m| m.name == marker(0).0)
        .unwrap()
        .id
        .clone();

    // Offline, the lead edits what will survive and what will not.
    c.lead
        .edit_member(&kept, &[MemberEdit::Phone(Some("13987654321".into()))])
        .unwrap();
    let mut v = visit(VisitKind::HealthCheck, "留存者体温正常");
    v.member_id = Some(kept.clone());
    v.temperature = Some(36.6);
    let kept_visit = c.lead.record_visit(&c.cell, v).unwrap();
    c.lead
        .edit_member(&gone_member, &[MemberEdit::Name(marker(7).0)])
        .unwrap();
    let mut v = visit(
        VisitKind::HealthCheck,
        &format!("离线为{}复查", marker(8).0),
    );
    v.member_id = Some(gone_member.clone());
    c.lead.record_visit(&c.cell, v).unwrap();

    // Meanwhile the office renames the cell (so the lead lacks part of
    // what the erasure cuts at) and erases the household.
    c.hub.rename_cell(&c.cell, "一组(新)").unwrap();
    c.hub
        .issue_erasure(
            &office().key,
            &c.cell,
            vec![Subject::Household(gone)],
            "请求 17",
        )
        .unwrap();
    sync_local(&c.worker, &c.hub).unwrap();

    // The lead meets the worker: it learns of the order, cannot build the
    // epoch itself, takes it whole, and replays its own edits onto it.
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&c.worker, &c.hub).unwrap();
    for (store, name) in [(&c.lead, "lead"), (&c.worker, "worker"), (&c.hub, "hub")] {
        let db = dir.join(format!("{name}.db"));
        assert_eq!(hits_in_files(&db, 0..10), 0, "{name}: markers left");
        assert_eq!(names_in(store, &c.cell), ["留存者"], "{name}");
        let m = store.member(&kept).unwrap();
        assert_eq!(
            m.phone.as_deref(),
            Some("13987654321"),
            "{name}: the lead's edit"
        );
        let view = store.cell(&c.cell).unwrap();
        assert_eq!(view.cell.name, "一组(新)", "{name}: the office's edit");
        let visits: Vec<&str> = view.visits.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(
            visits,
            [kept_visit.as_str()],
            "{name}: only the surviving visit"
        );
        assert_eq!(
            heads_of(store, &c.cell),
            heads_of(&c.hub, &c.cell),
            "{name}"
        );
    }
    let _ = stays;
}

#[test]
fn a_phone_that_cannot_build_the_new_epoch_waits_for_it_and_passes_on_none_of_the_old() {
    let c = county();
    let dir = c._dir.path();
    sync_local(&c.lead, &c.hub).unwrap();
    let gone = plant(&c.lead, &c.cell, 0..2);
    sync_local(&c.lead, &c.hub).unwrap();
    // The office moves on without the lead, then erases.
    c.hub.rename_cell(&c.cell, "一组(新)").unwrap();
    c.hub
        .issue_erasure(&office().key, &c.cell, vec![Subject::Household(gone)], "")
        .unwrap();
    sync_local(&c.worker, &c.hub).unwrap();

    // The lead learns of the order but lacks what the office cut at.
    let taken = c
        .lead
        .take_erasure_orders(&c.worker.erasure_orders().unwrap())
        .unwrap();
    assert_eq!(taken.awaiting, std::slice::from_ref(&c.cell));
    let cells = [c.cell.clone(), c.other.clone()];
    assert_eq!(
        c.lead.awaiting_epochs(&cells).unwrap(),
        std::collections::BTreeSet::from([c.cell.clone()])
    );
    assert!(c.lead.awaits_epoch(&c.cell).unwrap());
    // Its bundles leave the old lineage out.
    let (bytes, count) = bundle::export(
        &c.lead,
        &bundle::ExportOptions {
            sealing: bundle::Sealing::Plain,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((count, hits(&bytes, 0..2)), (0, 0));

    // The worker syncs with it: the lead's reply says it waits, and the
    // worker sends the new epoch whole.
    sync_local(&c.worker, &c.lead).unwrap();
    assert!(c.lead.awaiting_epochs(&cells).unwrap().is_empty());
    assert!(!c.lead.awaits_epoch(&c.cell).unwrap());
    assert_eq!(c.lead.cell(&c.cell).unwrap().cell.name, "一组(新)");
    assert_eq!(hits_in_files(&dir.join("lead.db"), 0..2), 0);
    assert_eq!(heads_of(&c.lead, &c.cell), heads_of(&c.hub, &c.cell));
}

#[test]
fn the_old_lineage_is_refused_after_an_erasure_and_forged_orders_are_ignored() {
    let c = county();
    let dir = c._dir.path();
    sync_local(&c.lead, &c.hub).unwrap();
    let gone = plant(&c.lead, &c.cell, 0..2);
    survivor(&c.lead, &c.cell);
    sync_local(&c.lead, &c.hub).unwrap();
    // A bundle the lead wrote before the order, carried late to the hub.
    let stale = plain_bundle(&c.lead);
    let order = c
        .hub
        .issue_erasure(
            &office().key,
            &c.cell,
            vec![Subject::Household(gone.clone())],
            "",
        )
        .unwrap();
    let heads = heads_of(&c.hub, &c.cell);
    let out = bundle::import(&c.hub, &stale).unwrap();
    assert_eq!(out.changed, 0);
    assert_eq!(out.refused.len(), 1, "{out:?}");
    assert!(
        out.refused[0].reason.contains("erased"),
        "{}",
        out.refused[0].reason
    );
    assert_eq!(heads_of(&c.hub, &c.cell), heads);
    assert_eq!(hits_in_files(&dir.join("hub.db"), 0..2), 0);

    // An order signed by another key is not followed, nor kept.
    let stranger = silin_core::identity::Office {
        key: KeyPair::from_seed(&[5; 32]),
    };
    let mut forged = order.clone();
    forged.body.epoch = 2;
    forged.signature = stranger.key.sign(b"anything");
    let taken = c.lead.take_erasure_orders(&[forged]).unwrap();
    assert_eq!((taken.new, taken.refused.len()), (0, 1));
    assert_eq!(c.lead.erasure_orders().unwrap().len(), 0);
    // Only the office may issue one.
    assert!(c
        .lead
        .issue_erasure(&stranger.key, &c.cell, vec![Subject::Cell], "")
        .is_err());
    // A subject the cell does not hold is refused with nothing written.
    let e = c
        .hub
        .issue_erasure(
            &office().key,
            &c.cell,
            vec![Subject::Record(
                Collection::Visit,
                silin_core::model::new_id(),
            )],
            "",
        )
        .unwrap_err();
    assert!(e.to_string().contains("nothing was erased"), "{e}");
    assert_eq!(c.hub.erasure_orders().unwrap().len(), 1);
}

#[test]
fn a_whole_cell_erased_keeps_only_where_it_is() {
    let c = county();
    let dir = c._dir.path();
    sync_local(&c.lead, &c.hub).unwrap();
    plant(&c.lead, &c.cell, 0..3);
    sync_local(&c.lead, &c.hub).unwrap();
    c.hub
        .issue_erasure(&office().key, &c.cell, vec![Subject::Cell], "疫情结束")
        .unwrap();
    sync_local(&c.lead, &c.hub).unwrap();
    for (store, name) in [(&c.hub, "hub"), (&c.lead, "lead")] {
        let view = store.cell(&c.cell).unwrap();
        assert!(
            view.households.is_empty() && view.visits.is_empty(),
            "{name}"
        );
        assert_eq!(view.cell.name, "一组");
        assert_eq!(
            hits_in_files(&dir.join(format!("{name}.db")), 0..3),
            0,
            "{name}"
        );
    }
}

#[test]
fn retention_lets_old_checks_and_ended_monitoring_go_everywhere_and_keeps_the_rest() {
    use silin_core::erasure::{MemberPart, Retention};
    use silin_core::register::{ArrivalKind, Arriving, NewArrival, RiskLevel};
    let c = county();
    let dir = c._dir.path();
    sync_local(&c.lead, &c.hub).unwrap();
    let (hh, member) = survivor(&c.lead, &c.cell);
    let day0 = today();
    let check = |days_ago: u64, note: &str| {
        let d = day0 - chrono::Days::new(days_ago);
        let mut v = silin_core::model::NewVisit::new(VisitKind::HealthCheck, at(d, 9, 0), "王建国");
        v.member_id = Some(member.clone());
        v.temperature = Some(36.4);
        v.note = Some(note.into());
        c.lead.record_visit(&c.cell, v).unwrap()
    };
    let old = check(40, "旧体温记录标记");
    let recent = check(3, "近期体温记录");
    let knock = {
        let mut v = silin_core::model::NewVisit::new(
            VisitKind::DoorKnock,
            at(day0 - chrono::Days::new(60), 9, 0),
            "王建国",
        );
        v.household_id = Some(hh.clone());
        c.lead.record_visit(&c.cell, v).unwrap()
    };
    let arrival = |days_ago: u64, from: &str| {
        let d = day0 - chrono::Days::new(days_ago);
        c.lead
            .record_arrival(NewArrival {
                household_id: hh.clone(),
                person: Arriving::Member(member.clone()),
                kind: ArrivalKind::Returning,
                from: from.into(),
                risk: RiskLevel::High,
                date: d,
                means: None,
                by: "王建国".into(),
                at: at(d, 10, 0),
            })
            .unwrap()
    };
    // (Recording an arrival gives the member's id; the records' own ids
    // are read back by their places.)
    arrival(60, "旧行程标记地");
    arrival(5, "近期行程地");
    let by_place = |from: &str| -> String {
        c.lead
            .with_doc(&c.cell, |d| Ok(d.arrivals()))
            .unwrap()
            .into_iter()
            .find(|a| a.from == from)
            .unwrap()
            .id
    };
    let (ended, ongoing) = (by_place("旧行程标记地"), by_place("近期行程地"));
    // A returnee whose own record says where from and when monitoring
    // ended, 36 days ago.
    let returnee = c
        .lead
        .add_member(
            &hh,
            NewMember {
                name: "返乡者".into(),
                ..Default::default()
            },
            day0,
        )
        .unwrap();
    let ago = |d: u64| Some(day0 - chrono::Days::new(d));
    c.lead
        .edit_member(
            &returnee,
            &[
                MemberEdit::ArrivalFrom(Some("旧来源标记".into())),
                MemberEdit::ArrivalDate(ago(50)),
                MemberEdit::MonitoringSince(ago(50)),
                MemberEdit::MonitoringUntil(ago(36)),
            ],
        )
        .unwrap();
    sync_local(&c.lead, &c.hub).unwrap();

    let policy = Retention {
        checks_days: 30,
        monitoring_days: 14,
    };
    let orders = c
        .hub
        .apply_retention(&office().key, &policy, day0, "retention")
        .unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0].subjects,
        [
            Subject::Record(Collection::Visit, old.clone()),
            Subject::Record(Collection::Arrival, ended.clone()),
            Subject::MemberPart(returnee.clone(), MemberPart::Arrival),
            Subject::MemberPart(returnee.clone(), MemberPart::Monitoring),
        ]
    );
    // Applying it again on the same day finds nothing more.
    assert!(c
        .hub
        .apply_retention(&office().key, &policy, day0, "retention")
        .unwrap()
        .is_empty());
    sync_local(&c.lead, &c.hub).unwrap();
    for (store, name) in [(&c.hub, "hub"), (&c.lead, "lead")] {
        let view = store.cell(&c.cell).unwrap();
        let mut visits: Vec<&str> = view.visits.iter().map(|v| v.id.as_str()).collect();
        visits.sort();
        let mut kept = vec![recent.as_str(), knock.as_str()];
        kept.sort();
        assert_eq!(
            visits, kept,
            "{name}: door knocks are kept, recent checks too"
        );
        let arrivals: Vec<String> = store
            .with_doc(&c.cell, |d| {
                Ok(d.arrivals().into_iter().map(|a| a.id).collect())
            })
            .unwrap();
        assert_eq!(arrivals, std::slice::from_ref(&ongoing), "{name}");
        let db = dir.join(format!("{name}.db"));
        let bytes: Vec<u8> = files_of(&db)
            .iter()
            .flat_map(|f| std::fs::read(f).unwrap())
            .collect();
        // The returnee stays, without the journey and monitoring long over.
        let r = store.member(&returnee).unwrap();
        assert_eq!(
            (
                r.name.as_str(),
                r.arrival.from.as_deref(),
                r.monitoring.until
            ),
            ("返乡者", None, None),
            "{name}"
        );
        for gone in ["旧体温记录标记", "旧行程标记地", "旧来源标记"] {
            assert!(
                !bytes.windows(gone.len()).any(|w| w == gone.as_bytes()),
                "{name}: {gone}"
            );
        }
        assert_eq!(store.member(&member).unwrap().name, "留存者");
    }
}

#[test]
fn an_erasure_cut_short_before_the_file_was_rewritten_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("phone.db");
    {
        let store = open_fast(&db);
        let cell = store
            .create_cell("一组", &path("县/镇/村/组"), None)
            .unwrap();
        plant(&store, &cell, 0..3);
        store.compact_all().unwrap();
    }
    // What a crash between an erasure's commit and the file's rewrite
    // leaves: rows deleted (their bytes still in the pages) and the mark.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "PRAGMA secure_delete = OFF;
             DELETE FROM members; DELETE FROM visits;
             INSERT INTO meta (key, value) VALUES ('erasure_purge_due', x'01');
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    }
    let raw = |db: &Path| -> usize {
        files_of(db)
            .iter()
            .map(|f| hits(&std::fs::read(f).unwrap(), 0..3))
            .sum()
    };
    assert!(
        raw(&db) > 0,
        "the deleted rows' bytes are still in the file"
    );
    drop(open_fast(&db));
    assert_eq!(raw(&db), 0, "finished at open");
    nothing_left_over(&db);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let due: i64 = conn
        .query_row(
            "SELECT count(*) FROM meta WHERE key = 'erasure_purge_due'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(due, 0);
}

#[test]
fn what_a_peer_adds_on_top_of_a_new_epoch_passes_its_own_write_rules() {
    use automerge::transaction::Transactable;
    use automerge::ReadDoc;
    use silin_core::sync::envelope::{Body, Envelope, Item, Sender};
    let c = county();
    sync_local(&c.lead, &c.hub).unwrap();
    let gone = plant(&c.lead, &c.cell, 0..2);
    sync_local(&c.lead, &c.worker).unwrap();
    sync_local(&c.worker, &c.hub).unwrap();
    // The office moves on (the lead lacks that), then erases.
    c.hub.rename_cell(&c.cell, "一组(新)").unwrap();
    let order = c
        .hub
        .issue_erasure(&office().key, &c.cell, vec![Subject::Household(gone)], "")
        .unwrap();
    sync_local(&c.worker, &c.hub).unwrap();

    // The grid worker writes the office's policy into the new epoch's
    // document — its role may not — and sends it whole to the lead.
    let mut doc = automerge::AutoCommit::load(&c.worker.save_doc(&c.cell).unwrap()).unwrap();
    let policy = doc.get(automerge::ROOT, "policy").unwrap().unwrap().1;
    doc.put(&policy, "high_days", 21).unwrap();
    doc.commit();
    let env = Envelope {
        session: [7; 16],
        challenge: [0; 16],
        round: 0,
        time: now(),
        sender: Sender::Certificate(c.worker.certificate().unwrap().unwrap()),
        body: Body::Bundle {
            items: vec![Item::Whole {
                doc: c.cell.clone(),
                bytes: doc.save(),
            }],
            revocations: Vec::new(),
            orders: vec![order],
        },
        signature: None,
    };
    let bytes = signed(&c.worker.device_key().unwrap(), env);
    let out = bundle::import(&c.lead, &bytes).unwrap();
    // The office's epoch is taken; the worker's addition is refused.
    assert_eq!(out.refused.len(), 1, "{out:?}");
    assert!(
        out.refused[0].reason.contains("policy"),
        "{}",
        out.refused[0].reason
    );
    let view = c.lead.cell(&c.cell).unwrap();
    assert_eq!(view.cell.name, "一组(新)");
    assert!(names_in(&c.lead, &c.cell).is_empty());
    let high = c
        .lead
        .with_doc(&c.cell, |d| Ok(d.policy().high.days))
        .unwrap();
    assert_ne!(high, 21);
    assert_eq!(c.lead.erasure_orders().unwrap().len(), 1);
    assert!(!c.lead.awaits_epoch(&c.cell).unwrap());
}

/// One step of the erasure property: an edit on a device, a sync between
/// two devices that meet in the county, or the office's next erasure.
#[derive(Debug, Clone)]
enum Step {
    /// Device (0 lead, 1 worker, 2 second worker, 3 hub) records a check
    /// of the member who stays.
    Check(usize),
    /// Device edits the phone of someone: the one who stays, or one of
    /// the household erased first or second.
    Phone(usize, usize, u32),
    /// The devices of pair `n` of [`MEET`] sync.
    Meet(usize),
    /// The office erases the next household in line.
    Erase,
}

/// Who meets whom: the lead and the first worker, each worker and the
/// hub, the lead and the hub.
const MEET: [(usize, usize); 4] = [(0, 1), (1, 3), (2, 3), (0, 3)];

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (0..4usize).prop_map(Step::Check),
        2 => (0..4usize, 0..3usize, 0..1000u32).prop_map(|(d, who, n)| Step::Phone(d, who, n)),
        4 => (0..MEET.len()).prop_map(Step::Meet),
        1 => Just(Step::Erase),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24),
        max_shrink_iters: 200,
        ..Default::default()
    })]

    /// Whatever the order of edits, meetings and (up to two) erasures: at
    /// the end every device holds the same cell, nobody erased is left on
    /// any device, and every check of the one who stays — recorded on any
    /// device, before or after an erasure, synced or not — is everywhere.
    #[test]
    fn erasures_converge_and_lose_no_surviving_edit(steps in proptest::collection::vec(step(), 1..30)) {
        let c = county();
        let dir = c._dir.path();
        let worker2 = open_fast(&dir.join("worker2.db"));
        enrol(&worker2, &office(), Role::GridWorker, &["县/镇/村"]);
        let devices: [&Store; 4] = [&c.lead, &c.worker, &worker2, &c.hub];
        let (_, stays) = survivor(&c.hub, &c.cell);
        let gone: Vec<String> = (0..2).map(|h| plant(&c.hub, &c.cell, h * 2..h * 2 + 2)).collect();
        let gone_members: Vec<Vec<String>> = gone
            .iter()
            .map(|h| {
                c.hub.cell(&c.cell).unwrap().households.iter()
                    .find(|x| &x.id == h).unwrap().members.iter().map(|m| m.id.clone()).collect()
            })
            .collect();
        for (a, b) in MEET {
            sync_local(devices[a], devices[b]).unwrap();
        }
        let mut checks: Vec<String> = Vec::new();
        let mut erased = 0;
        for s in &steps {
            match s {
                Step::Check(d) => {
                    let mut v = visit(VisitKind::HealthCheck, "体温正常");
                    v.member_id = Some(stays.clone());
                    v.temperature = Some(36.5);
                    checks.push(devices[*d].record_visit(&c.cell, v).unwrap());
                }
                Step::Phone(d, who, n) => {
                    let target = match who {
                        0 => stays.clone(),
                        w => gone_members[w - 1][0].clone(),
                    };
                    // Someone erased is gone from a device that followed.
                    let _ = devices[*d].edit_member(&target, &[MemberEdit::Phone(Some(format!("137{n:08}")))]);
                }
                Step::Meet(m) => {
                    let (a, b) = MEET[*m];
                    sync_local(devices[a], devices[b]).unwrap();
                }
                Step::Erase => {
                    if erased < 2 {
                        c.hub.issue_erasure(&office().key, &c.cell, vec![Subject::Household(gone[erased].clone())], "").unwrap();
                        erased += 1;
                    }
                }
            }
        }
        for _ in 0..3 {
            for (a, b) in MEET {
                sync_local(devices[a], devices[b]).unwrap();
            }
        }
        let heads = heads_of(&c.hub, &c.cell);
        for (i, d) in devices.iter().enumerate() {
            proptest::prop_assert_eq!(heads_of(d, &c.cell), heads.clone(), "device {}", i);
            let view = d.cell(&c.cell).unwrap();
            let ids: Vec<&str> = view.households.iter().map(|h| h.id.as_str()).collect();
            for (h, members) in gone.iter().zip(&gone_members).take(erased) {
                proptest::prop_assert!(!ids.contains(&h.as_str()), "device {} holds an erased household", i);
                for m in members {
                    proptest::prop_assert!(d.member(m).is_err(), "device {} holds an erased member", i);
                }
            }
            let mut held: Vec<&str> = view.visits.iter()
                .filter(|v| v.member_id.as_deref() == Some(stays.as_str()))
                .map(|v| v.id.as_str()).collect();
            held.sort();
            let mut want: Vec<&str> = checks.iter().map(String::as_str).collect();
            want.sort();
            proptest::prop_assert_eq!(held, want, "device {}", i);
            proptest::prop_assert_eq!(d.member(&stays).unwrap().name, "留存者");
        }
    }
}
