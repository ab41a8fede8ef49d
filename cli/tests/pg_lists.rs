//! `silin office import-list --postgres URL`: a feedback list imported into
//! a PostgreSQL hub becomes tasks in the members' cells there, in one
//! transaction with the list's record and audit entry; a lead's phone
//! syncs, closes the task with a call offline, syncs again, and the hub
//! holds the call against the task; a register that fails at the end
//! leaves every cell as it was. Real binary, real PostgreSQL, the hub's
//! storage in this process (its sessions are the ones `hub serve` runs).

#[path = "../../hub/tests/support/pg.rs"]
mod pg_support;
#[path = "../../hub/tests/support/phones.rs"]
mod phones;

use pg_support::FreshDatabase;
use silin_core::identity::{KeyPair, Office, Role, Scope};
use silin_core::model::{
    resident_id_check_char, NewHousehold, NewMember, NewVisit, RegionPath, VisitKind,
};
use silin_core::sync::SyncStats;
use silin_core::{Replica, Store};
use silin_hub::pg::PgStorage;
use silin_hub::storage::HubStorage;
use std::path::Path;
use std::process::Command;

const NOW: &str = "2026-11-29T10:00:00+08:00";

fn office() -> Office {
    Office {
        key: KeyPair::from_seed(&[7; 32]),
    }
}

fn hub(db: &FreshDatabase) -> PgStorage {
    let hub = PgStorage::connect(db.url(), 2).unwrap();
    hub.migrate().unwrap();
    hub.enrol_hub(&office(), &Scope::parse(&["两当县".to_string()]).unwrap())
        .unwrap();
    hub
}

fn phone(dir: &Path, name: &str, role: Role, entry: &str) -> Store {
    phones::phone(dir, name, &office(), role, entry)
}

/// One whole session from `device` to `hub`, as `hub serve` answers it.
fn sync(device: &Store, hub: &PgStorage) -> SyncStats {
    phones::session(device, hub, Some(&HubStorage::device_id(hub))).unwrap()
}

fn resident_id(birth: &str, serial: &str) -> String {
    let body = format!("621228{birth}{serial}");
    format!("{body}{}", resident_id_check_char(&body))
}

