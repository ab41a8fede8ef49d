//! Compaction off the user's write (issue 15, item 7): a write only appends
//! its chunk; a document with `compact_after_chunks` chunks is compacted
//! later — on the store's own thread after the write returns, or when
//! `Store::maintain` runs — and a write compacts inline only at the bound
//! (`COMPACTION_BOUND` × `compact_after_chunks`), so a store that is never
//! idle does not grow without bound. What is written reloads the same
//! whichever of these happened, and a kill during a background compaction
//! loses no acknowledged visit.

mod common;

use common::*;
use silin_core::model::*;
use silin_core::store::{Compaction, COMPACTION_BOUND};
use silin_core::{Durability, Store, StoreOptions};
use std::path::Path;
use std::time::{Duration, Instant};

const AFTER: i64 = 8;

fn opened(p: &Path, compaction: Compaction) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            compact_after_chunks: AFTER,
            compaction,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A cell with one household of one member; returns (cell, member).
fn cell(store: &Store) -> (String, String) {
    let (cell, member) = store
        .create_cell_with(
            "第一联户",
            &path("两当县/城关镇/东关村/一组"),
            Some("王建国"),
            |d| {
                let h = new_id();
                d.add_household(&h, NewHousehold::default(), 0)?;
                let m = new_id();
                let nm = NewMember {
                    name: "王秀兰".into(),
                    ..Default::default()
                };
                d.add_member(&h, &m, nm, today(), 0)?;
                Ok(m)
            },
        )
        .unwrap();
    (cell, member)
}

fn visit(store: &Store, cell: &str, member: &str, n: u32) -> String {
    let mut v = NewVisit::new(VisitKind::HealthCheck, at(today(), 8, n % 60), "王建国");
    v.member_id = Some(member.to_string());
    v.temperature = Some(36.5);
    store.record_visit(cell, v).unwrap()
}

fn chunks(store: &Store) -> i64 {
    store.stats().unwrap().chunks
}

#[test]
fn a_write_leaves_compaction_for_later_and_the_cell_reloads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let (id, heads, view) = {
        let store = opened(&p, Compaction::OnMaintain);
        let (id, member) = cell(&store);
        // Past `compact_after_chunks`, below the bound: nothing compacted.
        let n = AFTER * COMPACTION_BOUND - 1;
        for i in 0..n {
            visit(&store, &id, &member, i as u32);
        }
        assert_eq!(chunks(&store), n);
        let heads = store.heads(&id).unwrap();
        let view = store.cell(&id).unwrap();
        (id, heads, view)
    };
    // After a restart, snapshot + every chunk load to the same document.
    let store = opened(&p, Compaction::OnMaintain);
    assert_eq!(store.heads(&id).unwrap(), heads);
    assert_eq!(store.cell(&id).unwrap(), view);
    assert_eq!(view.visits.len() as i64, AFTER * COMPACTION_BOUND - 1);
    assert!(store.check().unwrap().ok);
    assert!(store.projections_match_docs().unwrap());
}

#[test]
fn maintenance_compacts_what_is_due_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let store = opened(&p, Compaction::OnMaintain);
    let (due, member) = cell(&store);
    let (quiet, quiet_member) = cell(&store);
    for i in 0..AFTER + 3 {
        visit(&store, &due, &member, i as u32);
    }
    for i in 0..2 {
        visit(&store, &quiet, &quiet_member, i);
    }
    assert_eq!(chunks(&store), AFTER + 3 + 2);
    let heads = store.heads(&due).unwrap();
    let view = store.cell(&due).unwrap();
    assert_eq!(store.maintain().unwrap(), 1);
    // The due cell is one snapshot again; the other keeps its two chunks.
    assert_eq!(chunks(&store), 2);
    assert_eq!(store.maintain().unwrap(), 0);
    drop(store);
    let store = opened(&p, Compaction::OnMaintain);
    assert_eq!(store.heads(&due).unwrap(), heads);
    assert_eq!(store.cell(&due).unwrap(), view);
    assert!(store.check().unwrap().ok);
}

#[test]
fn maintenance_compacts_a_due_cell_that_is_not_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let (id, heads) = {
        let store = opened(&p, Compaction::OnMaintain);
        let (id, member) = cell(&store);
        for i in 0..AFTER {
            visit(&store, &id, &member, i as u32);
        }
        let heads = store.heads(&id).unwrap();
        (id, heads)
    };
    let store = opened(&p, Compaction::OnMaintain);
    assert_eq!(chunks(&store), AFTER);
    assert_eq!(store.maintain().unwrap(), 1);
    assert_eq!(chunks(&store), 0);
    assert_eq!(store.heads(&id).unwrap(), heads);
}

