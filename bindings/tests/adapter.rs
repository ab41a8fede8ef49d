//! The adapter as the bindings see it, called from Rust: every failure is a
//! typed StoreError / SyncError variant, never a panic; closing is safe
//! under concurrent use; conversions keep what the core stored.

use proptest::prelude::*;
use silin_ffi::*;
use std::sync::Arc;

fn open(dir: &tempfile::TempDir, name: &str) -> Store {
    Store::open(dir.path().join(name).to_string_lossy().into_owned(), None).unwrap()
}

fn new_member(name: &str) -> NewMember {
    NewMember {
        name: name.into(),
        sex: None,
        birth_year: None,
        id_number: None,
        phone: None,
        relation: None,
        residence: None,
        vulnerable: vec![],
    }
}

fn health_check(member: &str, temperature: f64) -> NewVisit {
    NewVisit {
        kind: VisitKind::HealthCheck,
        by: "lead".into(),
        household_id: None,
        member_id: Some(member.into()),
        at: None,
        temperature: Some(temperature),
        symptoms: None,
        outcome: None,
        note: None,
        task_id: None,
    }
}

/// A cell with one household and one member.
fn cell(store: &Store) -> (String, String) {
    let c = store
        .create_cell("c".into(), "xian/zhen/cun/zu".into(), Some("lead".into()))
        .unwrap();
    let h = store
        .add_household(
            c.clone(),
            NewHousehold {
                address: None,
                door: None,
                phone: None,
            },
        )
        .unwrap();
    let m = store.add_member(h, new_member("m")).unwrap();
    (c, m)
}

/// Runs one session to its end, closing message included; returns the
/// initiator's figures once both sides are done.
fn sync(a: &Store, b: &Store) -> SyncStats {
    let start = a.start_sync(None).unwrap();
    let responder = b.accept_sync().unwrap();
    let mut msg = start.message;
    loop {
        let reply = responder.receive(msg).unwrap().unwrap();
        match start.session.receive(reply).unwrap() {
            Some(next) => msg = next,
            None => break,
        }
    }
    if let Some(done) = start.session.close_message() {
        assert_eq!(responder.receive(done).unwrap(), None);
    }
    assert!(start.session.is_done() && responder.is_done());
    start.session.stats()
}

#[test]
fn values_are_refused_with_the_field_named_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s.db");
    let (c, m) = cell(&store);
    let cases: Vec<(&str, Result<String, StoreError>)> = vec![
        (
            "temperature",
            store.record_visit(c.clone(), health_check(&m, 50.0)),
        ),
        ("at", {
            let mut v = health_check(&m, 36.5);
            v.at = Some("yesterday".into());
            store.record_visit(c.clone(), v)
        }),
        (
            "path",
            store.create_cell("x".into(), "one/two".into(), None),
        ),
        (
            "due",
            store.add_task(
                c.clone(),
                NewTask {
                    title: "t".into(),
                    household_id: None,
                    member_id: None,
                    due: Some("31/12/2026".into()),
                },
            ),
        ),
    ];
    for (field, r) in cases {
        match r {
            Err(StoreError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
    }
    match store.under_monitoring("2026-13-01".into()) {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "day"),
        other => panic!("expected Invalid day, got {other:?}"),
    }
    assert!(store.cell(c).unwrap().visits.is_empty());
}

#[test]
fn unknown_ids_are_not_found_and_malformed_ids_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s.db");
    let unknown = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f".to_string();
    assert!(matches!(
        store.cell(unknown.clone()),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.member(unknown),
        Err(StoreError::NotFound { .. })
    ));
    for bad in ["", "nope", "\0", &"x".repeat(100_000)] {
        assert!(
            matches!(store.cell(bad.into()), Err(StoreError::Invalid { .. })),
            "{bad:.20}"
        );
    }
}

