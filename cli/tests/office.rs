//! The office's commands as a township clerk runs them: feedback lists in
//! (CSV in UTF-8 and GB18030, XLSX) as tasks in the members' cells, and
//! dashboard logins. Real binary, real store and list files.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::Office;

/// The hub's store ("hub.db") in a temporary directory, and the office's
/// commands on it. (The lists' dates are relative to [`support::NOW`].)
struct Hub {
    office: Office,
    db: PathBuf,
}

impl Hub {
    fn new() -> Hub {
        let office = Office::new();
        let db = office.path("hub.db");
        Hub { office, db }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.office.path(name)
    }

    fn json(&self, args: &[&str]) -> Value {
        self.office.json("hub.db", args)
    }

    fn json_in(&self, args: &[&str], stdin: Option<&str>) -> Value {
        self.office.json_in("hub.db", args, stdin)
    }

    /// Expects exit `code` with a one-line message; returns (stdout, stderr).
    fn fails(&self, code: i32, args: &[&str], stdin: Option<&str>) -> (String, String) {
        self.office.fails_in("hub.db", code, args, stdin)
    }

    fn id(&self, args: &[&str], field: &str) -> String {
        self.json(args)[field].as_str().unwrap().to_string()
    }

    fn cell(&self, name: &str, path: &str) -> String {
        self.id(
            &["cell", "create", "--name", name, "--path", path],
            "cell_id",
        )
    }

    fn household(&self, cell: &str, phone: &str) -> String {
        self.id(
            &["household", "add", "--cell", cell, "--phone", phone],
            "household_id",
        )
    }

    fn member(&self, household: &str, name: &str, extra: &[&str]) -> String {
        let mut a = vec!["member", "add", "--household", household, "--name", name];
        a.extend_from_slice(extra);
        self.id(&a, "member_id")
    }

    fn show(&self, cell: &str) -> Value {
        self.json(&["cell", "show", "--cell", cell])
    }

    fn import(&self, file: &Path, kind: &str, extra: &[&str]) -> Value {
        let f = file.to_str().unwrap();
        let mut a = vec!["office", "import-list", f, "--kind", kind];
        a.extend_from_slice(extra);
        self.json(&a)
    }

    /// Rows of the store's task table and chunk count, read beside the store.
    fn tables(&self) -> (Vec<(String, String, String)>, i64) {
        let c = support::sql(&self.db);
        let mut s = c
            .prepare("SELECT id, cell_id, title FROM tasks ORDER BY id")
            .unwrap();
        let tasks = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let chunks = c
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .unwrap();
        (tasks, chunks)
    }
}

