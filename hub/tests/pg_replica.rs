//! The hub's storage on a real PostgreSQL, served by several processes at
//! once: phones sync with it and converge; two processes merging many
//! phones' changes into one cell lose and repeat nothing; a stale copy in a
//! process is never served or built on; a sync session held by one process
//! is carried on by another, and only its own peer can take it; a token
//! redeemed from two processes at once enrols one device; changes the
//! rules refuse leave no trace; and a restarted hub has everything.
//!
//! A "process" here is a `PgStorage` of its own: its own pool, decoded
//! documents and automerge actor, sharing only the database.
#![cfg(feature = "server")]

#[path = "support/pg.rs"]
mod pg_support;
#[path = "support/phones.rs"]
mod phones;

use automerge::{ActorId, ChangeHash};
use pg_support::{fresh_database, FreshDatabase};
use phones::session;
use silin_core::cell::CellDoc;
use silin_core::identity::{IdentityError, KeyPair, Office, Role, Scope};
use silin_core::model::{
    new_id, CellView, Level, NewHousehold, NewReport, NewVisit, RegionPath, VisitKind,
};
use silin_core::store::{CellRow, CellRows, HouseholdRow, MemberRow, ReportRow, TaskRow, VisitRow};
use silin_core::sync::{Session, SyncError, SyncStats};
use silin_core::{Error, Replica, Store};
use silin_hub::enrolment::TokenGrant;
use silin_hub::pg::{PgOptions, PgSessions, PgStorage};
use silin_hub::sessions::{Limits, SessionHold};
use silin_hub::storage::HubStorage;
use std::path::Path;
use std::sync::Barrier;

const TOWNSHIP: &str = "县/镇";
const VILLAGE: &str = "县/镇/村";

fn office() -> Office {
    Office {
        key: KeyPair::from_seed(&[7; 32]),
    }
}

fn scope(entry: &str) -> Scope {
    Scope::parse(&[entry.to_string()]).unwrap()
}

fn path(p: &str) -> RegionPath {
    RegionPath::parse(p).unwrap()
}

/// A hub process over `db`, enrolled by the office over the township.
fn process(db: &FreshDatabase) -> PgStorage {
    process_with(db, PgOptions::default())
}

fn process_with(db: &FreshDatabase, options: PgOptions) -> PgStorage {
    let hub = PgStorage::connect_with(db.url(), 4, options).unwrap();
    hub.migrate().unwrap();
    hub.enrol_hub(&office(), &scope(TOWNSHIP)).unwrap();
    hub
}

/// A device's store, enrolled by the office as `role` over `entry`.
fn phone(dir: &Path, name: &str, role: Role, entry: &str) -> Store {
    phones::phone(dir, name, &office(), role, entry)
}

/// A store of no enrolment: it edits what it likes, as a tampered phone
/// would, and the hub judges the changes by the role of who hands them over.
fn loose(dir: &Path, name: &str) -> Store {
    phones::open(dir, name)
}

fn visit(note: &str) -> NewVisit {
    let mut v = NewVisit::new(
        VisitKind::DoorKnock,
        chrono::Local::now().fixed_offset(),
        "王建国",
    );
    v.note = Some(note.to_string());
    v
}

/// One whole session from `device` to `hub`, as `hub serve` answers it:
/// the device names the hub, or starts afresh if the hub's certificate is
/// one it does not know yet.
fn sync(device: &Store, hub: &PgStorage) -> SyncStats {
    let known = HubStorage::device_id(hub);
    match session(device, hub, Some(&known)) {
        Err(SyncError::UnknownCertificate) => session(device, hub, None),
        other => other,
    }
    .unwrap()
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// The hub's document as a device would see it.
fn view(hub: &dyn Replica, cell: &str) -> CellView {
    let bytes = hub.save_doc(cell).unwrap();
    CellDoc::load(&bytes, &ActorId::random())
        .unwrap()
        .view()
        .unwrap()
}

fn count(db: &FreshDatabase, sql: &str, cell: &str) -> i64 {
    db.client().query_one(sql, &[&cell]).unwrap().get(0)
}

/// A cell's projection rows as the tables hold them, in `CellRows`'s
/// order.
fn projected(db: &FreshDatabase, cell: &str) -> CellRows {
    let mut c = db.client();
    let q = |c: &mut postgres::Client, sql: &str| c.query(sql, &[&cell]).unwrap();
    let mut rows = CellRows {
        cell: q(
            &mut c,
            "SELECT id, name, path, lead FROM cells WHERE id = $1",
        )
        .first()
        .map(|r| CellRow {
            id: r.get(0),
            name: r.get(1),
            path: r.get(2),
            lead: r.get(3),
        }),
        households: q(
            &mut c,
            "SELECT id, address, phone FROM households WHERE cell_id = $1",
        )
        .iter()
        .map(|r| HouseholdRow {
            id: r.get(0),
            address: r.get(1),
            phone: r.get(2),
        })
        .collect(),
        members: q(
            &mut c,
            "SELECT id, household_id, name, phone, residence, monitoring_since,
                 monitoring_until, vulnerable, check_since, check_until, checks_per_day
             FROM members WHERE cell_id = $1",
        )
        .iter()
        .map(|r| MemberRow {
            id: r.get(0),
            household_id: r.get(1),
            name: r.get(2),
            phone: r.get(3),
            residence: r.get(4),
            monitoring_since: r.get(5),
            monitoring_until: r.get(6),
            vulnerable: r.get(7),
            check_since: r.get(8),
            check_until: r.get(9),
            checks_per_day: r.get(10),
        })
        .collect(),
        visits: q(
            &mut c,
            "SELECT day, id, kind, member_id, abnormal FROM visits WHERE cell_id = $1",
        )
        .iter()
        .map(|r| VisitRow {
            day: r.get(0),
            id: r.get(1),
            kind: r.get(2),
            member_id: r.get(3),
            abnormal: r.get(4),
        })
        .collect(),
        reports: q(
            &mut c,
            "SELECT date, arrivals, under_monitoring, abnormal, errands
             FROM reports WHERE cell_id = $1",
        )
        .iter()
        .map(|r| ReportRow {
            date: r.get(0),
            arrivals: r.get(1),
            under_monitoring: r.get(2),
            abnormal: r.get(3),
            errands: r.get(4),
        })
        .collect(),
        tasks: q(
            &mut c,
            "SELECT id, title, status, due, member_id FROM tasks WHERE cell_id = $1",
        )
        .iter()
        .map(|r| TaskRow {
            id: r.get(0),
            title: r.get(1),
            status: r.get(2),
            due: r.get(3),
            member_id: r.get(4),
        })
        .collect(),
    };
    rows.households.sort();
    rows.members.sort();
    rows.visits.sort();
    rows.reports.sort();
    rows.tasks.sort();
    rows
}

/// The tables hold exactly the rows the document at `hub` projects to.
fn projections_follow(db: &FreshDatabase, hub: &dyn Replica, cell: &str) {
    let doc = CellDoc::load(&hub.save_doc(cell).unwrap(), &ActorId::random()).unwrap();
    assert_eq!(projected(db, cell), CellRows::from_doc(&doc).unwrap());
}

/// Every row of every table, as text, sorted: what the database holds.
fn dump(db: &FreshDatabase) -> Vec<(String, Vec<String>)> {
    let mut c = db.client();
    let tables: Vec<String> = c
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let rows = c
                .query(&format!("SELECT x::text FROM {t} x ORDER BY 1"), &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            (t, rows)
        })
        .collect()
}

