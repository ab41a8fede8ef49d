//! Erasure on a PostgreSQL hub served by two processes at once: the office
//! orders marker people erased on one process; the other serves the new
//! epoch at once; a grid worker's phone and a lead's phone that was offline
//! during the erasure, with edits of its own, follow at their next sync;
//! afterwards no marker is in any row of the database, in the files of the
//! tables that held them, or in either phone's store, the lead's edits to
//! what survives are kept, and every replica converges. The old lineage and
//! forged orders are refused, and the standing retention policy runs once a
//! day however many processes ask. Real PostgreSQL, real SQLite files, the
//! real sync protocol.
#![cfg(feature = "server")]

#[path = "support/pg.rs"]
mod pg_support;
#[path = "support/phones.rs"]
mod phones;

use automerge::ActorId;
use pg_support::{fresh_database, FreshDatabase};
use phones::{phone, sync};
use silin_core::cell::CellDoc;
use silin_core::erasure::{ErasureOrder, Retention, Subject, Unsigned};
use silin_core::identity::{KeyPair, Office, Role, Scope};
use silin_core::model::{
    CellView, MemberEdit, NewHousehold, NewMember, NewVisit, RegionPath, VisitKind,
};
use silin_core::{Error, Replica, Store};
use silin_hub::audit::Action;
use silin_hub::pg::PgStorage;
use std::path::Path;

const TOWNSHIP: &str = "县/镇";
const VILLAGE: &str = "县/镇/村";
const GROUP: &str = "县/镇/村/一组";

fn office() -> Office {
    Office {
        key: KeyPair::from_seed(&[9; 32]),
    }
}

/// A hub process over `db`, given the office key, as `silin hub serve
/// --postgres URL --office-key FILE` runs one.
fn process(db: &FreshDatabase) -> PgStorage {
    let hub = PgStorage::connect(db.url(), 4).unwrap();
    hub.migrate().unwrap();
    hub.enrol_hub(&office(), &Scope::parse(&[TOWNSHIP.to_string()]).unwrap())
        .unwrap();
    hub
}

/// A marker name and phone number for person `n`: text no other value in
/// the register contains.
fn marker(n: usize) -> (String, String) {
    (format!("库抹除标记{n:03}号"), format!("1370{n:07}"))
}

/// A household of marker people in `cell`, each with a health check whose
/// note names them. Returns the household's id.
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
        let today = store.clock().today();
        let m = store
            .add_member(
                &hh,
                NewMember {
                    name: name.clone(),
                    phone: Some(phone),
                    ..Default::default()
                },
                today,
            )
            .unwrap();
        let v = check(store, 0, &format!("为{name}测体温"), &m);
        store.record_visit(cell, v).unwrap();
    }
    hh
}

/// A health check of `member` `days_ago` days before the store's today,
/// at 09:00.
fn check(store: &Store, days_ago: u64, note: &str, member: &str) -> NewVisit {
    let day = store.clock().today() - chrono::Days::new(days_ago);
    let at = day
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_local_timezone(chrono::Local)
        .unwrap()
        .fixed_offset();
    let mut v = NewVisit::new(VisitKind::HealthCheck, at, "王建国");
    v.temperature = Some(36.5);
    v.note = Some(note.to_string());
    v.member_id = Some(member.to_string());
    v
}

/// The tables that ever hold a cell's values (and their TOAST tables).
const TABLES: [&str; 8] = [
    "snapshots",
    "chunks",
    "cells",
    "households",
    "members",
    "visits",
    "tasks",
    "reports",
];

/// Where `text` is in the database: the tables with a live row that holds
/// it as text, and the tables whose file on disk holds its bytes (read by
/// the server after a checkpoint, so nothing waits in memory).
fn in_database(db: &FreshDatabase, text: &str) -> Vec<String> {
    let mut c = db.client();
    c.batch_execute("CHECKPOINT").unwrap();
    let mut found = Vec::new();
    for t in TABLES {
        let rows: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM {t} WHERE CAST({t}.* AS text) LIKE '%' || $1 || '%'"
                ),
                &[&text],
            )
            .unwrap()
            .get(0);
        if rows > 0 {
            found.push(format!("{t}: {rows} live rows"));
        }
        let files: Vec<(String, Vec<u8>)> = c
            .query(
                "SELECT r.relname::text, pg_read_binary_file(pg_relation_filepath(r.oid))
                 FROM pg_class r
                 WHERE r.oid = $1::text::regclass
                    OR r.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = $1::text::regclass)",
                &[&t],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (rel, bytes) in files {
            if bytes.windows(text.len()).any(|w| w == text.as_bytes()) {
                found.push(format!("{t}: in the file of {rel}"));
            }
        }
    }
    found
}

