//! Two programs on one store file: a hub serving while `silin bundle import`
//! runs, a phone app and its sync service. Here two `Store`s opened on the
//! same path stand in for them (each has its own SQLite connection, which is
//! all SQLite knows of a program). What one commits, the other reads; edits
//! made through both, at once, are all kept, exactly once; compaction in one
//! loses nothing the other appends. cli/tests/two_processes.rs does the same
//! with real `silin` processes.

mod common;

use common::*;
use silin_core::model::*;
use silin_core::{Durability, Error, Store, StoreOptions};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

struct Shared {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Shared {
    fn new() -> Shared {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("register.db");
        Shared { _dir: dir, path }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Another program's store on the same file.
    fn open(&self) -> Store {
        opened(&self.path, 128, 64)
    }
}

/// fsync at checkpoints only: these tests are about who sees what, and
/// hundreds of fsynced commits would only make them slow.
fn opened(p: &Path, compact_after_chunks: i64, cache_docs: usize) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            compact_after_chunks,
            cache_docs,
            ..Default::default()
        },
    )
    .unwrap()
}

struct Cell {
    id: String,
    household: String,
}

fn cell(s: &Store, name: &str) -> Cell {
    let id = s
        .create_cell(name, &path("两当县/城关镇/广香村/一组"), Some("王建国"))
        .unwrap();
    let household = s
        .add_household(
            &id,
            NewHousehold {
                address: Some("广香村一组 3 号".into()),
                ..Default::default()
            },
        )
        .unwrap();
    Cell { id, household }
}

/// The `i`th door knock of a round, told apart by its note.
fn knock(c: &Cell, who: &str, i: usize) -> NewVisit {
    let mut v = NewVisit::new(
        VisitKind::DoorKnock,
        at(today(), 8 + (i / 60 % 12) as u32, (i % 60) as u32),
        "王建国",
    );
    v.household_id = Some(c.household.clone());
    v.note = Some(format!("{who} {i}"));
    v
}

fn visit_ids(v: &CellView) -> BTreeSet<String> {
    v.visits.iter().map(|v| v.id.clone()).collect()
}

/// Every store reads the same document (heads and whole view), with
/// projections that agree with it; a store opened afresh on the file too.
/// Returns that view.
fn all_agree(file: &Path, stores: &[&Store], cell_id: &str) -> CellView {
    let fresh = opened(file, 128, 64);
    let heads = fresh.heads(cell_id).unwrap();
    let view = fresh.cell(cell_id).unwrap();
    assert!(fresh.projections_match_docs().unwrap());
    let report = fresh.check().unwrap();
    assert!(report.ok, "check of the shared file: {:?}", report.problems);
    for (i, s) in stores.iter().enumerate() {
        assert_eq!(s.heads(cell_id).unwrap(), heads, "heads in store {i}");
        assert_eq!(s.cell(cell_id).unwrap(), view, "cell in store {i}");
        assert!(s.projections_match_docs().unwrap(), "projections {i}");
    }
    view
}