#[test]
fn a_phone_and_the_hub_on_postgres_bring_each_other_up_to_date() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let worker = phone(dir.path(), "worker", Role::GridWorker, VILLAGE);
    let from_office = laptop
        .create_cell("一组", &path("县/镇/村/一组"), Some("王建国"))
        .unwrap();
    let from_worker = worker
        .create_cell("二组", &path("县/镇/村/二组"), None)
        .unwrap();
    let home = worker
        .add_household(
            &from_worker,
            NewHousehold {
                address: Some("村东 3 号".into()),
                door: None,
                phone: None,
            },
        )
        .unwrap();
    worker.record_visit(&from_worker, visit("worker")).unwrap();
    let today = chrono::Local::now().date_naive();
    worker
        .submit_report(
            &from_worker,
            NewReport {
                date: today,
                by: "王建国".into(),
                at: chrono::Local::now().fixed_offset(),
                arrivals: 5,
                under_monitoring: Some(0),
                abnormal: 0,
                errands: Some(0),
                note: None,
            },
        )
        .unwrap();

    assert_eq!(sync(&laptop, &hub).docs_sent, 1);
    let first = sync(&worker, &hub);
    assert_eq!((first.docs_sent, first.docs_received), (1, 1), "{first:?}");
    for cell in [&from_office, &from_worker] {
        assert_eq!(
            sorted(worker.heads(cell).unwrap()),
            hub.heads(cell).unwrap()
        );
        assert_eq!(worker.cell(cell).unwrap(), view(&hub, cell));
    }

    // Edits after the first meeting travel as changes, both ways.
    worker
        .record_visit(&from_office, visit("worker in office's cell"))
        .unwrap();
    sync(&worker, &hub);
    laptop.record_visit(&from_office, visit("office")).unwrap();
    sync(&laptop, &hub);
    sync(&worker, &hub);
    for cell in [&from_office, &from_worker] {
        let hub_heads = hub.heads(cell).unwrap();
        assert_eq!(sorted(worker.heads(cell).unwrap()), hub_heads);
        assert_eq!(sorted(laptop.heads(cell).unwrap()), hub_heads);
        assert_eq!(worker.cell(cell).unwrap(), view(&hub, cell));
    }
    assert_eq!(view(&hub, &from_office).visits.len(), 2);

    // Nothing new on either side: one round trip.
    let again = sync(&worker, &hub);
    assert_eq!(again.round_trips, 1, "{again:?}");
    assert_eq!((again.docs_sent, again.docs_received), (0, 0));

    // A report filed again with other counts: the row changes in place.
    worker
        .submit_report(
            &from_worker,
            NewReport {
                date: today,
                by: "王建国".into(),
                at: chrono::Local::now().fixed_offset(),
                arrivals: 2,
                under_monitoring: Some(0),
                abnormal: 1,
                errands: Some(0),
                note: None,
            },
        )
        .unwrap();
    sync(&worker, &hub);
    // An arrival from a high-risk area: home monitoring with its checks,
    // whose schedule the member's row carries.
    worker
        .record_arrival(silin_core::register::NewArrival {
            household_id: home,
            person: silin_core::register::Arriving::New(silin_core::model::NewMember {
                name: "返乡人员".into(),
                ..Default::default()
            }),
            kind: silin_core::register::ArrivalKind::Returning,
            from: "西安市雁塔区".into(),
            risk: silin_core::register::RiskLevel::High,
            date: today,
            means: None,
            by: "王建国".into(),
            at: chrono::Local::now().fixed_offset(),
        })
        .unwrap();
    sync(&worker, &hub);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM members WHERE cell_id = $1 AND checks_per_day > 0
                 AND check_since IS NOT NULL AND check_until IS NOT NULL",
            &from_worker
        ),
        1
    );

    // The projections follow the documents, and the rollup reads them.
    for cell in [&from_office, &from_worker] {
        projections_follow(&db, &hub, cell);
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM visits WHERE cell_id = $1",
            &from_office
        ),
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM households WHERE cell_id = $1",
            &from_worker
        ),
        1
    );
    let rollup = hub.rollup(today, Level::Village).unwrap();
    assert_eq!(rollup.len(), 1, "{rollup:?}");
    let village = &rollup[0];
    assert_eq!(village.path, VILLAGE);
    assert_eq!(
        (
            village.cells,
            village.reported,
            village.arrivals,
            village.abnormal
        ),
        (2, 1, 2, 1)
    );
    // The day's door knocks count too, as on a SQLite hub.
    let knocked: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM visits WHERE day = $1 AND kind = 'door_knock'",
            &[&today.to_string()],
        )
        .unwrap()
        .get(0);
    assert!(knocked > 0);
    assert_eq!((village.door_knocks, village.calls), (knocked, 0));
    assert_eq!(hub.cell_count().unwrap(), 2);
}

