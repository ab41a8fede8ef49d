//! The `silin` command contract (shared/CLI.md), driven as a script would:
//! real binary, real store files, JSON on stdout, exit codes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// "Now" for every command in these tests (an ordinary Sunday morning in
/// UTC+8): dates in the assertions are relative to it, whatever the real day.
const NOW: &str = "2026-11-29T10:00:00+08:00";

struct Silin {
    _dir: tempfile::TempDir,
    store: PathBuf,
}

impl Silin {
    fn new() -> Silin {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("office.db");
        Silin { _dir: dir, store }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn raw(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            // The office's day is pinned: the dates below are that day's.
            .env("SILIN_NOW", NOW)
            .output()
            .unwrap()
    }

    /// Runs with --json, expects success, returns the one JSON value.
    fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.raw(&a);
        assert!(
            out.status.success(),
            "silin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not one JSON value ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs, expects failure with `code`; returns stderr, checked to be one line.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.raw(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "silin {args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "error must be one line: {err:?}"
        );
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        err
    }

    fn str(&self, args: &[&str], field: &str) -> String {
        self.json(args)[field].as_str().unwrap().to_string()
    }
}

/// A cell with one household and one member, as an office would set it up.
fn registered() -> (Silin, String, String, String) {
    let s = Silin::new();
    s.json(&["init", "--name", "东关村网格员"]);
    let cell = s.str(
        &[
            "cell",
            "create",
            "--name",
            "三组第5联户",
            "--path",
            "两当县/城关镇/东关村/三组",
            "--lead",
            "王建国",
        ],
        "cell_id",
    );
    let hh = s.str(
        &[
            "household",
            "add",
            "--cell",
            &cell,
            "--address",
            "东关村三组12号",
            "--phone",
            "13912345678",
        ],
        "household_id",
    );
    let m = s.str(
        &[
            "member",
            "add",
            "--household",
            &hh,
            "--name",
            "王芳",
            "--id-number",
            "11010519491231002X",
            "--vulnerable",
            "elderly,alone",
        ],
        "member_id",
    );
    (s, cell, hh, m)
}

#[test]
fn a_day_of_office_work_through_the_command() {
    let (s, cell, hh, m) = registered();
    s.json(&[
        "member",
        "set",
        "--member",
        &m,
        "residence=returned",
        "monitoring_until=2026-12-10",
        "monitoring_since=2026-11-26",
    ]);
    s.str(
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "health_check",
            "--member",
            &m,
            "--temperature",
            "36.6",
        ],
        "visit_id",
    );
    s.str(
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "errand",
            "--household",
            &hh,
            "--note",
            "买药",
        ],
        "visit_id",
    );
    let r = s.json(&["report", "submit", "--cell", &cell, "--date", "2026-11-29"]);
    assert_eq!(r["cell_id"], cell.as_str());
    assert_eq!(r["date"], "2026-11-29");

    let shown = s.json(&["cell", "show", "--cell", &cell]);
    assert_eq!(shown["cell"]["name"], "三组第5联户");
    let member = &shown["households"][0]["members"][0];
    assert_eq!(member["name"], "王芳");
    assert_eq!(member["residence"], "returned");
    assert_eq!(member["birth_year"], 1949);
    assert_eq!(member["monitoring"]["until"], "2026-12-10");
    assert_eq!(shown["visits"].as_array().unwrap().len(), 2);
    assert_eq!(shown["reports"][0]["under_monitoring"], 1);
    assert_eq!(shown["reports"][0]["errands"], 1);

    let cells = s.json(&["cells"]);
    assert_eq!(cells[0]["cell_id"], cell.as_str());
    assert_eq!(cells[0]["path"], "两当县/城关镇/东关村/三组");

    let rollup = s.json(&["rollup", "--date", "2026-11-29", "--level", "village"]);
    assert_eq!(rollup[0]["path"], "两当县/城关镇/东关村");
    assert_eq!(
        (
            rollup[0]["cells"].as_i64(),
            rollup[0]["reported"].as_i64(),
            rollup[0]["missing"].as_i64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let next_day = s.json(&["rollup", "--date", "2026-11-30"]);
    assert_eq!(next_day[0]["missing"], 1);

    let monitored = s.json(&["list", "monitoring", "--date", "2026-12-01"]);
    assert_eq!(monitored[0]["member_id"], m.as_str());
    assert_eq!(
        s.json(&["list", "vulnerable"])[0]["vulnerable"],
        serde_json::json!(["elderly", "alone"])
    );

    let check = s.json(&["check"]);
    assert_eq!(check["ok"], true);
}

#[test]
fn saved_cell_is_a_standard_automerge_document() {
    let (s, cell, _, _) = registered();
    let file = s.dir().join("cell.automerge");
    let out = s.json(&[
        "cell",
        "save",
        "--cell",
        &cell,
        "--out",
        file.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(out["bytes"].as_u64(), Some(bytes.len() as u64));
    let doc = silin_core::cell::CellDoc::load(&bytes, &automerge_actor()).unwrap();
    assert_eq!(doc.id(), cell);
    assert_eq!(doc.households().unwrap()[0].members[0].name, "王芳");
}

fn automerge_actor() -> automerge::ActorId {
    automerge::ActorId::random()
}

#[test]
fn bundle_carries_cells_and_reimport_changes_nothing() {
    let (s, cell, _, _) = registered();
    let file = s.dir().join("cells.bundle");
    let exported = s.json(&["bundle", "export", "--out", file.to_str().unwrap()]);
    assert_eq!(exported["docs"], 1);

    let phone = Silin::new();
    phone.json(&["init"]);
    let first = phone.json(&["bundle", "import", file.to_str().unwrap()]);
    assert_eq!(
        (first["docs"].as_i64(), first["changed"].as_i64()),
        (Some(1), Some(1))
    );
    let again = phone.json(&["bundle", "import", file.to_str().unwrap()]);
    assert_eq!(
        (again["docs"].as_i64(), again["changed"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        phone.json(&["cell", "show", "--cell", &cell]),
        s.json(&["cell", "show", "--cell", &cell])
    );

    let junk = s.dir().join("junk.bundle");
    std::fs::write(&junk, b"SILINBDL\x01\x00\xff\xff").unwrap();
    let err = phone.fails(2, &["bundle", "import", junk.to_str().unwrap()]);
    assert!(err.contains("bundle"), "{err}");
}

#[test]
fn bad_input_exits_2_names_the_problem_and_writes_nothing() {
    let (s, cell, hh, m) = registered();
    let before = s.json(&["cell", "show", "--cell", &cell]);

    let e = s.fails(
        2,
        &[
            "member",
            "add",
            "--household",
            &hh,
            "--name",
            "李四",
            "--id-number",
            "110105194912310021",
        ],
    );
    assert!(e.contains("id_number") && e.contains("check digit"), "{e}");
    let e = s.fails(
        2,
        &[
            "member",
            "add",
            "--household",
            &hh,
            "--name",
            "李四",
            "--phone",
            "1234",
        ],
    );
    assert!(e.contains("phone"), "{e}");
    let e = s.fails(
        2,
        &[
            "member",
            "add",
            "--household",
            &hh,
            "--name",
            "李四",
            "--birth-year",
            "1700",
        ],
    );
    assert!(e.contains("birth_year"), "{e}");
    let e = s.fails(
        2,
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "health_check",
            "--member",
            &m,
            "--temperature",
            "45",
        ],
    );
    assert!(e.contains("temperature"), "{e}");
    let e = s.fails(2, &["visit", "record", "--cell", &cell, "--kind", "party"]);
    assert!(e.contains("door_knock"), "{e}");
    let e = s.fails(2, &["member", "set", "--member", &m, "residence=moon"]);
    assert!(e.contains("residence"), "{e}");
    let e = s.fails(
        2,
        &["report", "submit", "--cell", &cell, "--date", "2026-13-01"],
    );
    assert!(e.contains("date"), "{e}");
    let e = s.fails(
        2,
        &[
            "report",
            "submit",
            "--cell",
            &cell,
            "--date",
            "2026-11-29",
            "--arrivals",
            "-1",
        ],
    );
    assert!(e.contains("arrivals"), "{e}");
    let e = s.fails(2, &["cell", "create", "--name", "x", "--path", "only/two"]);
    assert!(e.contains("path"), "{e}");

    assert_eq!(
        s.json(&["cell", "show", "--cell", &cell]),
        before,
        "a refused command wrote something"
    );
}

#[test]
fn unknown_ids_and_missing_things_exit_2() {
    let (s, _, _, _) = registered();
    let nobody = "0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f";
    let e = s.fails(2, &["cell", "show", "--cell", nobody]);
    assert!(e.contains("no cell"), "{e}");
    s.fails(2, &["household", "add", "--cell", nobody]);
    s.fails(2, &["member", "add", "--household", nobody, "--name", "x"]);
    s.fails(
        2,
        &["member", "set", "--member", nobody, "phone=13912345678"],
    );
    let e = s.fails(2, &["cell", "show", "--cell", "not-an-id"]);
    assert!(e.contains("cell"), "{e}");
    s.fails(2, &["frobnicate"]);
    s.fails(2, &["cell", "show"]);

    let none = Silin::new();
    let e = none.fails(2, &["cells"]);
    assert!(e.contains("silin init"), "{e}");
    assert!(!none.store.exists(), "a read command created a store");
}

#[test]
fn encrypted_store_needs_its_key() {
    let s = Silin::new();
    let run = |args: &[&str], key: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_silin"));
        c.arg("--store").arg(&s.store).args(args);
        if let Some(k) = key {
            c.env("SILIN_TEST_KEY", k);
        }
        c.output().unwrap()
    };
    assert!(run(
        &["--key-env", "SILIN_TEST_KEY", "init"],
        Some("correct horse")
    )
    .status
    .success());
    let wrong = run(
        &["--key-env", "SILIN_TEST_KEY", "cells"],
        Some("battery staple"),
    );
    assert_eq!(wrong.status.code(), Some(2));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("key"), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line, no library noise: {err:?}"
    );
    let none = run(&["cells"], None);
    assert_eq!(none.status.code(), Some(2));
    let unset = run(&["--key-env", "SILIN_TEST_KEY", "cells"], None);
    assert_eq!(unset.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unset.stderr).contains("SILIN_TEST_KEY"));
    assert!(run(
        &["--key-env", "SILIN_TEST_KEY", "cells"],
        Some("correct horse")
    )
    .status
    .success());
}

#[test]
fn demo_converges_and_its_rollup_matches_what_it_generated() {
    let s = Silin::new();
    let out = s.json(&["demo", "--cells", "60", "--days", "2", "--seed", "7"]);
    assert_eq!(out["cells"], 60);
    assert_eq!(out["converged"], true);
    assert!(out["sync"]["bytes"].as_i64().unwrap() > 0);
    assert!(out["sync"]["round_trips"].as_i64().unwrap() > 0);
    let county = &out["rollup"]["levels"]["county"][0];
    assert_eq!(county["cells"], 60);
    let again = s.json(&["demo", "--cells", "60", "--days", "2", "--seed", "7"]);
    assert_eq!(again["rollup"], out["rollup"], "same seed, same county");
}