/// Whether `text` lies in the store's `.db`, `-wal` or `-shm`.
fn in_files(dir: &Path, name: &str, text: &str) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        std::fs::read(dir.join(format!("{name}.db{suffix}")))
            .is_ok_and(|b| b.windows(text.len()).any(|w| w == text.as_bytes()))
    })
}

/// A cell as a device would see it, from any replica's document.
fn view(replica: &dyn Replica, cell: &str) -> CellView {
    let bytes = replica.save_doc(cell).unwrap();
    CellDoc::load(&bytes, &ActorId::random())
        .unwrap()
        .view()
        .unwrap()
}

/// The names of the cell's members, sorted.
fn names(replica: &dyn Replica, cell: &str) -> Vec<String> {
    let mut out: Vec<String> = view(replica, cell)
        .households
        .iter()
        .flat_map(|h| h.members.iter().map(|m| m.name.clone()))
        .collect();
    out.sort();
    out
}

fn sorted(mut heads: Vec<automerge::ChangeHash>) -> Vec<automerge::ChangeHash> {
    heads.sort();
    heads
}

#[test]
fn an_erasure_on_postgres_reaches_every_replica_and_leaves_no_marker_in_the_database() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (process(&db), process(&db));
    let o = office();
    let worker = phone(dir.path(), "worker", &o, Role::GridWorker, VILLAGE);
    let cell = worker
        .create_cell("一组", &RegionPath::parse(GROUP).unwrap(), Some("王建国"))
        .unwrap();
    let lead = phone(dir.path(), "lead", &o, Role::Lead, &cell);
    sync(&worker, &one);
    sync(&lead, &one);
    let gone = plant(&lead, &cell, 0..3);
    let survivor = lead
        .add_household(
            &cell,
            NewHousehold {
                address: Some("留存户".into()),
                door: None,
                phone: None,
            },
        )
        .unwrap();
    let kept = lead
        .add_member(
            &survivor,
            NewMember {
                name: "留存者".into(),
                phone: Some("13812345678".into()),
                ..Default::default()
            },
            lead.clock().today(),
        )
        .unwrap();
    sync(&lead, &two);
    sync(&worker, &one);
    let (name0, phone0) = marker(0);
    assert!(
        !in_database(&db, &name0).is_empty(),
        "the search finds the marker before the erasure"
    );
    let gone_member = lead
        .cell(&cell)
        .unwrap()
        .households
        .iter()
        .flat_map(|h| h.members.clone())
        .find(|m| m.name == name0)
        .unwrap()
        .id;

    // Offline, the lead edits what will survive and what will not; the
    // grid worker's note reaches the hub, so the lead lacks part of what
    // the erasure cuts at.
    lead.edit_member(&kept, &[MemberEdit::Phone(Some("13987654321".into()))])
        .unwrap();
    let v = check(&lead, 0, "留存者体温正常", &kept);
    let kept_visit = lead.record_visit(&cell, v).unwrap();
    lead.edit_member(&gone_member, &[MemberEdit::Name(marker(7).0)])
        .unwrap();
    let worker_visit = worker
        .record_visit(&cell, check(&worker, 0, "网格员复查", &kept))
        .unwrap();
    sync(&worker, &two);

    let order = one
        .issue_erasure(&cell, vec![Subject::Household(gone)], "申请 23")
        .unwrap();
    assert_eq!(order.epoch, 1);
    // Every process serves the new epoch at once.
    for hub in [&one, &two] {
        assert_eq!(names(hub, &cell), ["留存者"]);
        assert_eq!(hub.erasure_orders().unwrap(), vec![order.clone()]);
    }
    for marker in [&name0, &phone0] {
        assert_eq!(in_database(&db, marker), Vec::<String>::new(), "{marker}");
    }
    let logged = one.audit_entries(None).unwrap();
    let erase = logged.iter().find(|e| e.action == Action::Erase).unwrap();
    assert_eq!(erase.target, format!("cell={cell}"));
    assert_eq!((erase.detail["households"], erase.detail["epoch"]), (1, 1));

    // The worker follows from one process, the lead from the other: it
    // cannot build the epoch, takes it whole and replays its own edits.
    sync(&worker, &one);
    sync(&lead, &two);
    sync(&worker, &one);
    for (name, store) in [("worker", &worker), ("lead", &lead)] {
        assert_eq!(names(store, &cell), ["留存者"], "{name}");
        for n in 0..8 {
            for text in [marker(n).0, marker(n).1] {
                assert!(!in_files(dir.path(), name, &text), "{name}: {text}");
            }
        }
    }
    for n in 0..8 {
        let (name, phone) = marker(n);
        assert_eq!(in_database(&db, &name), Vec::<String>::new(), "{name}");
        assert_eq!(in_database(&db, &phone), Vec::<String>::new(), "{phone}");
    }
    let hub_view = view(&two, &cell);
    let member = hub_view
        .households
        .iter()
        .flat_map(|h| h.members.iter())
        .find(|m| m.id == kept)
        .unwrap();
    assert_eq!(
        member.phone.as_deref(),
        Some("13987654321"),
        "the lead's edit"
    );
    let mut visits: Vec<&str> = hub_view.visits.iter().map(|v| v.id.as_str()).collect();
    visits.sort();
    let mut want = vec![kept_visit.as_str(), worker_visit.as_str()];
    want.sort();
    assert_eq!(
        visits, want,
        "the surviving visits, the lead's and the worker's"
    );
    let heads = sorted(one.heads(&cell).unwrap());
    assert_eq!(sorted(two.heads(&cell).unwrap()), heads);
    assert_eq!(sorted(lead.heads(&cell).unwrap()), heads);
    assert_eq!(sorted(worker.heads(&cell).unwrap()), heads);
}

