//! The office audit log as the township office and an auditor use it: an
//! export, a list import, a login added, a token issued, a device revoked
//! and a dashboard drill-down each leave one entry naming who, what and
//! when, with counts and never a name, phone or ID number; `silin audit
//! --verify` names the entry where someone edited, removed or reordered
//! the log. Real binary, real store files on disk, a real hub process.

#[path = "../../hub/tests/support/pg.rs"]
mod pg_support;
mod support;

use serde_json::Value;
use support::{County, Hub, Office, DAY, NOW};

/// The log as `silin audit --json` prints it.
fn log(o: &Office) -> Vec<Value> {
    o.json("hub.db", &["audit"]).as_array().unwrap().clone()
}

/// Every column of every audit row, as the file holds them.
fn raw_rows(o: &Office) -> String {
    let c = support::sql(&o.path("hub.db"));
    let mut s = c
        .prepare("SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log ORDER BY seq")
        .unwrap();
    let rows: Vec<String> = s
        .query_map([], |r| {
            Ok((0..8)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                    v => format!("{v:?}"),
                })
                .collect::<Vec<String>>()
                .join("|"))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("\n")
}

/// No marker anywhere in the audit rows or in `silin audit`'s output.
fn holds_no_personal_data(c: &County) {
    let o = &c.office;
    let raw = raw_rows(o);
    let printed = String::from_utf8(o.run("hub.db", &["audit"]).stdout).unwrap();
    let json = o.json("hub.db", &["audit"]).to_string();
    for m in c.markers() {
        for (what, text) in [("rows", &raw), ("text", &printed), ("json", &json)] {
            assert!(!text.contains(&m), "{m} in the audit {what}: {text}");
        }
    }
}

/// Details are counts only.
fn counts_only(entry: &Value) {
    for (k, v) in entry["detail"].as_object().unwrap() {
        assert!(v.is_i64(), "{k}: {v}");
    }
}

fn of_action<'a>(log: &'a [Value], action: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["action"] == action).collect()
}

