//! `silin office export` as a township clerk uses it: the day's rollup,
//! the cells missing their report and the completion of a feedback list,
//! as CSV and XLSX with Chinese headers; resident IDs shown as each role
//! may see them; the XLSX read back by a real spreadsheet program
//! (LibreOffice, headless) gives the CSV. Real binary, real stores, a real
//! hub process on loopback for the devices of every role.

mod support;

use serde_json::Value;
use silin_core::model::{NewVisit, VisitKind};
use silin_core::Clock;
use std::process::Command;
use support::{masked, resident_id, Hub, Office, DAY, NOW};

/// `silin office export WHAT` from `store` as `format` for the export's
/// day; the JSON and the file.
fn export(o: &Office, store: &str, what: &str, format: &str, extra: &[&str]) -> (Value, Vec<u8>) {
    let file = o.path(&format!("{store}.{what}.{format}"));
    let f = file.to_str().unwrap();
    let mut a = vec![
        "office", "export", what, "--date", DAY, "--format", format, "--out", f,
    ];
    a.extend_from_slice(extra);
    let v = o.json(store, &a);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(v["bytes"].as_u64(), Some(bytes.len() as u64));
    (v, bytes)
}

/// The register the exports read: three cells in two villages, a day's
/// reports and visits, and a vaccination list whose first task a lead
/// closed with a call.
struct County {
    office: Office,
    cells: [String; 3],
    list_id: String,
    ids: [String; 3],
}

fn county() -> County {
    let o = Office::new();
    o.json("hub.db", &["init", "--name", "城关镇办公室"]);
    let ids = [
        resident_id("19850312", "002"),
        resident_id("19900705", "004"),
        resident_id("19920918", "006"),
    ];
    let cell = |name: &str, path: &str, lead: &str| {
        o.id(
            &[
                "cell", "create", "--name", name, "--path", path, "--lead", lead,
            ],
            "cell_id",
        )
    };
    let a = cell("一组第1联户", "两当县/城关镇/东关村/一组", "王建国");
    let b = cell("二组第2联户", "两当县/城关镇/东关村/二组", "李明");
    let c = cell("一组第3联户", "两当县/城关镇/西坡村/一组", "赵强");
    let household = |cell: &str, phone: &str| {
        o.id(
            &["household", "add", "--cell", cell, "--phone", phone],
            "household_id",
        )
    };
    let member = |h: &str, name: &str, extra: &[&str]| {
        let mut args = vec!["member", "add", "--household", h, "--name", name];
        args.extend_from_slice(extra);
        o.id(&args, "member_id")
    };
    let ha = household(&a, "13912345678");
    member(&ha, "王建国", &["--phone", "13912345670"]);
    let wang_fang = member(&ha, "王芳", &["--id-number", &ids[0]]);
    let hb = household(&b, "13800000002");
    member(&hb, "李明", &[]);
    member(&hb, "李娜", &["--id-number", &ids[1]]);
    let hc = household(&c, "13700000003");
    member(&hc, "赵强", &["--phone", "13700000013"]);
    member(&hc, "赵丽", &["--id-number", &ids[2]]);

    o.json("hub.db", &["report", "submit", "--cell", &a, "--date", DAY]);
    o.json(
        "hub.db",
        &[
            "report",
            "submit",
            "--cell",
            &b,
            "--date",
            DAY,
            "--arrivals",
            "1",
        ],
    );
    for (cell, kind) in [
        (&a, "door_knock"),
        (&a, "errand"),
        (&a, "errand"),
        (&b, "call"),
    ] {
        o.json(
            "hub.db",
            &["visit", "record", "--cell", cell, "--kind", kind],
        );
    }

    let list = o.path("接种名单.csv");
    std::fs::write(
        &list,
        format!(
            "姓名,身份证号,状态,截止日期\n王芳,{},未接种,2026-12-05\n李娜,{},未接种,2026-12-05\n赵丽,{},第二剂未接种,2026-11-28\n",
            ids[0], ids[1], ids[2]
        ),
    )
    .unwrap();
    let imported = o.json(
        "hub.db",
        &[
            "office",
            "import-list",
            list.to_str().unwrap(),
            "--kind",
            "vaccination",
        ],
    );
    assert_eq!(imported["tasks_created"], 3, "{imported}");
    let list_id = imported["list_id"].as_str().unwrap().to_string();

    // The lead calls 王芳 about her task (on the office's copy here; on a
    // phone it arrives by sync the same way).
    {
        let clock = Clock::parse(NOW).unwrap();
        let store = support::open_store(&o.path("hub.db"));
        let task = store
            .cell(&a)
            .unwrap()
            .tasks
            .into_iter()
            .find(|t| t.member_id.as_deref() == Some(wang_fang.as_str()))
            .unwrap();
        let mut v = NewVisit::new(VisitKind::Call, clock.now(), "王建国");
        v.member_id = Some(wang_fang.clone());
        v.task_id = Some(task.id);
        store.record_visit(&a, v).unwrap();
    }
    County {
        office: o,
        cells: [a, b, c],
        list_id,
        ids,
    }
}