#[test]
fn two_processes_merging_many_phones_into_one_cell_lose_and_repeat_nothing() {
    const PHONES: usize = 8;
    const VISITS: usize = 12;
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    // One process compacts often, so compactions land between the other's
    // appends.
    let a = process_with(
        &db,
        PgOptions {
            compact_after_chunks: 16,
            ..Default::default()
        },
    );
    let b = process(&db);
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let cell = laptop
        .create_cell("一组", &path("县/镇/村/一组"), Some("王建国"))
        .unwrap();
    let base = laptop.save_doc(&cell).unwrap();
    assert_eq!(
        a.merge_from(&base, Some(Role::Office), false).unwrap(),
        (cell.clone(), true)
    );

    // Each lead's phone records its visits one at a time; each visit
    // reaches the hub as a batch of its own.
    let batches: Vec<Vec<Vec<u8>>> = (0..PHONES)
        .map(|i| {
            let lead = phone(dir.path(), &format!("lead{i}"), Role::Lead, &cell);
            lead.merge_bytes(&base).unwrap();
            let mut seen = lead.heads(&cell).unwrap();
            (0..VISITS)
                .map(|v| {
                    lead.record_visit(&cell, visit(&format!("lead {i} visit {v}")))
                        .unwrap();
                    let batch = lead.changes_after(&cell, &seen).unwrap();
                    seen = lead.heads(&cell).unwrap();
                    batch
                })
                .collect()
        })
        .collect();

    let start = Barrier::new(PHONES);
    let began = std::time::Instant::now();
    std::thread::scope(|s| {
        for (i, phone_batches) in batches.iter().enumerate() {
            let hub = if i % 2 == 0 { &a } else { &b };
            let (start, cell) = (&start, &cell);
            s.spawn(move || {
                start.wait();
                for batch in phone_batches {
                    assert!(
                        hub.apply_changes_from(cell, batch, Some(Role::Lead))
                            .unwrap()
                            .changed
                    );
                }
            });
        }
    });
    eprintln!(
        "{} batches through two processes in {:?}",
        PHONES * VISITS,
        began.elapsed()
    );

    let fresh = process(&db);
    let heads = fresh.heads(&cell).unwrap();
    assert_eq!(a.heads(&cell).unwrap(), heads);
    assert_eq!(b.heads(&cell).unwrap(), heads);
    let doc = view(&fresh, &cell);
    assert_eq!(doc.visits.len(), PHONES * VISITS);
    assert_eq!(view(&a, &cell), doc);
    assert_eq!(view(&b, &cell), doc);
    projections_follow(&db, &fresh, &cell);
    // One write per batch, each under the row lock: the version counts
    // them all, the chunks since the last compaction are numbered 0..n.
    let mut c = db.client();
    let row = c
        .query_one(
            "SELECT version, chunk_count FROM docs WHERE id = $1",
            &[&cell],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0) as usize, 1 + PHONES * VISITS);
    let seqs: Vec<i64> = c
        .query(
            "SELECT seq FROM chunks WHERE doc_id = $1 ORDER BY seq",
            &[&cell],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seqs, (0..row.get::<_, i64>(1)).collect::<Vec<_>>());
}