#[test]
fn an_export_leaves_one_entry_naming_the_sheet_day_and_level_and_no_personal_data() {
    let c = County::new();
    let o = &c.office;
    let file = o.path("missing.csv");
    let done = o.json(
        "hub.db",
        &[
            "office",
            "export",
            "missing",
            "--date",
            DAY,
            "--level",
            "group",
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    // The sheet itself names the lead and the phone to call...
    let sheet = std::fs::read_to_string(&file).unwrap();
    assert!(sheet.contains(support::MARKER_LEAD), "{sheet}");
    // ...its log entry only what was exported, by whom, when.
    let log = log(o);
    assert_eq!(log.len(), 1, "{log:?}");
    let e = &log[0];
    assert_eq!(e["seq"], 1);
    assert_eq!(e["action"], "export");
    assert_eq!(e["actor"], serde_json::json!({"kind": "office"}));
    assert_eq!(
        e["target"],
        format!("sheet=missing date={DAY} level=group format=csv")
    );
    assert_eq!(e["detail"]["rows"], done["rows"]);
    assert_eq!(e["detail"]["bytes"], done["bytes"]);
    assert!(e["at"].as_str().unwrap().starts_with(&NOW[..16]), "{e}");
    counts_only(e);
    holds_no_personal_data(&c);
}

#[test]
fn an_import_leaves_one_entry_naming_the_list_with_counts_only() {
    let c = County::new();
    let o = &c.office;
    let list = o.path("接种名单.csv");
    std::fs::write(
        &list,
        format!(
            "姓名,身份证号,联系电话\n{},{},{}\n查无此人,,13900000000\n",
            support::MARKER_MEMBER,
            c.id_number,
            support::MARKER_PHONE
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
            "--accept-partial",
        ],
    );
    assert_eq!(imported["tasks_created"], 1, "{imported}");
    let log = log(o);
    assert_eq!(log.len(), 1, "{log:?}");
    let e = &log[0];
    assert_eq!(e["action"], "import_list");
    assert_eq!(e["actor"]["kind"], "office");
    assert_eq!(
        e["target"],
        format!(
            "list={} kind=vaccination",
            imported["list_id"].as_str().unwrap()
        )
    );
    assert_eq!(
        e["detail"],
        serde_json::json!({"rows": 2, "matched": 1, "rejected": 1, "new_tasks": 1})
    );
    holds_no_personal_data(&c);
    // A list whose rejected rows stop it imports nothing and logs nothing.
    let out = o.run(
        "hub.db",
        &[
            "office",
            "import-list",
            list.to_str().unwrap(),
            "--kind",
            "test",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(self::log(o).len(), 1);
}

#[test]
fn a_login_added_a_token_issued_and_a_device_revoked_are_each_logged_by_the_office() {
    let c = County::new();
    let o = &c.office;
    let password = "审计-secret-pass";
    o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", "clerk", "--role", "county"],
        Some(&format!("{password}\n")),
    );
    let token = o.json(
        "hub.db",
        &[
            "hub",
            "token",
            "--role",
            "lead",
            "--scope",
            "两当县/城关镇/东关村/一组",
            "--valid-days",
            "30",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let device = "0123456789abcdef0123456789abcdef";
    o.json("hub.db", &["hub", "revoke", "--device", device]);
    let log = log(o);
    let targets: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        targets,
        vec![
            ("user_add", "user=clerk role=county"),
            ("token_issue", "role=lead scope=两当县/城关镇/东关村/一组"),
            ("revoke", &format!("device={device}")),
        ]
    );
    assert_eq!(
        of_action(&log, "token_issue")[0]["detail"]["valid_days"],
        30
    );
    for e in &log {
        assert_eq!(e["actor"]["kind"], "office", "{e}");
        counts_only(e);
    }
    // Neither the password nor the token's secret is in the log.
    let raw = raw_rows(o);
    assert!(
        !raw.contains(password) && !raw.contains(&token[..32]),
        "{raw}"
    );
    holds_no_personal_data(&c);
    // The token made the hub's office key, which signs the head.
    let v = o.json("hub.db", &["audit", "--verify"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["entries"], 3);
    assert_eq!(v["signed"], true);
    assert_eq!(v["head"], log[2]["hash"]);
}

#[test]
fn a_dashboard_drill_down_to_leads_and_phones_is_logged_by_the_user() {
    let c = County::new();
    let o = &c.office;
    o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", "clerk"],
        Some("township-pass-1\n"),
    );
    let hub = Hub::start(o, "hub.db");
    let session = hub.login("clerk", "township-pass-1");
    let (status, _, page) = hub.request(
        "GET",
        "/cells?path=两当县/城关镇/东关村&date=2026-11-29",
        &session,
        None,
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(support::MARKER_LEAD_PHONE), "{page}");
    drop(hub);
    let log = log(o);
    let views = of_action(&log, "view_full");
    assert_eq!(views.len(), 1, "{log:?}");
    let e = views[0];
    assert_eq!(
        e["actor"],
        serde_json::json!({"kind": "user", "name": "clerk"})
    );
    assert_eq!(
        e["target"],
        format!("page=cells path=两当县/城关镇/东关村 date={DAY}")
    );
    assert_eq!(
        e["detail"],
        serde_json::json!({"cells": 1, "leads": 1, "phones": 1})
    );
    holds_no_personal_data(&c);
    assert_eq!(o.json("hub.db", &["audit", "--verify"])["ok"], true);
}

#[test]
fn the_overview_of_people_under_monitoring_is_logged_for_a_login_and_for_the_hub_machine() {
    let c = County::new();
    let o = &c.office;
    o.json(
        "hub.db",
        &[
            "member",
            "set",
            "--member",
            &c.member,
            "residence=returned",
            "monitoring_since=2026-11-26",
            "monitoring_until=2026-12-05",
        ],
    );
    o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", "clerk"],
        Some("township-pass-1\n"),
    );
    let hub = Hub::start(o, "hub.db");
    let session = hub.login("clerk", "township-pass-1");
    let (status, _, page) = hub.request("GET", "/", &session, None);
    assert_eq!(status, 200);
    assert!(page.contains(support::MARKER_MEMBER), "{page}");
    // A program on the hub machine reads the same as JSON, unsigned.
    let (status, _, body) = hub.request("GET", &format!("/v1/dashboard?date={DAY}"), "", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(support::MARKER_MEMBER), "{body}");
    drop(hub);
    let log = log(o);
    let views = of_action(&log, "view_full");
    let seen: Vec<(&Value, &str)> = views
        .iter()
        .map(|e| (&e["actor"], e["target"].as_str().unwrap()))
        .collect();
    let overview = format!("page=overview date={DAY}");
    assert_eq!(
        seen,
        vec![
            (
                &serde_json::json!({"kind": "user", "name": "clerk"}),
                overview.as_str()
            ),
            (&serde_json::json!({"kind": "office"}), overview.as_str()),
        ]
    );
    for e in views {
        assert_eq!(e["detail"]["people"], 1, "{e}");
    }
    holds_no_personal_data(&c);
}

/// A county whose log holds four entries: an export, a login, a token, a
/// revocation.
fn four_entries() -> County {
    let c = County::new();
    let o = &c.office;
    let file = o.path("rollup.csv");
    o.json(
        "hub.db",
        &[
            "office",
            "export",
            "rollup",
            "--date",
            DAY,
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", "clerk"],
        Some("township-pass-1\n"),
    );
    o.json(
        "hub.db",
        &["hub", "token", "--role", "lead", "--scope", "两当县"],
    );
    o.json(
        "hub.db",
        &[
            "hub",
            "revoke",
            "--device",
            "0123456789abcdef0123456789abcdef",
        ],
    );
    assert_eq!(o.json("hub.db", &["audit", "--verify"])["entries"], 4);
    c
}

/// Edits the hub's file as someone holding it could: past the
/// append-only triggers.
fn tamper(o: &Office, sql: &str) {
    let c = support::sql(&o.path("hub.db"));
    c.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; {sql}"
    ))
    .unwrap();
}

/// `silin audit --verify` fails with exit 1, one line naming `entry`, and
/// `{"ok":false,"entry":N,...}` on stdout; the line it printed.
fn verify_names(o: &Office, entry: i64, says: &str) -> String {
    let (stdout, err) = o.fails("hub.db", 1, &["--json", "audit", "--verify"]);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["entry"], entry, "{v}");
    assert!(
        err.contains(&format!("audit entry {entry}:")) && err.contains(says),
        "{err}"
    );
    err
}

#[test]
fn verify_names_the_entry_whose_detail_was_edited() {
    let c = four_entries();
    tamper(
        &c.office,
        "UPDATE audit_log SET detail = '{\"bytes\":1,\"ids_in_full\":0,\"rows\":0}' WHERE seq = 1",
    );
    verify_names(&c.office, 1, "wrong hash");
}

#[test]
fn verify_names_the_entry_after_a_deleted_middle_one() {
    let c = four_entries();
    tamper(&c.office, "DELETE FROM audit_log WHERE seq = 2");
    verify_names(&c.office, 3, "entry 2 was expected");
}

#[test]
fn verify_names_the_first_of_two_swapped_entries() {
    let c = four_entries();
    tamper(
        &c.office,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = -1;",
    );
    verify_names(&c.office, 2, "broken link");
}

#[test]
fn verify_finds_entries_cut_off_the_end() {
    let c = four_entries();
    tamper(&c.office, "DELETE FROM audit_log WHERE seq = 4");
    verify_names(&c.office, 4, "ends at entry 3");
    // Pointing the head at the new last entry needs the office key.
    let hash: String = support::sql(&c.office.path("hub.db"))
        .query_row("SELECT hash FROM audit_log WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    tamper(
        &c.office,
        &format!("UPDATE audit_head SET seq = 3, hash = '{hash}'"),
    );
    verify_names(&c.office, 3, "not signed by this hub's office key");
}

#[test]
fn the_log_reads_from_a_day_on_and_an_unreachable_postgres_hub_is_named() {
    let c = four_entries();
    let o = &c.office;
    assert_eq!(
        o.json("hub.db", &["audit", "--since", DAY])
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(o
        .json("hub.db", &["audit", "--since", "2026-11-30"])
        .as_array()
        .unwrap()
        .is_empty());
    let (_, err) = o.fails("hub.db", 2, &["audit", "--since", "2026-11-31"]);
    assert!(err.contains("since"), "{err}");
    let (_, err) = o.fails(
        "hub.db",
        1,
        &["audit", "--postgres", "postgres://nobody@127.0.0.1:1/none"],
    );
    assert!(
        err.contains("cannot reach PostgreSQL at nobody@127.0.0.1:1/none"),
        "{err}"
    );
    let (_, err) = o.fails("none.db", 2, &["audit", "--verify"]);
    assert!(err.contains("no hub store"), "{err}");
}

#[test]
fn a_postgres_hub_logs_tokens_logins_and_revocations_and_verify_names_a_removed_entry() {
    let Some(db) = pg_support::fresh_database() else {
        return;
    };
    let o = Office::new();
    let key = o.path("office-key");
    let url = db.url();
    o.json(
        "none.db",
        &[
            "hub",
            "token",
            "--postgres",
            url,
            "--office-key",
            key.to_str().unwrap(),
            "--role",
            "grid_worker",
            "--scope",
            "两当县/城关镇",
        ],
    );
    let password = "pg-secret-pass";
    o.json_in(
        "none.db",
        &["hub", "user", "add", "--postgres", url, "--name", "clerk"],
        Some(&format!("{password}\n")),
    );
    let device = "0123456789abcdef0123456789abcdef";
    o.json(
        "none.db",
        &["hub", "revoke", "--postgres", url, "--device", device],
    );
    let log = o.json("none.db", &["audit", "--postgres", url]);
    let log = log.as_array().unwrap();
    let targets: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        targets,
        vec![
            ("token_issue", "role=grid_worker scope=两当县/城关镇"),
            ("user_add", "user=clerk role=office"),
            ("revoke", &format!("device={device}")),
        ]
    );
    for e in log {
        assert_eq!(e["actor"]["kind"], "office", "{e}");
        counts_only(e);
        assert!(!e.to_string().contains(password));
    }
    let v = o.json("none.db", &["audit", "--postgres", url, "--verify"]);
    assert_eq!(
        (&v["ok"], &v["entries"], &v["signed"]),
        (&Value::Bool(true), &Value::from(3), &Value::Bool(false)),
        "{v}"
    );
    assert_eq!(v["head"], log[2]["hash"]);
    // No store file was made for --store.
    assert!(!o.path("none.db").exists());

    db.client()
        .batch_execute("DELETE FROM audit_log WHERE seq = 2")
        .unwrap();
    let (stdout, err) = o.fails(
        "none.db",
        1,
        &["--json", "audit", "--postgres", url, "--verify"],
    );
    assert!(
        err.contains("audit entry 3:") && err.contains("entry 2 was expected"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&v["ok"], &v["entry"]),
        (&Value::Bool(false), &Value::from(3))
    );
}