fn csv_text(bytes: &[u8]) -> String {
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 with a BOM");
    String::from_utf8(bytes[3..].to_vec()).unwrap()
}

#[test]
fn exports_hold_exactly_the_days_figures_with_chinese_headers() {
    let c = county();
    let o = &c.office;

    let (v, rollup) = export(o, "hub.db", "rollup", "csv", &[]);
    assert_eq!(v["rows"], 2);
    assert_eq!(
        csv_text(&rollup),
        "日期,地区,联户数,已报告,未报告,零报告,新到达人数,异常人数,居家监测人数,入户走访,电话联系,代办服务\r\n\
         2026-11-29,两当县/城关镇/东关村,2,2,0,1,1,0,0,1,2,2\r\n\
         2026-11-29,两当县/城关镇/西坡村,1,0,1,0,0,0,0,0,0,0\r\n"
    );
    let (v, county_rollup) = export(o, "hub.db", "rollup", "csv", &["--level", "county"]);
    assert_eq!(v["rows"], 1);
    assert_eq!(
        csv_text(&county_rollup).lines().nth(1),
        Some("2026-11-29,两当县,3,2,1,1,1,0,0,1,2,2")
    );
    // The rollup API's numbers are the command's.
    let api = o.json("hub.db", &["rollup", "--date", DAY, "--level", "village"]);
    assert_eq!(api[0]["door_knocks"], 1);
    assert_eq!(
        (api[0]["calls"].clone(), api[0]["errands"].clone()),
        (2.into(), 2.into())
    );

    let (v, missing) = export(o, "hub.db", "missing", "csv", &[]);
    assert_eq!(v["rows"], 1);
    assert_eq!(
        csv_text(&missing),
        format!(
            "日期,地区,联户名称,联户长,联户长电话,联户编号\r\n\
             2026-11-29,两当县/城关镇/西坡村/一组,一组第3联户,赵强,13700000013,{}\r\n",
            c.cells[2]
        )
    );

    let (v, tasks) = export(o, "hub.db", "tasks", "csv", &[]);
    assert_eq!(v["rows"], 4, "one list and its three tasks");
    let l = &c.list_id;
    assert_eq!(
        csv_text(&tasks),
        format!(
            "名单编号,类型,名单标题,文件,导入日期,任务数,已完成,未完成,已取消,逾期未完成\r\n\
             {l},疫苗接种,接种提醒,接种名单.csv,2026-11-29,3,1,2,0,1\r\n\
             \r\n\
             名单编号,地区,联户名称,任务,姓名,身份证号,截止日期,状态,完成方式,完成日期\r\n\
             {l},两当县/城关镇/东关村/一组,一组第1联户,接种提醒：王芳（未接种）,王芳,{},2026-12-05,已完成,电话,2026-11-29\r\n\
             {l},两当县/城关镇/东关村/二组,二组第2联户,接种提醒：李娜（未接种）,李娜,{},2026-12-05,未完成,,\r\n\
             {l},两当县/城关镇/西坡村/一组,一组第3联户,接种提醒：赵丽（第二剂未接种）,赵丽,{},2026-11-28,未完成,,\r\n",
            masked(&c.ids[0]),
            masked(&c.ids[1]),
            masked(&c.ids[2]),
        )
    );
    assert!(masked(&c.ids[0]).starts_with("6212**********"));

    // The XLSX holds the same cells (text as text, counts as numbers).
    for what in ["rollup", "missing", "tasks"] {
        let (_, csv) = export(o, "hub.db", what, "csv", &[]);
        let (v, xlsx) = export(o, "hub.db", what, "xlsx", &[]);
        assert!(xlsx.starts_with(b"PK"), "an XLSX is a zip");
        assert_eq!(xlsx_rows(&xlsx), csv_rows(&csv), "{what}");
        assert_eq!(v["rows"], export(o, "hub.db", what, "csv", &[]).0["rows"]);
    }
}

