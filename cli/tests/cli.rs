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

/// Human output, expected to succeed.
fn text(s: &Silin, args: &[&str]) -> String {
    let out = s.raw(args);
    assert!(
        out.status.success(),
        "silin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_missing_flag_is_named_in_the_one_line() {
    let (s, cell, _, _) = registered();
    let e = s.fails(2, &["household", "add"]);
    assert!(e.contains("--cell"), "{e}");
    assert!(e.contains("silin household add --help"), "{e}");
    let e = s.fails(2, &["report", "submit", "--cell", &cell]);
    assert!(e.contains("--date"), "{e}");
    let e = s.fails(2, &["member", "set", "--member", &cell]);
    assert!(e.contains("FIELD=VALUE"), "{e}");
}

#[test]
fn member_set_help_lists_every_field_it_accepts() {
    let s = Silin::new();
    let help = text(&s, &["member", "set", "--help"]);
    for f in silin_core::model::MEMBER_FIELDS {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{f} "))),
            "{f} missing from:\n{help}"
        );
    }
}

#[test]
fn rollup_columns_line_up_with_chinese_names() {
    use unicode_width::UnicodeWidthStr;
    let (s, _, _, _) = registered();
    for path in ["两当县/站儿巷镇/永安村/一组", "两当县/Xian/a/b"] {
        s.json(&["cell", "create", "--name", "x", "--path", path]);
    }
    let out = text(&s, &["rollup", "--date", "2026-11-29", "--level", "group"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("region"), "{out}");
    // Numbers are right-aligned and the last column is numeric: every row
    // ends at the same display column.
    let widths: Vec<usize> = lines.iter().map(|l| l.width()).collect();
    assert!(widths.iter().all(|w| *w == widths[0]), "{widths:?}\n{out}");
    for l in &lines[1..] {
        let cells_at = l.find("  ").unwrap();
        assert!(
            l[..cells_at].width() <= lines[0].find("cells").unwrap(),
            "{out}"
        );
    }
}

#[test]
fn lists_print_a_header_and_say_none_when_empty() {
    let s = Silin::new();
    s.json(&["init"]);
    for (args, header) in [
        (vec!["cells"], "cell"),
        (vec!["list", "monitoring", "--date", "2026-11-29"], "member"),
        (vec!["list", "ending"], "member"),
        (vec!["list", "vulnerable"], "member"),
        (vec!["list", "missing", "--date", "2026-11-29"], "cell"),
        (vec!["list", "visits"], "cell"),
    ] {
        let out = text(&s, &args);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {out}");
        assert!(lines[0].starts_with(header), "{args:?}: {out}");
        assert_eq!(lines[1], "none", "{args:?}");
        // JSON is unchanged: an empty list.
        assert_eq!(s.json(&args), serde_json::json!([]), "{args:?}");
    }
    let (s, cell, _, m) = registered();
    let out = text(&s, &["list", "vulnerable"]);
    assert!(out.lines().next().unwrap().starts_with("member"), "{out}");
    assert!(out.contains(&m) && out.contains("王芳"), "{out}");
    let out = text(&s, &["list", "missing", "--date", "2026-11-29"]);
    assert!(out.contains(&cell), "{out}");
}

#[test]
fn cell_show_gives_visit_times_to_the_second() {
    let (s, cell, _, m) = registered();
    s.json(&[
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
    ]);
    let out = text(&s, &["cell", "show", "--cell", &cell]);
    let line = out
        .lines()
        .find(|l| l.contains("health_check"))
        .unwrap_or_else(|| panic!("no visit in:\n{out}"));
    // The pinned clock runs on from 10:00:00, so this is within seconds of it.
    assert!(line.contains("2026-11-29 10:00:"), "{line}");
    let time = line.split_whitespace().nth(1).unwrap();
    assert_eq!(time.len(), "10:00:00".len(), "to the second: {line}");
}

#[test]
fn impossible_dates_and_resident_ids_say_what_is_wrong() {
    let (s, cell, hh, _) = registered();
    let e = s.fails(
        2,
        &["report", "submit", "--cell", &cell, "--date", "2026-02-30"],
    );
    assert!(e.contains("February has 28 days in 2026"), "{e}");
    let e = s.fails(
        2,
        &["report", "submit", "--cell", &cell, "--date", "2026-13-01"],
    );
    assert!(e.contains("month 13"), "{e}");
    let e = s.fails(
        2,
        &["report", "submit", "--cell", &cell, "--date", "2026-12-32"],
    );
    assert!(e.contains("December has 31 days"), "{e}");

    let add = |id: &str| {
        s.fails(
            2,
            &[
                "member",
                "add",
                "--household",
                &hh,
                "--name",
                "李四",
                "--id-number",
                id,
            ],
        )
    };
    // 1949-02-30 does not exist; the check digit is right for the digits.
    let e = add("110105194902300020");
    assert!(e.contains("birth date") && e.contains("February"), "{e}");
    assert!(!e.contains("check digit"), "{e}");
    let e = add("000000194912310027");
    assert!(e.contains("province"), "{e}");

    let m = s.str(
        &[
            "member",
            "add",
            "--household",
            &hh,
            "--name",
            "王小芳",
            "--id-number",
            "11010519491231002x",
        ],
        "member_id",
    );
    let shown = s.json(&["cell", "show", "--cell", &cell]);
    let members = shown["households"][0]["members"].as_array().unwrap();
    let added = members.iter().find(|x| x["id"] == m.as_str()).unwrap();
    assert_eq!(added["id_number"], "11010519491231002X");
}

#[test]
fn init_with_a_name_on_an_existing_store_renames_the_device_and_says_so() {
    let s = Silin::new();
    let first = s.json(&["init", "--name", "东关村网格员"]);
    let again = s.raw(&["init", "--name", "西关村网格员"]);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        said.contains("already exists")
            && said.contains("renamed from 东关村网格员 to 西关村网格员"),
        "{said}"
    );
    let v = s.json(&["init"]);
    assert_eq!(v["device_id"], first["device_id"]);
    assert_eq!(v["name"], "西关村网格员");
    assert_eq!(v["created"], false);
}