#[test]
fn the_old_lineage_and_forged_orders_are_refused_by_a_postgres_hub() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let o = office();
    let worker = phone(dir.path(), "worker", &o, Role::GridWorker, VILLAGE);
    let cell = worker
        .create_cell("一组", &RegionPath::parse(GROUP).unwrap(), None)
        .unwrap();
    let gone = plant(&worker, &cell, 0..2);
    sync(&worker, &hub);
    // A copy of the old lineage, kept aside (as a stale bundle would be).
    let stale = worker.save_doc(&cell).unwrap();
    hub.issue_erasure(&cell, vec![Subject::Household(gone)], "申请 24")
        .unwrap();

    let refused = hub.merge_from(&stale, Some(Role::GridWorker), false);
    assert!(matches!(refused, Err(Error::Refused { .. })), "{refused:?}");
    assert_eq!(names(&hub, &cell), Vec::<String>::new());
    assert_eq!(in_database(&db, &marker(0).0), Vec::<String>::new());

    // An order not signed by the office is not kept or followed.
    let held = hub.erasure_orders().unwrap();
    let forged = ErasureOrder::sign(
        Unsigned {
            epoch: 2,
            subjects: vec![Subject::Cell],
            ..(*held[0]).clone()
        },
        &KeyPair::from_seed(&[66; 32]),
    );
    let taken = hub.take_erasure_orders(&[forged]).unwrap();
    assert_eq!((taken.new, taken.refused.len()), (0, 1), "{taken:?}");
    assert_eq!(hub.erasure_orders().unwrap(), held);
    assert_eq!(view(&hub, &cell).cell.name, "一组");

    // A phone that never synced since is refused its old copy as a new
    // cell on a fresh database that holds the order.
    let Some(other) = fresh_database() else {
        return;
    };
    let second = process(&other);
    second.take_erasure_orders(&held).unwrap();
    let refused = second.merge_from(&stale, Some(Role::GridWorker), false);
    assert!(matches!(refused, Err(Error::Refused { .. })), "{refused:?}");
    assert!(second.cell_path(&cell).unwrap().is_none());
}

