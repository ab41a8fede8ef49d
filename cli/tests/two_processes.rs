//! Real `silin` processes on a store file that this test process holds open
//! and writes at the same time, as an office machine runs `silin bundle
//! import` while the hub (or the app) has the same file open. Every visit
//! written by either side is there afterwards, once, and both sides read the
//! same cell. core/tests/two_processes.rs covers the same ground with two
//! `Store`s in one process.

use serde_json::Value;
use silin_core::model::{NewHousehold, NewVisit, RegionPath, VisitKind};
use silin_core::{Store, StoreOptions};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

const NOW: &str = "2026-11-29T10:00:00+08:00";

/// Runs `silin --json --store STORE ARGS…`, expects success, returns its
/// one JSON value.
fn silin(store: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_silin"))
        .arg("--json")
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env("SILIN_NOW", NOW)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "silin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn knock(household: &str, note: String) -> NewVisit {
    let at = chrono::DateTime::parse_from_rfc3339(NOW).unwrap();
    let mut v = NewVisit::new(VisitKind::DoorKnock, at, "王建国");
    v.household_id = Some(household.to_string());
    v.note = Some(note);
    v
}

fn visit_ids(view: &Value) -> BTreeSet<String> {
    view["visits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Sets the flag when dropped, so the writer loop stops even if the thread
/// driving `silin` fails.
struct DoneOnDrop<'a>(&'a AtomicBool);

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn silin_commands_and_a_program_holding_the_store_write_at_once_and_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office.db");
    // Held open for the whole test, with the default (fsynced) durability,
    // as an app or a hub would hold it.
    let held = Store::open(&office, StoreOptions::default()).unwrap();
    let region = RegionPath::parse("两当县/城关镇/东关村/三组").unwrap();
    let cell = held
        .create_cell("三组第5联户", &region, Some("王建国"))
        .unwrap();
    let household = held.add_household(&cell, NewHousehold::default()).unwrap();

    // A phone that carried its own copy of the cell into the field and came
    // back with visits, handed over as a bundle file.
    let phone_path = dir.path().join("phone.db");
    let phone_ids: BTreeSet<String> = {
        let phone = Store::open(&phone_path, StoreOptions::default()).unwrap();
        phone.merge_bytes(&held.save_doc(&cell).unwrap()).unwrap();
        (0..40)
            .map(|i| {
                phone
                    .record_visit(&cell, knock(&household, format!("phone {i}")))
                    .unwrap()
            })
            .collect()
    };
    let bundle = dir.path().join("phone.bundle");
    silin(
        &phone_path,
        &["bundle", "export", "--out", bundle.to_str().unwrap()],
    );

    let done = AtomicBool::new(false);
    let (cli_ids, held_ids) = std::thread::scope(|scope| {
        let commands = scope.spawn(|| {
            let _done = DoneOnDrop(&done);
            let mut ids = BTreeSet::new();
            for i in 0..16 {
                let out = silin(
                    &office,
                    &[
                        "visit",
                        "record",
                        "--cell",
                        &cell,
                        "--kind",
                        "door_knock",
                        "--household",
                        &household,
                        "--note",
                        &format!("silin {i}"),
                    ],
                );
                ids.insert(out["visit_id"].as_str().unwrap().to_string());
                if i == 8 {
                    let imported = silin(&office, &["bundle", "import", bundle.to_str().unwrap()]);
                    assert_eq!(
                        (imported["docs"].as_i64(), imported["changed"].as_i64()),
                        (Some(1), Some(1)),
                        "{imported}"
                    );
                }
            }
            ids
        });
        // This program keeps writing the same cell while the commands run.
        let mut ids = BTreeSet::new();
        let mut i = 0;
        while !done.load(Ordering::SeqCst) {
            ids.insert(
                held.record_visit(&cell, knock(&household, format!("held {i}")))
                    .unwrap(),
            );
            i += 1;
        }
        (commands.join().unwrap(), ids)
    });
    assert!(
        held_ids.len() > 16,
        "only {} writes overlapped",
        held_ids.len()
    );

    let expected: BTreeSet<String> = phone_ids
        .iter()
        .chain(&cli_ids)
        .chain(&held_ids)
        .cloned()
        .collect();
    assert_eq!(
        expected.len(),
        phone_ids.len() + cli_ids.len() + held_ids.len()
    );
    // The program that held the store all along reads what the commands
    // wrote; a command run now reads what the program wrote; and a store
    // opened afresh agrees with both.
    let held_view = held.cell(&cell).unwrap();
    let held_seen: BTreeSet<String> = held_view.visits.iter().map(|v| v.id.clone()).collect();
    assert_eq!(held_seen, expected);
    assert_eq!(held_view.visits.len(), expected.len(), "no visit twice");
    assert_eq!(
        visit_ids(&silin(&office, &["cell", "show", "--cell", &cell])),
        expected
    );
    let fresh = Store::open(&office, StoreOptions::default()).unwrap();
    assert_eq!(fresh.heads(&cell).unwrap(), held.heads(&cell).unwrap());
    assert_eq!(fresh.cell(&cell).unwrap(), held_view);
    let check = silin(&office, &["check"]);
    assert_eq!(check["ok"], true, "{check}");

    // Importing the bundle again, now, changes nothing.
    let again = silin(&office, &["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(again["changed"].as_i64(), Some(0), "{again}");
}

#[test]
fn two_imports_of_the_same_new_cells_at_once_create_each_cell_once() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let region = RegionPath::parse("两当县/城关镇/东关村/三组").unwrap();
    let cells: BTreeSet<String> = {
        let s = Store::open(&source, StoreOptions::default()).unwrap();
        (0..12)
            .map(|i| {
                s.create_cell(&format!("第{i}联户"), &region, Some("王建国"))
                    .unwrap()
            })
            .collect()
    };
    let bundle = dir.path().join("cells.bundle");
    silin(
        &source,
        &["bundle", "export", "--out", bundle.to_str().unwrap()],
    );

    let office = dir.path().join("office.db");
    silin(&office, &["init"]);
    let held = Store::open(
        &office,
        StoreOptions {
            key: silin_hub::store_key::of_store(&office).unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    let changed: Vec<i64> = std::thread::scope(|scope| {
        let imports: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    silin(&office, &["bundle", "import", bundle.to_str().unwrap()])["changed"]
                        .as_i64()
                        .unwrap()
                })
            })
            .collect();
        imports.into_iter().map(|t| t.join().unwrap()).collect()
    });
    // Each cell was created by exactly one of the two imports.
    assert_eq!(
        changed.iter().sum::<i64>(),
        cells.len() as i64,
        "{changed:?}"
    );
    let listed: BTreeSet<String> = held.cells(&[]).unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(listed, cells);
    let check = silin(&office, &["check"]);
    assert_eq!(check["ok"], true, "{check}");
}