#[test]
fn what_one_store_commits_the_other_reads() {
    let file = Shared::new();
    let a = file.open();
    let b = file.open();
    let c = cell(&a, "第一联户");
    assert_eq!(b.cells(&[]).unwrap().len(), 1, "a new cell, listed");
    // B now holds the cell decoded in its cache: later reads must not be
    // served from that copy once A has moved on.
    let before = b.cell(&c.id).unwrap();
    assert!(before.visits.is_empty());

    let visit = a.record_visit(&c.id, knock(&c, "a", 0)).unwrap();
    let member = a
        .add_member(
            &c.household,
            NewMember {
                name: "李秀英".into(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    a.rename_cell(&c.id, "广香一组第一联户").unwrap();

    let seen = b.cell(&c.id).unwrap();
    assert_eq!(visit_ids(&seen), BTreeSet::from([visit.clone()]));
    assert_eq!(members(&seen)[0].name, "李秀英");
    assert_eq!(seen.cell.name, "广香一组第一联户");
    assert_eq!(b.heads(&c.id).unwrap(), a.heads(&c.id).unwrap());
    assert_eq!(b.member(&member).unwrap().name, "李秀英");
    assert_eq!(b.cell_of_member(&member).unwrap().0, c.id);
    assert_eq!(
        b.visits_on(today())
            .unwrap()
            .into_iter()
            .map(|v| v.visit_id)
            .collect::<Vec<_>>(),
        vec![visit]
    );
    assert_eq!(b.cells(&[]).unwrap()[0].name, "广香一组第一联户");
    assert_eq!(
        b.changes_after(&c.id, &a.heads(&c.id).unwrap()).unwrap(),
        b""
    );

    // And the other way round, after A compacted what it had.
    a.compact_all().unwrap();
    b.record_visit(&c.id, knock(&c, "b", 1)).unwrap();
    assert_eq!(a.cell(&c.id).unwrap(), b.cell(&c.id).unwrap());
    all_agree(&file.path, &[&a, &b], &c.id);
}

#[test]
fn alternating_edits_through_two_stores_are_all_kept_once() {
    let file = Shared::new();
    // Compaction every 16 chunks, so it happens in both stores, each time
    // on a document the other has moved on since its last write.
    let a = opened(&file.path, 16, 64);
    let b = opened(&file.path, 16, 64);
    let c = cell(&a, "第一联户");
    let mut recorded = BTreeSet::new();
    for i in 0..300 {
        let (s, who) = if i % 2 == 0 { (&a, "a") } else { (&b, "b") };
        recorded.insert(s.record_visit(&c.id, knock(&c, who, i)).unwrap());
        // Now and then a second write in a row, and a read in between, so
        // both stores' caches are sometimes fresh and sometimes stale.
        if i % 7 == 0 {
            recorded.insert(s.record_visit(&c.id, knock(&c, who, 1000 + i)).unwrap());
        }
        if i % 5 == 0 {
            let _ = (if i % 2 == 0 { &b } else { &a }).cell(&c.id).unwrap();
        }
    }
    let view = all_agree(&file.path, &[&a, &b], &c.id);
    assert_eq!(view.visits.len(), recorded.len());
    assert_eq!(visit_ids(&view), recorded);
    assert_eq!(
        a.visits_on(today()).unwrap().len(),
        recorded.len(),
        "one projected row per visit"
    );
}

#[test]
fn two_threads_editing_one_cell_at_once_lose_nothing() {
    let file = Shared::new();
    let setup = file.open();
    let c = cell(&setup, "第一联户");
    drop(setup);
    let start = Barrier::new(2);
    let per_side = 200;
    let (ids_a, ids_b) = std::thread::scope(|scope| {
        let run = |who: &'static str| {
            let c = &c;
            let start = &start;
            let file = &file;
            scope.spawn(move || {
                start.wait();
                let s = opened(&file.path, 32, 64);
                // Warm the cache first so each side starts from a copy the
                // other will soon make stale.
                s.cell(&c.id).unwrap();
                let mut ids = Vec::new();
                for i in 0..per_side {
                    if i % 25 == 0 {
                        // A batch of several visits as one action.
                        let round = (0..3).map(|k| knock(c, who, 10_000 + i * 3 + k)).collect();
                        ids.extend(s.record_visits(&c.id, round).unwrap());
                    } else {
                        ids.push(s.record_visit(&c.id, knock(c, who, i)).unwrap());
                    }
                }
                (s, ids)
            })
        };
        let a = run("a");
        let b = run("b");
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, ids_a) = ids_a;
    let (b, ids_b) = ids_b;
    let recorded: BTreeSet<String> = ids_a.iter().chain(&ids_b).cloned().collect();
    assert_eq!(recorded.len(), ids_a.len() + ids_b.len(), "ids are unique");
    let view = all_agree(&file.path, &[&a, &b], &c.id);
    assert_eq!(visit_ids(&view), recorded);
    assert_eq!(view.visits.len(), ids_a.len() + ids_b.len());
    let notes: BTreeSet<_> = view.visits.iter().filter_map(|v| v.note.clone()).collect();
    assert_eq!(notes.len(), view.visits.len(), "no visit twice");
}

#[test]
fn a_peers_changes_merged_through_one_store_while_the_other_edits() {
    let file = Shared::new();
    let a = file.open();
    let b = file.open();
    let c = cell(&a, "第一联户");

    // A phone in the field with its own copy of the cell, recording visits
    // as changes to hand over one by one (as sync would).
    let phone = opened(&file.dir().join("phone.db"), 128, 64);
    phone.merge_bytes(&a.save_doc(&c.id).unwrap()).unwrap();
    let mut handed = Vec::new();
    let mut phone_ids = BTreeSet::new();
    for i in 0..60 {
        let seen = phone.heads(&c.id).unwrap();
        phone_ids.insert(phone.record_visit(&c.id, knock(&c, "phone", i)).unwrap());
        handed.push(phone.changes_after(&c.id, &seen).unwrap());
    }

    let start = Barrier::new(2);
    let edited = std::thread::scope(|scope| {
        let edits = scope.spawn(|| {
            start.wait();
            (0..150)
                .map(|i| a.record_visit(&c.id, knock(&c, "a", i)).unwrap())
                .collect::<BTreeSet<_>>()
        });
        scope.spawn(|| {
            start.wait();
            for (i, bytes) in handed.iter().enumerate() {
                assert!(
                    b.apply_changes(&c.id, bytes).unwrap(),
                    "piece {i} is news to the store"
                );
                // Handing the same piece over again changes nothing.
                if i % 10 == 0 {
                    assert!(!b.apply_changes(&c.id, bytes).unwrap());
                }
            }
            // The whole document, as a bundle would carry it: nothing new.
            let (id, changed) = b.merge_bytes(&phone.save_doc(&c.id).unwrap()).unwrap();
            assert_eq!((id.as_str(), changed), (c.id.as_str(), false));
        });
        edits.join().unwrap()
    });
    let view = all_agree(&file.path, &[&a, &b], &c.id);
    let expected: BTreeSet<String> = edited.union(&phone_ids).cloned().collect();
    assert_eq!(visit_ids(&view), expected);
    assert_eq!(view.visits.len(), 150 + 60);

    // Merged back, the phone ends where the store did.
    phone
        .apply_changes(
            &c.id,
            &a.changes_after(&c.id, &phone.heads(&c.id).unwrap())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(visit_ids(&phone.cell(&c.id).unwrap()), expected);
}

#[test]
fn the_same_new_cells_imported_by_both_at_once_are_created_once() {
    let file = Shared::new();
    let a = file.open();
    let b = file.open();
    let source = opened(&file.dir().join("office.db"), 128, 64);
    let docs: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            let c = cell(&source, &format!("第{i}联户"));
            source.record_visit(&c.id, knock(&c, "office", i)).unwrap();
            let bytes = source.save_doc(&c.id).unwrap();
            (c.id, bytes)
        })
        .collect();
    let start = Barrier::new(2);
    let run = |store: &Store| {
        start.wait();
        docs.iter()
            .map(|(id, bytes)| {
                let (got, changed) = store.merge_bytes(bytes).unwrap();
                assert_eq!(&got, id);
                changed
            })
            .collect::<Vec<bool>>()
    };
    let created = std::thread::scope(|scope| {
        let ta = scope.spawn(|| run(&a));
        let tb = scope.spawn(|| run(&b));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    for (i, (id, _)) in docs.iter().enumerate() {
        // Exactly one of the two created the cell; the other found it there.
        assert!(created.0[i] ^ created.1[i], "cell {i}: {created:?}");
        assert_eq!(a.cell(id).unwrap(), source.cell(id).unwrap());
        all_agree(&file.path, &[&a, &b], id);
    }
    assert_eq!(b.cells(&[]).unwrap().len(), docs.len());
}

/// Sets the flag when dropped: a thread that panics still stops the loops
/// waiting for it, so a failure fails instead of hanging.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn compaction_in_one_store_while_the_other_appends_loses_nothing() {
    let file = Shared::new();
    let a = file.open();
    let b = file.open();
    let c = cell(&a, "第一联户");
    let other = cell(&a, "第二联户");
    let stop = AtomicBool::new(false);
    let (recorded, compactions, reads) = std::thread::scope(|scope| {
        let appends = scope.spawn(|| {
            let _stop = StopOnDrop(&stop);
            (0..250)
                .map(|i| {
                    // A program between two writes does something else for
                    // a moment (a hub reads its next request).
                    std::thread::sleep(Duration::from_micros(300));
                    a.record_visit(&c.id, knock(&c, "a", i)).unwrap()
                })
                .collect::<BTreeSet<_>>()
        });
        let compacts = scope.spawn(|| {
            let _stop = StopOnDrop(&stop);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                b.compact_all().unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            n
        });
        // A third program with room for one decoded document only: every
        // read of it loads snapshot and chunks from the file, while they are
        // being rewritten. It must never see a half-compacted document.
        let reads = scope.spawn(|| {
            let _stop = StopOnDrop(&stop);
            let reader = opened(&file.path, 128, 1);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                reader.cell(&c.id).unwrap();
                reader.cell(&other.id).unwrap();
                n += 1;
            }
            n
        });
        (
            appends.join().unwrap(),
            compacts.join().unwrap(),
            reads.join().unwrap(),
        )
    });
    assert!(compactions > 10, "compacted {compactions} times");
    assert!(reads > 10, "read {reads} times");
    let view = all_agree(&file.path, &[&a, &b], &c.id);
    assert_eq!(visit_ids(&view), recorded);
    // And the cell nobody wrote is as it was.
    all_agree(&file.path, &[&a, &b], &other.id);
}

#[test]
fn a_writer_waits_for_another_programs_write_to_finish() {
    let file = Shared::new();
    let a = file.open();
    let c = cell(&a, "第一联户");
    let other = rusqlite::Connection::open(&file.path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let recorded = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            let started = Instant::now();
            let id = a.record_visit(&c.id, knock(&c, "a", 0)).unwrap();
            (id, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("COMMIT").unwrap();
        t.join().unwrap()
    });
    assert!(recorded.1 >= Duration::from_millis(250), "{:?}", recorded.1);
    assert_eq!(
        visit_ids(&a.cell(&c.id).unwrap()),
        BTreeSet::from([recorded.0])
    );
}

#[test]
fn a_writer_held_up_too_long_is_told_to_try_again_and_writes_nothing() {
    let file = Shared::new();
    let a = file.open();
    let c = cell(&a, "第一联户");
    let heads = a.heads(&c.id).unwrap();
    let other = rusqlite::Connection::open(&file.path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = a.record_visit(&c.id, knock(&c, "a", 0)).unwrap_err();
    assert!(matches!(e, Error::Busy), "{e:?}");
    let message = e.to_string();
    assert!(
        message.contains("another program is writing") && message.contains("try again"),
        "{message}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(a.heads(&c.id).unwrap(), heads, "nothing was written");
    assert!(a.cell(&c.id).unwrap().visits.is_empty());
    // Once the other program is done, the same call works.
    a.record_visit(&c.id, knock(&c, "a", 0)).unwrap();
    assert_eq!(a.cell(&c.id).unwrap().visits.len(), 1);
}

#[test]
fn two_programs_creating_one_store_at_once_agree_on_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    for n in 0..10 {
        let p = dir.path().join(format!("new{n}.db"));
        let start = Barrier::new(2);
        let (a, b) = std::thread::scope(|scope| {
            let open = || {
                start.wait();
                opened(&p, 128, 64)
            };
            let a = scope.spawn(open);
            let b = scope.spawn(open);
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a.device_id(), b.device_id(), "store {n}");
        let c = cell(&a, "第一联户");
        assert_eq!(b.cell(&c.id).unwrap(), a.cell(&c.id).unwrap());
    }
}