#[test]
fn the_standing_retention_policy_runs_once_a_day_on_a_postgres_hub_however_many_processes_ask() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hubs = [process(&db), process(&db), process(&db)];
    let o = office();
    let lead_dir = dir.path();
    let worker = phone(lead_dir, "worker", &o, Role::GridWorker, VILLAGE);
    let cell = worker
        .create_cell("一组", &RegionPath::parse(GROUP).unwrap(), None)
        .unwrap();
    let household = worker
        .add_household(
            &cell,
            NewHousehold {
                address: Some("村东 3 号".into()),
                door: None,
                phone: None,
            },
        )
        .unwrap();
    let member = worker
        .add_member(
            &household,
            NewMember {
                name: "李秀英".into(),
                ..Default::default()
            },
            worker.clock().today(),
        )
        .unwrap();
    worker
        .record_visit(&cell, check(&worker, 40, "旧体温库标记", &member))
        .unwrap();
    let recent = worker
        .record_visit(&cell, check(&worker, 3, "近期体温", &member))
        .unwrap();
    sync(&worker, &hubs[0]);
    let policy = Retention {
        checks_days: 30,
        monitoring_days: 14,
    };
    hubs[1].set_retention(&policy, "每日保留").unwrap();
    let today = hubs[0].clock().today();

    let ran: Vec<Option<Vec<ErasureOrder>>> = std::thread::scope(|s| {
        let runs: Vec<_> = hubs
            .iter()
            .map(|h| s.spawn(move || h.run_retention_if_due(today).unwrap()))
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let done: Vec<&Vec<ErasureOrder>> = ran.iter().flatten().collect();
    assert_eq!(done.len(), 1, "one process ran the day: {ran:?}");
    assert_eq!(done[0].len(), 1);
    assert_eq!(hubs[2].retention().unwrap().unwrap().last_run, Some(today));
    assert_eq!(hubs[0].run_retention_if_due(today).unwrap(), None);

    let visits: Vec<String> = view(&hubs[2], &cell)
        .visits
        .into_iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(visits, std::slice::from_ref(&recent));
    assert_eq!(in_database(&db, "旧体温库标记"), Vec::<String>::new());
    sync(&worker, &hubs[1]);
    assert!(!in_files(lead_dir, "worker", "旧体温库标记"));
    assert_eq!(
        worker
            .cell(&cell)
            .unwrap()
            .visits
            .iter()
            .map(|v| v.id.clone())
            .collect::<Vec<_>>(),
        [recent]
    );

    let logged = hubs[0].audit_entries(None).unwrap();
    let actions: Vec<(Action, &str)> = logged
        .iter()
        .map(|e| (e.action, e.target.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (Action::RetentionPolicy, "daily"),
            (Action::Erase, "retention")
        ]
    );
    assert!(hubs[0].clear_retention().unwrap());
    assert!(!hubs[0].clear_retention().unwrap());
    assert_eq!(hubs[0].retention().unwrap(), None);
}

#[test]
fn an_erasure_cut_short_before_the_tables_were_rewritten_is_finished_by_the_next_process() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let worker = phone(dir.path(), "worker", &office(), Role::GridWorker, VILLAGE);
    let cell = worker
        .create_cell("一组", &RegionPath::parse(GROUP).unwrap(), None)
        .unwrap();
    sync(&worker, &hub);
    assert!(!hub.finish_erasures().unwrap(), "nothing is due");
    // What a process stopped between an erasure's commit and the rewrite
    // leaves: the row gone but its bytes in the table's file, and the
    // database saying so.
    let (name, _) = marker(99);
    let mut c = db.client();
    c.execute(
        "INSERT INTO members (id, cell_id, household_id, name, residence, vulnerable)
         VALUES ('m-cut-short', $1, 'h', $2, 'home', '')",
        &[&cell, &name],
    )
    .unwrap();
    c.batch_execute(
        "DELETE FROM members WHERE id = 'm-cut-short';
         INSERT INTO meta (key, value) VALUES ('erasure_purge_due', '\\x01');",
    )
    .unwrap();
    assert_eq!(in_database(&db, &name), ["members: in the file of members"]);

    let next = process(&db);
    assert!(next.finish_erasures().unwrap());
    assert_eq!(in_database(&db, &name), Vec::<String>::new());
    assert!(!next.finish_erasures().unwrap(), "done once");
}
