//! The lead's day at the command line: an arrival recorded at the door,
//! the checks it sets off, a missed check raising an alert the next day,
//! the report's draft and flag, errands, histories and a handover — the
//! real binary on a real store, each day pinned with SILIN_NOW.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

struct Silin {
    _dir: tempfile::TempDir,
    store: PathBuf,
}

impl Silin {
    fn run(&self, now: &str, args: &[&str]) -> Result<Value, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--store")
            .arg(&self.store)
            .arg("--json")
            .args(args)
            .env("SILIN_NOW", now)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(serde_json::from_slice(&out.stdout).unwrap())
        } else {
            Err(format!(
                "{:?} {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn ok(&self, now: &str, args: &[&str]) -> Value {
        self.run(now, args)
            .unwrap_or_else(|e| panic!("silin {args:?}: {e}"))
    }
}

const DAY0: &str = "2026-11-20T10:00:00+08:00";
const DAY1: &str = "2026-11-21T09:00:00+08:00";
const DAY2: &str = "2026-11-22T21:00:00+08:00";

#[test]
fn an_arrival_its_checks_a_missed_one_and_the_report_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = Silin {
        store: dir.path().join("lead.db"),
        _dir: dir,
    };
    s.ok(DAY0, &["init", "--name", "李秀英"]);
    let cell = s.ok(
        DAY0,
        &["cell", "create", "--name", "一组", "--path", "县/镇/村/组"],
    )["cell_id"]
        .as_str()
        .unwrap()
        .to_string();
    let hh = s.ok(DAY0, &["household", "add", "--cell", &cell])["household_id"]
        .as_str()
        .unwrap()
        .to_string();
    let arrived = s.ok(
        DAY0,
        &[
            "arrival",
            "record",
            "--household",
            &hh,
            "--name",
            "李强",
            "--phone",
            "13900000002",
            "--kind",
            "visitor",
            "--from",
            "武汉",
            "--risk",
            "high",
            "--means",
            "train",
        ],
    );
    let member = arrived["member_id"].as_str().unwrap().to_string();
    assert_eq!(arrived["monitoring_until"], "2026-12-03");
    let day = s.ok(DAY0, &["day", "--cell", &cell]);
    assert_eq!(day["due"][0]["required"], 2);
    assert_eq!(day["draft"]["arrivals"], 1);
    for t in ["36.5", "36.7"] {
        s.ok(
            DAY0,
            &[
                "visit",
                "record",
                "--cell",
                &cell,
                "--kind",
                "health_check",
                "--member",
                &member,
                "--temperature",
                t,
            ],
        );
    }
    assert_eq!(
        s.ok(DAY0, &["day", "--cell", &cell])["due"],
        Value::Array(vec![])
    );
    s.ok(
        DAY0,
        &[
            "report",
            "submit",
            "--cell",
            &cell,
            "--date",
            "2026-11-20",
            "--arrivals",
            "1",
        ],
    );
    assert_eq!(
        s.ok(DAY0, &["day", "--cell", &cell])["report"]["flag"],
        Value::Null
    );

    // Day 1: no check at all. Day 2 at 21:00: day 1's missed check and the
    // missing report each raise one task, once.
    s.ok(DAY1, &["day", "--cell", &cell]);
    let raised = s.ok(DAY2, &["alerts", "--cell", &cell]);
    assert_eq!(raised["tasks"].as_array().unwrap().len(), 2, "{raised}");
    assert_eq!(
        s.ok(DAY2, &["alerts", "--cell", &cell])["tasks"],
        Value::Array(vec![])
    );
    let day2 = s.ok(DAY2, &["day", "--cell", &cell, "--date", "2026-11-22"]);
    let kinds: Vec<&str> = day2["open_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "alert").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "reminder").count(), 1);
    // A zero report on a day with an abnormal check is flagged.
    s.ok(
        DAY2,
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "health_check",
            "--member",
            &member,
            "--temperature",
            "38.1",
        ],
    );
    s.ok(
        DAY2,
        &["report", "submit", "--cell", &cell, "--date", "2026-11-22"],
    );
    let day2 = s.ok(DAY2, &["day", "--cell", &cell]);
    assert_eq!(day2["report"]["flag"], "abnormal 0, log 1");
    let health = day2["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member_id"] == member.as_str())
        .unwrap()["health"]
        .clone();
    assert_eq!(health, "abnormal");

    // Histories, an errand, a handover, the policy.
    s.ok(
        DAY2,
        &[
            "history",
            "dose",
            "--member",
            &member,
            "--number",
            "3",
            "--date",
            "2022-03-01",
        ],
    );
    s.ok(
        DAY2,
        &[
            "history", "test", "--member", &member, "--kind", "pcr", "--result", "negative",
        ],
    );
    let errand = s.ok(
        DAY2,
        &[
            "errand",
            "request",
            "--household",
            &hh,
            "--request",
            "代购降压药",
        ],
    )["errand_id"]
        .as_str()
        .unwrap()
        .to_string();
    s.ok(
        DAY2,
        &["errand", "done", "--cell", &cell, "--errand", &errand],
    );
    assert_eq!(s.ok(DAY2, &["day", "--cell", &cell])["draft"]["errands"], 1);
    s.ok(
        DAY2,
        &["lead", "hand-over", "--cell", &cell, "--member", &member],
    );
    let day2 = s.ok(DAY2, &["day", "--cell", &cell]);
    assert_eq!(day2["lead"]["name"], "李强");
    let policy = s.ok(
        DAY2,
        &["policy", "--cell", &cell, "high_days=21", "high_checks=3"],
    );
    assert_eq!(policy["high"]["days"], 21);

    // Bad input: typed, one line, exit 2, nothing written.
    for (args, says) in [
        (
            vec!["policy", "--cell", cell.as_str(), "high_days=99"],
            "0–60",
        ),
        (
            vec![
                "arrival",
                "record",
                "--household",
                hh.as_str(),
                "--name",
                "王",
                "--from",
                "西安",
                "--risk",
                "extreme",
            ],
            "low, medium, high",
        ),
        (
            vec![
                "arrival",
                "record",
                "--household",
                hh.as_str(),
                "--from",
                "西安",
                "--risk",
                "low",
            ],
            "--member",
        ),
    ] {
        let e = s.run(DAY2, &args).unwrap_err();
        assert!(e.starts_with("Some(2)"), "{args:?}: {e}");
        assert!(e.contains(says), "{args:?}: {e}");
    }
    assert_eq!(
        s.ok(DAY2, &["policy", "--cell", &cell, "high_days=21"])["high"]["days"],
        21
    );
}