#[test]
fn bad_export_requests_exit_2_and_write_nothing() {
    let o = Office::new();
    o.json("hub.db", &["init"]);
    let out = o.path("x.csv");
    let f = out.to_str().unwrap();
    for (args, says) in [
        (
            vec![
                "office", "export", "visits", "--date", DAY, "--format", "csv", "--out", f,
            ],
            "use rollup, missing or tasks",
        ),
        (
            vec![
                "office", "export", "rollup", "--date", DAY, "--format", "pdf", "--out", f,
            ],
            "use csv or xlsx",
        ),
        (
            vec![
                "office",
                "export",
                "rollup",
                "--date",
                "2026-02-30",
                "--format",
                "csv",
                "--out",
                f,
            ],
            "date",
        ),
        (
            vec![
                "office", "export", "rollup", "--date", DAY, "--level", "street", "--format",
                "csv", "--out", f,
            ],
            "level",
        ),
    ] {
        let (_, err) = o.fails("hub.db", 2, &args);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!out.exists());
    }
    // A --postgres URL that does not read: refused before anything is
    // written.
    let (_, err) = o.fails(
        "hub.db",
        2,
        &[
            "office",
            "export",
            "rollup",
            "--date",
            DAY,
            "--format",
            "csv",
            "--out",
            f,
            "--postgres",
            "postgres://x/y?no_such_option=1",
        ],
    );
    assert!(err.to_lowercase().contains("postgres"), "{err}");
    assert!(!out.exists());
    let (_, err) = o.fails(
        "hub.db",
        2,
        &[
            "office",
            "export",
            "rollup",
            "--date",
            DAY,
            "--format",
            "csv",
            "--out",
            o.path("no/such/dir/x.csv").to_str().unwrap(),
        ],
    );
    assert!(err.contains("no/such/dir"), "{err}");
}

