//! `silin hub erase`, as a township office uses it: a resident asks to be
//! erased; the office orders it on the hub's store while `silin hub serve`
//! runs on it; the lead's phone syncs and the person is gone from both
//! stores' files, the rest of the cell intact, and the audit log says who
//! erased how much (counts, no names). The real binary, a real hub process.
//! The stores are made `--unencrypted`, so that a search of their bytes
//! shows what erasure left (encryption at rest would hide it either way).

mod support;

use support::{County, Hub, MARKER_BIRTH, MARKER_LEAD, MARKER_MEMBER, MARKER_SERIAL};

/// Whether `text` lies anywhere in the store's `.db`, `-wal` or `-shm`.
fn in_files(c: &County, store: &str, text: &str) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let p = c.office.path(&format!("{store}{suffix}"));
        std::fs::read(p).is_ok_and(|b| b.windows(text.len()).any(|w| w == text.as_bytes()))
    })
}

/// A health check of the county's member on the hub's store, at
/// `temperature`, with `note` to look for in the files.
fn record_health_check(c: &County, temperature: &str, note: &str) {
    c.office.json(
        "hub.db",
        &[
            "visit",
            "record",
            "--cell",
            &c.cell,
            "--kind",
            "health_check",
            "--member",
            &c.member,
            "--temperature",
            temperature,
            "--note",
            note,
        ],
    );
}

#[test]
fn the_office_erases_a_resident_and_the_lead_phone_follows() {
    let c = County::unencrypted();
    let o = &c.office;
    let hub = Hub::start(o, "hub.db");
    c.enrolled_lead(&hub);
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    let serial = format!("{MARKER_BIRTH}{MARKER_SERIAL}");
    // The search sees the projections' plain text: the person is there.
    for store in ["hub.db", "lead.db"] {
        assert!(in_files(&c, store, MARKER_MEMBER), "{store} before");
    }

    // Bad requests are refused with nothing written.
    let (_, err) = o.fails("hub.db", 2, &["hub", "erase", "--cell", &c.cell]);
    assert!(err.contains("--member"), "{err}");
    let (_, err) = o.fails(
        "hub.db",
        2,
        &["hub", "erase", "--cell", &c.cell, "--record", "photo:x"],
    );
    assert!(err.contains("KIND:ID"), "{err}");
    let stranger = silin_core::model::new_id();
    let (_, err) = o.fails(
        "hub.db",
        2,
        &["hub", "erase", "--cell", &c.cell, "--member", &stranger],
    );
    assert!(err.contains("nothing was erased"), "{err}");

    // The office orders it while the hub serves.
    let erased = o.json(
        "hub.db",
        &[
            "hub",
            "erase",
            "--cell",
            &c.cell,
            "--member",
            &c.member,
            "--reason",
            "本人申请 2026-17",
        ],
    );
    assert_eq!(erased["epoch"], 1, "{erased}");
    assert_eq!(erased["subjects"], 1);
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    drop(hub);

    for store in ["hub.db", "lead.db"] {
        for gone in [MARKER_MEMBER, c.id_number.as_str(), serial.as_str()] {
            assert!(!in_files(&c, store, gone), "{store}: {gone} left");
        }
        // The lead householder was not erased.
        assert!(in_files(&c, store, MARKER_LEAD), "{store}: the lead");
        let shown = o.json(store, &["cell", "show", "--cell", &c.cell]);
        let names: Vec<&str> = shown["households"][0]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [MARKER_LEAD], "{store}");
    }

    // Both stores list the order, followed.
    for store in ["hub.db", "lead.db"] {
        let orders = o.json(store, &["erasures"]);
        assert_eq!(orders.as_array().unwrap().len(), 1, "{store}: {orders}");
        assert_eq!(orders[0]["cell"], c.cell.as_str());
        assert_eq!(orders[0]["epoch"], 1);
        assert_eq!(orders[0]["reason"], "本人申请 2026-17");
        assert_eq!(orders[0]["followed"], true);
    }

    // The audit log has the erasure, in counts, and still verifies.
    let log = o.json("hub.db", &["audit"]);
    let entry = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "erase")
        .unwrap_or_else(|| panic!("no erase entry: {log}"));
    assert_eq!(entry["target"], format!("cell={}", c.cell));
    assert_eq!(entry["detail"]["members"], 1, "{entry}");
    assert_eq!(entry["detail"]["epoch"], 1, "{entry}");
    let text = log.to_string();
    assert!(
        !text.contains(MARKER_MEMBER) && !text.contains(&c.member),
        "{text}"
    );
    o.json("hub.db", &["audit", "--verify"]);
}