#[test]
fn a_new_cell_handed_to_two_processes_at_once_is_filed_once() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hubs = [process(&db), process(&db)];
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    for i in 0..10 {
        let cell = laptop
            .create_cell(&format!("{i}组"), &path(&format!("县/镇/村/{i}组")), None)
            .unwrap();
        laptop.record_visit(&cell, visit("office")).unwrap();
        let bytes = laptop.save_doc(&cell).unwrap();
        let start = Barrier::new(2);
        let filed: Vec<(String, bool)> = std::thread::scope(|s| {
            let t: Vec<_> = [0, 1]
                .map(|on| {
                    let (hub, start, bytes) = (&hubs[on], &start, &bytes);
                    s.spawn(move || {
                        start.wait();
                        hub.merge_from(bytes, Some(Role::Office), false).unwrap()
                    })
                })
                .into_iter()
                .collect();
            t.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(filed.iter().all(|(id, _)| id == &cell));
        assert_eq!(filed.iter().filter(|(_, changed)| *changed).count(), 1);
        let heads = sorted(laptop.heads(&cell).unwrap());
        assert_eq!(hubs[0].heads(&cell).unwrap(), heads);
        assert_eq!(hubs[1].heads(&cell).unwrap(), heads);
        projections_follow(&db, &hubs[1], &cell);
    }
    assert_eq!(hubs[0].cell_count().unwrap(), 10);
}

#[test]
fn a_process_never_serves_or_builds_on_a_stale_copy() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = process(&db);
    let b = process(&db);
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let cell = laptop
        .create_cell("一组", &path("县/镇/村/一组"), None)
        .unwrap();
    let base = laptop.save_doc(&cell).unwrap();
    a.merge_from(&base, Some(Role::Office), false).unwrap();
    let base_heads = a.heads(&cell).unwrap();
    // `a` holds the cell decoded from here on.
    assert_eq!(view(&a, &cell).visits.len(), 0);

    let lead = phone(dir.path(), "lead", Role::Lead, &cell);
    lead.merge_bytes(&base).unwrap();
    let change = |note: &str| {
        let seen = lead.heads(&cell).unwrap();
        lead.record_visit(&cell, visit(note)).unwrap();
        lead.changes_after(&cell, &seen).unwrap()
    };

    // Written through b: a's reads see it.
    assert!(
        b.apply_changes_from(&cell, &change("x"), Some(Role::Lead))
            .unwrap()
            .changed
    );
    assert_eq!(
        a.settled_heads(&cell).unwrap(),
        Some(b.heads(&cell).unwrap())
    );
    assert_eq!(view(&a, &cell).visits.len(), 1);
    let behind = a.changes_after(&cell, &base_heads).unwrap();
    let mut copy = CellDoc::load(&base, &ActorId::random()).unwrap();
    copy.apply_bytes(&behind).unwrap();
    assert_eq!(copy.visits().unwrap().len(), 1);
    assert!(a.holds_changes(&cell, &b.heads(&cell).unwrap()).unwrap());

    // Written through b again, then through a, whose copy is one write
    // behind: a's write must follow b's, or the chunks would not load.
    assert!(
        b.apply_changes_from(&cell, &change("y"), Some(Role::Lead))
            .unwrap()
            .changed
    );
    assert!(
        a.apply_changes_from(&cell, &change("z"), Some(Role::Lead))
            .unwrap()
            .changed
    );
    let fresh = process(&db);
    let doc = view(&fresh, &cell);
    assert_eq!(doc.visits.len(), 3);
    assert_eq!(
        sorted(lead.heads(&cell).unwrap()),
        fresh.heads(&cell).unwrap()
    );
    assert_eq!(view(&b, &cell), doc);
    assert_eq!(view(&a, &cell), doc);
    projections_follow(&db, &fresh, &cell);
}

/// The next message of `msg`'s session, signed by someone else.
fn forged(msg: &[u8], key: &KeyPair) -> Vec<u8> {
    let mut env = silin_core::sync::envelope::decode(msg).unwrap();
    env.signature = Some(key.sign(&env.signed_part()));
    env.encode()
}