/// A device of `role` over `scope`, enrolled with the hub and synced.
fn device(o: &Office, hub: &Hub, name: &str, role: &str, scope: &str) -> String {
    let store = format!("{name}.db");
    let token = o.json(
        "hub.db",
        &["hub", "token", "--role", role, "--scope", scope],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    o.json(&store, &["init", "--name", name]);
    o.json(&store, &["enroll", "--hub", &hub.url(), "--token", &token]);
    o.json(&store, &["sync", "--hub", &hub.url()]);
    store
}

#[test]
fn every_export_shows_resident_ids_as_each_role_may_see_them() {
    let c = county();
    let o = &c.office;
    let hub = Hub::start(o, "hub.db");
    let lead = device(o, &hub, "lead", "lead", &c.cells[0]);
    let worker = device(o, &hub, "worker", "grid_worker", "两当县/城关镇/东关村");
    let county = device(o, &hub, "county", "county", "两当县");
    drop(hub);

    // (store, its role's view, the members whose tasks it holds)
    let stores: [(&str, bool, &[usize]); 4] = [
        (&lead, false, &[0]),
        (&worker, false, &[0, 1]),
        ("hub.db", false, &[0, 1, 2]),
        (&county, true, &[0, 1, 2]),
    ];
    for (store, full, holds) in stores {
        for what in ["rollup", "missing", "tasks"] {
            for format in ["csv", "xlsx"] {
                let (_, bytes) = export(o, store, what, format, &[]);
                let cells: Vec<String> = match format {
                    "csv" => csv_rows(&bytes).into_iter().flatten().collect(),
                    _ => xlsx_rows(&bytes).into_iter().flatten().collect(),
                };
                let has = |s: &str| cells.iter().any(|c| c == s);
                for (i, id) in c.ids.iter().enumerate() {
                    let shown_full = has(id);
                    let shown_masked = has(&masked(id));
                    let held = what == "tasks" && holds.contains(&i);
                    assert_eq!(
                        (shown_full, shown_masked),
                        (held && full, held && !full),
                        "{store} {what} {format}: ID {i}"
                    );
                    // No ID shows in part outside its column either.
                    assert!(
                        !cells.iter().any(|c| c != id && c.contains(&id[6..14])),
                        "{store} {what} {format}: a birth date of ID {i} shows"
                    );
                }
            }
        }
    }
}

#[test]
fn libreoffice_reads_the_xlsx_export_as_the_csv_export() {
    let soffice = ["soffice", "libreoffice"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    let Some(soffice) = soffice else {
        if std::env::var_os("SILIN_REQUIRE_LIBREOFFICE").is_some() {
            panic!("SILIN_REQUIRE_LIBREOFFICE is set but soffice is not on PATH (Debian: apt-get install libreoffice-calc)");
        }
        println!("SKIPPED: soffice is not on PATH (Debian: apt-get install libreoffice-calc); set SILIN_REQUIRE_LIBREOFFICE=1 to make this a failure");
        return;
    };
    let c = county();
    let o = &c.office;
    let converted = o.path("converted");
    let profile = o.path("lo-profile");
    for what in ["rollup", "missing", "tasks"] {
        let (_, csv) = export(o, "hub.db", what, "csv", &[]);
        let xlsx = o.path(&format!("hub.db.{what}.xlsx"));
        export(o, "hub.db", what, "xlsx", &[]);
        let out = Command::new(soffice)
            .arg(format!(
                "-env:UserInstallation=file://{}",
                profile.display()
            ))
            .args(["--headless", "--convert-to"])
            // Comma-separated, double quotes, UTF-8 (encoding 76).
            .arg("csv:Text - txt - csv (StarCalc):44,34,76")
            .arg("--outdir")
            .arg(&converted)
            .arg(&xlsx)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "soffice: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let back =
            std::fs::read(converted.join(format!("hub.db.{what}.csv"))).unwrap_or_else(|e| {
                panic!(
                    "soffice wrote no CSV ({e}): {}",
                    String::from_utf8_lossy(&out.stdout)
                )
            });
        assert_eq!(csv_rows(&back), csv_rows(&csv), "{what}");
    }
}

/// A CSV's rows as text, without the BOM, trailing empty fields or empty
/// rows (a spreadsheet pads a short row to the sheet's width).
fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    tidy(
        r.records()
            .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
            .collect(),
    )
}

fn xlsx_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    let rows = range
        .rows()
        .map(|row| {
            row.iter()
                .map(|v| match v {
                    Data::String(s) => s.clone(),
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => panic!("unexpected cell {other:?}"),
                })
                .collect()
        })
        .collect();
    tidy(rows)
}

fn tidy(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|mut r| {
            while r.last().is_some_and(String::is_empty) {
                r.pop();
            }
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

#[test]
fn an_encrypted_hub_exports_its_lists_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hub.db");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_silin"))
            .args(["--key-env", "HUB_KEY", "--json", "--store"])
            .arg(&db)
            .args(args)
            .env("SILIN_NOW", NOW)
            .env("HUB_KEY", "a passphrase for the office")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "silin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    run(&["init"]);
    let cell = run(&[
        "cell",
        "create",
        "--name",
        "一组第1联户",
        "--path",
        "两当县/城关镇/东关村/一组",
    ])["cell_id"]
        .as_str()
        .unwrap()
        .to_string();
    let h = run(&["household", "add", "--cell", &cell])["household_id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = resident_id("19850312", "002");
    run(&[
        "member",
        "add",
        "--household",
        &h,
        "--name",
        "王芳",
        "--id-number",
        &id,
    ]);
    let list = dir.path().join("名单.csv");
    std::fs::write(&list, format!("姓名,身份证号\n王芳,{id}\n")).unwrap();
    run(&[
        "office",
        "import-list",
        list.to_str().unwrap(),
        "--kind",
        "vaccination",
    ]);
    let out = dir.path().join("tasks.csv");
    let v = run(&[
        "office",
        "export",
        "tasks",
        "--date",
        DAY,
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["rows"], 2, "the list and its task");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.contains(&masked(&id)) && !csv.contains(&id), "{csv}");
}