#[test]
fn a_closed_store_refuses_every_call_and_its_sessions_with_closed() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a.db");
    let b = open(&dir, "b.db");
    cell(&a);
    let start = a.start_sync(None).unwrap();
    let responder = b.accept_sync().unwrap();
    let reply = responder.receive(start.message).unwrap().unwrap();
    a.close();
    a.close();
    assert!(a.is_closed());
    assert!(matches!(a.cells(vec![]), Err(StoreError::Closed { .. })));
    assert!(matches!(a.identity(), Err(StoreError::Closed { .. })));
    assert!(matches!(
        start.session.receive(reply),
        Err(SyncError::Closed { .. })
    ));
    assert!(matches!(
        a.export_bundle(vec![], None),
        Err(SyncError::Closed { .. })
    ));
    assert!(matches!(
        a.sync_with_hub("http://127.0.0.1:9".into()),
        Err(SyncError::Closed { .. })
    ));
    a.unsubscribe(1);
    // The file itself was closed cleanly: it opens again with its cell.
    assert_eq!(open(&dir, "a.db").cells(vec![]).unwrap().len(), 1);
}

#[test]
fn wrong_keys_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.db").to_string_lossy().into_owned();
    let key = "ab".repeat(32);
    Store::open(path.clone(), Some(key.clone()))
        .unwrap()
        .close();
    for wrong in [None, Some("cd".repeat(32)), Some(String::new())] {
        assert!(
            matches!(
                Store::open(path.clone(), wrong.clone()),
                Err(StoreError::WrongKey { .. })
            ),
            "{wrong:?}"
        );
    }
    assert!(Store::open(path, Some(key)).is_ok());
}

#[test]
fn sessions_sync_two_stores_and_refuse_out_of_order_messages() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a.db");
    let b = open(&dir, "b.db");
    let (c, m) = cell(&a);
    a.record_visit(c.clone(), health_check(&m, 38.1)).unwrap();
    let stats = sync(&a, &b);
    assert_eq!(stats.docs_sent, 1);
    let view = b.cell(c.clone()).unwrap();
    assert_eq!(view, a.cell(c).unwrap());
    assert!(view.visits[0].abnormal);

    // A finished session takes nothing more.
    let start = a.start_sync(None).unwrap();
    let responder = b.accept_sync().unwrap();
    let opening = start.message.clone();
    let reply = responder.receive(opening.clone()).unwrap();
    assert!(reply.is_none() || start.session.receive(reply.unwrap()).is_ok());
    assert!(matches!(
        responder.receive(opening),
        Err(SyncError::SessionFailed { .. })
    ));
}

#[test]
fn bundles_round_trip_and_reimport_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a.db");
    let b = open(&dir, "b.db");
    let (c, _) = cell(&a);
    let bundle = a.export_bundle(vec![], None).unwrap();
    assert_eq!(bundle.cells, 1);
    let first = b.import_bundle(bundle.data.clone()).unwrap();
    assert_eq!((first.cells, first.changed), (1, 1));
    let again = b.import_bundle(bundle.data).unwrap();
    assert_eq!(again.changed, 0);
    assert_eq!(b.cell(c.clone()).unwrap(), a.cell(c).unwrap());
}

struct Counting(Arc<std::sync::Mutex<Vec<String>>>, bool);

impl CellObserver for Counting {
    fn cells_changed(&self, cell_ids: Vec<String>) -> Result<(), ObserverError> {
        self.0.lock().unwrap().extend(cell_ids);
        if self.1 {
            Err(ObserverError::Failed)
        } else {
            Ok(())
        }
    }
}