#[test]
fn a_session_held_by_one_process_is_carried_on_by_another() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hubs = [process(&db), process(&db)];
    let held = [PgSessions::new(&hubs[0]), PgSessions::new(&hubs[1])];
    let limits = Limits {
        max_sessions: 100,
        per_device: 4,
    };
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let worker = phone(dir.path(), "worker", Role::GridWorker, VILLAGE);
    let mut cells = Vec::new();
    for name in ["一组", "二组"] {
        cells.push(
            laptop
                .create_cell(name, &path(&format!("县/镇/村/{name}")), None)
                .unwrap(),
        );
    }
    sync(&laptop, &hubs[0]);
    sync(&worker, &hubs[0]);
    // Both sides change the cells they share, so the session runs
    // automerge's sync over several rounds; and each has a cell the other
    // lacks.
    for (i, cell) in cells.clone().iter().enumerate() {
        worker
            .record_visit(cell, visit(&format!("worker {i}")))
            .unwrap();
        laptop
            .record_visit(cell, visit(&format!("office {i}")))
            .unwrap();
    }
    cells.push(
        laptop
            .create_cell("三组", &path("县/镇/村/三组"), None)
            .unwrap(),
    );
    sync(&laptop, &hubs[1]);
    cells.push(
        worker
            .create_cell("四组", &path("县/镇/村/四组"), None)
            .unwrap(),
    );

    // Round one on process 0, which holds the session.
    let (mut device, hello) = Session::initiate(&worker).unwrap();
    let mut first = Session::accept(&hubs[0]).unwrap();
    let reply = first.receive(&hubs[0], &hello).unwrap().unwrap();
    let id = first.id();
    held[0].hold(id, first, limits).unwrap();
    assert!(held[1].holds(&id).unwrap(), "visible to every process");
    let mut msg = device.receive(&worker, &reply).unwrap().unwrap();

    // Someone else naming the session takes nothing, from either process.
    let intruder = KeyPair::generate();
    for on in [0, 1] {
        assert!(held[on]
            .take_for(&hubs[on], &id, &forged(&msg, &intruder))
            .unwrap()
            .is_none());
    }
    assert!(held[0].holds(&id).unwrap(), "still held for its device");

    // Both processes asked at once for the device's next round: one gets
    // the session, the other is told there is none.
    let start = Barrier::new(2);
    let taken: Vec<Option<Session>> = std::thread::scope(|s| {
        let t: Vec<_> = [0, 1]
            .map(|on| {
                let (hub, held, start, msg) = (&hubs[on], &held[on], &start, &msg);
                s.spawn(move || {
                    start.wait();
                    held.take_for(hub, &id, msg).unwrap()
                })
            })
            .into_iter()
            .collect();
        t.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(taken.iter().filter(|t| t.is_some()).count(), 1);
    let mut on = taken.iter().position(Option::is_some).unwrap();
    let mut session = taken.into_iter().flatten().next().unwrap();
    assert!(!held[0].holds(&id).unwrap());
    // Had the loser read the row before the winner took it, its delete of
    // that version would miss the session the winner holds again.
    let version = |db: &FreshDatabase| -> i64 {
        db.client()
            .query_one(
                "SELECT version FROM hub_sessions WHERE session_id = $1",
                &[&&id[..]],
            )
            .unwrap()
            .get(0)
    };
    let state = session.suspend();
    let again = Session::resume(&hubs[on], &state).unwrap();
    held[on].hold(id, again, limits).unwrap();
    let first = version(&db);
    session = held[1 - on]
        .take_for(&hubs[1 - on], &id, &msg)
        .unwrap()
        .unwrap();
    held[1 - on].hold(id, session, limits).unwrap();
    assert!(
        version(&db) > first,
        "a session held again has a new version"
    );
    session = held[on].take_for(&hubs[on], &id, &msg).unwrap().unwrap();

    // Every later round goes to the other process than the last.
    let mut rounds = 1;
    loop {
        let reply = session
            .receive(&hubs[on], &msg)
            .unwrap()
            .expect("the hub answers every round");
        rounds += 1;
        let hub_done = session.is_done();
        if !hub_done {
            held[on].hold(id, session, limits).unwrap();
        }
        on = 1 - on;
        match device.receive(&worker, &reply).unwrap() {
            Some(next) => {
                assert!(!hub_done, "the hub ended before the device");
                msg = next;
                session = held[on]
                    .take_for(&hubs[on], &id, &msg)
                    .unwrap()
                    .expect("the other process takes the session");
            }
            None => {
                if let Some(done) = device.close_message() {
                    let mut last = held[on].take_for(&hubs[on], &id, &done).unwrap().unwrap();
                    assert!(last.receive(&hubs[on], &done).unwrap().is_none());
                }
                break;
            }
        }
    }
    assert!(
        rounds >= 3,
        "the session moved between processes ({rounds} rounds)"
    );
    assert_eq!(held[0].count().unwrap(), 0);
    for cell in &cells {
        assert_eq!(
            sorted(worker.heads(cell).unwrap()),
            hubs[1].heads(cell).unwrap()
        );
        assert_eq!(worker.cell(cell).unwrap(), view(&hubs[0], cell));
    }
}

#[test]
fn held_sessions_keep_to_their_limits_and_idle_ones_are_swept() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let held = PgSessions::new(&hub);
    let open = |device: &Store| {
        let (_, hello) = Session::initiate(device).unwrap();
        let mut s = Session::accept(&hub).unwrap();
        s.receive(&hub, &hello).unwrap();
        s
    };
    let worker = phone(dir.path(), "worker", Role::GridWorker, VILLAGE);
    let other = phone(dir.path(), "other", Role::GridWorker, VILLAGE);
    let limits = Limits {
        max_sessions: 3,
        per_device: 2,
    };
    let mut ids = Vec::new();
    // Apart in time, so which waited longest is not a tie.
    let later = || std::thread::sleep(std::time::Duration::from_millis(5));
    for expected_own in [0, 0, 1] {
        later();
        let s = open(&worker);
        ids.push(s.id());
        let dropped = held.hold(s.id(), s, limits).unwrap();
        assert_eq!(dropped.own, expected_own);
        assert_eq!(dropped.idle, None);
    }
    assert_eq!(held.count().unwrap(), 2, "the device's quota");
    assert!(!held.holds(&ids[0]).unwrap(), "the device's oldest goes");
    assert!(held.holds(&ids[2]).unwrap(), "the newest is kept");
    later();
    let s = open(&other);
    assert_eq!(held.hold(s.id(), s, limits).unwrap().idle, None);
    later();
    let s = open(&other);
    let dropped = held.hold(s.id(), s, limits).unwrap();
    assert_eq!(
        dropped.idle,
        Some(Some(worker.device_id())),
        "the longest idle goes"
    );
    assert_eq!(held.count().unwrap(), 3);
    assert!(!held.holds(&ids[1]).unwrap());

    assert!(held
        .sweep(&hub, std::time::Duration::from_secs(3600))
        .unwrap()
        .is_empty());
    let ended = held.sweep(&hub, std::time::Duration::ZERO).unwrap();
    assert_eq!(ended.len(), 3);
    assert_eq!(
        ended
            .iter()
            .filter(|e| e.device.as_deref() == Some(other.device_id().as_str()))
            .count(),
        2
    );
    assert_eq!(held.count().unwrap(), 0);
}

