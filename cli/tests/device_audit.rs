//! A phone's own audit log reaching the hub's: the lead exports a bundle
//! and saves the cell out, syncs with a running `silin hub serve`, and
//! `silin audit` on the hub shows both with the lead's device as the
//! actor; syncing again adds nothing; the phone's erasure of the office's
//! order comes up at its next sync; the hub's log still verifies, and no
//! marker name, phone or ID number is in either log. The real binary, a
//! real hub process.

mod support;

use serde_json::Value;
use support::{County, Hub};

fn device_rows(log: &Value) -> Vec<Value> {
    log.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["kind"] == "device")
        .cloned()
        .collect()
}

#[test]
fn a_phones_export_and_erasure_reach_the_hubs_audit_log_once_with_the_phone_as_actor() {
    let c = County::new();
    let o = &c.office;
    let hub = Hub::start(o, "hub.db");
    let lead = c.enrolled_lead(&hub);
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    assert_eq!(o.json("lead.db", &["audit"]), serde_json::json!([]));

    // The lead hands people's data out twice.
    let bundle = o.path("cell.bundle");
    let exported = o.json(
        "lead.db",
        &[
            "bundle",
            "export",
            "--out",
            bundle.to_str().unwrap(),
            "--plaintext",
        ],
    );
    let saved = o.path("cell.automerge");
    o.json(
        "lead.db",
        &[
            "cell",
            "save",
            "--cell",
            &c.cell,
            "--out",
            saved.to_str().unwrap(),
        ],
    );
    let own = o.json("lead.db", &["audit"]);
    let own = own.as_array().unwrap();
    assert_eq!(own.len(), 2, "{own:?}");
    assert_eq!(own[0]["action"], "bundle_export");
    assert_eq!(own[0]["detail"]["docs"], 1);
    assert_eq!(own[0]["detail"]["recipients"], 0);
    assert_eq!(own[0]["detail"]["bytes"], exported["bytes"]);
    assert_eq!(own[1]["action"], "cell_save");
    assert_eq!(own[1]["target"], format!("cell={}", c.cell));
    assert!(own.iter().all(|e| e["sent"] == false), "{own:?}");

    // They go up with the next sync, the lead's device as the actor. (The
    // hub's log is read with the hub stopped each time, and the hub
    // started again: an entry must outlive the serving process.)
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    drop(hub);
    let log = o.json("hub.db", &["audit"]);
    let rows = device_rows(&log);
    assert_eq!(rows.len(), 2, "{log}");
    for (row, action) in rows.iter().zip(["bundle_export", "cell_save"]) {
        assert_eq!(row["action"], action, "{row}");
        assert_eq!(row["actor"]["device_id"], lead.as_str(), "{row}");
        assert_eq!(row["actor"]["role"], "lead", "{row}");
        assert_eq!(row["target"], format!("cell={}", c.cell), "{row}");
    }
    assert_eq!(rows[0]["detail"]["device_seq"], 1);
    assert_eq!(rows[1]["detail"]["device_seq"], 2);
    let own = o.json("lead.db", &["audit"]);
    assert!(
        own.as_array().unwrap().iter().all(|e| e["sent"] == true),
        "{own}"
    );

    // Again: nothing new.
    let hub = Hub::start(o, "hub.db");
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    drop(hub);
    assert_eq!(device_rows(&o.json("hub.db", &["audit"])).len(), 2);

    // The office erases the member; the lead follows at its sync, and
    // the hub learns so at the one after.
    o.json(
        "hub.db",
        &[
            "hub",
            "erase",
            "--cell",
            &c.cell,
            "--member",
            &c.member,
            "--reason",
            "本人申请 2026-18",
        ],
    );
    let hub = Hub::start(o, "hub.db");
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    o.json("lead.db", &["sync", "--hub", &hub.url()]);
    drop(hub);
    let log = o.json("hub.db", &["audit"]);
    let rows = device_rows(&log);
    assert_eq!(rows.len(), 3, "{log}");
    assert_eq!(rows[2]["action"], "erasure_followed");
    assert_eq!(rows[2]["actor"]["device_id"], lead.as_str());
    assert_eq!(rows[2]["target"], format!("cell={}", c.cell));
    assert_eq!(rows[2]["detail"]["epoch"], 1);

    let verified = o.json("hub.db", &["audit", "--verify"]);
    assert_eq!(verified["ok"], true, "{verified}");
    let own = o.json("lead.db", &["audit", "--verify"]);
    assert_eq!(own["ok"], true, "{own}");
    assert_eq!(own["entries"], 3, "{own}");
    assert_eq!(own["unsent"], 0, "{own}");

    // Ids and counts: no marker in either log.
    let text = format!("{log} {}", o.json("lead.db", &["audit"]));
    for marker in c.markers() {
        assert!(!text.contains(&marker), "{marker} in {text}");
    }
}