/// `silin --json office import-list FILE --kind vaccination --postgres URL
/// [extra]`: (exit code, stdout as JSON or null, stderr).
fn import(dir: &Path, url: &str, file: &Path, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_silin"))
        .arg("--store")
        .arg(dir.join("unused.db"))
        .args(["--json", "office", "import-list"])
        .arg(file)
        .args(["--kind", "vaccination", "--postgres", url])
        .args(extra)
        .env("SILIN_NOW", NOW)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn count(db: &FreshDatabase, sql: &str) -> i64 {
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    c.query_one(sql, &[]).unwrap().get(0)
}

/// Every document's version: equal before and after means no cell written.
fn versions(db: &FreshDatabase) -> Vec<(String, i64)> {
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    c.query("SELECT id, version FROM docs ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn a_list_imported_at_a_postgres_hub_reaches_the_lead_and_comes_back_done() {
    let Some(db) = pg_support::fresh_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hub = hub(&db);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();

    // The county lays out two cells; each lead registers its households.
    let county = phone(dir.path(), "county", Role::County, "两当县");
    let path = |p: &str| RegionPath::parse(p).unwrap();
    let dongguan = county
        .create_cell(
            "一组第1联户",
            &path("两当县/城关镇/东关村/一组"),
            Some("王建国"),
        )
        .unwrap();
    let xipo = county
        .create_cell(
            "一组第2联户",
            &path("两当县/城关镇/西坡村/一组"),
            Some("张伟"),
        )
        .unwrap();
    sync(&county, &hub);

    let lead = phone(dir.path(), "lead", Role::Lead, &dongguan);
    sync(&lead, &hub);
    let home = lead
        .add_household(
            &dongguan,
            NewHousehold {
                phone: Some("13912345678".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let wang_id = resident_id("19800101", "002");
    let wang = lead
        .add_member(
            &home,
            NewMember {
                name: "王芳".into(),
                id_number: Some(wang_id.clone()),
                ..Default::default()
            },
            today,
        )
        .unwrap();
    let li = lead
        .add_member(
            &home,
            NewMember {
                name: "李明".into(),
                phone: Some("13800000001".into()),
                ..Default::default()
            },
            today,
        )
        .unwrap();
    sync(&lead, &hub);
    let other = phone(dir.path(), "other", Role::Lead, &xipo);
    sync(&other, &hub);
    let far = other.add_household(&xipo, NewHousehold::default()).unwrap();
    other
        .add_member(
            &far,
            NewMember {
                name: "张伟".into(),
                ..Default::default()
            },
            today,
        )
        .unwrap();
    sync(&other, &hub);

    // The county's list: 王芳 by resident ID, 李明 by name and phone, and
    // a name nobody in the county has.
    let list = dir.path().join("接种反馈.csv");
    std::fs::write(
        &list,
        format!(
            "姓名,身份证号,手机号,村\n王芳,{wang_id},,东关村\n李明,,13800000001,东关村\n赵六,,,东关村\n"
        ),
    )
    .unwrap();

    // A list with a rejected row imports nothing unless asked.
    let before = versions(&db);
    let (code, _, err) = import(dir.path(), db.url(), &list, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--accept-partial"), "{err}");
    assert_eq!(versions(&db), before, "no cell was written");
    assert_eq!(count(&db, "SELECT count(*) FROM office_lists"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM tasks"), 0);

    // A register that refuses the list's rows (a trigger, standing in for
    // a full disk or a lost connection at the end) leaves every cell as it
    // was: the tasks and the record are one transaction.
    let mut c = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    c.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$
             LANGUAGE plpgsql;
         CREATE TRIGGER refuse BEFORE INSERT ON office_list_tasks
             FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .unwrap();
    let (code, _, err) = import(dir.path(), db.url(), &list, &["--accept-partial"]);
    assert_ne!(code, 0);
    assert!(err.contains("refused"), "{err}");
    assert_eq!(versions(&db), before, "no cell was written");
    assert_eq!(count(&db, "SELECT count(*) FROM tasks"), 0);
    assert_eq!(count(&db, "SELECT count(*) FROM office_lists"), 0);
    c.batch_execute("DROP TRIGGER refuse ON office_list_tasks; DROP FUNCTION refuse();")
        .unwrap();

    let (code, first, err) = import(dir.path(), db.url(), &list, &["--accept-partial"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(first["rows"], 3);
    assert_eq!(first["matched"], 2);
    assert_eq!(first["tasks_created"], 2);
    assert_eq!(first["rejected"][0]["row"], 4, "{first}");
    // The hub's own projection names both tasks, in the members' cell,
    // and the register names the list with them.
    assert_eq!(
        count(&db, "SELECT count(*) FROM tasks WHERE status = 'open'"),
        2
    );
    assert_eq!(count(&db, "SELECT count(*) FROM office_list_tasks"), 2);
    let listed = hub.office_lists().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].list_id, first["list_id"].as_str().unwrap());
    let tasks = hub.office_list_tasks(&listed[0].list_id).unwrap();
    assert!(tasks.iter().all(|(cell, _)| cell == &dongguan), "{tasks:?}");

    // Again: the same list, no new task, no cell written.
    let before = versions(&db);
    let (code, again, err) = import(dir.path(), db.url(), &list, &["--accept-partial"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again["list_id"], first["list_id"]);
    assert_eq!(again["tasks_created"], 0);
    assert_eq!(versions(&db), before);
    assert_eq!(count(&db, "SELECT count(*) FROM office_list_tasks"), 2);

    // The lead's phone takes the tasks at its next sync, closes 王芳's with
    // a call while offline, and brings the call to the hub.
    sync(&lead, &hub);
    let view = lead.cell(&dongguan).unwrap();
    let theirs: Vec<_> = view
        .tasks
        .iter()
        .filter(|t| t.member_id.as_deref() == Some(wang.as_str()))
        .collect();
    assert_eq!(theirs.len(), 1, "{:?}", view.tasks);
    assert!(view
        .tasks
        .iter()
        .any(|t| t.member_id.as_deref() == Some(li.as_str())));
    let task = theirs[0].id.clone();
    let mut call = NewVisit::new(
        VisitKind::Call,
        chrono::DateTime::parse_from_rfc3339(NOW).unwrap(),
        "王建国",
    );
    call.member_id = Some(wang.clone());
    call.task_id = Some(task.clone());
    lead.record_visit(&dongguan, call).unwrap();
    sync(&lead, &hub);
    let closed = hub
        .read_cell(&dongguan, |d| {
            Ok(d.visits()?
                .into_iter()
                .any(|v| v.task_id.as_deref() == Some(task.as_str()) && v.kind == VisitKind::Call))
        })
        .unwrap();
    assert!(closed, "the hub holds the call that closes the task");
    // The other village's cell was never touched by the list.
    assert!(hub.read_cell(&xipo, |d| Ok(d.tasks()?.is_empty())).unwrap());
    assert_eq!(Replica::heads(&hub, &xipo).unwrap().len(), 1);

    // Both imports are in the hub's audit log, whose chain holds.
    let audit = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_silin"))
            .args(["--json", "audit", "--postgres", db.url()])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let log = audit(&[]).to_string();
    assert_eq!(log.matches("import_list").count(), 2, "{log}");
    assert_eq!(audit(&["--verify"])["ok"], true);
}