#[test]
fn a_token_redeemed_from_two_processes_at_once_enrols_one_device() {
    let Some(db) = fresh_database() else { return };
    let hubs = [process(&db), process(&db)];
    let grant = TokenGrant {
        role: Role::GridWorker,
        scope: scope(VILLAGE),
        valid_days: 30,
    };
    for _ in 0..20 {
        let token = hubs[0].issue_token(&office(), &grant, 3600).unwrap();
        let claims = [
            (new_id(), KeyPair::generate().public_key()),
            (new_id(), KeyPair::generate().public_key()),
        ];
        let start = Barrier::new(2);
        let answers: Vec<_> = std::thread::scope(|s| {
            let t: Vec<_> = [0, 1]
                .map(|on| {
                    let (hub, start, token, claim) = (&hubs[on], &start, &token, &claims[on]);
                    s.spawn(move || {
                        start.wait();
                        hub.redeem_token(token, &claim.0, &claim.1).unwrap()
                    })
                })
                .into_iter()
                .collect();
            t.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<usize> = (0..2).filter(|&i| answers[i].is_ok()).collect();
        assert_eq!(won.len(), 1, "{answers:?}");
        let winner = won[0];
        let granted = answers[winner].as_ref().unwrap();
        assert_eq!((granted.role, &granted.scope), (grant.role, &grant.scope));
        assert!(matches!(answers[1 - winner], Err(IdentityError::TokenUsed)));
        // The winner's answer was lost: it may ask again, from anywhere.
        let (device, key) = &claims[winner];
        assert!(hubs[1 - winner]
            .redeem_token(&token, device, key)
            .unwrap()
            .is_ok());
    }
    let enrolled: i64 = db
        .client()
        .query_one("SELECT count(*) FROM enrolled", &[])
        .unwrap()
        .get(0);
    assert_eq!(enrolled, 20);
    assert!(matches!(
        hubs[0].redeem_token("00.ff", "nobody", &[0; 32]).unwrap(),
        Err(IdentityError::UnknownToken)
    ));
}

#[test]
fn changes_a_lead_may_not_make_are_refused_and_leave_no_trace() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let cell = laptop
        .create_cell("一组", &path("县/镇/村/一组"), Some("王建国"))
        .unwrap();
    let base = laptop.save_doc(&cell).unwrap();
    hub.merge_from(&base, Some(Role::Office), false).unwrap();
    let heads = hub.heads(&cell).unwrap();
    let before = dump(&db);

    // A cell of its own, which its certificate does not name.
    let tampered = loose(dir.path(), "tampered");
    let stranger = tampered
        .create_cell("野组", &path("县/镇/村/野组"), None)
        .unwrap();
    let e = hub
        .merge_from(
            &tampered.save_doc(&stranger).unwrap(),
            Some(Role::Lead),
            false,
        )
        .unwrap_err();
    assert!(
        matches!(&e, Error::Refused { doc, .. } if doc == &stranger),
        "{e}"
    );

    // Renaming a cell it holds: a grid worker's to do, not a lead's.
    tampered.merge_bytes(&base).unwrap();
    tampered.rename_cell(&cell, "改名").unwrap();
    let renamed = tampered.changes_after(&cell, &heads).unwrap();
    let e = hub
        .apply_changes_from(&cell, &renamed, Some(Role::Lead))
        .unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e}");
    // Nor as a whole document, through the merge of a cell the hub holds.
    let e = hub
        .merge_from(&tampered.save_doc(&cell).unwrap(), Some(Role::Lead), true)
        .unwrap_err();
    assert!(matches!(e, Error::Refused { .. }), "{e}");

    assert_eq!(dump(&db), before, "nothing written");
    // Nothing refused stayed in the process's memory either.
    assert_eq!(hub.heads(&cell).unwrap(), heads);
    assert_eq!(view(&hub, &cell).cell.name, "一组");
    assert!(hub.settled_heads(&cell).unwrap().is_some());
    // What a lead may do still goes through.
    let lead = phone(dir.path(), "lead", Role::Lead, &cell);
    lead.merge_bytes(&base).unwrap();
    lead.record_visit(&cell, visit("lead")).unwrap();
    assert!(
        hub.apply_changes_from(
            &cell,
            &lead.changes_after(&cell, &heads).unwrap(),
            Some(Role::Lead)
        )
        .unwrap()
        .changed
    );
    assert_eq!(view(&hub, &cell).visits.len(), 1);
}