#[test]
fn observers_see_commits_and_a_failing_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s.db");
    let (c, m) = cell(&store);
    let seen = Arc::new(std::sync::Mutex::new(vec![]));
    let failing = store
        .subscribe(Box::new(Counting(seen.clone(), true)))
        .unwrap();
    store
        .record_visit(c.clone(), health_check(&m, 36.5))
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![c.clone()]);
    assert_eq!(store.cell(c.clone()).unwrap().visits.len(), 1);
    store.unsubscribe(failing);
    store
        .record_visit(c.clone(), health_check(&m, 36.5))
        .unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn eight_threads_and_a_close_midway_see_only_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir, "s.db"));
    let peer = Arc::new(open(&dir, "p.db"));
    let (c, m) = cell(&store);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (store, peer, c, m) = (store.clone(), peer.clone(), c.clone(), m.clone());
            std::thread::spawn(move || {
                for i in 0..40 {
                    if t == 0 && i == 20 {
                        store.close();
                    }
                    let r: Result<(), String> = match (t + i) % 4 {
                        0 => store
                            .record_visit(c.clone(), health_check(&m, 36.0 + (i % 5) as f64))
                            .map(drop)
                            .map_err(|e| format!("{e:?}")),
                        1 => store
                            .cell(c.clone())
                            .map(drop)
                            .map_err(|e| format!("{e:?}")),
                        2 => store
                            .start_sync(None)
                            .and_then(|s| peer.accept_sync()?.receive(s.message))
                            .map(drop)
                            .map_err(|e| format!("{e:?}")),
                        _ => store
                            .import_bundle(vec![i as u8; i])
                            .map(drop)
                            .map_err(|e| format!("{e:?}")),
                    };
                    if let Err(e) = r {
                        assert!(
                            e.starts_with("Closed") || e.starts_with("Malformed"),
                            "unexpected error {e}"
                        );
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
    let reopened = open(&dir, "s.db");
    assert!(!reopened.cell(c).unwrap().visits.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_are_refused_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, "s.db");
        let import = store.import_bundle(bytes.clone());
        prop_assert!(matches!(import, Err(SyncError::Malformed { .. })), "{import:?}");
        let received = store.accept_sync().unwrap().receive(bytes);
        prop_assert!(
            matches!(received, Err(SyncError::Malformed { .. } | SyncError::SessionFailed { .. })),
            "{received:?}"
        );
        prop_assert!(store.cells(vec![]).unwrap().is_empty());
    }
}

#[test]
fn a_door_knock_round_is_recorded_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "s.db");
    let (c, m) = cell(&store);
    let knock = |note: &str| NewVisit {
        kind: VisitKind::DoorKnock,
        note: Some(note.into()),
        member_id: None,
        temperature: None,
        ..health_check(&m, 36.5)
    };
    let bad = health_check(&m, 12.0);
    match store.record_visits(c.clone(), vec![knock("a"), bad, knock("c")]) {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "temperature"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(store.cell(c.clone()).unwrap().visits.is_empty());

    let ids = store
        .record_visits(c.clone(), vec![knock("a"), knock("b"), knock("c")])
        .unwrap();
    let visits = store.cell(c.clone()).unwrap().visits;
    assert_eq!(ids.len(), 3);
    let mut notes: Vec<_> = ids
        .iter()
        .map(|id| {
            let v = visits.iter().find(|v| &v.id == id).unwrap();
            v.note.clone().unwrap()
        })
        .collect();
    notes.sort();
    assert_eq!(notes, ["a", "b", "c"]);
    assert!(store.record_visits(c, vec![]).unwrap().is_empty());
}

/// uniffi's library mode reads bindings/src/silin.udl; the scaffolding is
/// built from udl/silin.udl. They must be one file (a link), never two.
#[test]
fn the_udl_the_bindings_read_is_the_committed_one() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(root.join("../udl/silin.udl")).unwrap();
    let read = std::fs::read_to_string(root.join("src/silin.udl")).unwrap();
    assert_eq!(committed, read);
}