#[test]
fn retention_erases_health_checks_past_their_keeping_time() {
    let c = County::unencrypted();
    let o = &c.office;
    let note = "保留期标记";
    record_health_check(&c, "36.5", note);
    let retain = |date: &str| {
        o.json(
            "hub.db",
            &["hub", "retain", "--checks-days", "30", "--date", date],
        )
    };
    // Eleven days on, the check is kept.
    let kept = retain("2026-12-10");
    assert_eq!(
        (kept["cells"].as_i64(), kept["records"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(in_files(&c, "hub.db", note));
    // Forty-seven days on, it goes; the member stays.
    let gone = retain("2027-01-15");
    assert_eq!(
        (gone["cells"].as_i64(), gone["records"].as_i64()),
        (Some(1), Some(1)),
        "{gone}"
    );
    assert_eq!(gone["orders"][0]["epoch"], 1);
    let shown = o.json("hub.db", &["cell", "show", "--cell", &c.cell]);
    assert_eq!(shown["visits"].as_array().unwrap().len(), 0, "{shown}");
    assert!(!in_files(&c, "hub.db", note));
    assert!(in_files(&c, "hub.db", MARKER_MEMBER));
    let (_, err) = o.fails("hub.db", 2, &["hub", "retain", "--checks-days", "-1"]);
    assert!(err.contains("0 or more"), "{err}");
    let log = o.json("hub.db", &["audit"]);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["target"] == "retention" && e["detail"]["records"] == 1),
        "{log}"
    );
}

/// `silin hub serve` on the hub's store with "now" at `now`, until dropped.
struct ServeAt(std::process::Child);

impl ServeAt {
    fn start(c: &County, now: &str) -> ServeAt {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--store")
            .arg(c.office.path("hub.db"))
            .args(["--json", "hub", "serve", "--listen", "127.0.0.1:0"])
            .env("SILIN_NOW", now)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("listen"), "{line:?}");
        ServeAt(child)
    }
}

impl Drop for ServeAt {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_daily_retention_policy_is_applied_by_the_serving_hub_on_a_later_day() {
    let c = County::unencrypted();
    let o = &c.office;
    let note = "每日保留标记";
    record_health_check(&c, "36.6", note);
    // Set today: today's run finds the check too young.
    let set = o.json(
        "hub.db",
        &["hub", "retain", "--checks-days", "30", "--daily"],
    );
    assert_eq!(set["daily"], true, "{set}");
    assert_eq!(set["records"], 0, "{set}");
    // --daily applies from today: a day given by hand is refused.
    let (_, err) = o.fails(
        "hub.db",
        2,
        &[
            "hub",
            "retain",
            "--checks-days",
            "30",
            "--daily",
            "--date",
            "2027-01-15",
        ],
    );
    assert!(err.contains("--date"), "{err}");

    // A hub serving the same day leaves the check alone.
    drop(ServeAt::start(&c, support::NOW));
    assert!(o
        .json("hub.db", &["erasures"])
        .as_array()
        .unwrap()
        .is_empty());

    // Forty-seven days on, the serving hub applies the policy by itself.
    // Its audit entry is written once the file is rewritten: wait for it.
    let retention_runs = || {
        let log = o.json("hub.db", &["audit"]);
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["target"] == "retention")
            .count()
    };
    assert_eq!(retention_runs(), 1, "the day it was set");
    let hub = ServeAt::start(&c, "2027-01-15T10:00:00+08:00");
    for _ in 0..600 {
        if retention_runs() > 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(retention_runs(), 2, "once more, on the later day");
    drop(hub);
    let orders = o.json("hub.db", &["erasures"]);
    assert_eq!(orders.as_array().unwrap().len(), 1, "{orders}");
    assert_eq!(orders[0]["reason"], "retention");
    assert!(!in_files(&c, "hub.db", note));
    assert!(in_files(&c, "hub.db", MARKER_MEMBER));
    o.json("hub.db", &["audit", "--verify"]);

    // Ended: nothing erased, and ending it again says there was none.
    let stopped = o.json("hub.db", &["hub", "retain", "--stop-daily"]);
    assert_eq!(stopped["stopped"], true);
    let again = o.json("hub.db", &["hub", "retain", "--stop-daily"]);
    assert_eq!(again["stopped"], false);
    // Setting and ending it are in the log, once each.
    let log = o.json("hub.db", &["audit"]);
    let policy: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "retention_policy")
        .collect();
    assert_eq!(policy.len(), 2, "{log}");
    assert_eq!(policy[0]["target"], "daily");
    assert_eq!(policy[0]["detail"]["checks_days"], 30);
    assert_eq!(policy[1]["target"], "ended");
    o.json("hub.db", &["audit", "--verify"]);
}