#[test]
fn hub_processes_starting_together_share_one_identity_and_one_office() {
    let Some(db) = fresh_database() else { return };
    let hubs: Vec<PgStorage> = (0..4)
        .map(|_| {
            let s = PgStorage::connect(db.url(), 2).unwrap();
            s.migrate().unwrap();
            s
        })
        .collect();
    let start = Barrier::new(hubs.len());
    std::thread::scope(|s| {
        for hub in &hubs {
            let start = &start;
            s.spawn(move || {
                start.wait();
                hub.enrol_hub(&office(), &scope(TOWNSHIP)).unwrap();
            });
        }
    });
    let id = HubStorage::device_id(&hubs[0]);
    assert!(!id.is_empty());
    let now = chrono::Utc::now().timestamp();
    for hub in &hubs {
        assert_eq!(HubStorage::device_id(hub), id);
        let cert = hub.certificate().unwrap().unwrap();
        assert_eq!(cert.device_id, id);
        assert_eq!(cert.public_key, hub.device_key().unwrap().public_key());
        assert_eq!(cert.role, Role::Office);
        cert.verify(&office().public_key(), now).unwrap();
        assert_eq!(
            hub.office_public_key().unwrap(),
            Some(office().public_key())
        );
    }

    let another = Office {
        key: KeyPair::from_seed(&[8; 32]),
    };
    let e = hubs[1].enrol_hub(&another, &scope(TOWNSHIP)).unwrap_err();
    assert!(e.to_string().contains("another office key"), "{e}");
    assert_eq!(
        hubs[1].office_public_key().unwrap(),
        Some(office().public_key())
    );

    // Renewing over another scope re-issues; a process given no office
    // key cannot.
    hubs[2].renew_certificate(Some(&scope(VILLAGE))).unwrap();
    assert_eq!(
        hubs[3].certificate().unwrap().unwrap().scope,
        scope(VILLAGE)
    );
    let keyless = PgStorage::connect(db.url(), 1).unwrap();
    assert!(keyless.renew_certificate(None).is_err());
}

#[test]
fn a_restarted_hub_has_everything_and_the_next_sync_is_one_round_trip() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let worker = phone(dir.path(), "worker", Role::GridWorker, VILLAGE);
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let theirs = laptop
        .create_cell("一组", &path("县/镇/村/一组"), None)
        .unwrap();
    let ours = worker
        .create_cell("二组", &path("县/镇/村/二组"), None)
        .unwrap();
    worker.record_visit(&ours, visit("before")).unwrap();
    let (id, cert, listed) = {
        let hub = process(&db);
        sync(&laptop, &hub);
        sync(&worker, &hub);
        let listed: Vec<(String, Vec<ChangeHash>)> = hub
            .scope_heads(&Scope::everything())
            .unwrap()
            .into_iter()
            .map(|r| (r.id, r.heads))
            .collect();
        (
            HubStorage::device_id(&hub),
            hub.certificate().unwrap(),
            listed,
        )
    };

    let hub = process(&db);
    assert_eq!(HubStorage::device_id(&hub), id);
    assert_eq!(
        hub.certificate().unwrap(),
        cert,
        "a fresh certificate is kept"
    );
    let now: Vec<(String, Vec<ChangeHash>)> = hub
        .scope_heads(&Scope::everything())
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.heads))
        .collect();
    assert_eq!(now, listed);
    assert_eq!(now.len(), 2);
    for cell in [&theirs, &ours] {
        assert_eq!(
            sorted(worker.heads(cell).unwrap()),
            hub.heads(cell).unwrap()
        );
        assert_eq!(worker.cell(cell).unwrap(), view(&hub, cell));
    }
    let again = sync(&worker, &hub);
    assert_eq!(again.round_trips, 1, "{again:?}");
}

#[test]
fn damaged_rows_and_a_failing_database_are_errors_that_say_what_never_panics() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let laptop = phone(dir.path(), "office", Role::Office, TOWNSHIP);
    let cell = laptop
        .create_cell("一组", &path("县/镇/村/一组"), None)
        .unwrap();
    hub.merge_from(&laptop.save_doc(&cell).unwrap(), Some(Role::Office), false)
        .unwrap();
    let mut c = db.client();

    // Heads recorded that the document does not reach.
    c.execute(
        "UPDATE docs SET heads = $2 WHERE id = $1",
        &[&cell, &vec![9u8; 32]],
    )
    .unwrap();
    let fresh = process(&db);
    let e = fresh.save_doc(&cell).unwrap_err();
    assert!(
        matches!(&e, Error::Damaged { doc, .. } if doc == &cell),
        "{e}"
    );
    // Heads that are no heads at all.
    c.execute("UPDATE docs SET heads = 'xyz' WHERE id = $1", &[&cell])
        .unwrap();
    assert!(matches!(fresh.heads(&cell), Err(Error::Damaged { .. })));
    // A snapshot that is not a document; the version moves on, as any
    // writer's would, so even the process that cached the cell reloads.
    c.execute(
        "UPDATE snapshots SET snapshot = 'not automerge' WHERE id = $1",
        &[&cell],
    )
    .unwrap();
    c.execute(
        "UPDATE docs SET version = version + 1 WHERE id = $1",
        &[&cell],
    )
    .unwrap();
    for p in [&hub, &fresh] {
        assert!(matches!(p.save_doc(&cell), Err(Error::Damaged { .. })));
        let e = p
            .apply_changes_from(&cell, &laptop.save_doc(&cell).unwrap(), None)
            .unwrap_err();
        assert!(matches!(e, Error::Damaged { .. }), "{e}");
    }

    // The database refusing a statement: the error names the database and
    // what the hub was doing.
    c.batch_execute("ALTER TABLE docs RENAME TO docs_elsewhere")
        .unwrap();
    let e = hub.heads(&cell).unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("PostgreSQL database"), "{text}");
    assert!(
        text.contains(&format!("while reading cell {cell}")),
        "{text}"
    );
    assert!(text.contains("docs"), "{text}");
}