#[test]
fn the_store_compacts_in_the_background_after_the_write_returns() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let store = opened(&p, Compaction::Background);
    let (id, member) = cell(&store);
    let mut ids = Vec::new();
    for i in 0..AFTER {
        ids.push(visit(&store, &id, &member, i as u32));
    }
    // The write that made the cell due returned before its compaction; the
    // store's thread does it soon after.
    let deadline = Instant::now() + Duration::from_secs(20);
    while chunks(&store) >= AFTER {
        assert!(Instant::now() < deadline, "never compacted");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(chunks(&store), 0);
    let heads = store.heads(&id).unwrap();
    drop(store);
    let store = opened(&p, Compaction::Background);
    assert_eq!(store.heads(&id).unwrap(), heads);
    let visits = store.cell(&id).unwrap().visits;
    assert!(ids.iter().all(|v| visits.iter().any(|w| &w.id == v)));
}

#[test]
fn writes_go_on_while_the_store_compacts_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let store = opened(&p, Compaction::Background);
    let (id, member) = cell(&store);
    let mut ids = Vec::new();
    // Back to back: the thread races these writes for the cell, and a
    // snapshot saved while a write moved the cell on is thrown away.
    for i in 0..400 {
        ids.push(visit(&store, &id, &member, i));
        assert!(chunks(&store) < AFTER * COMPACTION_BOUND);
    }
    let heads = store.heads(&id).unwrap();
    drop(store);
    let store = opened(&p, Compaction::Background);
    assert_eq!(store.heads(&id).unwrap(), heads);
    assert_eq!(store.cell(&id).unwrap().visits.len(), ids.len());
    assert!(store.check().unwrap().ok);
}

#[test]
fn a_store_never_idle_compacts_at_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    // Nobody calls `maintain`: only the bound compacts.
    let store = opened(&p, Compaction::OnMaintain);
    let (id, member) = cell(&store);
    let bound = AFTER * COMPACTION_BOUND;
    let mut most = 0;
    let mut compactions = 0;
    let mut before = chunks(&store);
    for i in 0..3 * bound {
        visit(&store, &id, &member, i as u32);
        let now = chunks(&store);
        most = most.max(now);
        compactions += i64::from(now < before);
        before = now;
    }
    assert_eq!(most, bound - 1);
    assert_eq!(compactions, 3);
    let heads = store.heads(&id).unwrap();
    drop(store);
    let store = opened(&p, Compaction::OnMaintain);
    assert_eq!(store.heads(&id).unwrap(), heads);
    assert_eq!(store.cell(&id).unwrap().visits.len() as i64, 3 * bound);
}

#[test]
fn compaction_in_the_write_is_still_there_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let store = opened(&p, Compaction::InWrite);
    let (id, member) = cell(&store);
    for i in 0..AFTER {
        visit(&store, &id, &member, i as u32);
        assert!(chunks(&store) < AFTER);
    }
}

/// The writer the kill test runs as a child process: records visits one by
/// one on `Durability::Full`, compacting in the background every 4 chunks,
/// and prints each visit's id after `record_visit` returned.
fn child_writer(p: &Path) -> ! {
    use std::io::Write;
    let store = Store::open(
        p,
        StoreOptions {
            durability: Durability::Full,
            compact_after_chunks: 4,
            compaction: Compaction::Background,
            ..Default::default()
        },
    )
    .unwrap();
    let (id, member) = match store.cells(&[]).unwrap().into_iter().next() {
        Some(c) => {
            let view = store.cell(&c.id).unwrap();
            (c.id, view.households[0].members[0].id.clone())
        }
        None => cell(&store),
    };
    let mut out = std::io::stdout();
    for i in 0.. {
        let v = visit(&store, &id, &member, i);
        writeln!(out, "ACK {v}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn acknowledged_visits_survive_a_kill_during_background_compaction() {
    const CHILD: &str = "SILIN_COMPACTION_KILL_CHILD";
    if let Some(p) = std::env::var_os(CHILD) {
        child_writer(Path::new(&p));
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.db");
    let mut acked: Vec<String> = Vec::new();
    for round in 0..8u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "acknowledged_visits_survive_a_kill_during_background_compaction",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &p)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        // Kill after a number of acknowledged writes that varies by round,
        // so the kill lands at different points of the compaction cycle
        // (every 4 chunks, on the store's thread).
        let want = 20 + (round * 7) % 13;
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.to_string());
                seen += 1;
                if seen >= want {
                    break;
                }
            }
        }
        child.kill().unwrap();
        // What it printed before dying was acknowledged too.
        for line in lines.map_while(|l| l.ok()) {
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.to_string());
            }
        }
        child.wait().unwrap();
        let store = opened(&p, Compaction::OnMaintain);
        let report = store.check().unwrap();
        assert!(report.ok, "round {round}: {report:?}");
        let id = store.cells(&[]).unwrap()[0].id.clone();
        let visits = store.cell(&id).unwrap().visits;
        for a in &acked {
            assert!(
                visits.iter().any(|v| &v.id == a),
                "round {round}: acknowledged visit {a} lost"
            );
        }
        assert!(chunks(&store) < 4 * COMPACTION_BOUND);
    }
    assert!(acked.len() >= 8 * 20);
}