/// Every row of every table in the store file, the schema included, as
/// text in a fixed order: equal dumps mean the command wrote nothing.
fn dump(db: &Path) -> Vec<String> {
    let c = support::sql(db);
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = vec![];
    for t in ["sqlite_master".to_string()].iter().chain(&tables) {
        let mut s = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = s.column_count();
        let mut rows: Vec<String> = s
            .query_map([], |r| {
                let cols: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
                    .collect();
                Ok(format!("{t}: {}", cols.join(" | ")))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.extend(rows);
    }
    out
}

/// The list register's rows: each list with its tasks' (cell, task).
fn register(db: &Path) -> Vec<(String, Vec<(String, String)>)> {
    let c = support::sql(db);
    let lists: Vec<String> = c
        .prepare("SELECT list_id FROM office_lists ORDER BY list_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    lists
        .into_iter()
        .map(|l| {
            let tasks = c
                .prepare("SELECT cell_id, task_id FROM office_list_tasks WHERE list_id = ?1 ORDER BY task_id")
                .unwrap()
                .query_map([&l], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (l, tasks)
        })
        .collect()
}

/// A resident ID number with its ISO 7064 MOD 11-2 check digit, worked
/// out here rather than by silin-core's: the import's check of the digit is
/// under test.
fn resident_id(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .chars()
        .zip(W)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// The county as the hub knows it: two 王芳 in 东关村 (one with her
/// resident ID on record), 李明 known by phone, 张伟 in 西坡村.
struct County {
    hub: Hub,
    group1: String,
    group2: String,
    xipo: String,
    wang_fang: String,
    wang_fang_hh: String,
    other_wang_fang: String,
    li_ming: String,
    zhang_wei: String,
}

const WANG_FANG_ID: &str = "62012319800101002";
const ZHANG_WEI_ID: &str = "62012319750615003";

fn county() -> County {
    let hub = Hub::new();
    hub.json(&["init", "--name", "城关镇办公室"]);
    let group1 = hub.cell("一组第1联户", "两当县/城关镇/东关村/一组");
    let group2 = hub.cell("二组第3联户", "两当县/城关镇/东关村/二组");
    let xipo = hub.cell("一组第2联户", "两当县/城关镇/西坡村/一组");
    let h1 = hub.household(&group1, "13912345678");
    let wang_fang = hub.member(&h1, "王芳", &["--id-number", &resident_id(WANG_FANG_ID)]);
    let li_ming = hub.member(&h1, "李明", &["--phone", "13800000001"]);
    let h2 = hub.household(&group2, "13712345678");
    let other_wang_fang = hub.member(&h2, "王芳", &["--birth-year", "1990"]);
    let h3 = hub.household(&xipo, "13612345678");
    let zhang_wei = hub.member(&h3, "张伟", &["--id-number", &resident_id(ZHANG_WEI_ID)]);
    County {
        hub,
        group1,
        group2,
        xipo,
        wang_fang,
        wang_fang_hh: h1,
        other_wang_fang,
        li_ming,
        zhang_wei,
    }
}

/// The three people of a good list: by resident ID, by name + phone, by
/// name + village.
fn good_rows() -> Vec<[String; 4]> {
    vec![
        [
            "王芳".into(),
            resident_id(WANG_FANG_ID),
            String::new(),
            "东关村".into(),
        ],
        [
            "李明".into(),
            String::new(),
            "13800000001".into(),
            "东关村".into(),
        ],
        ["张伟".into(), String::new(), String::new(), "西坡村".into()],
    ]
}

fn csv_text(rows: &[[String; 4]]) -> String {
    let mut s = String::from("姓名,身份证号码,联系电话,所在村\n");
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    s
}

fn task_of<'a>(view: &'a Value, member: &str) -> Vec<&'a Value> {
    view["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["member_id"] == member)
        .collect()
}

#[test]
fn a_test_list_becomes_one_task_per_person_and_importing_again_creates_none() {
    let c = county();
    let list = c.hub.path("核酸检测名单.csv");
    // UTF-8 with a BOM, as Excel saves "CSV UTF-8".
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(csv_text(&good_rows()).as_bytes());
    std::fs::write(&list, &bytes).unwrap();

    let first = c.hub.import(&list, "test", &[]);
    assert_eq!(first["rows"], 3, "{first}");
    assert_eq!(first["matched"], 3);
    assert_eq!(first["tasks_created"], 3);
    assert_eq!(first["rejected"], serde_json::json!([]));
    let list_id = first["list_id"].as_str().unwrap().to_string();

    // The tasks are in the members' own cells, naming them.
    let g1 = c.hub.show(&c.group1);
    let wang = task_of(&g1, &c.wang_fang);
    assert_eq!(wang.len(), 1, "{g1}");
    assert_eq!(wang[0]["title"], "核酸检测提醒：王芳");
    assert_eq!(wang[0]["household_id"], c.wang_fang_hh.as_str());
    assert_eq!(wang[0]["status"], "open");
    assert_eq!(task_of(&g1, &c.li_ming)[0]["title"], "核酸检测提醒：李明");
    let xipo = c.hub.show(&c.xipo);
    assert_eq!(
        task_of(&xipo, &c.zhang_wei)[0]["title"],
        "核酸检测提醒：张伟"
    );
    // The other 王芳 was not taken for her namesake.
    let g2 = c.hub.show(&c.group2);
    assert!(task_of(&g2, &c.other_wang_fang).is_empty(), "{g2}");

    // The same list again, and the same list as GB18030 and as XLSX: one
    // list, no new task.
    let again = c.hub.import(&list, "test", &[]);
    assert_eq!(again["tasks_created"], 0, "{again}");
    assert_eq!(again["matched"], 3);
    assert_eq!(again["list_id"], list_id.as_str());

    let gb = c.hub.path("核酸检测名单-gbk.csv");
    let text = csv_text(&good_rows());
    let (encoded, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&encoded).is_err(),
        "really GB18030 bytes"
    );
    std::fs::write(&gb, &encoded).unwrap();
    let from_gb = c.hub.import(&gb, "test", &[]);
    assert_eq!(from_gb["list_id"], list_id.as_str(), "{from_gb}");
    assert_eq!(from_gb["tasks_created"], 0);

    // Named .csv, but a workbook: read by content.
    let xlsx = c.hub.path("核酸检测名单-excel.csv");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, h) in ["姓名", "身份证号码", "联系电话", "所在村"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *h).unwrap();
    }
    for (i, r) in good_rows().iter().enumerate() {
        for (col, v) in r.iter().enumerate() {
            if v.is_empty() {
                continue;
            }
            // Excel keeps a phone typed in a cell as a number.
            if col == 2 {
                sheet
                    .write_number(i as u32 + 1, col as u16, v.parse::<f64>().unwrap())
                    .unwrap();
            } else {
                sheet.write_string(i as u32 + 1, col as u16, v).unwrap();
            }
        }
    }
    book.save(&xlsx).unwrap();
    let from_xlsx = c.hub.import(&xlsx, "test", &[]);
    assert_eq!(from_xlsx["list_id"], list_id.as_str(), "{from_xlsx}");
    assert_eq!(from_xlsx["matched"], 3);
    assert_eq!(from_xlsx["tasks_created"], 0);

    let (tasks, _) = c.hub.tables();
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    // Each import wrote its (empty) report beside the list.
    let report = std::fs::read_to_string(c.hub.path("核酸检测名单.csv.rejected.csv")).unwrap();
    assert_eq!(report.trim_start_matches('\u{feff}').lines().count(), 1);
}

#[test]
fn a_list_with_bad_rows_imports_nothing_unless_partial_is_accepted() {
    let c = county();
    let mut rows = good_rows();
    rows.push(["王芳".into(), String::new(), String::new(), "东关村".into()]);
    // Last digit changed: the check digit no longer fits.
    let mut bad = resident_id("62012319800101004");
    bad.replace_range(16..17, if &bad[16..17] == "5" { "6" } else { "5" });
    rows.push(["赵六".into(), bad, String::new(), "东关村".into()]);
    rows.push([
        "钱七".into(),
        resident_id("62012319900202005"),
        String::new(),
        "东关村".into(),
    ]);
    let list = c.hub.path("接种名单.csv");
    let text = csv_text(&rows);
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    std::fs::write(&list, &gb).unwrap();

    let before = (
        c.hub.tables(),
        c.hub.show(&c.group1),
        c.hub.show(&c.group2),
        c.hub.show(&c.xipo),
    );
    let f = list.to_str().unwrap();
    let (stdout, err) = c.hub.fails(
        2,
        &[
            "--json",
            "office",
            "import-list",
            f,
            "--kind",
            "vaccination",
        ],
        None,
    );
    assert!(err.contains("3 of 6 rows rejected"), "{err}");
    assert!(err.contains("接种名单.csv.rejected.csv"), "{err}");
    assert!(err.contains("--accept-partial"), "{err}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["tasks_created"], 0);
    assert_eq!(json["matched"], 3);
    let rejected = json["rejected"].as_array().unwrap();
    let reason = |row: u64| {
        rejected
            .iter()
            .find(|r| r["row"] == row)
            .map(|r| r["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("row {row} not rejected: {json}"))
    };
    // Rows as the spreadsheet numbers them: the header is row 1.
    assert_eq!(
        reason(5),
        "2 members named 王芳 in 东关村: add the resident ID"
    );
    assert!(reason(6).starts_with("bad resident ID"), "{}", reason(6));
    assert!(reason(6).contains("check digit"), "{}", reason(6));
    assert_eq!(reason(7), "no member with this resident ID");
    assert_eq!(rejected.len(), 3);

    // Nothing changed: not the task table, not a chunk, not a cell.
    let after = (
        c.hub.tables(),
        c.hub.show(&c.group1),
        c.hub.show(&c.group2),
        c.hub.show(&c.xipo),
    );
    assert_eq!(before, after);

    // The report lists every rejected row with its reason and cells.
    let report = std::fs::read_to_string(c.hub.path("接种名单.csv.rejected.csv")).unwrap();
    let lines: Vec<&str> = report.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(lines[0], "行号,原因,姓名,身份证号码,联系电话,所在村");
    assert_eq!(lines.len(), 4, "{report}");
    assert!(lines[1].starts_with("5,2 members named 王芳"), "{report}");
    assert!(lines[3].contains("钱七"), "{report}");

    // Asked for: the good rows go in, the report is the same.
    let report_path = c.hub.path("rejected-rows.csv");
    let partial = c.hub.import(
        &list,
        "vaccination",
        &[
            "--accept-partial",
            "--report",
            report_path.to_str().unwrap(),
        ],
    );
    assert_eq!(partial["matched"], 3, "{partial}");
    assert_eq!(partial["tasks_created"], 3);
    assert_eq!(partial["rejected"].as_array().unwrap().len(), 3);
    assert!(std::fs::read_to_string(&report_path)
        .unwrap()
        .contains("钱七"));
    let g1 = c.hub.show(&c.group1);
    assert_eq!(task_of(&g1, &c.wang_fang)[0]["title"], "接种提醒：王芳");
    assert!(task_of(&c.hub.show(&c.group2), &c.other_wang_fang).is_empty());
    let again = c.hub.import(&list, "vaccination", &["--accept-partial"]);
    assert_eq!(again["tasks_created"], 0, "{again}");
}

/// The good rows and one that names nobody, as a CSV file beside the hub.
fn list_with_a_bad_row(c: &County) -> PathBuf {
    let mut rows = good_rows();
    rows.push([
        "钱七".into(),
        resident_id("62012319900202005"),
        String::new(),
        "东关村".into(),
    ]);
    let list = c.hub.path("接种名单.csv");
    std::fs::write(&list, csv_text(&rows)).unwrap();
    list
}

#[test]
fn a_list_with_a_bad_row_leaves_the_store_file_exactly_as_it_was() {
    let c = county();
    // A list imported before, so the register and the audit log are there
    // to be (not) written to.
    let earlier = c.hub.path("核酸检测名单.csv");
    std::fs::write(&earlier, csv_text(&good_rows()[..1])).unwrap();
    c.hub.import(&earlier, "test", &[]);
    let list = list_with_a_bad_row(&c);
    let before = dump(&c.hub.db);

    let f = list.to_str().unwrap();
    let (_, err) = c.hub.fails(
        2,
        &["office", "import-list", f, "--kind", "vaccination"],
        None,
    );
    assert!(err.contains("1 of 4 rows rejected"), "{err}");
    // Not a task, a chunk, a list record, an audit entry, a layout row.
    assert_eq!(dump(&c.hub.db), before);
    let report = std::fs::read_to_string(c.hub.path("接种名单.csv.rejected.csv")).unwrap();
    assert_eq!(
        report.trim_start_matches('\u{feff}').lines().count(),
        2,
        "{report}"
    );
    assert!(report.contains("钱七"), "{report}");

    // On a hub that never imported anything, the register is not even
    // laid out.
    let fresh = county();
    let list = list_with_a_bad_row(&fresh);
    let before = dump(&fresh.hub.db);
    fresh.hub.fails(
        2,
        &[
            "office",
            "import-list",
            list.to_str().unwrap(),
            "--kind",
            "vaccination",
        ],
        None,
    );
    assert_eq!(dump(&fresh.hub.db), before);
    assert!(!before.iter().any(|r| r.contains("office_lists")));
}

#[test]
fn an_import_cut_off_before_its_list_record_is_completed_by_running_it_again() {
    let c = county();
    let list = list_with_a_bad_row(&c);
    let first = c.hub.import(&list, "vaccination", &["--accept-partial"]);
    assert_eq!(first["tasks_created"], 3, "{first}");
    let list_id = first["list_id"].as_str().unwrap().to_string();
    let recorded = register(&c.hub.db);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, list_id);
    assert_eq!(recorded[0].1.len(), 3);
    let (tasks, _) = c.hub.tables();

    // A register that lost the list (restored from an older copy, say)
    // while the cells kept their tasks:
    let db = support::sql(&c.hub.db);
    db.execute_batch("DELETE FROM office_list_tasks; DELETE FROM office_lists;")
        .unwrap();
    drop(db);
    assert!(register(&c.hub.db).is_empty());

    // Run again: no task twice, and the list is recorded with all of them.
    let again = c.hub.import(&list, "vaccination", &["--accept-partial"]);
    assert_eq!(again["tasks_created"], 0, "{again}");
    assert_eq!(again["matched"], 3);
    assert_eq!(c.hub.tables().0, tasks);
    assert_eq!(register(&c.hub.db), recorded);
    // The rejected row is reported each time.
    let report = std::fs::read_to_string(c.hub.path("接种名单.csv.rejected.csv")).unwrap();
    assert!(report.contains("钱七"), "{report}");
}

/// One transaction: when the list's record cannot be written (here a
/// trigger refuses it, as a full disk or a failing write would), the tasks
/// already added to the cells in the same import are gone with it — not a
/// task, a chunk or an audit entry remains — and the clerk is told.
#[test]
fn an_import_whose_record_fails_leaves_no_task_in_any_cell() {
    let c = county();
    let earlier = c.hub.path("核酸检测名单.csv");
    std::fs::write(&earlier, csv_text(&good_rows()[..1])).unwrap();
    c.hub.import(&earlier, "test", &[]);
    let db = support::sql(&c.hub.db);
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON office_list_tasks
         BEGIN SELECT RAISE(ABORT, 'the register refused the write'); END;",
    )
    .unwrap();
    drop(db);
    let before = dump(&c.hub.db);

    let list = c.hub.path("接种名单.csv");
    std::fs::write(&list, csv_text(&good_rows())).unwrap();
    // A failure of the store, not of the list: exit 1, one line.
    let (_, err) = c.hub.fails(
        1,
        &[
            "office",
            "import-list",
            list.to_str().unwrap(),
            "--kind",
            "vaccination",
        ],
        None,
    );
    assert!(err.contains("refused the write"), "{err}");
    assert_eq!(
        dump(&c.hub.db),
        before,
        "the cells' tasks outlived the failed record"
    );
}

#[test]
fn a_workbook_with_a_title_row_status_and_due_dates() {
    let c = county();
    let xlsx = c.hub.path("疫苗接种反馈.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "城关镇疫苗接种反馈名单").unwrap();
    let header = [
        "序号",
        "姓名",
        "公民身份号码",
        "手机号",
        "村",
        "状态",
        "截止日期",
    ];
    for (col, h) in header.iter().enumerate() {
        sheet.write_string(1, col as u16, *h).unwrap();
    }
    let rows = [
        [
            "1",
            "张伟",
            &resident_id(ZHANG_WEI_ID),
            "",
            "西坡村",
            "未接种第三剂",
            "2026/12/5",
        ],
        ["2", "王芳", "", "13712345678", "", "", "2026年12月10日"],
    ];
    for (i, r) in rows.iter().enumerate() {
        for (col, v) in r.iter().enumerate() {
            sheet.write_string(i as u32 + 2, col as u16, *v).unwrap();
        }
    }
    book.save(&xlsx).unwrap();
    let out = c.hub.import(&xlsx, "vaccination", &[]);
    assert_eq!(out["rows"], 2, "{out}");
    assert_eq!(out["tasks_created"], 2);
    let xipo = c.hub.show(&c.xipo);
    let t = task_of(&xipo, &c.zhang_wei);
    assert_eq!(t[0]["title"], "接种提醒：张伟（未接种第三剂）");
    assert_eq!(t[0]["due"], "2026-12-05");
    // 王芳 by the household's phone: the one in 二组.
    let g2 = c.hub.show(&c.group2);
    let t = task_of(&g2, &c.other_wang_fang);
    assert_eq!(t[0]["due"], "2026-12-10", "{g2}");
}

#[test]
fn a_notice_list_and_other_column_names() {
    let c = county();
    let list = c.hub.path("通知.csv");
    std::fs::write(
        &list,
        format!("户主姓名,证件号\n张伟,{}\n", resident_id(ZHANG_WEI_ID)),
    )
    .unwrap();
    let f = list.to_str().unwrap();
    // Without --column the headers mean nothing to the import.
    let (_, err) = c
        .hub
        .fails(2, &["office", "import-list", f, "--kind", "notice"], None);
    assert!(err.contains("--column"), "{err}");
    let out = c.hub.import(
        &list,
        "notice",
        &[
            "--column",
            "name=户主姓名",
            "--column",
            "id_number=证件号",
            "--title",
            "今晚八点村委会开会",
        ],
    );
    assert_eq!(out["tasks_created"], 1, "{out}");
    let xipo = c.hub.show(&c.xipo);
    assert_eq!(
        task_of(&xipo, &c.zhang_wei)[0]["title"],
        "通知：今晚八点村委会开会（张伟）"
    );
    // A PostgreSQL hub nobody can reach is named (cli/tests/pg_lists.rs
    // imports into a real one); a kind the office does not have is refused.
    let (_, err) = c.hub.fails(
        1,
        &[
            "office",
            "import-list",
            f,
            "--kind",
            "notice",
            "--postgres",
            "postgres://x",
        ],
        None,
    );
    assert!(err.contains("cannot reach PostgreSQL"), "{err}");
    let (_, err) = c
        .hub
        .fails(2, &["office", "import-list", f, "--kind", "census"], None);
    assert!(err.contains("vaccination, test or notice"), "{err}");
}

#[test]
fn a_dashboard_login_is_stored_as_a_hash_and_refused_twice_or_empty() {
    let hub = Hub::new();
    let added = hub.json_in(
        &["hub", "user", "add", "--name", "zhang", "--role", "county"],
        Some("correct horse battery\n"),
    );
    assert_eq!(added["user"], "zhang");
    let c = support::sql(&hub.db);
    let (role, hash): (String, String) = c
        .query_row(
            "SELECT role, password_hash FROM hub_users WHERE name = 'zhang'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    drop(c);
    assert_eq!(role, "county");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let file = std::fs::read(&hub.db).unwrap();
    assert!(!file
        .windows(b"correct horse".len())
        .any(|w| w == b"correct horse"));

    let (_, err) = hub.fails(
        2,
        &["hub", "user", "add", "--name", "zhang"],
        Some("another password\n"),
    );
    assert!(err.contains("already exists"), "{err}");
    for short in ["\n", "", "1234567\n"] {
        let (_, err) = hub.fails(2, &["hub", "user", "add", "--name", "li"], Some(short));
        assert!(err.contains("password"), "{err}");
    }
    let (_, err) = hub.fails(
        2,
        &["hub", "user", "add", "--name", "li", "--role", "lead"],
        Some("long enough\n"),
    );
    assert!(err.contains("office or county"), "{err}");
    // A PostgreSQL hub nobody can reach: an I/O failure that names it, and
    // nothing added anywhere.
    let (_, err) = hub.fails(
        1,
        &[
            "hub",
            "user",
            "add",
            "--postgres",
            "postgres://x",
            "--name",
            "li",
        ],
        Some("long enough\n"),
    );
    assert!(err.contains("cannot reach PostgreSQL"), "{err}");
    let c = support::sql(&hub.db);
    let n: i64 = c
        .query_row("SELECT count(*) FROM hub_users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}