#[test]
fn a_notice_sent_to_a_region_is_marked_per_household_and_its_reach_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Silin {
        store: dir.path().join("hub.db"),
        _dir: dir,
    };
    s.ok(DAY0, &["init"]);
    let mut cells = Vec::new();
    for (name, path) in [
        ("一组", "县/镇/村/一组"),
        ("二组", "县/镇/村/二组"),
        ("远", "县/镇/远村/组"),
    ] {
        cells.push(
            s.ok(DAY0, &["cell", "create", "--name", name, "--path", path])["cell_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let hh = s.ok(DAY0, &["household", "add", "--cell", &cells[0]])["household_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sent = s.ok(
        DAY0,
        &[
            "notice",
            "send",
            "--region",
            "县/镇/村",
            "--title",
            "接种通知",
            "--text",
            "明早九点接种",
        ],
    );
    assert_eq!(sent["cells"], 2);
    let notice = sent["notice_id"].as_str().unwrap().to_string();
    s.ok(
        DAY0,
        &[
            "notice",
            "mark",
            "--cell",
            &cells[0],
            "--notice",
            &notice,
            "--household",
            &hh,
            "--status",
            "relayed",
        ],
    );
    let reach = s.ok(DAY0, &["notice", "reach"]);
    let rows = reach.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let first = rows
        .iter()
        .find(|r| r["cell_id"] == cells[0].as_str())
        .unwrap();
    assert_eq!(
        (&first["households"], &first["relayed"]),
        (&Value::from(1), &Value::from(1))
    );
    let e = s
        .run(
            DAY0,
            &[
                "notice",
                "mark",
                "--cell",
                &cells[0],
                "--notice",
                &notice,
                "--household",
                &hh,
                "--status",
                "heard",
            ],
        )
        .unwrap_err();
    assert!(
        e.starts_with("Some(2)") && e.contains("read, relayed"),
        "{e}"
    );
    let e = s
        .run(
            DAY0,
            &[
                "notice",
                "send",
                "--region",
                "县/别镇",
                "--title",
                "t",
                "--text",
                "x",
            ],
        )
        .unwrap_err();
    assert!(e.contains("no cell"), "{e}");
}