/// The figures of hub/doc/postgres.md, as ratios to the SQLite hub on the
/// same machine.
#[test]
#[ignore = "figures: cargo test -p silin-hub --test pg_replica figures -- --ignored --nocapture"]
fn figures() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = process(&db);
    let b = process(&db);
    let sqlite = loose(dir.path(), "sqlite-hub");
    let writer = loose(dir.path(), "writer");
    let cell = writer
        .create_cell("一组", &path("县/镇/村/一组"), None)
        .unwrap();
    let base = writer.save_doc(&cell).unwrap();
    a.merge_from(&base, None, false).unwrap();
    sqlite.merge_bytes(&base).unwrap();
    let batches: Vec<Vec<u8>> = (0..300)
        .map(|i| {
            let seen = writer.heads(&cell).unwrap();
            writer.record_visit(&cell, visit(&format!("{i}"))).unwrap();
            writer.changes_after(&cell, &seen).unwrap()
        })
        .collect();
    let per = |t: std::time::Instant, n: u32| t.elapsed() / n;
    for batch in &batches[..100] {
        a.apply_changes_from(&cell, batch, None).unwrap();
        sqlite.apply_changes(&cell, batch).unwrap();
    }
    let t = std::time::Instant::now();
    for batch in &batches[100..200] {
        a.apply_changes_from(&cell, batch, None).unwrap();
    }
    let pg_write = per(t, 100);
    let t = std::time::Instant::now();
    for batch in &batches[100..200] {
        sqlite.apply_changes(&cell, batch).unwrap();
    }
    let sqlite_write = per(t, 100);
    let t = std::time::Instant::now();
    for _ in 0..200 {
        a.settled_heads(&cell).unwrap();
    }
    let cached_read = per(t, 200);
    let mut reload = std::time::Duration::ZERO;
    for batch in &batches[200..300] {
        b.apply_changes_from(&cell, batch, None).unwrap();
        let t = std::time::Instant::now();
        a.settled_heads(&cell).unwrap();
        reload += t.elapsed();
    }
    let reload = reload / 100;
    let ratio = |x: std::time::Duration, y: std::time::Duration| x.as_secs_f64() / y.as_secs_f64();
    eprintln!(
        "write into a cell of 100-200 visits: {pg_write:?} ({:.2}x SQLite's {sqlite_write:?})",
        ratio(pg_write, sqlite_write)
    );
    eprintln!(
        "cached read: {cached_read:?} (1/{:.0} of a write)",
        ratio(pg_write, cached_read)
    );
    eprintln!(
        "read after another process wrote (reload): {reload:?} ({:.2}x a write)",
        ratio(reload, pg_write)
    );
}

/// Community mode on PostgreSQL: the office names a community's levels in
/// the database (refused while they would not fit its cells or would make
/// a name mean two depths), the rollup by `building` names its rows, and a
/// building head's phone syncs only its building's cells.
#[test]
fn a_community_rolls_up_by_building_and_a_building_head_holds_only_its_building() {
    let Some(db) = fresh_database() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hub = process(&db);
    let community = format!("{TOWNSHIP}/城南社区");
    let levels: Vec<String> = ["community", "building", "unit"].map(String::from).to_vec();
    let worker = phone(dir.path(), "worker", Role::GridWorker, TOWNSHIP);
    worker.set_region_levels(&community, &levels).unwrap();
    let b1 = format!("{community}/1号楼");
    let b2 = format!("{community}/2号楼");
    let mine = [
        worker
            .create_cell("1单元", &path(&format!("{b1}/1单元")), None)
            .unwrap(),
        worker
            .create_cell("2单元", &path(&format!("{b1}/2单元")), None)
            .unwrap(),
    ];
    let other = worker
        .create_cell("1单元", &path(&format!("{b2}/1单元")), None)
        .unwrap();
    let village = worker
        .create_cell("一组", &path(&format!("{VILLAGE}/一组")), None)
        .unwrap();
    sync(&worker, &hub);

    // The database's own names: four levels would not fit the cells there.
    let four: Vec<String> = ["community", "building", "unit", "room"]
        .map(String::from)
        .to_vec();
    let e = hub.set_region_levels(&community, &four).unwrap_err();
    assert!(e.to_string().contains("would not fit"), "{e}");
    assert!(HubStorage::hierarchy(&hub)
        .unwrap()
        .branches()
        .next()
        .is_none());
    let h = hub.set_region_levels(&community, &levels).unwrap();
    assert_eq!(HubStorage::hierarchy(&hub).unwrap(), h);
    let today = chrono::Local::now().date_naive();
    let rows = HubStorage::rollup(&hub, today, h.level("building").unwrap()).unwrap();
    let shown: Vec<(&str, &str, i64)> = rows
        .iter()
        .map(|r| (r.path.as_str(), r.level.as_str(), r.cells))
        .collect();
    let (b1, b2, group) = (b1.as_str(), b2.as_str(), format!("{VILLAGE}/一组"));
    assert_eq!(
        shown,
        [
            (b1, "building", 2),
            (b2, "building", 1),
            (group.as_str(), "group", 1)
        ]
    );

    // The building head's phone: its building's cells, nothing else.
    let head = phone(dir.path(), "head", Role::BuildingHead, b1);
    sync(&head, &hub);
    let mut held: Vec<String> = head.cells(&[]).unwrap().into_iter().map(|c| c.id).collect();
    held.sort();
    let mut want = mine.to_vec();
    want.sort();
    assert_eq!(held, want);
    for c in [&other, &village] {
        assert!(head.cell(c).is_err(), "{c} reached the building head");
    }
}