#[test]
fn a_file_opened_twice_is_one_store_and_needs_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db").to_string_lossy().into_owned();
    let key = Some("ab".repeat(32));
    let first = Store::open(path.clone(), key.clone()).unwrap();
    // Another spelling of the same file is the same file.
    let other_spelling = dir
        .path()
        .join(".")
        .join("shared.db")
        .to_string_lossy()
        .into_owned();
    let second = Store::open(other_spelling, key.clone()).unwrap();
    assert!(matches!(
        Store::open(path.clone(), Some("cd".repeat(32))),
        Err(StoreError::WrongKey { .. })
    ));
    assert!(matches!(
        Store::open(path.clone(), None),
        Err(StoreError::WrongKey { .. })
    ));

    // Writes through either handle, from two threads, land in one store
    // and each handle sees all of them at once.
    let (c, m) = cell(&first);
    let (first, second) = (Arc::new(first), Arc::new(second));
    let writers: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .map(|s| {
            let (c, m) = (c.clone(), m.clone());
            std::thread::spawn(move || {
                for _ in 0..20 {
                    s.record_visit(c.clone(), health_check(&m, 36.6)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(second.cell(c.clone()).unwrap().visits.len(), 40);
    assert_eq!(
        first.cell(c.clone()).unwrap(),
        second.cell(c.clone()).unwrap()
    );

    // Closing one handle leaves the other working; with both closed the
    // file opens afresh, with everything in it.
    first.close();
    assert_eq!(second.cell(c.clone()).unwrap().visits.len(), 40);
    second.close();
    drop((first, second));
    let reopened = Store::open(path, key).unwrap();
    assert_eq!(reopened.cell(c).unwrap().visits.len(), 40);
}

/// Drives a future on this thread, as an app's executor would: parks until
/// woken. (No async runtime: silin needs none.)
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn awaited_calls_run_off_the_calling_thread_and_fail_typed() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a.db");
    let b = open(&dir, "b.db");
    let (c, _) = cell(&a);
    let bundle = block_on(a.export_bundle_async(vec![], None)).unwrap();
    let imported = block_on(b.import_bundle_async(bundle.data)).unwrap();
    assert_eq!((imported.cells, imported.changed), (1, 1));
    assert_eq!(b.cell(c.clone()).unwrap(), a.cell(c).unwrap());
    assert!(matches!(
        block_on(b.import_bundle_async(vec![1, 2, 3])),
        Err(SyncError::Malformed { .. })
    ));
    assert!(matches!(
        block_on(b.sync_with_hub_async("ftp://nowhere".into())),
        Err(SyncError::BadHubUrl { .. })
    ));
    assert_eq!(b.sync_status().phase, SyncPhase::Idle);
    assert!(b.sync_status().last_error.is_some());
    b.close();
    assert!(matches!(
        block_on(b.export_bundle_async(vec![], None)),
        Err(SyncError::Closed { .. })
    ));
}

struct Statuses(Arc<std::sync::Mutex<Vec<SyncStatus>>>);

impl SyncStatusObserver for Statuses {
    fn status_changed(&self, status: SyncStatus) -> Result<(), ObserverError> {
        self.0.lock().unwrap().push(status);
        Ok(())
    }
}

#[test]
fn the_sync_status_follows_each_session_on_every_handle_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(&dir, "a.db");
    let b = open(&dir, "b.db");
    cell(&a);
    cell(&a);
    let seen = Arc::new(std::sync::Mutex::new(vec![]));
    // Another handle on the same file: it shares the status.
    let a2 = open(&dir, "a.db");
    let id = a2.subscribe_sync_status(Box::new(Statuses(seen.clone())));
    let stats = sync(&a, &b);
    let seen = seen.lock().unwrap().clone();
    let phases: Vec<_> = seen.iter().map(|s| s.phase).collect();
    assert_eq!(phases.first(), Some(&SyncPhase::Connecting), "{phases:?}");
    assert!(phases.contains(&SyncPhase::Receiving), "{phases:?}");
    let last = seen.last().unwrap();
    assert_eq!(last.phase, SyncPhase::Idle);
    assert_eq!((last.cells_done, last.cells_total), (2, 2));
    assert_eq!(last.bytes_down, stats.bytes_down);
    assert!(last.last_synced.is_some() && last.last_error.is_none());
    assert_eq!(a.sync_status(), *last);
    let b_status = b.sync_status();
    assert_eq!((b_status.phase, b_status.cells_done), (SyncPhase::Idle, 2));
    a2.unsubscribe_sync_status(id);

    // A session let go of midway does not stay "running".
    let start = a.start_sync(None).unwrap();
    assert_eq!(a.sync_status().phase, SyncPhase::Sending);
    drop(start);
    let after = a.sync_status();
    assert_eq!(after.phase, SyncPhase::Idle);
    assert!(after.last_error.is_some());
    assert_eq!(after.last_synced, last.last_synced);
}

/// `Store.open_at`: what the store dates by itself (a visit, a report, a
/// task given no time) follows the clock it was opened with, not the
/// phone's; a second handle on the file must name the same time.
#[test]
fn a_store_opened_at_a_set_time_dates_what_it_records_by_that_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("at.db").to_string_lossy().into_owned();
    let at = "2027-02-28T10:00:00+08:00";
    let store = Store::open_at(path.clone(), None, at.into()).unwrap();
    let (c, m) = cell(&store);
    let visit = store
        .record_visit(c.clone(), health_check(&m, 36.5))
        .unwrap();
    let on = |day: &str| -> Vec<String> {
        store
            .visits_on(day.into())
            .unwrap()
            .into_iter()
            .map(|v| v.visit_id)
            .collect()
    };
    assert_eq!(on("2027-02-28"), vec![visit.clone()]);
    assert!(on(&today()).is_empty() || today() == "2027-02-28");

    // Another handle at the same time shares the store; at another time,
    // or on the phone's clock, it is refused while this one is open.
    let again = Store::open_at(path.clone(), None, format!(" {at} ")).unwrap();
    assert_eq!(again.visits_on("2027-02-28".into()).unwrap().len(), 1);
    for other in [
        Store::open(path.clone(), None),
        Store::open_at(path.clone(), None, "2027-03-01".into()),
    ] {
        match other {
            Err(StoreError::Invalid { field, rule }) => {
                assert_eq!(field, "now");
                assert!(rule.contains("another clock"), "{rule}");
            }
            Err(e) => panic!("expected Invalid(now), got {e}"),
            Ok(_) => panic!("expected Invalid(now), got a store"),
        }
    }

    // A time that is not one is refused before any file is made.
    let fresh = dir.path().join("never.db");
    for bad in ["tomorrow", "", "2027-02-30", "28/02/2027"] {
        match Store::open_at(fresh.to_string_lossy().into_owned(), None, bad.into()) {
            Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "now", "{bad:?}"),
            Err(e) => panic!("{bad:?}: expected Invalid(now), got {e}"),
            Ok(_) => panic!("{bad:?}: expected Invalid(now), got a store"),
        }
        assert!(!fresh.exists(), "{bad:?} made a file");
    }
}

// The hot calls (bindings/src/hot.rs) as the Kotlin package's VisitWriter
// makes them: byte arrays in uniffi's serialization, a status byte first.
extern "C" {
    fn silin_hot_record_visit(
        writer: u64,
        cell: *const u8,
        cell_len: i32,
        visit: *const u8,
        visit_len: i32,
        out: *mut u8,
        cap: i32,
    ) -> i32;
    fn silin_hot_reply(out: *mut u8, cap: i32) -> i32;
}

/// A hot `record_visit`: the reply (status byte, payload), fetched in a
/// second call when it does not fit `cap`.
fn hot_visit(writer: u64, cell: &str, visit: &[u8], cap: usize) -> Vec<u8> {
    let mut out = vec![0u8; cap];
    let n = unsafe {
        silin_hot_record_visit(
            writer,
            cell.as_ptr(),
            cell.len() as i32,
            visit.as_ptr(),
            visit.len() as i32,
            out.as_mut_ptr(),
            cap as i32,
        )
    };
    if n >= 0 {
        out.truncate(n as usize);
        return out;
    }
    // Too long: a short buffer leaves it waiting, a long enough one takes it.
    let mut short = vec![0u8; (-n - 1) as usize];
    assert_eq!(
        unsafe { silin_hot_reply(short.as_mut_ptr(), short.len() as i32) },
        n
    );
    let mut whole = vec![0u8; -n as usize];
    assert_eq!(unsafe { silin_hot_reply(whole.as_mut_ptr(), -n) }, -n);
    assert_eq!(
        unsafe { silin_hot_reply(whole.as_mut_ptr(), 0) },
        0,
        "taken once"
    );
    whole
}

fn lowered(v: NewVisit) -> Vec<u8> {
    let mut b = Vec::new();
    <NewVisit as uniffi::Lower<silin_ffi::UniFfiTag>>::write(v, &mut b);
    b
}

fn hot_error(reply: &[u8]) -> StoreError {
    assert_eq!(reply[0], 1, "a StoreError reply");
    <StoreError as uniffi::Lift<silin_ffi::UniFfiTag>>::try_read(&mut &reply[1..]).unwrap()
}

#[test]
fn the_hot_visit_call_writes_what_record_visit_writes_and_refuses_alike() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, "hot.db");
    let (c, m) = cell(&store);
    let writer = store.open_visit_writer().unwrap();
    for cap in [64, 0] {
        let reply = hot_visit(writer, &c, &lowered(health_check(&m, 36.6)), cap);
        assert_eq!(reply[0], 0, "{reply:?}");
        let id = String::from_utf8(reply[1..].to_vec()).unwrap();
        let view = store.cell(c.clone()).unwrap();
        let v = view.visits.iter().find(|v| v.id == id).unwrap();
        assert_eq!(
            (v.member_id.as_deref(), v.temperature),
            (Some(m.as_str()), Some(36.6))
        );
    }
    let held = store.cell(c.clone()).unwrap().visits.len();
    // What record_visit refuses, refused the same, typed; nothing written.
    let hot = hot_error(&hot_visit(
        writer,
        &c,
        &lowered(health_check(&m, 51.0)),
        512,
    ));
    let direct = store
        .record_visit(c.clone(), health_check(&m, 51.0))
        .unwrap_err();
    assert_eq!(hot.to_string(), direct.to_string());
    assert!(matches!(hot, StoreError::Invalid { ref field, .. } if field == "temperature"));
    // Bytes that are not one NewVisit: cut short, or with more after it.
    let whole = lowered(health_check(&m, 36.6));
    for bad in [
        &whole[..whole.len() - 1],
        &[whole.clone(), vec![0]].concat()[..],
        &[][..],
    ] {
        let e = hot_error(&hot_visit(writer, &c, bad, 512));
        assert!(
            matches!(e, StoreError::Invalid { ref field, .. } if field == "visit"),
            "{e}"
        );
    }
    assert_eq!(store.cell(c.clone()).unwrap().visits.len(), held);
    // A writer let go, or never given, answers Closed.
    close_visit_writer(writer);
    close_visit_writer(writer);
    for w in [writer, 0, u64::MAX] {
        let e = hot_error(&hot_visit(w, &c, &whole, 512));
        assert!(matches!(e, StoreError::Closed { .. }), "{e}");
    }
    // So does one whose store handle was closed.
    let writer = store.open_visit_writer().unwrap();
    store.close();
    let e = hot_error(&hot_visit(writer, &c, &whole, 512));
    assert!(matches!(e, StoreError::Closed { .. }), "{e}");
    assert!(matches!(
        store.open_visit_writer(),
        Err(StoreError::Closed { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_as_a_hot_visit_are_refused_or_recorded_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, "hot-any.db");
        let (c, _) = cell(&store);
        let writer = store.open_visit_writer().unwrap();
        let reply = hot_visit(writer, &c, &bytes, 512);
        let held = store.cell(c.clone()).unwrap().visits.len();
        match reply[0] {
            0 => prop_assert_eq!(held, 1),
            1 => {
                hot_error(&reply);
                prop_assert_eq!(held, 0);
            }
            other => prop_assert!(false, "status {} {:?}", other, reply),
        }
        close_visit_writer(writer);
    }
}
